from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pivot_ci.state import statedir


def _ignored(repo: Path, rel: str) -> bool:
    result = subprocess.run(["git", "check-ignore", "-q", rel], cwd=repo, timeout=30)
    assert result.returncode in (0, 1)
    return result.returncode == 0


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, timeout=30)
    return tmp_path


def test_ensure_creates_layout(tmp_path: Path) -> None:
    state = tmp_path / "sub" / ".pivot"
    statedir.ensure(state)
    assert sorted(p.name for p in state.iterdir()) == [".gitignore", "stages"]
    assert (state / ".gitignore").read_text() == statedir.GITIGNORE


def test_ensure_rewrites_only_a_stale_gitignore(tmp_path: Path) -> None:
    statedir.ensure(tmp_path)
    gitignore = tmp_path / ".gitignore"
    before = gitignore.stat().st_ino
    statedir.ensure(tmp_path)
    assert gitignore.stat().st_ino == before
    gitignore.write_text("stale\n")
    statedir.ensure(tmp_path)
    assert gitignore.read_text() == statedir.GITIGNORE


def test_lock_path(tmp_path: Path) -> None:
    assert statedir.lock_path(tmp_path, "train@1") == tmp_path / "stages" / "train@1.lock"


@pytest.mark.parametrize("state_rel", [".pivot", "pipes/prep/.pivot"])
def test_git_keeps_only_locks_config_and_gitignore(repo: Path, state_rel: str) -> None:
    state = repo / state_rel
    statedir.ensure(state)
    for rel in ["config.yaml", "state.db", "state.db-wal", "cache/files/ab/cdef", "runs/x.json",
                "stages/train.lock", "stages/train.lock.tmp", "stages/.train.lock.1.ab.tmp", "stages/notes"]:
        (state / rel).parent.mkdir(parents=True, exist_ok=True)
        (state / rel).write_text("x")
    kept = {".gitignore", "config.yaml", "stages/train.lock"}
    for rel in ["config.yaml", "state.db", "state.db-wal", "cache/files/ab/cdef", "runs/x.json",
                "stages/train.lock", "stages/train.lock.tmp", "stages/.train.lock.1.ab.tmp", "stages/notes",
                ".gitignore"]:
        assert _ignored(repo, f"{state_rel}/{rel}") == (rel not in kept), rel
    assert not _ignored(repo, "pipes/prep/pivot.yaml")
