"""Python stage workers: one subprocess per stage in flight, so a worker that dies takes only its own stage.

A worker that dies (os._exit, a segfault, the out-of-memory killer) fails the stage it was running, with
what that stage printed; the stages running in other workers never notice, and the next stage gets a fresh
worker. Every worker runs in a session of its own (so its stages' children share its process group), dies
with pivot (`lifeline`), and is registered with the watchdog, which kills its group if pivot is killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from pivot_ci.engine import lifeline, worker
from pivot_ci.engine.worker import ExecResult, PythonRequest

_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])
# -P: the working directory does not shadow anything; pivot_ci is importable as in the parent.
_BOOT = (f"import sys\nif {_PACKAGE_PARENT!r} not in sys.path: sys.path.append({_PACKAGE_PARENT!r})\n"
         "from pivot_ci.engine import worker\nworker.main(sys.argv[1:])")
_CLOSE_WAIT_S = 2.0
CANCELLED = "cancelled"


def death_message(returncode: int) -> str:
    """Why a worker ended while it ran a stage, from its exit status."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        why = {"SIGKILL": "killed from outside, e.g. by the out-of-memory killer",
               "SIGSEGV": "a crash in native code", "SIGABRT": "an abort in native code"}.get(name)
        return f"the Python worker running this stage died of {name}" + (f" ({why})" if why else "")
    return (f"the Python worker running this stage exited with code {returncode} while the stage ran "
            "(os._exit() or a fatal error)")


class _Worker:
    """One worker process, its request/result pipes and its capture file."""

    def __init__(self) -> None:
        req_r, self._req_w = os.pipe()
        self._res_r, res_w = os.pipe()
        cap, path = tempfile.mkstemp(prefix="pivot-stage-output-")
        os.unlink(path)  # only the two descriptors keep it
        self._capture = cap
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-P", "-c", _BOOT, str(req_r), str(res_w), str(cap), str(os.getpid())],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, pass_fds=(req_r, res_w, cap),
                start_new_session=True)
        except BaseException:
            for fd in (self._req_w, self._res_r, cap):
                os.close(fd)
            raise
        finally:
            os.close(req_r)
            os.close(res_w)
        self._open = True
        lifeline.WATCHDOG.guard(self.proc.pid)

    def run(self, req: PythonRequest) -> ExecResult | None:
        """The stage's result; None when the worker died first."""
        try:
            worker.send(self._req_w, req)
            res = worker.receive(self._res_r)
        except (OSError, EOFError, ValueError):
            return None
        return res if isinstance(res, ExecResult) else None

    def output(self) -> str:
        return worker.read_capture(self._capture)

    def terminate(self) -> None:
        lifeline.kill_group(self.proc.pid, signal.SIGTERM)

    def close(self) -> None:
        """End the worker (end of file on its requests), then anything its stages left in its group."""
        if not self._open:
            return
        self._open = False
        with contextlib.suppress(OSError):
            os.close(self._req_w)
        try:
            self.proc.wait(_CLOSE_WAIT_S)
        except subprocess.TimeoutExpired:
            lifeline.kill_group(self.proc.pid)
            self.proc.wait()
        lifeline.kill_group(self.proc.pid)
        lifeline.WATCHDOG.release(self.proc.pid)
        for fd in (self._res_r, self._capture):
            with contextlib.suppress(OSError):
                os.close(fd)


class WorkerPool:
    """Workers started on demand, reused across stages; `run` is called from the executor's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._closed = False

    def run(self, req: PythonRequest) -> ExecResult:
        start = time.monotonic()
        w = self._take()
        if w is None:
            return ExecResult(False, "", 0.0, CANCELLED)
        res = w.run(req)
        if res is not None:
            with self._lock:
                self._busy.discard(w)
                closed = self._closed
                if not closed:
                    self._idle.append(w)
            if closed:
                w.close()
            return res
        returncode = w.proc.wait()
        output = w.output()
        with self._lock:
            self._busy.discard(w)
            cancelled = self._closed
        w.close()
        return ExecResult(False, output, time.monotonic() - start,
                          CANCELLED if cancelled else death_message(returncode))

    def _take(self) -> _Worker | None:
        with self._lock:
            if self._closed:
                return None
            if self._idle:
                w = self._idle.pop()
                self._busy.add(w)
                return w
        w = _Worker()
        with self._lock:
            if not self._closed:
                self._busy.add(w)
                return w
        w.close()
        return None

    def cancel(self, grace: float) -> None:
        """Stop the running stages (SIGTERM to each busy worker's group, then SIGKILL); refuse new ones."""
        with self._lock:
            self._closed = True
            busy = list(self._busy)
        lifeline.stop_groups([w.proc.pid for w in busy], grace)
        self.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for w in idle:
            w.close()
