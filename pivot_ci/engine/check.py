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
class StageCheck:
    status: status.StageStatus
    passed: bool
    failure: Failure | None
    missing_deps: tuple[str, ...]
    lock_file: str
    fix: str | None

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
    lock_kinds = (status.ReasonKind.NO_LOCK, status.ReasonKind.UPSTREAM)
    only_lock = (not st.has_lock and all(r.kind in lock_kinds for r in st.reasons)
                 and not st.missing_files)
    verb = "commit" if only_lock else "repro"
    return f"pivot {verb} {scope}{st.display}"


def _stage_check(loaded: Loaded, access: StateAccess, command: Command, st: status.StageStatus,
                 missing_deps: tuple[str, ...]) -> StageCheck:
    failure = None
    if command is Command.VERIFY and missing_deps:
        failure = Failure.MISSING_DEP
    elif st.missing_files and not [r for r in st.reasons if r.kind is not status.ReasonKind.OUT_MISSING]:
        failure = Failure.MISSING_OUTPUT
    elif st.stale:
        failure = Failure.STALE
    return StageCheck(st, failure is None, failure, missing_deps, access.lock_display(st.spec),
                      _fix(loaded, st, failure))


def check(loaded: Loaded, access: StateAccess, command: Command, ids: set[model.StageId]) -> CheckReport:
    g = loaded.graph
    order = loaded.in_order(ids)
    statuses = status.compute(access, g, order)
    missing: dict[model.StageId, list[str]] = {}
    for miss in g.missing_deps:
        missing.setdefault(miss.stage, []).append(miss.path)
    pipelines = []
    for pipe in g.merged.pipelines:
        stages = tuple(_stage_check(loaded, access, command, statuses[st.id], tuple(missing.get(st.id, ())))
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
