"""One graph of stage identities, built once from the merged pipelines (a plain adjacency structure:
networkx is imported only to name a dependency cycle)."""

from __future__ import annotations

import bisect
import dataclasses
import os
import posixpath
from collections.abc import Mapping

from pivot_ci import errors
from pivot_ci.dag.digraph import CycleFound, DiGraph
from pivot_ci.pipeline import model
from pivot_ci.pipeline.merge import Merged
from pivot_ci.project import Project


@dataclasses.dataclass(frozen=True, slots=True)
class MissingDep:
    stage: model.StageId
    path: str


@dataclasses.dataclass(frozen=True, slots=True)
class StageGraph:
    """Stages, display names, producer edges (producer -> consumer) and a stable topological order."""

    project: Project
    merged: Merged
    graph: DiGraph[model.StageId]
    producers: dict[str, model.StageId]
    order: tuple[model.StageId, ...]
    missing_deps: tuple[MissingDep, ...]
    tracked: Mapping[str, model.TrackedSpec] = dataclasses.field(default_factory=dict)  # by data path

    @property
    def stages(self) -> dict[model.StageId, model.StageSpec]:
        return self.merged.stages

    def display(self, sid: model.StageId) -> str:
        return self.merged.display[sid]

    def upstream(self, sid: model.StageId) -> set[model.StageId]:
        return self.graph.ancestors(sid)

    def downstream(self, sid: model.StageId) -> set[model.StageId]:
        return self.graph.descendants(sid)

    def producer_of(self, path: str) -> model.StageId | None:
        """The stage producing `path` (exactly, or a directory output containing it)."""
        cur = path
        while cur not in ("", "."):
            if cur in self.producers:
                return self.producers[cur]
            cur = posixpath.dirname(cur)
        return None

    def tracked_of(self, path: str) -> model.TrackedSpec | None:
        """The tracked data `path` is, or lies inside (SPEC §10: a source of the graph)."""
        if not self.tracked:
            return None
        cur = path
        while cur not in ("", "."):
            found = self.tracked.get(cur)
            if found is not None:
                return found
            cur = posixpath.dirname(cur)
        return None


def _ancestors(path: str) -> list[str]:
    """The directories above project-relative `path`, nearest first ("a/b/c" -> ["a/b", "a"])."""
    out = []
    cut = path.rfind("/")
    while cut > 0:
        path = path[:cut]
        out.append(path)
        cut = path.rfind("/")
    return out


def _index_outputs(merged: Merged) -> dict[str, model.StageId]:
    producers: dict[str, model.StageId] = {}
    for sid, st in merged.stages.items():
        for out in st.all_outputs():
            other = producers.get(out.path)
            if other is not None:
                o = merged.stages[other]
                raise errors.GraphError(
                    f"output '{out.path}' is declared by stage '{st.name}' ({st.location}) and by stage "
                    f"'{o.name}' ({o.location})", file=st.pipeline_file, line=st.line,
                    hint="each output path must be produced by exactly one stage")
            producers[out.path] = sid
    for path, sid in producers.items():
        for parent in _ancestors(path):
            if parent in producers:
                st, o = merged.stages[sid], merged.stages[producers[parent]]
                raise errors.GraphError(
                    f"output '{path}' of stage '{st.name}' ({st.location}) lies inside output directory "
                    f"'{parent}' of stage '{o.name}' ({o.location})", file=st.pipeline_file, line=st.line,
                    hint="outputs must not overlap")
    return producers


def _check_nested(merged: Merged, producers: dict[str, model.StageId]) -> None:
    """No pipeline file or state dir inside an output: restoring that output would delete it."""
    for pipe in merged.pipelines:
        for what, path in (("pipeline file", pipe.file), ("state dir", pipe.state_dir)):
            for parent in _ancestors(path):
                sid = producers.get(parent)
                if sid is None:
                    continue
                st = merged.stages[sid]
                raise errors.GraphError(
                    f"output '{parent}' of stage '{st.name}' ({st.location}) contains the {what} {path}"
                    + ("" if what == "pipeline file" else f" of {pipe.file}"),
                    file=st.pipeline_file, line=st.line,
                    hint=f"restoring or re-creating '{parent}' would delete {path}: move the output or the pipeline")


def _cycle_error(g: DiGraph[model.StageId], merged: Merged) -> errors.GraphError:
    """The error naming one cycle of `g` (which has one): the cycle networkx's `find_cycle` finds first."""
    import networkx as nx

    cycle = nx.find_cycle(g.to_networkx())
    nodes = [u for u, _ in cycle] + [cycle[0][0]]
    desc = " -> ".join(f"{merged.display[n]} ({merged.stages[n].location})" for n in nodes)
    first = merged.stages[nodes[0]]
    return errors.GraphError(f"dependency cycle: {desc}", file=first.pipeline_file, line=first.line,
                             hint="a stage cannot depend, directly or not, on its own outputs")


def _check_tracked(merged: Merged, producers: dict[str, model.StageId], sorted_outs: list[str],
                   tracked: Mapping[str, model.TrackedSpec]) -> None:
    """A tracked path may not be a stage output, lie inside one, or contain one."""
    for path, t in tracked.items():
        hit = next(((p, "is" if p == path else "lies inside") for p in (path, *_ancestors(path)) if p in producers),
                   None)
        lo = bisect.bisect_left(sorted_outs, path + "/")
        if hit is None and lo < len(sorted_outs) and sorted_outs[lo].startswith(path + "/"):
            hit = sorted_outs[lo], "contains"
        if hit is None:
            continue
        out, how = hit
        st = merged.stages[producers[out]]
        raise errors.GraphError(
            f"tracked path '{path}' ({t.pvt_file}) {how} output '{out}' of stage '{st.name}' ({st.location})",
            file=t.pvt_file, hint=f"a stage's outputs are already cached: untrack it (`pivot untrack {path}`) "
                                  "or remove the output from the stage")


def build(project: Project, merged: Merged, tracked: Mapping[str, model.TrackedSpec] | None = None) -> StageGraph:
    producers = _index_outputs(merged)
    _check_nested(merged, producers)
    sorted_outs = sorted(producers)
    tracked = tracked or {}
    _check_tracked(merged, producers, sorted_outs, tracked)
    g: DiGraph[model.StageId] = DiGraph(merged.stages)
    missing: list[MissingDep] = []
    for sid, st in merged.stages.items():
        for dep in st.deps:
            found = [producers[p] for p in (dep.path, *_ancestors(dep.path)) if p in producers]
            lo = bisect.bisect_left(sorted_outs, dep.path + "/")
            while lo < len(sorted_outs) and sorted_outs[lo].startswith(dep.path + "/"):
                found.append(producers[sorted_outs[lo]])
                lo += 1
            for producer in found:
                g.add_edge(producer, sid)
            if not found and not os.path.exists(project.abs_str(dep.path)) and not _is_tracked(tracked, dep.path):
                missing.append(MissingDep(sid, dep.path))
    rank = {sid: i for i, sid in enumerate(merged.stages)}
    try:
        order = tuple(g.topological_order(rank.__getitem__))
    except CycleFound:
        raise _cycle_error(g, merged) from None
    return StageGraph(project, merged, g, producers, order, tuple(missing), tracked)


def _is_tracked(tracked: Mapping[str, model.TrackedSpec], path: str) -> bool:
    return any(p in tracked for p in (path, *_ancestors(path)))
