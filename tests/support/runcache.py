"""Helpers for run-cache tests: the entries a project's cache (or a directory remote) holds."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def finished(stdout: str) -> dict[str, dict[str, Any]]:
    """display name -> its `stage_finished` event of `repro --json`, with the warnings of all its events
    (a lookup that missed warns on `stage_started`)."""
    events = [json.loads(line) for line in stdout.splitlines()]
    done = {e["display_name"]: e for e in events if e["event"] == "stage_finished"}
    for name, e in done.items():
        e["warnings"] = [w for ev in events if ev["display_name"] == name for w in ev["warnings"]]
    return done


def outcomes(stdout: str) -> dict[str, str]:
    return {name: e["outcome"] for name, e in finished(stdout).items()}


def entry_files(root: Path) -> list[Path]:
    """Entry files under `root/runs/` (a cache dir or a directory remote), temporary files excluded."""
    runs = root / "runs"
    return sorted(p for p in runs.glob("*/*") if p.is_file() and not p.name.startswith(".")) if runs.is_dir() else []


def entries(root: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in entry_files(root)]


def entry_file(root: Path, out: str, **params: Any) -> Path:
    """The one entry whose outputs include `out` (and whose params include `params`)."""
    found = [p for p in entry_files(root)
             if out in [o["path"] for o in json.loads(p.read_text())["outs"]]
             and all(json.loads(p.read_text())["inputs"]["params"].get(k) == v for k, v in params.items())]
    assert len(found) == 1, (out, params, found)
    return found[0]


def overwrite(path: Path, data: bytes) -> None:
    """Replace a read-only file's content in place (what bit rot or a broken tool would do)."""
    os.chmod(path, 0o644)
    path.write_bytes(data)


def rel_key(path: Path) -> str:
    """`runs/ab/cdef...` or `files/ab/...` of an entry or object file."""
    return f"{path.parent.parent.name}/{path.parent.name}/{path.name}"
