"""The executor seam: what the scheduler needs from an executor, and the factory that picks one.

The scheduler (engine/repro.py) hands `Task`s to an `Executor` and waits on the futures it returns; it never
knows where a stage runs. Two implementations: `executor.LocalExecutor` (this machine) and
`cluster.client.DaskExecutor` (a Dask cluster; `distributed` is imported only when it is chosen).
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import enum
import os
from collections.abc import Mapping, Sequence
from typing import Protocol

from pivot_ci import errors
from pivot_ci.engine.executor import LocalExecutor, Request
from pivot_ci.engine.worker import ExecResult
from pivot_ci.pipeline import model
from pivot_ci.project import Project
from pivot_ci.state import stagelog

DEFAULT_TIMEOUT = 10.0


class Kind(enum.Enum):
    LOCAL = "local"
    DASK = "dask"


@dataclasses.dataclass(frozen=True, slots=True)
class ExecutorChoice:
    """Where stages run: this machine, or the Dask scheduler at `scheduler` (or named by `scheduler_file`)."""

    kind: Kind = Kind.LOCAL
    scheduler: str | None = None
    scheduler_file: str | None = None  # absolute
    timeout: float = DEFAULT_TIMEOUT  # seconds to connect, to find workers, or to get back a worker able to run a stage
    source: str = "default"  # where the choice came from, for messages

    @property
    def address(self) -> str:
        return self.scheduler or f"the scheduler of {self.scheduler_file}"


LOCAL = ExecutorChoice()


@dataclasses.dataclass(frozen=True, slots=True)
class Task:
    """One stage to run: the request, and what the scheduler knows about it that executors may use."""

    request: Request
    stage: model.StageSpec
    display: str
    sink: stagelog.Sink | None = None  # where the output goes as it comes (the executor closes it at the end)

    @property
    def resources(self) -> Mapping[str, float]:
        return self.stage.resources


class Executor(Protocol):
    """Runs tasks; a failing stage is an ExecResult with ok=False, never an exception from the future."""

    @property
    def slots(self) -> int:
        """How many stages may be in flight at once."""
        ...

    def submit(self, task: Task) -> cf.Future[ExecResult]: ...

    def cancel(self) -> None:
        """Stop everything queued and running now (Ctrl-C): no process of a stage may outlive this call."""
        ...

    def close(self) -> None: ...


class _Local:
    """LocalExecutor behind the seam."""

    def __init__(self, jobs: int) -> None:
        self._inner = LocalExecutor(jobs)
        self.slots = jobs

    def submit(self, task: Task) -> cf.Future[ExecResult]:
        return self._inner.submit(task.request, task.sink)

    def cancel(self) -> None:
        self._inner.cancel()

    def close(self) -> None:
        self._inner.close()


class Deferred:
    """The executor `create` makes, made on the first submit: a run whose stale stages all come from the
    run cache or are cut off early never starts workers or contacts a cluster."""

    def __init__(self, choice: ExecutorChoice, jobs: int | None, project: Project,
                 stages: Sequence[model.StageSpec]) -> None:
        self._args = (choice, jobs, project, stages)
        self._inner: Executor | None = None

    @property
    def slots(self) -> int:
        return 1 if self._inner is None else self._inner.slots  # nothing is in flight before the first submit

    def submit(self, task: Task) -> cf.Future[ExecResult]:
        if self._inner is None:
            self._inner = create(*self._args)
        return self._inner.submit(task)

    def cancel(self) -> None:
        if self._inner is not None:
            self._inner.cancel()

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def create(choice: ExecutorChoice, jobs: int | None, project: Project,
           stages: Sequence[model.StageSpec]) -> Executor:
    """An executor ready to run `stages`: for Dask, connected and checked (exit 2 before anything runs)."""
    match choice.kind:
        case Kind.LOCAL:
            return _Local(jobs or default_jobs())
        case Kind.DASK:
            try:
                from pivot_ci.engine.cluster import client  # the only place `distributed` is imported from
            except ModuleNotFoundError as exc:
                if (exc.name or "").split(".")[0] not in ("distributed", "dask"):
                    raise
                raise errors.ClusterError(f"the dask executor needs the `distributed` package ({exc})",
                                          hint="pip install 'pivot-ci[dask]'") from None
            return client.DaskExecutor.connect(choice, jobs, project, stages)
