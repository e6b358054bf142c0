"""What runs on a Dask worker: one stage as a subprocess in its own process group, and the kill switch.

`run_stage` is the task pivot submits. It never runs stage code in the worker process: a `cmd` runs through
`/bin/sh` and a Python stage through `python -m pivot_ci.engine.cluster.pyrun`, each as the leader of a new
process group, in the pipeline's directory, with output collected in a temporary file. Every stage holds the
read end of a *lifeline* pipe (as stdin) whose write end only this worker process holds: when the worker dies
(SIGKILL, OOM killer), the pipe reports end-of-file and the stage's group kills itself, so a stage is never
left running beside the attempt Dask starts elsewhere.

The registry of running process groups serves `kill_run` (through `Client.run`, on Ctrl-C) and a monitor
thread that kills the group of a task Dask cancelled (the pivot process went away).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

import pivot_ci
from pivot_ci.engine.cluster import attempts
from pivot_ci.engine.executor import CmdRequest, Request
from pivot_ci.engine.worker import ExecResult, PythonRequest

GRACE = 3.0  # seconds between SIGTERM and SIGKILL
RUNNER = "pivot_ci.engine.cluster.pyrun"
WORKER_ENV = "PIVOT_DASK_WORKER"

# stdin: the lifeline; $1: the stage's command. The watcher subshell blocks on the lifeline and kills the
# whole group (it is in it: a non-interactive shell has no job control) when the worker process is gone.
# The stage itself gets /dev/null as stdin, as in the local executor.
WRAPPER = """exec 3<&0 0</dev/null
( read _ <&3; kill -KILL 0 ) &
watcher=$!
exec 3<&-
/bin/sh -c "$1"
rc=$?
kill -KILL $watcher 2>/dev/null
exit $rc
"""


@dataclasses.dataclass(frozen=True, slots=True)
class Job:
    """What the pivot process sends: the request, and where this run records attempts (shared filesystem)."""

    run_id: str
    key: str  # the Dask task's key
    slug: str  # file-safe stage name, unique in the run
    run_dir: str
    request: Request


@dataclasses.dataclass(frozen=True, slots=True)
class Done:
    result: ExecResult
    attempt: int  # 0: refused to start


@dataclasses.dataclass(slots=True)
class _Group:
    run_id: str
    key: str | None  # the Dask task's key, to notice its cancellation
    term_at: float | None = None


_lock = threading.Lock()
_groups: dict[int, _Group] = {}  # pgid -> owner; the leader is not reaped while registered
_cancelled: dict[str, float] = {}  # run id -> when kill_run was called
_monitor: threading.Thread | None = None


def _signal(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _task_gone(worker: Any, key: str | None) -> bool:
    """Dask released or cancelled the task while it runs (its client went away): internal API, best effort."""
    if worker is None or key is None:
        return False
    try:
        ts = worker.state.tasks.get(key)
        return ts is None or ts.state in ("cancelled", "released", "forgotten")
    except Exception:  # noqa: BLE001 - a newer distributed without this state: rely on kill_run alone
        return False


def _watch(worker: Any) -> None:
    """Monitor thread: TERM the group of a cancelled task or run, KILL it GRACE seconds later."""
    while True:
        time.sleep(0.5)
        now = time.monotonic()
        with _lock:
            for pgid, group in _groups.items():
                if group.term_at is None and (group.run_id in _cancelled or _task_gone(worker, group.key)):
                    group.term_at = now
                    _signal(pgid, signal.SIGTERM)
                elif group.term_at is not None and now - group.term_at > GRACE:
                    _signal(pgid, signal.SIGKILL)


def _ensure_monitor(worker: Any) -> None:
    global _monitor
    with _lock:
        if _monitor is None or not _monitor.is_alive():
            _monitor = threading.Thread(target=_watch, args=(worker,), name="pivot-stage-monitor", daemon=True)
            _monitor.start()


def kill_run(run_id: str) -> int:
    """Called on every worker through Client.run: end every stage of `run_id` here, TERM then KILL.

    Returns once those process groups are gone (or after 2 × GRACE); stages of the run that would start
    later refuse to.
    """
    with _lock:
        _cancelled[run_id] = time.monotonic()
        for stale in [r for r, at in _cancelled.items() if time.monotonic() - at > 3600]:
            del _cancelled[stale]
        mine = [pgid for pgid, g in _groups.items() if g.run_id == run_id]
        for pgid in mine:
            _groups[pgid].term_at = time.monotonic()
            _signal(pgid, signal.SIGTERM)
    deadline = time.monotonic() + 2 * GRACE
    killed = False
    while time.monotonic() < deadline:
        with _lock:
            left = [pgid for pgid in mine if pgid in _groups]
        if not left:
            break
        if not killed and time.monotonic() > deadline - GRACE:
            killed = True
            for pgid in left:
                _signal(pgid, signal.SIGKILL)
        time.sleep(0.02)
    return len(mine)


def probe(token_path: str) -> dict[str, str]:
    """Pre-flight, through Client.run: this worker's pivot-ci version and what it reads at `token_path`."""
    try:
        seen, problem = Path(token_path).read_text(encoding="utf-8"), ""
    except OSError as exc:
        seen, problem = "", exc.strerror or str(exc)
    if not problem and not os.access(Path(token_path).parent, os.W_OK):
        problem = "not writable"
    return {"version": pivot_ci.__version__, "token": seen, "problem": problem, "host": socket.gethostname(),
            "python": sys.executable}


def _command(req: Request, io_path: str) -> list[str]:
    match req:
        case CmdRequest():
            return ["/bin/sh", "-c", WRAPPER, "pivot-stage", req.cmd]
        case PythonRequest():
            payload = json.dumps({**dataclasses.asdict(req), "params": dict(req.params), "env": dict(req.env)})
            Path(io_path).write_text(payload, encoding="utf-8")
            return [sys.executable, "-m", RUNNER, io_path]


def _reap(proc: subprocess.Popen[bytes]) -> int:
    """Wait for the group's leader, kill what it left in its group, then reap it (so the pgid stays ours)."""
    if hasattr(os, "waitid"):
        with contextlib.suppress(ChildProcessError):
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        _signal(proc.pid, signal.SIGKILL)
    return proc.wait()


def _result(req: Request, code: int, out: IO[bytes], io_path: str, start: float) -> ExecResult:
    out.seek(0)
    text = out.read().decode("utf-8", "replace")
    took = time.monotonic() - start
    if isinstance(req, PythonRequest):
        try:
            raw = json.loads(Path(io_path).read_text(encoding="utf-8"))
            if not isinstance(raw, dict) or "ok" not in raw:
                raise ValueError("no result")
            res = ExecResult(**raw)
            return dataclasses.replace(res, output=res.output + text, duration=took)
        except (OSError, ValueError, TypeError):
            why = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
            return ExecResult(False, text, took, f"the Python stage runner {why}", code)
    if code == 0:
        return ExecResult(True, text, took, None, 0)
    why = f"command killed by signal {-code}" if code < 0 else f"command exited with code {code}"
    return ExecResult(False, text, took, why, code)


def _run(job: Job, key: str, address: str) -> ExecResult:
    start = time.monotonic()
    env = {**os.environ, **job.request.env, WORKER_ENV: address}
    fd, io_path = tempfile.mkstemp(prefix="pivot-stage-", suffix=".json")  # the Python request, then result
    os.close(fd)
    read_end, write_end = os.pipe()
    try:
        with tempfile.TemporaryFile() as out:
            argv = _command(job.request, io_path)
            with _lock:
                if job.run_id in _cancelled:
                    return ExecResult(False, "", 0.0, "cancelled")
                proc = subprocess.Popen(argv, cwd=job.request.cwd, env=env, stdin=read_end, stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True)
                _groups[proc.pid] = _Group(job.run_id, key)
            os.close(read_end)
            read_end = -1
            try:
                code = _reap(proc)
            finally:
                with _lock:
                    _groups.pop(proc.pid, None)
            return _result(job.request, code, out, io_path, start)
    finally:
        for f in (read_end, write_end):
            if f >= 0:
                os.close(f)
        with contextlib.suppress(OSError):
            os.unlink(io_path)


def run_stage(job: Job) -> Done:
    """The Dask task: claim an attempt, run the stage's process group to its end, report where it ran."""
    from distributed import get_worker

    worker = get_worker()
    address = str(worker.address)
    attempt = attempts.begin(job.run_dir, job.slug, address)
    if attempt is None:
        lost = ", ".join(attempts.workers(job.run_dir, job.slug))
        why = f"not tried again: the workers of its {attempts.MAX_ATTEMPTS} attempts were lost ({lost})"
        return Done(ExecResult(False, "", 0.0, why, worker=address), 0)
    try:
        _ensure_monitor(worker)
        res = _run(job, job.key, address)
    finally:
        attempts.end(job.run_dir, job.slug, attempt)
    return Done(dataclasses.replace(res, worker=address), attempt)
