"""Lock files read through StateAccess: parsed once per command, read again when the file changed."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pivot_ci.engine.access import StateAccess
from pivot_ci.pipeline import model
from pivot_ci.project import Project
from pivot_ci.state import lockfile


def _stage(name: str) -> model.StageSpec:
    return model.StageSpec(name=name, pipeline="p", pipeline_file="p/pivot.yaml", pipeline_dir="p",
                           state_dir="p/.pivot", line=2, kind=model.StageKind.CMD, cmd="run", python=None,
                           deps=(), outs=(), metrics=(), params={})


def _lock(cmd: str) -> lockfile.LockData:
    return {"schema": 1, "stage": "s", "cmd": cmd, "code": None, "params": {}, "deps": [], "outs": [],
            "metrics": []}


def test_a_lock_rewritten_during_a_command_is_read_again(tmp_path: Path) -> None:
    (tmp_path / ".pivot").mkdir()
    st = _stage("s")
    with StateAccess(Project(tmp_path)) as access:
        path = access.lock_path(st)
        assert access.lock_display(st) == "p/.pivot/stages/s.lock" and path == tmp_path / "p/.pivot/stages/s.lock"
        assert access.read_lock(st) is None
        lockfile.write(path, _lock("one"))
        old = time.time_ns() - 60 * 1_000_000_000
        os.utime(path, ns=(old, old))  # old enough for the state db's memo too
        first = access.read_lock(st)
        assert first is not None and first["cmd"] == "one" and access.read_lock(st) is first  # parsed once
        lockfile.write(path, _lock("two"))  # a new file (atomic rename), as commit writes it
        os.utime(path, ns=(old, old))  # even with the same mtime and size
        again = access.read_lock(st)
        assert again is not None and again["cmd"] == "two"
    with StateAccess(Project(tmp_path)) as access:  # the next command: through the state db's memo
        memo = access.read_lock(st)
        assert memo is not None and memo["cmd"] == "two"
