"""`status` and `verify` as one result value: per stage, per pipeline, per state dir."""

from __future__ import annotations

import dataclasses
import enum

from pivot_ci import errors
from pivot_ci.dag.load import Loaded
from pivot_ci.engine import status
from pivot_ci.engine.access import StateAccess
from pivot_ci.pipeline import model


class Command(enum.Enum):
    STATUS = "status"
    VERIFY = "verify"


class Failure(enum.Enum):
    """Why verify fails a stage (JUnit failure types)."""

    STALE = "pivot.Stale"
    MISSING_OUTPUT = "pivot.MissingOutput"
    MISSING_DEP = "pivot.MissingDep"
    NOT_PUSHED = "pivot.NotPushed"


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
class PipelineCheck:
    name: str
    file: str
    state_dir: str
    stages: tuple[StageCheck, ...]
    error: str | None = None
    error_line: int | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and all(s.passed for s in self.stages)


@dataclasses.dataclass(frozen=True, slots=True)
class CheckReport:
    command: Command
    all_pipelines: bool
    pipelines: tuple[PipelineCheck, ...]
    warnings: tuple[str, ...]
    notes: tuple[str, ...] = ()  # advice about the report as a whole (text report; stderr in machine formats)

    @property
    def stages(self) -> list[StageCheck]:
        return [s for p in self.pipelines for s in p.stages]

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.pipelines)


def _fix(loaded: Loaded, st: status.StageStatus, failure: Failure | None) -> str | None:
    if failure is None:
        return None
    scope = "--all " if loaded.all_pipelines else ""
    if failure is Failure.NOT_PUSHED:
        return f"pivot push {scope}{st.display} (where the outputs exist)"
    lock_kinds = (status.ReasonKind.NO_LOCK, status.ReasonKind.UPSTREAM)
    only_lock = (not st.has_lock and all(r.kind in lock_kinds for r in st.reasons)
                 and not st.missing_files)
    verb = "commit" if only_lock else "repro"
    return f"pivot {verb} {scope}{st.display}"


def _pushed(access: StateAccess, spec: model.StageSpec, remote: RemoteState | None) -> bool | None:
    if remote is None:
        return None
    lock = access.read_lock(spec)
    return lock is not None and all(e["hash"] in remote.available for e in lock["outs"])


def _stage_check(loaded: Loaded, access: StateAccess, command: Command, st: status.StageStatus,
                 missing_deps: tuple[str, ...], remote: RemoteState | None) -> StageCheck:
    failure = None
    if command is Command.VERIFY and missing_deps:
        failure = Failure.MISSING_DEP
    elif st.missing_files and not [r for r in st.reasons if r.kind is not status.ReasonKind.OUT_MISSING]:
        # with --allow-missing the remote was asked too: the output exists nowhere a checkout could get it
        failure = Failure.NOT_PUSHED if remote is not None and remote.allow_missing else Failure.MISSING_OUTPUT
    elif st.stale:
        failure = Failure.STALE
    return StageCheck(st, failure is None, failure, missing_deps, access.lock_display(st.spec),
                      _fix(loaded, st, failure), _pushed(access, st.spec, remote))


def _on_remote(access: StateAccess, spec: model.StageSpec, path: str, remote: RemoteState | None) -> bool:
    """A dep nothing produces, missing here, whose locked content the remote has (--allow-missing)."""
    if remote is None or not remote.allow_missing:
        return False
    lock = access.read_lock(spec)
    return lock is not None and any(e["path"] == path and e["hash"] in remote.available for e in lock["deps"])


def check(loaded: Loaded, access: StateAccess, command: Command, ids: set[model.StageId],
          remote: RemoteState | None = None) -> CheckReport:
    g = loaded.graph
    order = loaded.in_order(ids)
    remote_ok = remote.available if remote is not None and remote.allow_missing else frozenset()
    statuses = status.compute(access, g, order, remote_ok)
    missing: dict[model.StageId, list[str]] = {}
    for miss in g.missing_deps:
        if miss.stage in statuses and not _on_remote(access, g.stages[miss.stage], miss.path, remote):
            missing.setdefault(miss.stage, []).append(miss.path)
    pipelines = []
    for pipe in g.merged.pipelines:
        stages = tuple(_stage_check(loaded, access, command, statuses[st.id], tuple(missing.get(st.id, ())), remote)
                       for st in pipe.stages if st.id in statuses)
        if stages or (loaded.current is not None and pipe.name == loaded.current.name):
            pipelines.append(PipelineCheck(pipe.name, pipe.file, pipe.state_dir, stages))
    for broken in loaded.broken:
        if loaded.all_pipelines:
            pipelines.append(_broken(broken.file, broken.error))
    return CheckReport(command, loaded.all_pipelines, tuple(pipelines), loaded.warnings)


def _broken(file: str, error: errors.PivotError) -> PipelineCheck:
    message = error.message + (f" ({error.location})" if error.location else "")
    return PipelineCheck(file, file, "", (), message, error.line)


def error_report(command: Command, all_pipelines: bool, error: errors.PivotError) -> CheckReport:
    """The report of a project that could not be loaded: the error, at the file it names."""
    return CheckReport(command, all_pipelines, (_broken(error.file or "(project)", error),), ())
