"""Staleness of stages with reasons (SPEC §4); reads state, writes nothing but hash memos."""

from __future__ import annotations

import dataclasses
import enum
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from pivot_ci.dag.graph import StageGraph
from pivot_ci.engine import tracked
from pivot_ci.engine.access import StateAccess
from pivot_ci.pipeline import model
from pivot_ci.state import hashing, lockfile


class ReasonKind(enum.Enum):
    """Why a stage is stale, in the order reasons are reported."""

    NO_LOCK = "no lock file"
    CMD = "cmd changed"
    CODE = "code changed"
    PARAM = "param changed"
    DEP_CHANGED = "dep changed"
    DEP_MISSING = "dep missing"
    OUT_MISSING = "output missing"
    OUT_CHANGED = "output changed"
    LOCK_UNSTAGED = "lock file not staged"  # verify --staged: the commit would lack the lock pivot wrote
    UPSTREAM = "upstream stale"


@dataclasses.dataclass(frozen=True, slots=True)
class Reason:
    kind: ReasonKind
    path: str | None = None
    old: str | None = None
    new: str | None = None
    details: tuple[str, ...] = ()  # what changed inside, for `status --explain` (functions, files of a directory)

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.path}" if self.path else self.kind.value


@dataclasses.dataclass(frozen=True, slots=True)
class StageStatus:
    """One stage's verdict; reports render these, never recompute them."""

    id: model.StageId
    display: str
    spec: model.StageSpec
    reasons: tuple[Reason, ...]
    missing_files: tuple[str, ...]
    restorable: tuple[str, ...]
    upstream_stale: tuple[str, ...]
    has_lock: bool
    seconds: float = 0.0  # time spent checking this stage (JUnit testcase time)
    on_remote: tuple[str, ...] = ()  # outputs missing here but on the remote (verify --allow-missing)

    @property
    def stale(self) -> bool:
        return bool(self.reasons)

    @property
    def only_upstream(self) -> bool:
        return all(r.kind is ReasonKind.UPSTREAM for r in self.reasons)


def _param_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _params_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Reason]:
    out = []
    for key in sorted(set(old) | set(new)):
        if key not in new or key not in old or _param_text(old[key]) != _param_text(new[key]):
            out.append(Reason(ReasonKind.PARAM, key,
                              _param_text(old[key]) if key in old else None,
                              _param_text(new[key]) if key in new else None))
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class OwnCheck:
    """A stage's own verdict, upstream ignored."""

    reasons: list[Reason]
    missing: list[str]
    restorable: list[str]
    has_lock: bool
    on_remote: list[str] = dataclasses.field(default_factory=list)


def _output_reasons(access: StateAccess, st: model.StageSpec, lock: lockfile.LockData,
                    hasher: hashing.PathHasher, remote_ok: frozenset[str]) -> OwnCheck:
    reasons: list[Reason] = []
    missing: list[str] = []
    restorable: list[str] = []
    on_remote: list[str] = []
    for group, cached in (("outs", True), ("metrics", False)):
        locked = {e["path"]: e["hash"] for e in lock[group]}  # type: ignore[literal-required]
        specs = st.outs if cached else st.metrics
        if set(locked) != {o.path for o in specs}:
            for path in sorted(set(locked) ^ {o.path for o in specs}):
                reasons.append(Reason(ReasonKind.OUT_CHANGED, path, locked.get(path), None))
        for out in specs:
            old = locked.get(out.path)
            if old is None:
                continue
            now = hasher.path(out.path)
            if now is None:
                if cached and _in_cache(access, old):
                    restorable.append(out.path)
                elif cached and old in remote_ok:
                    on_remote.append(out.path)
                else:
                    missing.append(out.path)
                    reasons.append(Reason(ReasonKind.OUT_MISSING, out.path, old, None))
            elif now != old:
                reasons.append(Reason(ReasonKind.OUT_CHANGED, out.path, old, now))
    return OwnCheck(reasons, missing, restorable, True, on_remote)


def _in_cache(access: StateAccess, h: str) -> bool:
    """Whether a missing output can be restored: its object is there and matches its name."""
    return access.object_ok(h)


def own_reasons(access: StateAccess, graph: StageGraph,
                st: model.StageSpec) -> tuple[list[Reason], list[str], list[str], bool]:
    """(reasons, missing outputs, outputs restorable from cache, has lock) ignoring upstream."""
    own = own_check(access, graph, st)
    return own.reasons, own.missing, own.restorable, own.has_lock


def own_check(access: StateAccess, graph: StageGraph, st: model.StageSpec,
              remote_ok: frozenset[str] = frozenset(), locked: lockfile.LockData | None = None) -> OwnCheck:
    """The stage's own verdict, ignoring upstream.

    A missing dep that some stage produces is that stage's business (it is stale or restorable),
    so only deps that nothing produces count as missing here. `remote_ok`: hashes a remote holds
    (verify --allow-missing), which make an output or an unproduced dep missing here count as available.
    `locked`: judge against this lock content instead of the stage's lock file.
    """
    hasher = access.hasher(st.state_dir)
    lock = locked if locked is not None else access.read_lock(st)
    locked_deps = {e["path"]: e["hash"] for e in lock["deps"]} if lock is not None else {}
    # each dep is hashed once (through the memo): without a lock, only the ones nothing produces
    now = {d.path: hasher.path(d.path) for d in st.deps if lock is not None or graph.producer_of(d.path) is None}
    if graph.tracked:  # tracked data absent from the workspace stands for what its pointer records (SPEC §10)
        for path, h in now.items():
            if h is None and (t := graph.tracked_of(path)) is not None:
                now[path] = tracked.expected_hash(access, t, path)
    dep_missing = [Reason(ReasonKind.DEP_MISSING, d.path) for d in st.deps
                   if graph.producer_of(d.path) is None and now[d.path] is None
                   and locked_deps.get(d.path) not in remote_ok]
    if lock is None:
        outs_missing = [o.path for o in st.all_outputs() if not access.project.abs(o.path).exists()]
        return OwnCheck([Reason(ReasonKind.NO_LOCK), *dep_missing], outs_missing, [], False)
    reasons: list[Reason] = []
    if st.cmd is not None and lock["cmd"] != st.cmd:
        reasons.append(Reason(ReasonKind.CMD, None, lock["cmd"], st.cmd))
    code = access.code(st)
    if st.python is not None and lock["code"] != code:
        reasons.append(Reason(ReasonKind.CODE, st.python.qualname, lock["code"], code))
    reasons += _params_changes(lock["params"], st.params)
    for dep in st.deps:
        h = now[dep.path]
        if h is not None and locked_deps.get(dep.path) != h:
            reasons.append(Reason(ReasonKind.DEP_CHANGED, dep.path, locked_deps.get(dep.path), h))
    for path in sorted(set(locked_deps) - {d.path for d in st.deps}):
        reasons.append(Reason(ReasonKind.DEP_CHANGED, path, locked_deps[path], None))
    reasons += dep_missing
    outs = _output_reasons(access, st, lock, hasher, remote_ok)
    return OwnCheck(reasons + outs.reasons, outs.missing, outs.restorable, outs.has_lock, outs.on_remote)


def compute(access: StateAccess, graph: StageGraph, ids: Iterable[model.StageId],
            remote_ok: frozenset[str] = frozenset()) -> dict[model.StageId, StageStatus]:
    """Statuses of `ids` (given in topological order); upstream staleness propagates."""
    result: dict[model.StageId, StageStatus] = {}
    for sid in ids:
        start = time.perf_counter()
        st = graph.stages[sid]
        own = own_check(access, graph, st, remote_ok)
        reasons = own.reasons
        up = [graph.display(p) for p in graph.graph.predecessors(sid) if p in result and result[p].stale]
        if up:
            reasons.append(Reason(ReasonKind.UPSTREAM, ", ".join(sorted(up))))
        result[sid] = StageStatus(sid, graph.display(sid), st, tuple(reasons), tuple(own.missing),
                                  tuple(own.restorable), tuple(sorted(up)), own.has_lock,
                                  time.perf_counter() - start, tuple(own.on_remote))
    return result
