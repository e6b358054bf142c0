"""Attempts of a stage on the cluster, recorded in the run's directory on the shared filesystem.

Dask runs a task again when the worker running it is lost. Each run of the stage task claims the next
attempt number by creating `<slug>/<n>.start` (exclusive create) and writes `<n>.end` once its process group
is gone. A stage is tried at most MAX_ATTEMPTS times, and the pivot process accepts an attempt's result only
when no later attempt started and every earlier one ended or lost its worker (whose stage processes die with
it: see task.py's lifeline).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Callable, Set
from pathlib import Path

MAX_ATTEMPTS = 2


def _started(folder: Path) -> dict[int, str]:
    """attempt number -> the worker it started on."""
    found: dict[int, str] = {}
    with contextlib.suppress(FileNotFoundError):
        for entry in folder.iterdir():
            stem, _, suffix = entry.name.partition(".")
            if suffix == "start" and stem.isdigit():
                try:
                    found[int(stem)] = str(json.loads(entry.read_text(encoding="utf-8"))["worker"])
                except (OSError, ValueError, KeyError, TypeError):
                    found[int(stem)] = "an unknown worker"
    return found


def begin(run_dir: str, slug: str, worker: str) -> int | None:
    """Claim the next attempt number; None once MAX_ATTEMPTS attempts have started."""
    folder = Path(run_dir) / slug
    folder.mkdir(parents=True, exist_ok=True)
    record = json.dumps({"worker": worker, "host": socket.gethostname(), "pid": os.getpid()}).encode()
    for n in range(1, MAX_ATTEMPTS + 1):
        try:
            fd = os.open(folder / f"{n}.start", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as f:
            f.write(record)
        return n
    return None


def end(run_dir: str, slug: str, attempt: int) -> None:
    (Path(run_dir) / slug / f"{attempt}.end").touch()


def workers(run_dir: str, slug: str) -> list[str]:
    """The workers of the attempts so far, in order."""
    started = _started(Path(run_dir) / slug)
    return [started[n] for n in sorted(started)]


def verdict(run_dir: str, slug: str, attempt: int, live_workers: Callable[[], Set[str]]) -> str | None:
    """Why the result of `attempt` must not be committed, or None when it may be.

    `live_workers` (the scheduler's current workers) is asked only when an earlier attempt did not end.
    """
    folder = Path(run_dir) / slug
    started = _started(folder)
    if attempt not in started:
        return f"its attempt {attempt} left no record in {folder}"
    later = [n for n in started if n > attempt]
    if later:
        return f"a later attempt started on {started[max(later)]}"
    for n, worker in sorted(started.items()):
        if n < attempt and not (folder / f"{n}.end").exists() and worker in live_workers():
            return f"its earlier attempt on {worker} may still be running"
    return None
