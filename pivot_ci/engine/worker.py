"""Runs Python stages inside a worker process: isolated imports, output to the parent as it is made.

A worker is a plain subprocess (`engine/pool.py` starts it) that reads requests from one pipe and writes
results to another, one stage at a time. The stage's output (fd 1 and 2, so C code and child processes are
caught too; Python's own streams line-buffered) goes to a third pipe that the parent reads while it waits, so
what a stage printed reaches its log and the terminal at once, and survives its worker's death.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.util
import io
import os
import pickle
import signal
import struct
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pivot_ci.engine import lifeline
from pivot_ci.state import stagelog

PRIVATE_PREFIX = "_pivot_stage_"


@dataclasses.dataclass(frozen=True, slots=True)
class PythonRequest:
    """Everything a worker needs; plain values so it pickles."""

    project_root: str
    cwd: str
    module: str | None
    file: str | None
    qualname: str
    params: Mapping[str, Any]
    env: Mapping[str, str]
    log: stagelog.LogSpec | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ExecResult:
    ok: bool
    output: str
    duration: float
    error: str | None = None
    returncode: int | None = None
    worker: str | None = None  # where it ran, when not in this machine's local executor (a Dask worker)


_HEADER = struct.Struct(">Q")


def send(fd: int, obj: object) -> None:
    """Write one length-prefixed pickle to pipe `fd`."""
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks: list[bytes] = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def receive(fd: int) -> Any:
    """Read one length-prefixed pickle from pipe `fd`; None at end of file (the other side is gone)."""
    head = _read_exact(fd, _HEADER.size)
    if head is None:
        return None
    data = _read_exact(fd, _HEADER.unpack(head)[0])
    return None if data is None else pickle.loads(data)


def _purge_project_modules(root: str) -> None:
    """Forget modules of the project, so each stage imports its own pipeline's siblings."""
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if name.startswith(PRIVATE_PREFIX) or (
                isinstance(file, str) and file.startswith(root) and "site-packages" not in file):
            del sys.modules[name]


def _resolve(req: PythonRequest) -> Callable[..., Any]:
    if req.module is not None:
        obj: Any = importlib.import_module(req.module)
    else:
        assert req.file is not None
        name = PRIVATE_PREFIX + str(abs(hash(req.file)))
        spec = importlib.util.spec_from_file_location(name, req.file)
        assert spec is not None and spec.loader is not None
        obj = importlib.util.module_from_spec(spec)
        sys.modules[name] = obj
        spec.loader.exec_module(obj)
    for part in req.qualname.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{req.qualname} is not callable")
    return obj  # type: ignore[no-any-return]


@contextlib.contextmanager
def _redirected(output: int | None) -> Iterator[None]:
    """Send fd 1 and 2 to `output` (the pipe to the parent) while the stage runs; None: leave them."""
    sys.stdout.flush()
    sys.stderr.flush()
    if output is None:
        yield
        return
    saved = os.dup(1), os.dup(2)
    os.dup2(output, 1)
    os.dup2(output, 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def run(req: PythonRequest, output: int | None = None) -> ExecResult:
    """Import the stage function fresh and call it with its params as keyword arguments.

    Its output goes to fd `output` (None: this process's own stdout and stderr), line by line.
    """
    start = time.monotonic()
    old_cwd, old_path, old_env = os.getcwd(), list(sys.path), dict(os.environ)
    error = None
    with _redirected(output):
        try:
            os.chdir(req.cwd)
            os.environ.update(req.env)
            _purge_project_modules(req.project_root.rstrip("/") + "/")
            sys.path.insert(0, req.cwd)
            _resolve(req)(**req.params)
        except BaseException as exc:  # noqa: BLE001 - a failing stage is a result, not a crash
            error = "".join(traceback.format_exception(exc))
            sys.stderr.write(error)
        finally:
            os.chdir(old_cwd)
            sys.path[:] = old_path
            os.environ.clear()
            os.environ.update(old_env)
    return ExecResult(ok=error is None, output="", duration=time.monotonic() - start,
                      error=None if error is None else error.strip().splitlines()[-1])


def main(argv: list[str]) -> None:
    """The worker process: `requests results output parent` fds/pid; one stage at a time until end of file."""
    requests, results, output, parent = (int(a) for a in argv)
    lifeline.die_with_parent(parent)
    for stream in (sys.stdout, sys.stderr):  # a stage's prints reach pivot (and the terminal) as they are made
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(line_buffering=True)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides, and terminates us
    while (req := receive(requests)) is not None:
        send(results, run(req, output))
