"""Watch a running `pivot` process's output as it comes: through pipes, or with stderr on a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import queue
import re
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from tests.support.factory import PIVOT

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class Lines:
    """Lines read from one file descriptor by a thread, each stamped with when it arrived."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._queue: queue.Queue[tuple[float, str] | None] = queue.Queue()
        self.seen: list[tuple[float, str]] = []
        self.raw = b""
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        partial = b""
        while True:
            try:
                data = os.read(self._fd, 65536)
            except OSError:  # a pty's master reads EIO once the other side is closed
                data = b""
            if not data:
                break
            self.raw += data
            partial += data
            *done, partial = re.split(rb"\r\n|\n|\r", partial)
            for line in done:
                self._queue.put((time.monotonic(), line.decode("utf-8", "replace")))
        if partial:
            self._queue.put((time.monotonic(), partial.decode("utf-8", "replace")))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = 60) -> str:
        """The first line not yet seen that matches `pattern` (a regex, searched), waiting for it."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} within {timeout}s; seen:\n"
                                     + "\n".join(line for _, line in self.seen)) from None
            if item is None:
                raise AssertionError(f"output ended without a line matching {pattern!r}; seen:\n"
                                     + "\n".join(line for _, line in self.seen))
            self.seen.append(item)
            if rx.search(ANSI.sub("", item[1])):
                return ANSI.sub("", item[1])

    def rest(self, timeout: float = 60) -> list[str]:
        """Every remaining line, once the writer closed its end."""
        self._thread.join(timeout)
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                break
            self.seen.append(item)
        return [ANSI.sub("", line) for _, line in self.seen]


class Run:
    """`pivot ARGS` started in `cwd`: stdout and stderr as Lines (stderr on a pseudo-terminal with `tty`)."""

    def __init__(self, args: Sequence[str], cwd: Path, *, tty: bool = False, env: dict[str, str] | None = None):
        full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
        full_env.pop("CI", None)
        self._fds: list[int] = []
        if tty:
            master, slave = pty.openpty()
            self.proc = subprocess.Popen([*PIVOT, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=slave,
                                         stdin=subprocess.DEVNULL, env=full_env)
            os.close(slave)
            self._fds.append(master)
            err_fd = master
        else:
            self.proc = subprocess.Popen([*PIVOT, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         stdin=subprocess.DEVNULL, env=full_env)
            assert self.proc.stderr is not None
            err_fd = self.proc.stderr.fileno()
        assert self.proc.stdout is not None
        self.stdout = Lines(self.proc.stdout.fileno())
        self.stderr = Lines(err_fd)

    def finish(self, timeout: float = 120) -> int:
        code = self.proc.wait(timeout)
        self.stdout.rest()
        self.stderr.rest()
        self.close()
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        for fd in self._fds:
            os.close(fd)
        self._fds = []


def wait_file(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)
