"""Discovery done once: the merged graph and the stages a command works on."""

from __future__ import annotations

import dataclasses
import posixpath
from pathlib import Path

from pivot_ci import discover, errors
from pivot_ci import project as project_mod
from pivot_ci.dag import graph
from pivot_ci.pipeline import load as pipeline_load
from pivot_ci.pipeline import merge, model, tracked
from pivot_ci.pipeline.memo import PipelineMemo
from pivot_ci.project import Project


@dataclasses.dataclass(frozen=True, slots=True)
class BrokenPipeline:
    """A pipeline file that failed to load (kept so reports can show it)."""

    file: str
    error: errors.PivotError

    def warning(self, all_pipelines: bool) -> str:
        what = "skipped (--skip-broken)" if all_pipelines else "skipped, it cannot supply dependencies"
        kind = "pointer file" if self.file.endswith(discover.POINTER_SUFFIX) else "pipeline file"
        return f"{kind} {self.error.location or self.file}: {self.error.message}: {what}"


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
    skipped: tuple[discover.Skipped, ...] = ()  # files and directories discovery passed over, and why

    def in_order(self, ids: set[model.StageId] | frozenset[model.StageId]) -> list[model.StageId]:
        return [sid for sid in self.graph.order if sid in ids]


def _load_all(project: Project, files: list[Path], required: Path | None, skip_broken: bool,
              memo: PipelineMemo) -> tuple[list[model.PipelineSpec], list[BrokenPipeline]]:
    loaded: list[model.PipelineSpec] = []
    broken: list[BrokenPipeline] = []
    for path in files:
        try:
            loaded.append(pipeline_load.load_file(project, path, memo))
        except errors.PivotError as exc:
            if required is None and not skip_broken or path == required:
                raise
            broken.append(BrokenPipeline(project.rel(path), exc))
    return loaded, broken


def _owner(path: str, dirs: list[str]) -> str | None:
    """The directory of the nearest pipeline file at or above project-relative `path`."""
    owners = [d for d in dirs if project_mod.is_within(path, d)]
    return max(owners, key=lambda d: 0 if d == "." else d.count("/") + 1) if owners else None


def _broken_upstream(g: graph.StageGraph, scope: frozenset[model.StageId], dirs: list[str],
                     broken: list[BrokenPipeline]) -> errors.PivotError | None:
    """Without --all, a dependency that no loaded stage produces but that lies in a broken pipeline's
    directory may well be that pipeline's output: an error, rather than a check against a stale file."""
    if not broken:
        return None
    by_dir = {posixpath.dirname(b.file) or ".": b for b in broken if not b.file.endswith(discover.POINTER_SUFFIX)}
    for sid in g.order:
        if sid not in scope:
            continue
        st = g.stages[sid]
        for dep in st.deps:
            if (g.producer_of(dep.path) is not None or g.tracked_of(dep.path) is not None
                    or any(p.startswith(dep.path + "/") for p in g.producers)):
                continue
            owner = _owner(dep.path, dirs)
            bad = by_dir.get(owner) if owner is not None else None
            if bad is None:
                continue
            exc = bad.error
            return errors.DiscoveryError(
                f"stage '{g.display(sid)}' ({st.location}) depends on '{dep.path}', but pipeline file "
                f"{bad.file} cannot be loaded: {exc.message}", file=exc.file, line=exc.line, hint=exc.hint)
    return None


def _load_tracked(project: Project, pointers: list[Path], files: list[Path], skip_broken: bool,
                  broken: list[BrokenPipeline], memo: PipelineMemo) -> dict[str, model.TrackedSpec]:
    """The tracked data of every pointer file, each owned by the nearest pipeline file at or above it."""
    owners = {project.rel(f.parent): project.rel(f) for f in files}
    found: list[model.TrackedSpec] = []
    for path in pointers:
        rel = project.rel(path)
        owner = _owner(rel, list(owners))
        try:
            found.append(tracked.load_one(project, path, None if owner is None else owners[owner], memo))
        except errors.PivotError as exc:
            if not skip_broken:
                raise
            broken.append(BrokenPipeline(rel, exc))
    return tracked.check_overlaps(found)


def load(project: Project, cwd: Path, *, all_pipelines: bool, skip_broken: bool = False) -> Loaded:
    skipped: list[discover.Skipped] = []
    found = discover.scan(project, skipped)
    files = found.pipelines
    current_file = None if all_pipelines else discover.find_current(project, cwd)
    if current_file is not None:
        # the current pipeline first, so its stages keep bare display names
        files = [current_file] + [f for f in files if f != current_file]
    memo = PipelineMemo(project)
    pipelines, broken = _load_all(project, files, current_file, skip_broken, memo)
    tracked_data = _load_tracked(project, found.pointers, files, skip_broken, broken, memo)
    warnings: list[str] = []
    g = graph.build(project, merge.merge(pipelines), tracked_data)
    memo.save()  # only once the project loaded: a load error writes nothing
    current = None
    if all_pipelines:
        scope = frozenset(g.stages)
    else:
        current = pipelines[0]
        own = {st.id for st in current.stages}
        scope = frozenset(own.union(*(g.upstream(sid) for sid in own)))
        err = _broken_upstream(g, scope, [project.rel(f.parent) for f in files], broken)
        if err is not None:
            raise err
    for miss in g.missing_deps:
        if miss.stage in scope:
            st = g.stages[miss.stage]
            warnings.append(f"stage '{g.display(miss.stage)}' ({st.location}): dependency '{miss.path}' "
                            "is not produced by any stage and does not exist")
    return Loaded(project, g, all_pipelines, current, scope, tuple(broken), tuple(warnings), tuple(skipped))
