"""Fault injection: `repro --all` of a mixed project killed with SIGKILL at random moments.

After every kill: every cache object re-hashes to its name, every lock file parses and names outputs the
cache holds, every state db passes `PRAGMA integrity_check`, no process of the killed run is left, and the
next `repro --all` completes with byte-identical outputs (and `verify --all` passes).

Quick by default (PIVOT_FAULT_RUNS=3 kills); `PIVOT_FAULT_RUNS=500 pytest tests/integration/test_fault_injection.py`
for a long run, PIVOT_FAULT_SEED to replay one (the seed is in every failure message).
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
import uuid
from pathlib import Path

from pivot_ci.state import cache, hashing, lockfile
from tests.support import procs
from tests.support.factory import Project, new_project

RUNS = int(os.environ.get("PIVOT_FAULT_RUNS", "3"))
SEED = int(os.environ.get("PIVOT_FAULT_SEED", str(random.randrange(1 << 30))))

MAKE_PARTS = """
import pathlib, shutil, sys, time
src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
shutil.rmtree(out, ignore_errors=True)  # pivot leaves outputs in place: a stage makes its own from scratch
for i, line in enumerate(src.read_text().splitlines()):
    part = out / f"g{i % 3}" / f"part{i}.txt"
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_text(line.upper() * 200 + "\\n")
    time.sleep(0.01)
"""


def _mixed(root: Path) -> Project:
    """cmd and Python stages; the shared state dir (root: /) and pipelines' own; a directory output."""
    p = new_project(root)
    p.write("tools/parts.py", MAKE_PARTS)
    p.write("prep/pivot.yaml", """
        root: /
        stages:
          parts:
            cmd: python ../tools/parts.py raw.txt parts
            deps: [raw.txt, ../tools/parts.py]
            outs: [parts/]
          count:
            cmd: ls -R parts | sort > listing.txt
            deps: [parts/]
            outs: [listing.txt]
        """)
    p.write("train/pivot.yaml", """
        stages:
          train:
            python: stages:train
            deps: [../prep/parts/]
            outs: [model.txt]
            params: {scale: 3}
        """)
    p.write("train/stages.py", """
        import pathlib, time


        def train(scale):
            parts = sorted(pathlib.Path("../prep/parts").rglob("*.txt"))
            time.sleep(0.1)
            pathlib.Path("model.txt").write_text("".join(p.read_text()[:20] * scale for p in parts))
        """)
    p.write("report/pipeline.py", """
        import pathlib, time

        from pivot_ci import Pipeline

        pipeline = Pipeline("report", root="..")


        @pipeline.stage(deps=["../train/model.txt", "../prep/listing.txt"], outs=["summary.txt"])
        def summary():
            time.sleep(0.1)
            text = pathlib.Path("../train/model.txt").read_text() + pathlib.Path("../prep/listing.txt").read_text()
            pathlib.Path("summary.txt").write_text(str(len(text)) + "\\n")


        pipeline.command("final", cmd="cat summary.txt summary.txt > final.txt", deps=["summary.txt"],
                         outs=["final.txt"])
        """)
    return p


OUTPUTS = ("prep/parts", "prep/listing.txt", "train/model.txt", "report/summary.txt", "report/final.txt")


def _outputs(p: Project) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for rel in OUTPUTS:
        path = p.root / rel
        files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
        found.update({str(f.relative_to(p.root)): f.read_bytes() for f in files})
    return found


def _check_state(p: Project, where: str) -> None:
    objects = p.root / ".pivot/cache/files"
    for obj in objects.rglob("*"):
        if obj.is_file() and not obj.name.endswith(".tmp"):
            name = obj.parent.name + obj.name
            actual = hashing.hash_file(obj) + (hashing.DIR_SUFFIX if hashing.is_tree_hash(name) else "")
            assert actual == name, f"{where}: cache object {name} does not match its content"
    store = cache.Cache(p.root / ".pivot/cache")
    for lock_path in p.root.rglob("stages/*.lock"):
        data = lockfile.read(lock_path, str(lock_path))
        assert data is not None
        for entry in data["outs"]:
            assert store.has(entry["hash"]), f"{where}: {lock_path} names {entry['path']}, not in the cache"
    for db in p.root.rglob("state.db"):
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",), f"{where}: {db}"


def test_repro_killed_at_random_moments_leaves_sound_state(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    p = _mixed(tmp_path / "proj")
    inputs = ["alpha\nbeta\ngamma\ndelta\n", "one\ntwo\nthree\nfour\nfive\nsix\n", "x\n"]
    expected: dict[int, dict[str, bytes]] = {}
    durations = []
    for i, text in enumerate(inputs):  # reference outputs for each input, and how long a run takes
        p.write("prep/raw.txt", text)
        began = time.monotonic()
        p.run("repro", "--all").ok()
        durations.append(time.monotonic() - began)
        expected[i] = _outputs(p)
    longest = max(durations)
    for run in range(RUNS):
        where = f"run {run} (PIVOT_FAULT_SEED={SEED})"
        i = rng.randrange(len(inputs))
        p.write("prep/raw.txt", inputs[i])
        tag = uuid.uuid4().hex
        args = ["repro", "--all", "-j", str(rng.choice([1, 2, 4]))] + (["--force"] if rng.random() < 0.3 else [])
        proc = p.popen(*args, env={"PIVOT_TEST_TAG": tag})
        time.sleep(rng.uniform(0.0, longest))
        left = procs.kill_run(proc, tag, 10)
        assert left == [], f"{where}: processes of the killed run are still alive: {left}"
        _check_state(p, where)
        out = p.run("repro", "--all")
        assert out.code == 0, f"{where}\n{out}"
        assert _outputs(p) == expected[i], f"{where}: outputs differ from a clean run's"
        assert p.run("verify", "--all").code == 0, where
        _check_state(p, where)
