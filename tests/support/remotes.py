"""Helpers for remote tests: a fresh clone of a project, remote object listings, a directory-output pipeline."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from pivot_ci.state import hashing
from tests.support.factory import Project

# A pipeline with its own state dir whose one stage writes a directory output of N small files.
DIR_PIPELINE = """
stages:
  gen:
    cmd: python ../tools/many.py out {n}
    deps: [../tools/many.py]
    outs: [out/]
"""
MANY_PY = """
import pathlib, sys
out, n = pathlib.Path(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    p = out / f"d{i % 7}" / f"f{i}.txt"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(f"file {i}\\n" * (1 + i % 5))
"""


def add_dir_pipeline(p: Project, n: int, where: str = "data") -> None:
    p.write("tools/many.py", MANY_PY)
    p.write(f"{where}/pivot.yaml", DIR_PIPELINE.format(n=n))


def lock_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.lock") if p.parent.name == "stages" and ".pivot" in p.parts)


def locked_outs(root: Path) -> dict[str, str]:
    """output path -> hash, from every lock file of the project."""
    out: dict[str, str] = {}
    for lock in lock_files(root):
        data = yaml.safe_load(lock.read_text())
        out.update({e["path"]: e["hash"] for e in data["outs"]})
    return out


def fresh_clone(src: Project, dst: Path) -> Project:
    """What `git clone` gives a colleague or CI: sources and lock files, no cache, no outputs."""
    shutil.copytree(src.root, dst, ignore=shutil.ignore_patterns("cache", "state.db*", "tmp"))
    for path in locked_outs(dst):
        target = dst / path
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
    return Project(dst)


def object_keys(files_dir: Path) -> set[str]:
    """Keys of the objects under a `files/` directory (cache or local remote), temporary files excluded."""
    if not files_dir.is_dir():
        return set()
    return {f"{p.parent.name}{p.name}" for p in files_dir.glob("*/*") if p.is_file() and not p.name.startswith(".")}


def content_ok(path: Path, key: str) -> bool:
    data = path.read_bytes()
    h = hashing.hash_bytes(data)
    return (h + hashing.DIR_SUFFIX if key.endswith(hashing.DIR_SUFFIX) else h) == key
