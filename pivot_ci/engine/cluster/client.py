"""The Dask executor: stages go to an existing cluster as tasks of engine/cluster/task.py.

Only this module imports `distributed` (through the executor factory, when the dask executor is chosen).
Pivot's own scheduler stays in charge: it submits a stage when it is ready and waits on the future this
executor returns. The pivot process hashes, caches and writes locks; workers only run the stage's process.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import logging
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import distributed
from distributed.client import FutureCancelledError

from pivot_ci import errors
from pivot_ci.engine import pool
from pivot_ci.engine.cluster import attempts, preflight, task
from pivot_ci.engine.executors import ExecutorChoice, Task
from pivot_ci.engine.worker import ExecResult
from pivot_ci.pipeline import model
from pivot_ci.project import Project

T = TypeVar("T")
RUN_ROOT = "tmp/dask"  # below the project's state dir: one directory per run (token, attempt records)
_SLUG_RE = re.compile(r"[^A-Za-z0-9_.@-]")


def _connect(choice: ExecutorChoice) -> distributed.Client:
    where = choice.address
    if choice.scheduler_file is not None and not Path(choice.scheduler_file).is_file():
        raise errors.ClusterError(f"the Dask scheduler file {choice.scheduler_file} does not exist",
                                  hint="start the scheduler with `dask scheduler --scheduler-file PATH`")
    logging.getLogger("distributed").setLevel(logging.CRITICAL)  # failures are reported as pivot errors
    try:
        if choice.scheduler_file is not None:
            return distributed.Client(scheduler_file=choice.scheduler_file, timeout=choice.timeout,
                                      set_as_default=False)
        return distributed.Client(choice.scheduler, timeout=choice.timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise errors.ClusterError(
            f"cannot reach the Dask scheduler at {where} ({choice.source}) within {choice.timeout:g}s: {exc}",
            hint="start it (dask scheduler), or fix the address: --scheduler, --scheduler-file, "
                 "PIVOT_DASK_SCHEDULER or `executor:` in .pivot/config.yaml") from None


def _bounded(call: Callable[[], T], seconds: float, what: str) -> T:
    """`call()` in a helper thread, so that a worker that never answers is an error, not a hang."""
    box: list[T] = []
    problem: list[BaseException] = []

    def target() -> None:
        try:
            box.append(call())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            problem.append(exc)

    thread = threading.Thread(target=target, name="pivot-dask-call", daemon=True)
    thread.start()
    thread.join(seconds)
    if problem:
        raise problem[0]
    if not box:
        raise errors.ClusterError(f"{what} within {seconds:g}s", hint="check the workers' logs")
    return box[0]


def _forget_old_runs(root: Path) -> None:
    """Run directories a killed pivot process left behind (a day old: no run in progress uses them)."""
    with contextlib.suppress(OSError):
        for old in root.iterdir():
            with contextlib.suppress(OSError):
                if time.time() - old.stat().st_mtime > 86400:
                    shutil.rmtree(old, ignore_errors=True)


class _Pending:
    __slots__ = ("dask", "future", "task", "key", "slug", "unplaceable_since")

    def __init__(self, dask: distributed.Future[task.Done], future: cf.Future[ExecResult], t: Task, key: str,
                 slug: str) -> None:
        self.dask, self.future, self.task, self.key, self.slug = dask, future, t, key, slug
        self.unplaceable_since: float | None = None


class DaskExecutor:
    """Submits each stage as one Dask task; see the module docs of task.py for what a worker does."""

    def __init__(self, client: distributed.Client, choice: ExecutorChoice, slots: int, run_id: str,
                 run_dir: Path) -> None:
        self.client, self.choice, self.slots = client, choice, slots
        self.run_id, self.run_dir = run_id, run_dir
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._count = 0
        self._closed = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="pivot-dask-watchdog", daemon=True)
        self._watchdog.start()

    @classmethod
    def connect(cls, choice: ExecutorChoice, jobs: int | None, project: Project,
                stages: Sequence[model.StageSpec]) -> DaskExecutor:
        """Connect, then check the cluster can run `stages`; ClusterError (exit 2) before anything runs."""
        client = _connect(choice)
        run_id = uuid.uuid4().hex
        run_dir = project.state_dir / RUN_ROOT / run_id
        _forget_old_runs(run_dir.parent)
        try:
            try:
                client.wait_for_workers(1, timeout=choice.timeout)
            except (TimeoutError, OSError):
                raise preflight.no_workers(choice.address, choice.timeout) from None
            run_dir.mkdir(parents=True)
            token_path = run_dir / "token"
            token_path.write_text(run_id, encoding="utf-8")
            probes = _bounded(lambda: client.run(task.probe, str(token_path), on_error="return"),
                              choice.timeout * 3, f"the workers of {choice.address} did not answer pivot's checks")
            preflight.check_workers(probes, run_id, str(project.root))
            workers = client.scheduler_info()["workers"]
            preflight.check_resources({a: w.get("resources") or {} for a, w in workers.items()}, stages)
            slots = jobs or max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))
            return cls(client, choice, slots, run_id, run_dir)
        except BaseException:
            shutil.rmtree(run_dir, ignore_errors=True)
            client.close()
            raise

    def submit(self, t: Task) -> cf.Future[ExecResult]:
        future: cf.Future[ExecResult] = cf.Future()
        future.set_running_or_notify_cancel()
        with self._lock:
            self._count += 1
            slug = f"{self._count:04d}-{_SLUG_RE.sub('_', t.stage.name)}"
        key = f"pivot-{t.display}-{self.run_id[:8]}-{slug}"
        job = task.Job(self.run_id, key, slug, str(self.run_dir), t.request)
        dfut = self.client.submit(task.run_stage, job, key=key, pure=False, resources=dict(t.resources) or None)
        pending = _Pending(dfut, future, t, key, slug)
        with self._lock:
            self._pending[key] = pending
        dfut.add_done_callback(lambda f: self._done(pending))
        return future

    def _live(self) -> set[str]:
        return set(self.client.scheduler_info()["workers"])

    def _done(self, p: _Pending) -> None:
        """In Dask's callback thread: turn the task's outcome into the stage's ExecResult."""
        try:
            done: task.Done = p.dask.result()
            res = done.result
            if done.attempt:
                problem = attempts.verdict(str(self.run_dir), p.slug, done.attempt, self._live)
                if problem is not None:
                    res = ExecResult(False, res.output, res.duration, f"not committed: {problem}", worker=res.worker)
                elif done.attempt > 1:
                    lost = ", ".join(attempts.workers(str(self.run_dir), p.slug)[:-1])
                    res = ExecResult(res.ok, f"[pivot] ran again after losing {lost}\n{res.output}", res.duration,
                                     res.error, res.returncode, res.worker)
        except (cf.CancelledError, FutureCancelledError):
            res = ExecResult(False, "", 0.0, "cancelled")
        except distributed.KilledWorker as exc:
            res = ExecResult(False, "", 0.0, f"the workers running it were lost: {exc}")
        except Exception as exc:  # noqa: BLE001 - whatever the cluster did is this stage's failure
            res = ExecResult(False, "", 0.0, f"the cluster could not run it: {type(exc).__name__}: {exc}")
        self._settle(p, res)

    def _settle(self, p: _Pending, res: ExecResult) -> None:
        with self._lock:
            first = self._pending.pop(p.key, None) is not None
        if not first or p.future.done():
            return
        # the stage's output, once it ended: to its log (in the shared state dir) and to the live sink
        out = pool.Output(p.task.request.log, p.task.sink)
        if res.output:
            out.write(res.output.encode("utf-8", "replace"))
        p.future.set_result(out.result(dataclasses.replace(res, output="")))

    def _watch(self) -> None:
        """No hangs: fail stages that no connected worker can run, once that lasted `timeout` seconds."""
        while not self._closed.wait(1.0):
            with self._lock:
                waiting = [p for p in self._pending.values() if not p.future.done()]
            if not waiting:
                continue
            try:
                workers = self.client.scheduler_info()["workers"]
                offered = [w.get("resources") or {} for w in workers.values()]
                lost = None
            except Exception as exc:  # noqa: BLE001 - the scheduler is gone: every waiting stage fails
                offered, lost = [], f"lost the connection to the Dask scheduler at {self.choice.address}: {exc}"
            now = time.monotonic()
            for p in waiting:
                if offered and any(preflight.offers(r, p.task.resources) for r in offered):
                    p.unplaceable_since = None
                    continue
                p.unplaceable_since = p.unplaceable_since or now
                if now - p.unplaceable_since >= self.choice.timeout:
                    why = lost or ("no worker is connected" if not offered else
                                   "no connected worker offers its resources any more")
                    with contextlib.suppress(Exception):  # a lost scheduler cannot cancel anything
                        p.dask.cancel()
                    self._settle(p, ExecResult(False, "", 0.0, f"{why} (waited {self.choice.timeout:g}s)"))

    def cancel(self) -> None:
        """Ctrl-C: cancel queued tasks and kill this run's process groups on every worker, then return."""
        with self._lock:
            pending = list(self._pending.values())
        with contextlib.suppress(Exception):
            self.client.cancel([p.dask for p in pending], force=True)
        with contextlib.suppress(Exception):  # returns once the process groups are gone on every worker
            _bounded(lambda: self.client.run(task.kill_run, self.run_id, on_error="ignore"),
                     2 * task.GRACE + self.choice.timeout, "killing the run's stages")
        for p in pending:
            self._settle(p, ExecResult(False, "", 0.0, "cancelled"))

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(Exception):
            self.client.close(timeout=self.choice.timeout)
        shutil.rmtree(self.run_dir, ignore_errors=True)
