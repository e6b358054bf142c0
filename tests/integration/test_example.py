"""The README's first command: `pivot repro --all` in examples/multi, and its committed lock files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.support.factory import Project

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "multi"


def _copy(tmp_path: Path) -> Project:
    dest = tmp_path / "multi"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("cache", "state.db*", "tmp", "__pycache__",
                                                                  "clean.csv", "vocab", "model.json", "metrics.json",
                                                                  "top_words.json", "summary.txt"))
    return Project(dest)


def test_example_reproduces_its_committed_lock_files(tmp_path: Path) -> None:
    p = _copy(tmp_path)
    locks = {f: f.read_text() for f in p.root.rglob("stages/*.lock")}
    assert len(locks) == 6
    assert p.run("verify", "--all").code == 1  # a fresh clone: outputs are not there yet
    p.run("repro", "--all").ok()
    assert {f: f.read_text() for f in p.root.rglob("stages/*.lock")} == locks
    assert p.run("verify", "--all").code == 0
    metrics = json.loads(p.read("train/metrics.json"))
    assert metrics["rows"] == 6


def test_example_sub_pipeline_status_after_repro_all(tmp_path: Path) -> None:
    p = _copy(tmp_path)
    p.run("repro", "--all").ok()
    for sub in ("prep", "train", "experiments"):
        assert p.run("status", "--exit-code", cwd=sub).code == 0
    listed = {r["name"]: r for r in p.run("list", "--all", "--json").ok().json()}
    assert listed["train"]["pipeline"] == "experiments"  # first by directory order
    assert listed["train/train"]["state_dir"] == "train/.pivot"
