"""What a pipeline.py may not do while pivot executes it: write to stdout, or end the process.

Machine output (`status --json`, `verify --format junit`, `repro --json`) owns stdout, so whatever a pipeline
file prints — `print()`, C code, a subprocess it starts — goes to stderr. And a pipeline file that ends the
process (`os._exit(0)`, `os.abort()`, an `exec`) must not end it with success and no report: those calls raise
`ProcessEnd` instead, which the loader reports as a load error of that file.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

_ENDERS = ("_exit", "abort", "execv", "execve", "execl", "execle", "execlp", "execlpe", "execvp", "execvpe")


class ProcessEnd(BaseException):  # noqa: N818 - not an error of ours: the file tried to end the process
    """A pipeline file called a function that ends (or replaces) the process."""

    def __init__(self, call: str) -> None:
        super().__init__(call)
        self.call = call


def _refuse(name: str) -> Callable[..., NoReturn]:
    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        shown = ", ".join(repr(a) for a in args[:1])
        raise ProcessEnd(f"os.{name}({shown})")

    return refuse


@contextlib.contextmanager
def _no_process_end() -> Iterator[None]:
    modules = [m for m in (os, sys.modules.get("posix")) if m is not None]
    saved = [(m, name, getattr(m, name)) for m in modules for name in _ENDERS if hasattr(m, name)]
    for module, name, _ in saved:
        setattr(module, name, _refuse(name))
    try:
        yield
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Python-level and fd-level writes to stdout go to stderr meanwhile."""
    sys.stdout.flush()
    saved_fd = os.dup(1)
    saved_stdout = sys.stdout
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        sys.stdout = saved_stdout
        os.dup2(saved_fd, 1)
        os.close(saved_fd)


@contextlib.contextmanager
def executing() -> Iterator[None]:
    """Around the execution of a pipeline file: stdout to stderr, no ending the process."""
    with _stdout_to_stderr(), _no_process_end():
        yield
