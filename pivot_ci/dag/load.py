"""Discovery done once: the merged graph and the stages a command works on."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pivot_ci import discover, errors
from pivot_ci.dag import graph
from pivot_ci.pipeline import load as pipeline_load
from pivot_ci.pipeline import merge, model
from pivot_ci.project import Project


@dataclasses.dataclass(frozen=True, slots=True)
class BrokenPipeline:
    """A pipeline file that failed to load (kept so reports can show it)."""

    file: str
    error: errors.PivotError


@dataclasses.dataclass(frozen=True, slots=True)
class Loaded:
    """What every command starts from."""

    project: Project
    graph: graph.StageGraph
    all_pipelines: bool
    current: model.PipelineSpec | None
    scope: frozenset[model.StageId]
    broken: tuple[BrokenPipeline, ...]
    warnings: tuple[str, ...]

    def in_order(self, ids: set[model.StageId] | frozenset[model.StageId]) -> list[model.StageId]:
        return [sid for sid in self.graph.order if sid in ids]


def _load_all(project: Project, files: list[Path], required: Path | None,
              skip_broken: bool) -> tuple[list[model.PipelineSpec], list[BrokenPipeline], list[str]]:
    loaded: list[model.PipelineSpec] = []
    broken: list[BrokenPipeline] = []
    warnings: list[str] = []
    for path in files:
        try:
            loaded.append(pipeline_load.load_file(project, path))
        except errors.PivotError as exc:
            if required is None and not skip_broken or path == required:
                raise
            broken.append(BrokenPipeline(project.rel(path), exc))
            what = "skipped (--skip-broken)" if required is None else "skipped, it cannot supply dependencies"
            warnings.append(f"pipeline file {exc.location or project.rel(path)}: {exc.message}: {what}")
    return loaded, broken, warnings


def load(project: Project, cwd: Path, *, all_pipelines: bool, skip_broken: bool = False) -> Loaded:
    files = discover.find_all(project)
    current_file = None if all_pipelines else discover.find_current(project, cwd)
    if current_file is not None:
        # the current pipeline first, so its stages keep bare display names
        files = [current_file] + [f for f in files if f != current_file]
    pipelines, broken, warnings = _load_all(project, files, current_file, skip_broken)
    g = graph.build(project, merge.merge(pipelines))
    current = None
    if all_pipelines:
        scope = frozenset(g.stages)
    else:
        current = pipelines[0]
        own = {st.id for st in current.stages}
        scope = frozenset(own.union(*(g.upstream(sid) for sid in own)))
    for miss in g.missing_deps:
        if miss.stage in scope:
            st = g.stages[miss.stage]
            warnings.append(f"stage '{g.display(miss.stage)}' ({st.location}): dependency '{miss.path}' "
                            "is not produced by any stage and does not exist")
    return Loaded(project, g, all_pipelines, current, scope, tuple(broken), tuple(warnings))
