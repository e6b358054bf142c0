"""A project with raw data kept out of git (SPEC §10): a tracked file, a tracked directory, two stages using them."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import yaml

from tests.support import gitrepo
from tests.support.factory import COPY_PY, Project, new_project

COUNT_PY = """
import pathlib, sys
raw, images, out = (pathlib.Path(a) for a in sys.argv[1:4])
n = sum(1 for p in images.rglob("*") if p.is_file())
out.write_text(f"{len(raw.read_text().splitlines())} rows, {n} images\\n")
"""
PIPELINE = """
stages:
  count:
    cmd: python count.py ../data/raw.csv ../data/images count.txt
    deps: [count.py, ../data/raw.csv, ../data/images/]
    outs: [count.txt]
  first:
    cmd: python ../tools/copy.py ../data/images/a/0.txt first.txt
    deps: [../tools/copy.py, ../data/images/a/0.txt]
    outs: [first.txt]
"""


def data_project(root: Path, images: int = 12) -> Project:
    """`p/` (stages `count` and `first`) reading `data/raw.csv` and `data/images/` (a/ and b/), all files aged
    so that the hash memo records them."""
    p = new_project(root)
    p.write("tools/copy.py", COPY_PY)
    p.write("p/count.py", COUNT_PY)
    p.write("p/pivot.yaml", PIPELINE)
    p.write("p/.gitignore", "/count.txt\n/first.txt\n")  # outputs travel through the cache, not git
    p.write("data/raw.csv", "a,b\n1,2\n3,4\n")
    for i in range(images):
        p.write(f"data/images/{'ab'[i % 2]}/{i}.txt", f"image {i}\n")
    age(p.root / "data")
    return p


def age(root: Path, seconds: float = 60) -> None:
    """Set every file's mtime `seconds` into the past: older than the memo's racy window."""
    past = time.time() - seconds
    for path in [root] if root.is_file() else root.rglob("*"):
        if path.is_file():
            os.utime(path, (past, past))


def git(p: Project, home: Path) -> gitrepo.GitRepo:
    """Make the project a git repository (isolated config)."""
    return gitrepo.init(p.root, gitrepo.base_env(home))


def pointer(p: Project, rel: str) -> dict[str, object]:
    data: dict[str, object] = yaml.safe_load(p.read(rel))
    return data


def cache_object(p: Project, h: str) -> Path:
    return p.root / ".pivot/cache/files" / h[:2] / h[2:]


def manifest(p: Project, h: str) -> dict[str, str]:
    """rel path -> file hash of a directory object in the cache."""
    return {rel: fh for rel, fh in json.loads(cache_object(p, h).read_bytes())}
