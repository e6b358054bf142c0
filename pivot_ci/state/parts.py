"""What a hash was made of, kept in a state dir for `status --explain` (git-ignored, never committed).

A code fingerprint is one hash over the definitions a Python stage uses; a directory's hash is one hash over
its files. To say *which* function or file changed, the parts behind an old hash must still be known when
the hash no longer matches. They are written when a hash is computed from scratch (a new fingerprint, a
directory dependency recorded in a lock), under `<state dir>/parts/<hash>`, once: the name is the content's
hash, so an existing file is never rewritten. Reading them is for `--explain` only; a missing one means
the old parts are not known here (a fresh clone), never an error.
"""

from __future__ import annotations

import os
from pathlib import Path

from pivot_ci.state import fsutil

PARTS_DIR = "parts"


def _path(state_dir: Path, h: str) -> Path | None:
    name = os.path.basename(h)
    return state_dir / PARTS_DIR / name if name == h and name not in ("", ".", "..") else None


def has(state_dir: Path, h: str) -> bool:
    path = _path(state_dir, h)
    return path is not None and path.exists()


def put(state_dir: Path, h: str, data: bytes) -> None:
    """Keep `data` as the parts of hash `h`, unless they are kept already (atomic rename, no fsync)."""
    path = _path(state_dir, h)
    if path is not None and not path.exists():
        fsutil.replace_quickly(path, data)


def get(state_dir: Path, h: str) -> bytes | None:
    path = _path(state_dir, h)
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError:
        return None
