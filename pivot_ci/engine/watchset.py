"""What watch mode listens to: the paths that matter to the selected stages, and the noise it drops."""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pivot_ci import discover
from pivot_ci.dag.graph import StageGraph
from pivot_ci.dag.load import Loaded
from pivot_ci.engine import status
from pivot_ci.pipeline import model

if TYPE_CHECKING:
    import pathspec

# vim swap files and its `4913` write probe, `file~` backups, emacs `.#lock` and `#autosave#`, JetBrains safe-write
_TEMP_NAME = re.compile(r"\.sw[a-z]$|~$|^\.#|^#.*#$|^4913$|\.___jb_\w+___$")

_Index = Mapping[str, frozenset[model.StageId]]


def is_noise(rel: str) -> bool:
    """Writes no stage can depend on: pivot's state (`.pivot/`), skipped tool directories, editor temp files."""
    parts = rel.split("/")
    return any(p in discover.SKIP_DIRS for p in parts) or _TEMP_NAME.search(parts[-1]) is not None


def _self_and_parents(path: str) -> Iterator[str]:
    cur = path
    while cur not in ("", "."):
        yield cur
        cur = posixpath.dirname(cur)


@dataclasses.dataclass(frozen=True, slots=True)
class Hit:
    """A change that matters: whether it reloads the graph, and the stages whose inputs it touched."""

    path: str
    reload: bool
    stages: frozenset[model.StageId]


@dataclasses.dataclass(frozen=True, slots=True)
class WatchSet:
    """The paths one loaded graph cares about, keyed by project-relative POSIX path."""

    reload_files: frozenset[str]  # pipeline files, their vars files, pointer files, with --all `.pivotignore`
    reload_parents: frozenset[str]  # directories holding those: renaming or removing one reloads
    anywhere: bool  # --all: a pipeline or pointer file appearing anywhere outside the skipped directories reloads
    ignore: pathspec.PathSpec[Any] | None  # `.pivotignore`, for `anywhere`
    inputs: _Index  # deps and stage code files (and anything below them) -> the stages reading them
    input_parents: _Index  # their parent directories: renaming or removing one touches those stages
    code_dirs: _Index  # directories on a stage's import path: a new module there may change an import
    outputs: frozenset[str]  # declared outs and metrics: changes there are the stages' own doing

    def classify(self, rel: str) -> Hit | None:
        """What a change to `rel` means, or None when it does not matter."""
        if is_noise(rel) or any(p in self.outputs for p in _self_and_parents(rel)):
            return None
        name = posixpath.basename(rel)
        reload = (rel in self.reload_files or rel in self.reload_parents
                  or self.anywhere and (name in discover.PIPELINE_FILE_NAMES or name.endswith(discover.POINTER_SUFFIX))
                  and not discover.skipped(rel, self.ignore))
        stages: set[model.StageId] = set(self.input_parents.get(rel, ()))
        for p in _self_and_parents(rel):
            stages.update(self.inputs.get(p, ()))
        if rel.endswith(".py"):
            stages.update(self.code_dirs.get(posixpath.dirname(rel) or ".", ()))
        if not reload and not stages:
            return None
        return Hit(rel, reload, frozenset(stages))


def _index(pairs: Iterable[tuple[str, model.StageId]]) -> dict[str, frozenset[model.StageId]]:
    out: dict[str, set[model.StageId]] = {}
    for path, sid in pairs:
        out.setdefault(path, set()).add(sid)
    return {path: frozenset(ids) for path, ids in out.items()}


def build(loaded: Loaded, order: Iterable[model.StageId], code_files: Callable[[model.StageSpec], Iterable[str]],
          extra_reload: Iterable[str] = ()) -> WatchSet:
    """The watch set of the stages in `order`; `code_files` gives a Python stage's absolute code paths."""
    project, g = loaded.project, loaded.graph
    if loaded.all_pipelines:
        pipelines = list(g.merged.pipelines)
    else:  # the current pipeline and those it pulls producers from
        files = {g.stages[sid].pipeline_file for sid in loaded.scope}
        if loaded.current is not None:
            files.add(loaded.current.file)
        pipelines = [p for p in g.merged.pipelines if p.file in files]
    reload = {p.file for p in pipelines} | {v for p in pipelines for v in p.vars_files} | set(extra_reload)
    reload |= {t.pvt_file for t in g.tracked.values()}  # `pivot track` rewrote one: what a dep stands for changed
    if loaded.all_pipelines:
        reload |= {b.file for b in loaded.broken} | {discover.IGNORE_FILE}
    reads: list[tuple[str, model.StageId]] = []
    code_dirs: list[tuple[str, model.StageId]] = []
    for sid in order:
        st = g.stages[sid]
        # a dep another stage produces changes when that stage runs, and is an output here
        reads += [(d.path, sid) for d in st.deps if g.producer_of(d.path) is None]
        for path in code_files(st):
            rel = project.rel(path)
            if rel == ".." or rel.startswith("../"):
                continue  # not project code
            (code_dirs if os.path.isdir(path) else reads).append((rel, sid))
    return WatchSet(
        reload_files=frozenset(reload),
        reload_parents=frozenset(p for f in reload for p in _self_and_parents(posixpath.dirname(f))),
        anywhere=loaded.all_pipelines,
        ignore=discover.ignore_spec(project) if loaded.all_pipelines else None,
        inputs=_index(reads),
        input_parents=_index((p, sid) for path, sid in reads for p in _self_and_parents(posixpath.dirname(path))),
        code_dirs=_index(code_dirs),
        outputs=frozenset(o.path for st in g.stages.values() for o in st.all_outputs()),
    )


def changed_stages(old: StageGraph, new: StageGraph) -> set[model.StageId]:
    """Stages of `new` that are new or declared differently than in `old`."""
    return {sid for sid, st in new.stages.items() if old.stages.get(sid) != st}


def to_run(graph: StageGraph, order: list[model.StageId], statuses: Mapping[model.StageId, status.StageStatus],
           touched: Iterable[model.StageId]) -> list[model.StageId]:
    """The stale stages a change affects: touched or downstream of a touched stage, with the stale stages
    they need built first; a stage stale since before (a failure) waits for a change of its own."""
    stale = {sid for sid in order if statuses[sid].stale}
    affected: set[model.StageId] = set()
    for sid in touched:
        if sid in graph.graph:
            affected |= {sid} | graph.downstream(sid)
    chosen = stale & affected
    for sid in list(chosen):
        chosen |= stale & graph.upstream(sid)
    return [sid for sid in order if sid in chosen]
