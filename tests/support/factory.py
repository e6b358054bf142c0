"""Build projects on disk and run the real `pivot` CLI in subprocesses."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

_SCRIPT = Path(sys.executable).parent / "pivot"
PIVOT = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "pivot_ci"]


@dataclasses.dataclass(frozen=True)
class Outcome:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:
        return f"pivot {' '.join(self.args)} -> {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"

    def ok(self) -> Outcome:
        assert self.code == 0, str(self)
        return self


def write_dedented(root: Path, rel: str, text: str) -> Path:
    """`text` (dedented, leading newline dropped) at `root/rel`, parent directories made."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


@dataclasses.dataclass
class Project:
    root: Path

    def write(self, rel: str, text: str) -> Path:
        return write_dedented(self.root, rel, text)

    def read(self, rel: str) -> str:
        return (self.root / rel).read_text()

    def exists(self, rel: str) -> bool:
        return (self.root / rel).exists()

    def run(self, *args: str, cwd: str = ".", timeout: float = 120, env: dict[str, str] | None = None) -> Outcome:
        full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
        proc = subprocess.run([*PIVOT, *args], cwd=self.root / cwd, capture_output=True, text=True,
                              timeout=timeout, env=full_env, stdin=subprocess.DEVNULL)
        return Outcome(tuple(args), proc.returncode, proc.stdout, proc.stderr)

    def popen(self, *args: str, cwd: str = ".", env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen([*PIVOT, *args], cwd=self.root / cwd, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                                env={**os.environ, "NO_COLOR": "1", **(env or {})})

    def stage_json(self, outcome: Outcome) -> dict[str, dict[str, Any]]:
        """display_name -> stage entry of a status/verify JSON report."""
        return {s["display_name"]: s for p in outcome.json()["pipelines"] for s in p["stages"]}


def new_project(root: Path) -> Project:
    root.mkdir(parents=True, exist_ok=True)
    (root / ".pivot").mkdir()
    return Project(root)


# a copy script used by cmd stages: `python copy.py SRC DST` (portable, no shell quirks)
COPY_PY = """
import pathlib, sys
src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
dst.parent.mkdir(parents=True, exist_ok=True)
dst.write_text(src.read_text() + sys.argv[3] if len(sys.argv) > 3 else src.read_text())
"""


def multi(root: Path) -> Project:
    """Three pipelines: prep (shared state dir), train (own, pivot.yaml), tune (pipeline.py); two `train`s."""
    p = new_project(root)
    p.write("tools/copy.py", COPY_PY)
    p.write("prep/raw.txt", "raw data\n")
    p.write("prep/pivot.yaml", """
        pipeline: prep
        root: /
        stages:
          clean:
            cmd: python ../tools/copy.py raw.txt clean.txt +clean
            deps: [raw.txt, ../tools/copy.py]
            outs: [clean.txt]
        """)
    p.write("train/pivot.yaml", """
        stages:
          train:
            python: stages:train
            deps: [../prep/clean.txt]
            outs: [model.txt]
            params: {lr: 0.5}
        """)
    p.write("train/helpers.py", """
        def scale(x):
            return x * 2
        """)
    p.write("train/stages.py", """
        from helpers import scale


        def train(lr):
            text = open("../prep/clean.txt").read()
            open("model.txt", "w").write(f"{text} lr={scale(lr)}\\n")
        """)
    p.write("tune/helpers.py", """
        def tag():
            return "exp"
        """)
    p.write("tune/pipeline.py", """
        from helpers import tag

        from pivot_ci import Pipeline

        pipeline = Pipeline("tune")


        @pipeline.stage(deps=["../train/model.txt"], outs=["result.txt"])
        def train():
            open("result.txt", "w").write(open("../train/model.txt").read() + tag() + "\\n")


        pipeline.command("report", cmd="python ../tools/copy.py result.txt report.txt",
                         deps=["result.txt"], outs=["report.txt"])
        """)
    return p
