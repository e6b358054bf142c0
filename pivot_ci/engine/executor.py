"""The executor seam: a request in, a result out. Local processes today."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import multiprocessing
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping

from pivot_ci.engine import worker
from pivot_ci.engine.worker import ExecResult, PythonRequest


@dataclasses.dataclass(frozen=True, slots=True)
class CmdRequest:
    cmd: str
    cwd: str
    env: Mapping[str, str]


Request = CmdRequest | PythonRequest


class LocalExecutor:
    """Shell commands in their own process groups; Python stages in a pool of spawned workers."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self._threads = cf.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="pivot-stage")
        self._pool: cf.ProcessPoolExecutor | None = None
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self._cancelled = False

    def submit(self, req: Request) -> cf.Future[ExecResult]:
        match req:
            case CmdRequest():
                return self._threads.submit(self._run_cmd, req)
            case PythonRequest():
                return self._python_pool().submit(worker.run, req)

    def _python_pool(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context("spawn")
            self._pool = cf.ProcessPoolExecutor(self.jobs, mp_context=ctx, initializer=worker.init_worker)
        return self._pool

    def _run_cmd(self, req: CmdRequest) -> ExecResult:
        start = time.monotonic()
        env = {**os.environ, **req.env}
        with self._lock:
            if self._cancelled:
                return ExecResult(False, "", 0.0, "cancelled")
            proc = subprocess.Popen(req.cmd, shell=True, cwd=req.cwd, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
            self._procs.add(proc)
        try:
            out, _ = proc.communicate()
        finally:
            with self._lock:
                self._procs.discard(proc)
        text = out.decode("utf-8", "replace")
        ok = proc.returncode == 0
        return ExecResult(ok, text, time.monotonic() - start,
                          None if ok else f"command exited with code {proc.returncode}", proc.returncode)

    def cancel(self) -> None:
        """Stop everything running now: SIGTERM to each command's group, then SIGKILL; kill workers."""
        with self._lock:
            self._cancelled = True
            procs = list(self._procs)
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 3
        for proc in procs:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        if self._pool is not None:
            for p in list(getattr(self._pool, "_processes", {}).values()):
                p.terminate()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self._threads.shutdown(wait=True, cancel_futures=True)
