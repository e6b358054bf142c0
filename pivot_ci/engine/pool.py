"""Python stage workers: one subprocess per stage in flight, so a worker that dies takes only its own stage.

A worker's fd 1 and 2 point at a pipe while a stage runs; the executor thread that waits for the stage's
result polls that pipe too, so the output reaches the stage's log and the live sink as it is written, and what
a stage printed survives its worker's death.

A worker that dies (os._exit, a segfault, the out-of-memory killer) fails the stage it was running, with
what that stage printed; the stages running in other workers never notice, and the next stage gets a fresh
worker. Every worker runs in a session of its own (so its stages' children share its process group), dies
with pivot (`lifeline`), and is registered with the watchdog, which kills its group if pivot is killed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from pivot_ci.engine import lifeline, worker
from pivot_ci.engine.worker import ExecResult, PythonRequest
from pivot_ci.state import stagelog

_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])
# -P: the working directory does not shadow anything; pivot_ci is importable as in the parent.
_BOOT = (f"import sys\nif {_PACKAGE_PARENT!r} not in sys.path: sys.path.append({_PACKAGE_PARENT!r})\n"
         "from pivot_ci.engine import worker\nworker.main(sys.argv[1:])")
_CLOSE_WAIT_S = 2.0
CANCELLED = "cancelled"
CHUNK = 1 << 16


class Output:
    """One stage's output on its way to the log and the live sink; the result carries its end."""

    def __init__(self, log: stagelog.LogSpec | None, sink: stagelog.Sink | None) -> None:
        self._writer = None if log is None else stagelog.LogWriter(log, sink)
        self._sink = sink if self._writer is None else None
        self._start = time.monotonic()

    def write(self, data: bytes) -> None:
        if self._writer is not None:
            self._writer.write(data)
        elif self._sink is not None:
            self._sink.write(data)

    def result(self, res: ExecResult) -> ExecResult:
        """Close the log with how the stage ended; `res` with the end of the output."""
        took = res.duration or time.monotonic() - self._start
        if res.error == CANCELLED:
            footer = f"cancelled after {took:.2f}s"
        elif res.ok:
            footer = f"finished in {took:.2f}s"
        else:
            footer = f"failed after {took:.2f}s: {res.error}"
        if self._writer is None:
            if self._sink is not None:
                self._sink.close()
            return res
        self._writer.close(footer)
        return dataclasses.replace(res, output=self._writer.tail())


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def death_message(returncode: int) -> str:
    """Why a worker ended while it ran a stage, from its exit status."""
    if returncode < 0:
        name = signal_name(-returncode)
        why = {"SIGKILL": "killed from outside, e.g. by the out-of-memory killer",
               "SIGSEGV": "a crash in native code", "SIGABRT": "an abort in native code"}.get(name)
        return f"the Python worker running this stage died of {name}" + (f" ({why})" if why else "")
    return (f"the Python worker running this stage exited with code {returncode} while the stage ran "
            "(os._exit() or a fatal error)")


class _Worker:
    """One worker process, its request/result pipes and the pipe its stages' output comes through."""

    def __init__(self) -> None:
        req_r, self._req_w = os.pipe()
        self._res_r, res_w = os.pipe()
        self._out_r, out_w = os.pipe()
        os.set_blocking(self._out_r, False)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-P", "-c", _BOOT, str(req_r), str(res_w), str(out_w), str(os.getpid())],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, pass_fds=(req_r, res_w, out_w),
                start_new_session=True)
        except BaseException:
            for fd in (self._req_w, self._res_r, self._out_r):
                os.close(fd)
            raise
        finally:
            for fd in (req_r, res_w, out_w):
                os.close(fd)
        self._open = True
        lifeline.WATCHDOG.guard(self.proc.pid)

    def run(self, req: PythonRequest, out: Output) -> ExecResult | None:
        """The stage's result, its output passed on as it comes; None when the worker died first."""
        try:
            worker.send(self._req_w, req)
            poller = select.poll()
            poller.register(self._res_r, select.POLLIN)
            poller.register(self._out_r, select.POLLIN)
            while not any(fd == self._res_r for fd, _ in poller.poll()):
                self.drain(out)
            res = worker.receive(self._res_r)
        except (OSError, EOFError, ValueError):
            return None
        finally:
            self.drain(out)  # all the stage wrote is in the pipe before its result (or its death)
        return res if isinstance(res, ExecResult) else None

    def drain(self, out: Output) -> None:
        """Pass on what is in the output pipe now."""
        with contextlib.suppress(BlockingIOError, OSError):
            while chunk := os.read(self._out_r, CHUNK):
                out.write(chunk)

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
        for fd in (self._res_r, self._out_r):
            with contextlib.suppress(OSError):
                os.close(fd)


class WorkerPool:
    """Workers started on demand, reused across stages; `run` is called from the executor's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._closed = False

    def run(self, req: PythonRequest, out: Output) -> ExecResult:
        start = time.monotonic()
        w = self._take()
        if w is None:
            return out.result(ExecResult(False, "", 0.0, CANCELLED))
        try:
            res = w.run(req, out)
        except BaseException:
            out.result(ExecResult(False, "", time.monotonic() - start, CANCELLED))
            raise
        if res is not None:
            with self._lock:
                self._busy.discard(w)
                closed = self._closed
                if not closed:
                    self._idle.append(w)
            if closed:
                w.close()
            return out.result(res)
        returncode = w.proc.wait()
        with self._lock:
            self._busy.discard(w)
            cancelled = self._closed
        lifeline.kill_group(w.proc.pid)  # its stage's children may still hold the output pipe
        w.drain(out)
        w.close()
        return out.result(ExecResult(False, "", time.monotonic() - start,
                                     CANCELLED if cancelled else death_message(returncode)))

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
