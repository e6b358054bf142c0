"""Tie the life of every process pivot starts to pivot's own, even when pivot is killed with SIGKILL.

Two mechanisms, because neither covers everything alone:

- A child asks the kernel to kill it when its parent dies (`PR_SET_PDEATHSIG` on Linux; elsewhere a thread
  polls `getppid()`). That covers the child itself, from its first instruction, but not what it starts.
- A watchdog process, started once per pivot process in a session of its own (so a signal to pivot's process
  group does not reach it), learns the process group of every stage as it starts and forgets it when the
  stage ends. When pivot dies, its end of the watchdog's stdin pipe closes: the watchdog sends SIGTERM to every
  group still registered, waits a moment, then SIGKILL, and exits. It reads nothing but that pipe.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

_PR_SET_PDEATHSIG = 1
_GRACE_S = 2.0

# Runs as `python -I -S -c` (no site, no pivot_ci import): it must start fast and depend on nothing.
_WATCHDOG = f"""
import os, signal, time
for s in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
    signal.signal(s, signal.SIG_IGN)
groups, buf = set(), b""
while True:
    try:
        data = os.read(0, 4096)
    except InterruptedError:
        continue
    if not data:
        break
    buf += data
    *lines, buf = buf.split(b"\\n")
    for line in lines:
        if line[:1] == b"+":
            groups.add(int(line[1:]))
        elif line[:1] == b"-":
            groups.discard(int(line[1:]))

def send(g, sig):
    try:
        os.killpg(g, sig)
        return True
    except OSError:
        return False

groups = {{g for g in groups if send(g, signal.SIGTERM)}}
deadline = time.monotonic() + {_GRACE_S}
while groups and time.monotonic() < deadline:
    time.sleep(0.05)
    groups = {{g for g in groups if send(g, 0)}}
for g in groups:
    send(g, signal.SIGKILL)
"""


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn: Callable[..., int] = libc.prctl
    except (OSError, AttributeError):
        return None
    return fn


_PRCTL = _prctl()


def die_with_parent(parent: int) -> None:
    """In a child: end this process when `parent` (the pid that started it) ends."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request above took effect
        os._exit(1)
    if _PRCTL is None:
        threading.Thread(target=_poll_parent, args=(parent,), name="pivot-parent-watch", daemon=True).start()


def _poll_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


_setpriv: list[str | None] = []  # found once per process: [path] or [None]


def _pdeathsig_launcher() -> str | None:
    """util-linux `setpriv` when it can set the parent-death signal (2.33+), else None."""
    if not _setpriv:
        found = None
        path = shutil.which("setpriv") if _PRCTL is not None else None
        if path is not None:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                out = subprocess.run([path, "--help"], capture_output=True, timeout=5, check=False)
                found = path if b"--pdeathsig" in out.stdout + out.stderr else None
        _setpriv.append(found)
    return _setpriv[0]


def shell(cmd: str, parent: int) -> dict[str, Any]:
    """Popen arguments that run `cmd` in /bin/sh with the same tie to `parent` as `die_with_parent`.

    Where util-linux `setpriv` exists the shell is started as `setpriv --pdeathsig KILL -- /bin/sh -c CMD`:
    the signal survives setpriv's exec of the shell, and Popen keeps its fast vfork path. A `preexec_fn`
    (the fallback) forces a real fork of pivot, ~5 ms a stage with a large heap (10,000 stages). What setpriv
    does not do is the `getppid()` check for a parent that died in the microseconds before the request: the
    watchdog covers those, as it covers what the shell starts.
    """
    launcher = _pdeathsig_launcher()
    if launcher is not None:
        return {"args": [launcher, "--pdeathsig", "KILL", "--", "/bin/sh", "-c", cmd], "shell": False}
    return {"args": cmd, "shell": True, "preexec_fn": preexec(parent)}


def preexec(parent: int) -> Callable[[], None] | None:
    """A `preexec_fn` giving a shell command the same tie (Linux only: a prctl call, no allocation, no lock)."""
    if _PRCTL is None:
        return None
    prctl = _PRCTL

    def tie() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return tie


class _Watchdog:
    """The parent side: one watchdog process for the life of this pivot process, started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid = 0  # the pivot process that started it (a forked child must not talk to it)

    def _pipe(self) -> subprocess.Popen[bytes] | None:
        if self._proc is not None and self._pid == os.getpid() and self._proc.poll() is None:
            return self._proc
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _WATCHDOG], stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
        except OSError:
            self._proc = None  # no watchdog: children still die with pivot through their own tie
            return None
        self._pid = os.getpid()
        return self._proc

    def _send(self, line: str) -> None:
        with self._lock:
            proc = self._pipe()
            if proc is None or proc.stdin is None:
                return
            with contextlib.suppress(OSError):
                proc.stdin.write(line.encode())
                proc.stdin.flush()

    def guard(self, pgid: int) -> None:
        """Kill process group `pgid` if pivot dies before `release(pgid)`."""
        self._send(f"+{pgid}\n")

    def release(self, pgid: int) -> None:
        self._send(f"-{pgid}\n")


WATCHDOG = _Watchdog()


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    """Signal every process of group `pgid` (nothing when it is gone)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_groups(pgids: list[int], grace: float = 3.0) -> None:
    """SIGTERM every group, then SIGKILL the ones still there after `grace` seconds."""
    for pgid in pgids:
        kill_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    remaining = [g for g in pgids if group_alive(g)]
    while remaining and time.monotonic() < deadline:
        time.sleep(0.05)
        remaining = [g for g in remaining if group_alive(g)]
    for pgid in remaining:
        kill_group(pgid)
