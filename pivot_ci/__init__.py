"""pivot-ci: a pipeline runner for projects with many pipelines, built for CI and git hooks."""

from __future__ import annotations

from pivot_ci.pipeline.api import Pipeline

__version__ = "0.1.0"
__all__ = ["Pipeline", "__version__"]
