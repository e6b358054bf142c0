"""Process checks shared by the tests that interrupt pivot."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_gone(pid: int, timeout: float) -> bool:
    """True once process `pid` has exited; False if it is still running after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def tagged(tag: str) -> list[int]:
    """Live (not zombie) processes whose environment holds PIVOT_TEST_TAG=`tag` (Linux /proc)."""
    needle = f"PIVOT_TEST_TAG={tag}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if state != b"Z" and needle in env:
            found.append(int(entry))
    return found


def wait_none_tagged(tag: str, timeout: float) -> list[int]:
    """The processes still tagged `tag` after waiting up to `timeout` seconds for all of them to end."""
    deadline = time.monotonic() + timeout
    while (left := tagged(tag)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def kill_tagged(tag: str) -> None:
    """SIGKILL whatever is left of a test's processes (a failing test must not leave orphans behind)."""
    for pid in tagged(tag):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def kill_run(proc: subprocess.Popen[str], tag: str, timeout: float) -> list[int]:
    """SIGKILL the pivot process `proc` (started with PIVOT_TEST_TAG=`tag`); the processes of its run still alive
    `timeout` seconds later. Whatever is left is killed before returning: a failing test leaves no orphans."""
    try:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        return wait_none_tagged(tag, timeout)
    finally:
        proc.kill()
        kill_tagged(tag)
        proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
