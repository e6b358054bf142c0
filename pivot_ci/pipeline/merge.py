"""Merge pipelines: display names, and the collisions that make a project invalid."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from pivot_ci import errors
from pivot_ci.pipeline import model


@dataclasses.dataclass(frozen=True, slots=True)
class Merged:
    """Stages in merge order with their display names (identity never changes with them)."""

    pipelines: tuple[model.PipelineSpec, ...]
    stages: dict[model.StageId, model.StageSpec]
    display: dict[model.StageId, str]


def merge(pipelines: Sequence[model.PipelineSpec]) -> Merged:
    """First pipeline's stages keep bare names; on a taken name, all of the incoming one are prefixed."""
    by_name: dict[str, model.PipelineSpec] = {}
    stages: dict[model.StageId, model.StageSpec] = {}
    display: dict[model.StageId, str] = {}
    taken: set[str] = set()
    for pipe in pipelines:
        other = by_name.get(pipe.name)
        if other is not None:
            raise errors.GraphError(
                f"two pipelines are named '{pipe.name}': {other.file} and {pipe.file}",
                file=pipe.file, hint="give one of them another `pipeline:` name")
        by_name[pipe.name] = pipe
        for st in pipe.stages:
            first = stages.get(st.id)
            if first is not None:
                raise errors.GraphError(
                    f"stage '{st.name}' of {st.pipeline_file}:{st.line} and stage '{first.name}' of "
                    f"{first.location} share the state dir {st.state_dir}: their lock files would collide",
                    file=st.pipeline_file, line=st.line,
                    hint="rename one of the stages, or give one pipeline its own state dir (`root:`)")
            stages[st.id] = st
        prefixed = any(st.name in taken for st in pipe.stages)
        for st in pipe.stages:
            name = f"{pipe.name}/{st.name}" if prefixed else st.name
            display[st.id] = name
            taken.add(name)
    return Merged(tuple(pipelines), stages, display)
