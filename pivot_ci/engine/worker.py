"""Runs one Python stage inside a worker process: isolated imports, captured output."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.util
import io
import os
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

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


@dataclasses.dataclass(frozen=True, slots=True)
class ExecResult:
    ok: bool
    output: str
    duration: float
    error: str | None = None
    returncode: int | None = None


def init_worker() -> None:
    """Workers ignore Ctrl-C: the parent decides, and terminates them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


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
def _captured() -> Iterator[io.StringIO]:
    """Capture fd 1 and 2 (so output of C code and child processes is caught too)."""
    buf = io.StringIO()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)
        try:
            yield buf
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            tmp.seek(0)
            buf.write(tmp.read().decode("utf-8", "replace"))


def run(req: PythonRequest) -> ExecResult:
    """Import the stage function fresh and call it with its params as keyword arguments."""
    start = time.monotonic()
    old_cwd, old_path, old_env = os.getcwd(), list(sys.path), dict(os.environ)
    error = None
    with _captured() as out:
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
    return ExecResult(ok=error is None, output=out.getvalue(), duration=time.monotonic() - start,
                      error=None if error is None else error.strip().splitlines()[-1])


def main_path() -> Path:
    return Path(__file__)
