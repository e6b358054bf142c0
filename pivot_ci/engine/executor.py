"""The executor seam: a request in, a result out. Local processes today.

A stage's output (stdout and stderr, one stream) is read from a pipe as it comes, written to the stage's log
(`state/stagelog.py`) and handed to the live sink the scheduler gives with the request: a blocking read per
chunk in the stage's thread, nothing at all for a stage that prints nothing.

Every process a stage runs in lives in a process group of its own, dies with pivot (`lifeline`: a
parent-death signal, and the watchdog that kills registered groups when pivot is killed), and leaves nothing
behind: what a command left running in its group when it exits is killed.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import os
import subprocess
import threading
import time
from collections.abc import Mapping

from pivot_ci.engine import lifeline, pool
from pivot_ci.engine.worker import ExecResult, PythonRequest
from pivot_ci.state import stagelog


@dataclasses.dataclass(frozen=True, slots=True)
class CmdRequest:
    cmd: str
    cwd: str
    env: Mapping[str, str]
    log: stagelog.LogSpec | None = None


Request = CmdRequest | PythonRequest
_GRACE_S = 3.0


def _exit_message(returncode: int) -> str:
    if returncode < 0:
        return f"command killed by {pool.signal_name(-returncode)}"
    return f"command exited with code {returncode}"


class LocalExecutor:
    """Shell commands in their own process groups; Python stages in a pool of spawned workers."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self._threads = cf.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="pivot-stage")
        self._workers = pool.WorkerPool()
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self._cancelled = False

    def submit(self, req: Request, sink: stagelog.Sink | None = None) -> cf.Future[ExecResult]:
        """Run `req`; its output goes to its log and, as it comes, to `sink` (closed when the stage ends)."""
        out = pool.Output(req.log, sink)
        match req:
            case CmdRequest():
                return self._threads.submit(self._run_cmd, req, out)
            case PythonRequest():
                return self._threads.submit(self._workers.run, req, out)

    def _run_cmd(self, req: CmdRequest, out: pool.Output) -> ExecResult:
        start = time.monotonic()
        env = {**os.environ, **req.env}
        with self._lock:
            if self._cancelled:
                return out.result(ExecResult(False, "", 0.0, pool.CANCELLED))
            try:
                proc = subprocess.Popen(**lifeline.shell(req.cmd, os.getpid()), cwd=req.cwd, env=env,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        start_new_session=True)
            except BaseException:
                out.result(ExecResult(False, "", 0.0, "the command could not be started"))
                raise
            lifeline.WATCHDOG.guard(proc.pid)
            self._procs.add(proc)
        try:
            assert proc.stdout is not None
            with proc.stdout:
                fd = proc.stdout.fileno()
                while chunk := os.read(fd, pool.CHUNK):
                    out.write(chunk)
            proc.wait()
        finally:
            lifeline.kill_group(proc.pid)  # what the command left running in its group
            lifeline.WATCHDOG.release(proc.pid)
            with self._lock:
                self._procs.discard(proc)
            if proc.returncode is None:
                out.result(ExecResult(False, "", time.monotonic() - start, pool.CANCELLED))
        ok = proc.returncode == 0
        if not ok and self._cancelled:
            return out.result(ExecResult(False, "", time.monotonic() - start, pool.CANCELLED, proc.returncode))
        return out.result(ExecResult(ok, "", time.monotonic() - start,
                                     None if ok else _exit_message(proc.returncode), proc.returncode))

    def cancel(self) -> None:
        """Stop everything running now: SIGTERM to each stage's process group, SIGKILL after a grace period."""
        with self._lock:
            self._cancelled = True
            procs = list(self._procs)
        stopper = threading.Thread(target=self._workers.cancel, args=(_GRACE_S,), name="pivot-cancel")
        stopper.start()
        lifeline.stop_groups([proc.pid for proc in procs], _GRACE_S)
        stopper.join()

    def close(self) -> None:
        self._threads.shutdown(wait=True, cancel_futures=True)
        self._workers.close()
