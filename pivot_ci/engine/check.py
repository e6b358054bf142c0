"""`status` and `verify` as one result value: per stage, per pipeline, per state dir."""

from __future__ import annotations

import dataclasses
import enum
import os
import shlex
from collections.abc import Sequence

from pivot_ci import errors
from pivot_ci.dag.graph import StageGraph
from pivot_ci.dag.load import Loaded
from pivot_ci.engine import status, tracked
from pivot_ci.engine.access import StateAccess
from pivot_ci.pipeline import model
from pivot_ci.state import statedir


class Command(enum.Enum):
    STATUS = "status"
    VERIFY = "verify"


class Failure(enum.Enum):
    """Why verify fails a stage (JUnit failure types)."""

    STALE = "pivot.Stale"
    MISSING_OUTPUT = "pivot.MissingOutput"
    MISSING_DEP = "pivot.MissingDep"
    NOT_PUSHED = "pivot.NotPushed"
    TRACKED_MODIFIED = "pivot.TrackedModified"
    TRACKED_MISSING = "pivot.TrackedMissing"


@dataclasses.dataclass(frozen=True, slots=True)
class RemoteState:
    """What a remote holds, found by the CLI in one bulk query before the check: the check reads it, never asks.

    `available`: hashes whose objects are all on the remote (of the selected stages' outputs and of their
    deps that nothing produces). `allow_missing`: verify --allow-missing, so those count as available.
    """

    name: str
    available: frozenset[str]
    allow_missing: bool


@dataclasses.dataclass(frozen=True, slots=True)
class StageCheck:
    status: status.StageStatus
    passed: bool
    failure: Failure | None
    missing_deps: tuple[str, ...]
    lock_file: str
    fix: str | None
    pushed: bool | None = None  # every cached output on the remote (None: no remote asked)

    @property
    def spec(self) -> model.StageSpec:
        return self.status.spec

    @property
    def reason(self) -> str:
        parts = [str(r) for r in self.status.reasons]
        parts += [f"dependency not produced by any stage and missing: {p}" for p in self.missing_deps
                  if f"dep missing: {p}" not in parts]
        return "; ".join(parts)


@dataclasses.dataclass(frozen=True, slots=True)
class TrackedCheck:
    """One tracked path's verdict (SPEC §10): reported in its pipeline, failing verify unless ok."""

    status: tracked.TrackedStatus
    failure: Failure | None
    reason: str
    fix: str | None

    @property
    def spec(self) -> model.TrackedSpec:
        return self.status.spec

    @property
    def passed(self) -> bool:
        return self.failure is None


@dataclasses.dataclass(frozen=True, slots=True)
class PipelineCheck:
    name: str
    file: str
    state_dir: str
    stages: tuple[StageCheck, ...]
    error: str | None = None
    error_line: int | None = None
    tracked: tuple[TrackedCheck, ...] = ()  # the pointer files this pipeline owns, of the selection

    @property
    def passed(self) -> bool:
        return self.error is None and all(s.passed for s in self.stages) and all(t.passed for t in self.tracked)


@dataclasses.dataclass(frozen=True, slots=True)
class CheckReport:
    command: Command
    all_pipelines: bool
    pipelines: tuple[PipelineCheck, ...]
    warnings: tuple[str, ...]
    notes: tuple[str, ...] = ()  # advice about the report as a whole (text report; stderr in machine formats)
    tracked: tuple[TrackedCheck, ...] = ()  # tracked data no pipeline owns (no pipeline file at or above it)

    @property
    def stages(self) -> list[StageCheck]:
        return [s for p in self.pipelines for s in p.stages]

    @property
    def all_tracked(self) -> list[TrackedCheck]:
        return [t for p in self.pipelines for t in p.tracked] + list(self.tracked)

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.pipelines) and all(t.passed for t in self.tracked)


def _fix(loaded: Loaded, st: status.StageStatus, failure: Failure | None, ran_as_is: bool = False) -> str | None:
    """The command that fixes the stage; `ran_as_is`: it ran with --no-commit on today's inputs."""
    if failure is None:
        return None
    scope = "--all " if loaded.all_pipelines else ""
    if failure is Failure.NOT_PUSHED:
        return f"pivot push {scope}{st.display} (where the outputs exist)"
    if failure is Failure.MISSING_OUTPUT:  # the lock is current: the outputs exist where they were built
        return f"pivot pull {scope}{st.display}"
    lock_kinds = (status.ReasonKind.NO_LOCK, status.ReasonKind.UPSTREAM)
    only_lock = (not st.has_lock and all(r.kind in lock_kinds for r in st.reasons)
                 and not st.missing_files)
    verb = "commit" if only_lock or ran_as_is else "repro"
    return f"pivot {verb} {scope}{st.display}"


def _pushed(access: StateAccess, spec: model.StageSpec, remote: RemoteState | None) -> bool | None:
    if remote is None:
        return None
    lock = access.read_lock(spec)
    return lock is not None and all(e["hash"] in remote.available for e in lock["outs"])


def _only_missing(graph: StageGraph, statuses: dict[model.StageId, status.StageStatus]) -> set[model.StageId]:
    """Stages stale only because outputs are missing from workspace and cache, theirs or upstream ones'.

    A fresh clone looks like this: every lock current, no output anywhere. Such stages are not stale in
    the sense that `repro` is the fix: the outputs exist where they were built, and `pull` brings them.
    """
    found: set[model.StageId] = set()
    for sid, st in statuses.items():  # topological order
        kinds = {r.kind for r in st.reasons}
        if not kinds or not kinds <= {status.ReasonKind.OUT_MISSING, status.ReasonKind.UPSTREAM}:
            continue
        up = [p for p in graph.graph.predecessors(sid) if p in statuses and statuses[p].stale]
        if all(p in found for p in up):
            found.add(sid)
    return found


def _stage_check(loaded: Loaded, access: StateAccess, command: Command, st: status.StageStatus,
                 missing_deps: tuple[str, ...], remote: RemoteState | None, only_missing: bool) -> StageCheck:
    failure = None
    if command is Command.VERIFY and missing_deps:
        failure = Failure.MISSING_DEP
    elif only_missing and remote is not None and remote.allow_missing:
        # the remote was asked too: the output exists nowhere a checkout could get it; a stage whose own
        # outputs are there but whose upstream ones are not must be rebuilt
        failure = Failure.NOT_PUSHED if st.missing_files else Failure.STALE
    elif only_missing:
        failure = Failure.MISSING_OUTPUT
    elif st.stale:
        failure = Failure.STALE
    ran = False
    if failure is Failure.STALE and not st.only_upstream:
        from pivot_ci.engine import commit  # only a stale stage's check needs it (a no-change one does not)

        ran = commit.ran_as_is(access, st.spec)
    return StageCheck(st, failure is None, failure, missing_deps, access.lock_display(st.spec),
                      _fix(loaded, st, failure, ran), _pushed(access, st.spec, remote))


def _on_remote(access: StateAccess, spec: model.StageSpec, path: str, remote: RemoteState | None) -> bool:
    """A dep nothing produces, missing here, whose locked content the remote has (--allow-missing)."""
    if remote is None or not remote.allow_missing:
        return False
    lock = access.read_lock(spec)
    return lock is not None and any(e["path"] == path and e["hash"] in remote.available for e in lock["deps"])


def _tracked_check(loaded: Loaded, access: StateAccess, spec: model.TrackedSpec,
                   remote: RemoteState | None) -> TrackedCheck:
    remote_ok = remote.available if remote is not None and remote.allow_missing else frozenset()
    st = tracked.status(access, spec, remote_ok)
    path = shlex.quote(spec.path)
    scope = "--all " if loaded.all_pipelines else ""
    match st.state:
        case tracked.TrackedState.OK:
            where = " (in the cache, not in the workspace)" if st.in_cache else (
                " (on the remote only)" if st.on_remote else "")
            return TrackedCheck(st, None, f"ok{where}", None)
        case tracked.TrackedState.MODIFIED:
            return TrackedCheck(st, Failure.TRACKED_MODIFIED, f"tracked data modified: {spec.path} differs from "
                                f"{spec.pvt_file}", f"pivot track {path}")
    if remote is not None and remote.allow_missing:
        return TrackedCheck(st, Failure.NOT_PUSHED, f"tracked data missing: {spec.path} is not in the workspace, "
                            f"the cache or remote '{remote.name}'", f"pivot push {scope}{path} (where the data exists)")
    return TrackedCheck(st, Failure.TRACKED_MISSING, f"tracked data missing: {spec.path} is not in the workspace "
                        "or the cache", f"pivot pull {scope}{path}")


def check(loaded: Loaded, access: StateAccess, command: Command, ids: set[model.StageId],
          remote: RemoteState | None = None, tracked_data: Sequence[model.TrackedSpec] = ()) -> CheckReport:
    """The report of stages `ids` and of the tracked data `tracked_data` (tracked.selected picks it)."""
    g = loaded.graph
    owned: dict[str | None, list[TrackedCheck]] = {}
    for spec in tracked_data:
        owned.setdefault(spec.owner_file, []).append(_tracked_check(loaded, access, spec, remote))
    order = loaded.in_order(ids)
    remote_ok = remote.available if remote is not None and remote.allow_missing else frozenset()
    statuses = status.compute(access, g, order, remote_ok)
    missing: dict[model.StageId, list[str]] = {}
    for miss in g.missing_deps:
        if miss.stage in statuses and not _on_remote(access, g.stages[miss.stage], miss.path, remote):
            missing.setdefault(miss.stage, []).append(miss.path)
    only_missing = _only_missing(g, statuses)
    pipelines = []
    for pipe in g.merged.pipelines:
        stages = tuple(_stage_check(loaded, access, command, statuses[st.id], tuple(missing.get(st.id, ())), remote,
                                    st.id in only_missing)
                       for st in pipe.stages if st.id in statuses)
        own = tuple(owned.pop(pipe.file, ()))
        if stages or own or (loaded.current is not None and pipe.name == loaded.current.name):
            pipelines.append(PipelineCheck(pipe.name, pipe.file, pipe.state_dir, stages, tracked=own))
    for broken in loaded.broken:
        if loaded.all_pipelines:
            pipelines.append(_broken(broken.file, broken.error))
    rest = tuple(t for checks in owned.values() for t in checks)  # owned by the project (or a broken pipeline)
    orphans = [] if loaded.broken else _orphan_locks(loaded, access, {p.state_dir for p in pipelines})
    return CheckReport(command, loaded.all_pipelines, tuple(pipelines), loaded.warnings + tuple(orphans),
                       tracked=rest)


def _orphan_locks(loaded: Loaded, access: StateAccess, state_dirs: set[str]) -> list[str]:
    """A warning for each lock file in `state_dirs` that no declared stage owns (a renamed or removed stage)."""
    owned: dict[str, set[str]] = {}
    for sid in loaded.graph.stages:
        owned.setdefault(sid.state_dir, set()).add(sid.name)
    found = []
    for state_dir in sorted(state_dirs):
        try:
            names = os.listdir(access.state_dir(state_dir) / statedir.STAGES_DIR)
        except OSError:
            continue
        for name in sorted(names):
            stage = name.removesuffix(statedir.LOCK_SUFFIX)
            if stage != name and stage not in owned.get(state_dir, set()):
                rel = f"{state_dir}/{statedir.STAGES_DIR}/{name}"
                found.append(f"lock file {rel} belongs to no stage (was stage '{stage}' renamed or removed? "
                             f"then `git rm {rel}`)")
    return found


def missing_note(report: CheckReport, remote: str | None, configured: bool) -> str | None:
    """Advice for stages whose outputs are in neither workspace nor cache (a fresh clone), or None.

    `remote`: the default remote's name; `configured`: whether any remote is configured.
    """
    n = sum(1 for s in report.stages if s.failure is Failure.MISSING_OUTPUT)
    if not n:
        return None
    scope = " --all" if report.all_pipelines else ""
    what = f"{n} stage{'s have' if n > 1 else ' has'} outputs in neither the workspace nor the cache"
    ci = (f"  in CI: `pivot verify{scope} --allow-missing` checks them on the remote without downloading "
          "(README, 'Use in CI')")
    if configured:
        source = f"remote '{remote}'" if remote else "the remote (-r NAME)"
        return f"{what}:\n  here: `pivot pull{scope}` fetches them from {source}\n{ci}"
    return "\n".join([
        f"{what}, and no remote is configured (a fresh clone?):",
        f"  outputs travel through a remote: `pivot remote add NAME URL --default` (commit .pivot/config.yaml), "
        f"then `pivot push{scope}` where they were built",
        f"  here: `pivot pull{scope}`, or `pivot repro{scope}` to rebuild them", ci])


def _broken(file: str, error: errors.PivotError) -> PipelineCheck:
    message = error.message + (f" ({error.location})" if error.location else "")
    return PipelineCheck(file, file, "", (), message, error.line)


def error_report(command: Command, all_pipelines: bool, error: errors.PivotError) -> CheckReport:
    """The report of a project that could not be loaded: the error, at the file it names."""
    return CheckReport(command, all_pipelines, (_broken(error.file or "(project)", error),), ())
