"""Compare params and metrics of the selected stages between two sides (SPEC §12): one Comparison value.

A side is a git revision or the workspace. The stages are those of the workspace's pipelines (old pipeline
files are never run); what a stage had at a revision comes from that revision's lock file and metric files.
Data missing on a side is a Gap of the stage, never a row: a value is `added` only when git shows the stage,
or the metric file, did not exist on the old side.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

from pivot_ci.compare import evaluate, metricfile
from pivot_ci.compare.sides import SideData
from pivot_ci.compare.values import (
    Comparison,
    Gap,
    Kind,
    PipelineComparison,
    Row,
    Side,
    StageComparison,
    is_number,
)
from pivot_ci.dag.load import Loaded
from pivot_ci.pipeline import model
from pivot_ci.state import statedb
from pivot_ci.state.gitread import GitRepo

WORKSPACE = "workspace"


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """`old`: a revision (None: `metrics show`, the workspace alone); `new`: a revision or None (workspace)."""

    old: str | None
    new: str | None
    params: bool
    metrics: bool


@contextlib.contextmanager
def _git(loaded: Loaded, request: Request) -> Iterator[GitRepo | None]:
    if request.old is None and request.new is None:
        yield None
        return
    with GitRepo.open(loaded.project.root, "comparing with a git revision") as git:
        yield git


def compare(loaded: Loaded, ids: list[model.StageId], request: Request) -> Comparison:
    """Params and/or metrics of `ids` (in graph order) between the two sides of `request`."""
    g = loaded.graph
    with _git(loaded, request) as git, statedb.StateDB.open(loaded.project.state_dir) as memo:
        old = None if request.old is None else Side(request.old, _resolve(git, request.old))
        new = Side(WORKSPACE, None) if request.new is None else Side(request.new, _resolve(git, request.new))
        specs = [g.stages[sid] for sid in ids]
        new_data = SideData(loaded.project, git, new, specs, metrics=request.metrics, memo=memo)
        old_data = None if old is None else SideData(loaded.project, git, old, specs, metrics=request.metrics,
                                                     memo=memo)
        by_id = {sid: _stage(g.display(sid), g.stages[sid], old_data, new_data, request) for sid in ids}
    pipelines = []
    for pipe in g.merged.pipelines:
        stages = tuple(by_id[sid] for sid in g.order if sid in by_id and g.stages[sid].pipeline_file == pipe.file)
        if stages:
            pipelines.append(PipelineComparison(pipe.name, pipe.file, stages))
    if loaded.all_pipelines:
        pipelines += [PipelineComparison(b.file, b.file, (), _load_error(b.error), b.error.line)
                      for b in loaded.broken]
    return Comparison(old, new, request.params, request.metrics, tuple(pipelines))


def _load_error(error: Any) -> str:
    return f"pipeline file failed to load, its params and metrics cannot be compared: {error}"


def _resolve(git: GitRepo | None, rev: str) -> str:
    assert git is not None
    return git.resolve(rev)


def _stage(display: str, st: model.StageSpec, old: SideData | None, new: SideData,
           request: Request) -> StageComparison:
    gaps: list[Gap] = []
    new_stage = False
    if old is not None and _missing_on_old(st, old, request):
        new_stage = old.lacks_stage(st)
    params: tuple[Row, ...] = ()
    if request.params:
        params = _params(st, old, new, new_stage, gaps)
    metrics: tuple[Row, ...] = ()
    files: Observations = {}
    if request.metrics:
        metrics, files = _metrics(st, old, new, new_stage, gaps)
    gates = tuple(evaluate.gate(gate, *files[gate.path], new_stage)
                  for gate in st.gates) if request.metrics and old is not None else ()
    return StageComparison(st, display, params, metrics, gates, tuple(gaps), new_stage)


def _missing_on_old(st: model.StageSpec, old: SideData, request: Request) -> bool:
    """Whether anything the comparison needs is absent on the old side (only then is git asked whether the
    stage existed there)."""
    if old.lock(st) is None:
        return True
    listed = old.listed(st) or frozenset()
    return request.metrics and any(m.path not in listed or old.metric(m.path) is None
                                   for m in st.metrics if not m.is_dir)


def _params(st: model.StageSpec, old: SideData | None, new: SideData, new_stage: bool,
            gaps: list[Gap]) -> tuple[Row, ...]:
    after = new.params(st)
    if after is None:
        gaps.append(Gap(new.side, "params", new.lock_gap(st)))
    if old is None:
        return () if after is None else _rows(None, metricfile.flatten(after, lists=False), None, show=True)
    before = old.params(st)
    if before is None and new_stage:
        before = {}
    elif before is None:
        gaps.append(Gap(old.side, "params", old.lock_gap(st)))
    if before is None or after is None:
        return ()
    return _rows(metricfile.flatten(before, lists=False), metricfile.flatten(after, lists=False), None)


Observations = dict[str, tuple[evaluate.Observed | None, evaluate.Observed]]


def _metrics(st: model.StageSpec, old: SideData | None, new: SideData, new_stage: bool,
             gaps: list[Gap]) -> tuple[tuple[Row, ...], Observations]:
    declared = [m.path for m in st.metrics if not m.is_dir]
    listed_new = new.listed(st)
    listed_old = None if old is None else old.listed(st)
    paths = list(dict.fromkeys([*declared, *(sorted(listed_new or ())), *(sorted(listed_old or ()))]))
    if old is not None:
        old.prefetch(paths)
    new.prefetch(paths)
    rows: list[Row] = []
    files: Observations = {}
    for path in paths:
        after = new.metric(path)
        if after is None and listed_new is not None and path not in listed_new:
            after = {}  # the stage no longer has this metric file: its keys are removed
        elif after is None:
            gaps.append(Gap(new.side, "metrics", new.metric_gap(path) or new.lock_gap(st)))
        observed = evaluate.Observed(new.side, after, new.metric_gap(path))
        if old is None:
            files[path] = (None, observed)
            rows += _rows(None, after, path, show=True) if after is not None else []
            continue
        before = old.metric(path)
        if before is None and (new_stage or (listed_old is not None and path not in listed_old)):
            before = {}  # git shows the stage (or this file of it) did not exist on the old side
        elif before is None:
            gaps.append(Gap(old.side, "metrics", old.metric_gap(path) or old.lock_gap(st)))
        files[path] = (evaluate.Observed(old.side, before, old.metric_gap(path)), observed)
        if before is not None and after is not None:
            rows += _rows(before, after, path)
    return tuple(rows), files


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _same(a: Any, b: Any) -> bool:
    if is_number(a) and is_number(b):
        return bool(a == b) or (a != a and b != b)  # 1 == 1.0; NaN stays NaN
    return _text(a) == _text(b)


def _rows(before: dict[str, Any] | None, after: dict[str, Any], file: str | None, *,
          show: bool = False) -> tuple[Row, ...]:
    if show or before is None:
        return tuple(Row(k, None, after[k], None, file) for k in sorted(after, key=metricfile.natural_key))
    out = []
    for key in sorted(set(before) | set(after), key=metricfile.natural_key):
        if key not in before:
            out.append(Row(key, None, after[key], Kind.ADDED, file))
        elif key not in after:
            out.append(Row(key, before[key], None, Kind.REMOVED, file))
        else:
            kind = Kind.UNCHANGED if _same(before[key], after[key]) else Kind.CHANGED
            out.append(Row(key, before[key], after[key], kind, file))
    return tuple(out)
