"""`distributed` is imported only by `repro` with the dask executor: no other command pays for it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.factory import Project

HEAVY = ("distributed", "dask", "tornado")


def _imported(p: Project, *args: str, cwd: str = ".") -> set[str]:
    """Top-level packages a `python -X importtime -m pivot_ci ARGS` process imported."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "pivot_ci", *args], cwd=p.root / cwd,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                          env={**os.environ, "NO_COLOR": "1", "PIVOT_DASK_SCHEDULER": ""})
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def test_no_command_but_a_cluster_run_imports_distributed(project: Project) -> None:
    project.write("p/pivot.yaml", """
        stages:
          s:
            cmd: echo s > s.txt
            outs: [s.txt]
            resources: {GPU: 1}
        """)
    for args in (("--help",), ("repro", "--help"), ("repro",), ("repro", "--executor", "local", "-f"),
                 ("status",), ("verify",), ("list",)):
        found = _imported(project, *args, cwd="p")
        assert "pivot_ci" in found and not found & set(HEAVY), (args, found & set(HEAVY))


def test_the_dask_executor_without_distributed_says_what_to_install(project: Project, tmp_path: Path) -> None:
    project.write("p/pivot.yaml", """
        stages:
          s:
            cmd: echo s > s.txt
            outs: [s.txt]
        """)
    fake = tmp_path / "no-distributed" / "distributed"  # shadows the installed package, as if it were absent
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'distributed'\", "
                                      "name='distributed')\n")
    out = project.run("repro", "--scheduler", "tcp://127.0.0.1:1", cwd="p",
                      env={"PYTHONPATH": str(fake.parent)})
    assert out.code == 2, out
    assert "the dask executor needs the `distributed` package" in out.stderr
    assert "pip install 'pivot-ci[dask]'" in out.stderr and not project.exists("p/s.txt")
