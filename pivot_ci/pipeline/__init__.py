"""What the user declared: pipeline files -> PipelineSpec / StageSpec values."""
