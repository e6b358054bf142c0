"""What pivot itself last did for each stage, kept in its state dir (git-ignored, never committed).

`records/<stage>.written`: a copy of the lock file pivot last wrote. A git hook run by the pre-commit
framework sees the index's version of a lock file (the framework stashes unstaged changes first); when the copy pivot
wrote would make the stage up to date, the lock file was simply not staged, and `git add` is the fix.

`records/<stage>.ran.json`: a run whose lock was not written (`repro --no-commit`): the command or code
fingerprint and params it ran with, and its dependency hashes when it started. `pivot commit` records such a
stage even though its code or params changed since the last lock: pivot knows it ran them.

These are records, not state: a missing or unreadable one only means pivot knows less. They are replaced
atomically (temporary name, rename), without an fsync: losing the latest one in a crash costs nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypedDict

from pivot_ci.errors import StateError
from pivot_ci.state import fsutil, lockfile

RECORDS_DIR = "records"
SCHEMA = 1


class RanRecord(TypedDict):
    schema: int
    stage: str
    cmd: str | None
    code: str | None
    params: dict[str, Any]
    deps: dict[str, str | None]


def _path(state_dir: Path, stage: str, suffix: str) -> Path:
    return state_dir / RECORDS_DIR / f"{stage}{suffix}"


def remember_written(state_dir: Path, stage: str, lock_bytes: bytes) -> None:
    """Keep a copy of the lock file just written for `stage`."""
    fsutil.replace_quickly(_path(state_dir, stage, ".written"), lock_bytes)


def written(state_dir: Path, stage: str) -> tuple[bytes, lockfile.LockData] | None:
    """The lock file pivot last wrote for `stage` (its bytes and content), or None."""
    path = _path(state_dir, stage, ".written")
    try:
        raw = path.read_bytes()
        data = lockfile.read(path, str(path))
    except (OSError, StateError):
        return None
    return (raw, data) if data is not None else None


def remember_ran(state_dir: Path, record: RanRecord) -> None:
    fsutil.replace_quickly(_path(state_dir, record["stage"], ".ran.json"), json.dumps(record, sort_keys=True).encode())


def ran(state_dir: Path, stage: str) -> RanRecord | None:
    """The record of the last run of `stage` whose lock was not written, or None."""
    try:
        raw = json.loads(_path(state_dir, stage, ".ran.json").read_bytes())
    except (OSError, ValueError):
        return None
    keys = set(RanRecord.__annotations__)
    if not isinstance(raw, dict) or set(raw) != keys or raw["schema"] != SCHEMA or raw["stage"] != stage:
        return None
    return raw  # type: ignore[return-value]


def forget_ran(state_dir: Path, stage: str) -> None:
    _path(state_dir, stage, ".ran.json").unlink(missing_ok=True)
