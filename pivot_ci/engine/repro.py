"""Run stale stages in DAG order: one ready-set scheduler, --jobs, fail-fast or keep-going."""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import enum
import json
import os
import time
from collections.abc import Callable, Iterable

from pivot_ci.dag.graph import StageGraph
from pivot_ci.engine import commit, executors, outputs, runs, status
from pivot_ci.engine.access import StateAccess
from pivot_ci.engine.executor import CmdRequest, Request
from pivot_ci.engine.worker import ExecResult, PythonRequest
from pivot_ci.errors import PivotError
from pivot_ci.pipeline import model
from pivot_ci.state import stagelog


class Outcome(enum.Enum):
    RAN = "ran"
    RESTORED = "restored"  # from the run cache: the same inputs ran before
    FAILED = "failed"
    UP_TO_DATE = "up to date"
    UNCHANGED = "unchanged"  # only upstream was stale, and it produced the same outputs
    BLOCKED = "blocked"  # an upstream stage failed
    WOULD_RUN = "would run"
    CANCELLED = "cancelled"
    NOT_RUN = "not run"  # fail-fast stopped the run before it


@dataclasses.dataclass(frozen=True, slots=True)
class ReproOptions:
    jobs: int | None = 1  # stages in flight at most; None: the executor's capacity (CPUs, cluster threads)
    force: bool = False
    keep_going: bool = False
    dry_run: bool = False
    no_commit: bool = False
    run_cache: bool = True  # look stale stages up before running them (--no-run-cache: False)
    remote_runs: runs.RemoteRuns | None = None  # --pull: also look them up on a remote
    executor: executors.ExecutorChoice = executors.LOCAL
    output: OutputSinks | None = None  # where each running stage's output goes live (besides its log)
    log_limit: int = stagelog.DEFAULT_LIMIT  # bytes of output a stage log keeps


@dataclasses.dataclass(frozen=True, slots=True)
class StageRun:
    """What happened to one stage; `started` events carry outcome None."""

    id: model.StageId
    display: str
    spec: model.StageSpec
    outcome: Outcome | None
    reasons: tuple[status.Reason, ...] = ()
    duration: float = 0.0
    output: str = ""
    error: str | None = None
    restored: runs.Restored | None = None
    warnings: tuple[str, ...] = ()
    worker: str | None = None  # the Dask worker it ran on (None: this machine)


@dataclasses.dataclass(frozen=True, slots=True)
class ReproResult:
    runs: tuple[StageRun, ...]

    @property
    def failed(self) -> list[StageRun]:
        return [r for r in self.runs if r.outcome in (Outcome.FAILED, Outcome.BLOCKED, Outcome.CANCELLED)]

    @property
    def ok(self) -> bool:
        return not self.failed


Listener = Callable[[StageRun], None]
OutputSinks = Callable[["StageRun"], stagelog.Sink | None]  # called with a stage's `started` event


def echo(st: model.StageSpec) -> str:
    """What a stage runs, as its log and the terminal show it (`python clean.py ... --min-words 3`)."""
    if st.cmd is not None:
        return st.cmd
    assert st.python is not None
    py = st.python
    where = py.module if py.module is not None else py.file
    args = ", ".join(f"{k}={v!r}" for k, v in st.params.items())
    return f"{where}:{py.qualname}({args})"


def stage_env(st: model.StageSpec, access: StateAccess) -> dict[str, str]:
    env = {"PIVOT_STAGE": st.name, "PIVOT_PIPELINE": st.pipeline, "PIVOT_PROJECT_ROOT": str(access.project.root),
           "PIVOT_PARAMS": json.dumps(dict(st.params), sort_keys=True)}
    for key, value in st.params.items():
        env[f"PIVOT_PARAM_{key.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    return env


def request(access: StateAccess, st: model.StageSpec, log_limit: int = stagelog.DEFAULT_LIMIT) -> Request:
    cwd = str(access.project.abs(st.pipeline_dir))
    env = stage_env(st, access)
    log = stagelog.LogSpec(str(access.log_path(st)), echo(st), log_limit)
    if st.cmd is not None:
        if "PYTHONUNBUFFERED" not in os.environ:  # a Python script's prints show up as it makes them
            env["PYTHONUNBUFFERED"] = "1"
        return CmdRequest(st.cmd, cwd, env, log)
    assert st.python is not None
    py = st.python
    file = None if py.file is None else str(access.project.abs(py.file))
    return PythonRequest(str(access.project.root), cwd, py.module, file, py.qualname, dict(st.params), env, log)


def _result(fut: cf.Future[ExecResult]) -> ExecResult:
    try:
        return fut.result()
    except Exception as exc:  # a worker process that died is this stage's failure
        return ExecResult(False, "", 0.0, f"worker failed: {type(exc).__name__}: {exc}")


class _Scheduler:
    def __init__(self, access: StateAccess, graph: StageGraph, opts: ReproOptions, emit: Listener) -> None:
        self.access, self.graph, self.opts, self.emit = access, graph, opts, emit
        self.runs: dict[model.StageId, StageRun] = {}
        self.stop = False
        self.notes: dict[model.StageId, tuple[str, ...]] = {}  # why an up-to-date stage must run after all

    def finish(self, run: StageRun) -> None:
        self.runs[run.id] = run
        self.emit(run)

    def run(self, order: list[model.StageId], statuses: dict[model.StageId, status.StageStatus]) -> None:
        to_run = [sid for sid in order if self.opts.force or statuses[sid].stale]
        stale_set = set(to_run)
        waiting = {sid: {p for p in self.graph.graph.predecessors(sid) if p in stale_set} for sid in to_run}
        rank = {sid: i for i, sid in enumerate(order)}
        ready = [sid for sid in to_run if not waiting[sid]]
        running: dict[cf.Future[ExecResult], tuple[model.StageId, dict[str, str | None]]] = {}
        if not to_run:
            return
        executor = executors.Deferred(self.opts.executor, self.opts.jobs, self.access.project,
                                      [self.graph.stages[sid] for sid in to_run])
        try:
            while ready or running:
                while ready and len(running) < executor.slots and not self.stop:
                    sid = ready.pop(0)
                    started = self.start(sid, statuses[sid], executor)
                    if started in (Outcome.UNCHANGED, Outcome.RESTORED):
                        ready = self.release(sid, waiting, ready, rank)
                    elif started is Outcome.FAILED:
                        self.block_downstream(sid, to_run)
                        self.stop = self.stop or not self.opts.keep_going
                    elif not isinstance(started, Outcome):
                        running[started[0]] = (sid, started[1])
                if not running:
                    break
                done, _ = cf.wait(running, timeout=1.0, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    sid, deps = running.pop(fut)
                    if self.complete(sid, statuses[sid], _result(fut), deps):
                        ready = self.release(sid, waiting, ready, rank)
                    else:
                        self.block_downstream(sid, to_run)
                        self.stop = self.stop or not self.opts.keep_going
        except BaseException:
            executor.cancel()
            for sid, _ in running.values():
                self.finish(StageRun(sid, self.graph.display(sid), self.graph.stages[sid], Outcome.CANCELLED,
                                     error="interrupted"))
            raise
        finally:
            executor.close()

    def start(self, sid: model.StageId, st_status: status.StageStatus,
              executor: executors.Executor) -> tuple[cf.Future[ExecResult], dict[str, str | None]] | Outcome:
        """Submit the stage; or finish it at once: UNCHANGED (early cut-off), RESTORED (from the run cache),
        FAILED (a dependency is missing)."""
        st = self.graph.stages[sid]
        reasons = st_status.reasons
        if not self.opts.force and st_status.only_upstream:
            own, _, _, _ = status.own_reasons(self.access, self.graph, st)
            if not own:
                self.finish(StageRun(sid, st_status.display, st, Outcome.UNCHANGED, reasons))
                return Outcome.UNCHANGED
            reasons = tuple(own)
        deps = commit.dep_hashes(self.access, st)
        absent = [path for path, h in deps.items() if h is None]
        if absent:  # it could only fail, after running for nothing
            self.finish(StageRun(sid, st_status.display, st, Outcome.FAILED, reasons,
                                 error=f"not started: {'; '.join(self._absent(path) for path in absent)}"))
            return Outcome.FAILED
        warnings: tuple[str, ...] = ()
        if self.looks_up(st):
            began = time.perf_counter()
            known = {p: h for p, h in deps.items() if h is not None}
            found = runs.restore(self.access, st, st_status.display, known, self.opts.remote_runs)
            if found.restored is not None:
                self.finish(StageRun(sid, st_status.display, st, Outcome.RESTORED, reasons,
                                     time.perf_counter() - began, restored=found.restored, warnings=found.warnings))
                return Outcome.RESTORED
            warnings = found.warnings
        warnings = self.notes.get(sid, ()) + warnings
        try:  # the stage writes its outputs anew: never through a link into the cache
            outputs.clean_temps(self.access, st)
            outputs.cut_links(self.access, st)
        except (OSError, PivotError) as exc:
            self.finish(StageRun(sid, st_status.display, st, Outcome.FAILED, reasons,
                                 error=f"cannot prepare its outputs: {exc}", warnings=warnings))
            return Outcome.FAILED
        started = StageRun(sid, st_status.display, st, None, reasons, warnings=warnings)
        sink = None if self.opts.output is None else self.opts.output(started)
        task = executors.Task(request(self.access, st, self.opts.log_limit), st, st_status.display, sink)
        fut = executor.submit(task)  # a cluster that cannot run it says so before the stage is said to start
        self.emit(started)
        return fut, deps

    def _absent(self, path: str) -> str:
        producer = self.graph.producer_of(path)
        if producer is None:
            return f"dependency missing: {path} (no stage produces it)"
        return (f"dependency missing: {path} (an output of stage '{self.graph.display(producer)}', "
                "which is not part of this run)")

    def records(self, st: model.StageSpec) -> bool:
        return runs.cacheable(st) and not self.opts.no_commit

    def looks_up(self, st: model.StageSpec) -> bool:
        return self.records(st) and self.opts.run_cache and not self.opts.force

    def complete(self, sid: model.StageId, st_status: status.StageStatus, res: ExecResult,
                 deps: dict[str, str | None]) -> bool:
        st = self.graph.stages[sid]
        error = res.error
        warnings: list[str] = []
        if res.ok and not self.opts.no_commit:
            try:
                data = commit.lock_data(self.access, st, deps)
                if not isinstance(data, commit.CommitProblem):
                    commit.write_lock(self.access, st, data)
            except (OSError, PivotError) as exc:  # disk full, a cache that is not the project's...
                data = commit.CommitProblem(f"cannot record its outputs: {exc}")
            if isinstance(data, commit.CommitProblem):
                error = data.message
            else:
                if self.records(st):
                    known = {p: h for p, h in deps.items() if h is not None}
                    warning = runs.record(self.access, st, known, data, res.duration)
                    warnings += [warning] if warning else []
        elif res.ok:
            commit.remember_run(self.access, st, deps)
        ok = res.ok and error is None
        self.finish(StageRun(sid, st_status.display, st, Outcome.RAN if ok else Outcome.FAILED,
                             st_status.reasons, res.duration, res.output, error, warnings=tuple(warnings),
                             worker=res.worker))
        return ok

    def release(self, sid: model.StageId, waiting: dict[model.StageId, set[model.StageId]],
                ready: list[model.StageId], rank: dict[model.StageId, int]) -> list[model.StageId]:
        for child in self.graph.graph.successors(sid):
            if child in waiting and sid in waiting[child]:
                waiting[child].discard(sid)
                if not waiting[child] and child not in self.runs:
                    ready.append(child)
        return sorted(ready, key=rank.__getitem__)

    def block_downstream(self, sid: model.StageId, to_run: Iterable[model.StageId]) -> None:
        down = self.graph.downstream(sid)
        for child in to_run:
            if child in down and child not in self.runs:
                self.finish(StageRun(child, self.graph.display(child), self.graph.stages[child], Outcome.BLOCKED,
                                     error=f"upstream stage '{self.graph.display(sid)}' failed"))


def _restore(access: StateAccess, graph: StageGraph, order: list[model.StageId],
             statuses: dict[model.StageId, status.StageStatus],
             notes: dict[model.StageId, tuple[str, ...]]) -> dict[model.StageId, status.StageStatus]:
    """Restore the missing outputs of up-to-date stages from the cache. A stage whose output cannot be restored
    (its object turned out corrupt, a write failed) becomes stale and runs, and so does what depends on it
    (unless it comes out unchanged: early cut-off)."""
    out = dict(statuses)
    for sid in order:
        st = out[sid]
        if st.stale or not st.restorable:
            continue
        failed = outputs.restore(access, st.spec, list(st.restorable))
        if failed:
            reasons = tuple(status.Reason(status.ReasonKind.OUT_MISSING, f.path) for f in failed)
            out[sid] = dataclasses.replace(st, reasons=reasons)
            notes[sid] = tuple(f"{f.path}: {f.why}" for f in failed)
    for sid in order:
        st = out[sid]
        up = sorted(graph.display(p) for p in graph.graph.predecessors(sid) if p in out and out[p].stale)
        if up and not st.stale:
            out[sid] = dataclasses.replace(st, reasons=(status.Reason(status.ReasonKind.UPSTREAM, ", ".join(up)),),
                                           upstream_stale=tuple(up))
    return out


def run(access: StateAccess, graph: StageGraph, order: list[model.StageId], opts: ReproOptions,
        emit: Listener) -> ReproResult:
    """Reproduce the stages in `order` (a topologically sorted selection including upstream)."""
    statuses = status.compute(access, graph, order)
    if opts.dry_run and opts.executor.kind is not executors.Kind.LOCAL:  # check the cluster can run them
        stale = [graph.stages[sid] for sid in order if opts.force or statuses[sid].stale]
        if stale:
            executors.create(opts.executor, opts.jobs, access.project, stale).close()
    sched = _Scheduler(access, graph, opts, emit)
    if not opts.dry_run and not opts.force:
        statuses = _restore(access, graph, order, statuses, sched.notes)
    for sid in order:
        st = statuses[sid]
        if opts.dry_run:
            if opts.force or st.stale:
                sched.finish(StageRun(sid, st.display, st.spec, Outcome.WOULD_RUN, st.reasons))
            continue
        if not opts.force and not st.stale:
            sched.finish(StageRun(sid, st.display, st.spec, Outcome.UP_TO_DATE))
    if not opts.dry_run:
        sched.run(order, statuses)
        for sid in order:
            if sid not in sched.runs:
                st = statuses[sid]
                sched.finish(StageRun(sid, st.display, st.spec, Outcome.NOT_RUN, st.reasons))
    return ReproResult(tuple(sched.runs[sid] for sid in order if sid in sched.runs))
