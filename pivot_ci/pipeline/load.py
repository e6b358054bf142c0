"""Load one pipeline file of either kind."""

from __future__ import annotations

from pathlib import Path

from pivot_ci.pipeline import model, python, yaml
from pivot_ci.pipeline.build import FileContext
from pivot_ci.project import Project


def load_file(project: Project, path: Path) -> model.PipelineSpec:
    ctx = FileContext(project=project, file=project.rel(path), dir=project.rel(path.parent))
    if path.suffix == ".py":
        return python.load(ctx, path)
    return yaml.load(ctx, path)
