"""A state dir's layout: lock files under stages/, everything else ignored by git."""

from __future__ import annotations

from pathlib import Path

from pivot_ci.state import fsutil

# Lock files and the project config are meant to be committed; the cache, memo db and run
# history are local. Re-including stages/ before its content is what lets git see the *.lock files.
GITIGNORE = """\
# Written by pivot: only lock files and config.yaml belong in git.
/*
!/.gitignore
!/config.yaml
!/stages/
/stages/*
!/stages/*.lock
"""

STAGES_DIR = "stages"
LOCK_SUFFIX = ".lock"


def ensure(state_dir: Path) -> None:
    """Create `state_dir` and its stages/ dir, and write its .gitignore if missing or stale."""
    (state_dir / STAGES_DIR).mkdir(parents=True, exist_ok=True)
    gitignore = state_dir / ".gitignore"
    try:
        current = gitignore.read_text(encoding="utf-8")
    except FileNotFoundError:
        current = None
    if current != GITIGNORE:
        fsutil.atomic_write(gitignore, GITIGNORE.encode())


def lock_path(state_dir: Path, stage_name: str) -> Path:
    """Where the lock file of the stage declared as `stage_name` lives."""
    return state_dir / STAGES_DIR / f"{stage_name}{LOCK_SUFFIX}"
