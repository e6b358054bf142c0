"""Load one pipeline file of either kind (a pivot.yaml through the memo when one is given)."""

from __future__ import annotations

from pathlib import Path

from pivot_ci.pipeline import model
from pivot_ci.pipeline.build import FileContext
from pivot_ci.pipeline.memo import PipelineMemo
from pivot_ci.project import Project


def load_file(project: Project, path: Path, memo: PipelineMemo | None = None) -> model.PipelineSpec:
    ctx = FileContext(project=project, file=project.rel(path), dir=project.rel(path.parent))
    if path.suffix == ".py":
        from pivot_ci.pipeline import python  # executed every time: see pipeline/memo.py

        return python.load(ctx, path)
    spec = memo.get(path) if memo is not None else None
    if spec is not None:
        return spec
    from pivot_ci.pipeline import yaml  # only a changed (or new) pivot.yaml pays for the YAML parser

    spec = yaml.load(ctx, path)
    if memo is not None:
        memo.put(path, ctx.inputs, spec)
    return spec
