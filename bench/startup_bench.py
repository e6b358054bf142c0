#!/usr/bin/env python3
"""Start-up cost: `pivot --help` and `pivot <command> --help` as whole processes, beside the floor under them.

Every row is one command run as a new process (subprocess, wall time by `time.perf_counter`), --runs times
after --warmup uncounted runs, the commands taken in turn (run 1 of each, then run 2 of each, ...) so that a
change of machine load falls on all of them alike. Reported: the median, and the fastest and slowest run.

The floor is measured with the interpreter the `pivot` script runs on (its `#!` line): `python -I -S -c pass`
(the bare interpreter), `python -c pass` (with `site` and the venv's `.pth` files) and `python -c "import
click"` (the one library `--help` needs). What `pivot --help` costs above `import click` is pivot's own.

Bytecode: the processes run with PYTHONDONTWRITEBYTECODE removed from the environment, so that the warm-up
run writes the `__pycache__` files and the timed ones read them (as an installed tool does); keep --warmup
at 1 or more. A `.pth` file that imports something at every start (a sandbox's certifi hook, an editable
install's finder) is part of every figure: the report lists the ones found in each interpreter's
site-packages, so measure in a clean venv with a regular install (`pip install .`) to see pivot's own cost.

    bench/startup_bench.py                                   # `pivot` on PATH, 20 runs
    bench/startup_bench.py --pivot /tmp/clean/bin/pivot --upstream --dvc --runs 30 --out /tmp/startup.md
    bench/startup_bench.py --runs 3 --warmup 1               # a quick check that it works
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run_cache_bench import machine  # noqa: E402 - the report's machine line

UPSTREAM = "/work/pv13/bin/pivot"
DVC = "/work/dvcvenv/bin/dvc"


class Row:
    """One command line to time, and its figures."""

    def __init__(self, label: str, argv: list[str]) -> None:
        self.label, self.argv = label, argv
        self.times: list[float] = []


def interpreter(script: str) -> str | None:
    """The Python a console script runs on (its `#!` line), or None when it is not a Python script."""
    try:
        with open(script, "rb") as f:
            first = f.readline().decode(errors="replace").strip()
    except OSError:
        return None
    if not first.startswith("#!") or "python" not in first:
        return None
    return first[2:].split()[0]


def start_up_hooks(python: str) -> list[str]:
    """The `.pth` files of `python`'s site-packages that run code at every start (`import` lines)."""
    code = ("import site, sys, os\n"
            "for d in site.getsitepackages():\n"
            "    for n in sorted(os.listdir(d)) if os.path.isdir(d) else []:\n"
            "        if n.endswith('.pth'):\n"
            "            p = os.path.join(d, n)\n"
            "            with open(p, errors='replace') as f:\n"
            "                if any(l.startswith(('import ', 'import\\t')) for l in f):\n"
            "                    print(p)\n")
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
    return out.stdout.split()


def rows_for(tool: str, script: str, commands: list[list[str]], floor: bool) -> list[Row]:
    rows = []
    python = interpreter(script)
    if floor and python is not None:
        rows += [Row(f"{tool}: python -I -S -c pass", [python, "-I", "-S", "-c", "pass"]),
                 Row(f"{tool}: python -c pass", [python, "-c", "pass"])]
        if tool == "pivot-ci":
            rows.append(Row(f"{tool}: python -c 'import click'", [python, "-c", "import click"]))
    name = os.path.basename(script)
    rows += [Row(f"{tool}: {name} {' '.join(c)}", [script, *c]) for c in commands]
    return rows


def run_once(row: Row, cwd: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(row.argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, timeout=300)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(row.argv)} exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    return elapsed


def report(rows: list[Row], hooks: dict[str, list[str]], args: argparse.Namespace) -> str:
    lines = [f"# Start-up ({args.runs} runs after {args.warmup} warm-up, median and min-max)", "",
             f"Machine: {machine()}", "", "| command | median | min - max |", "|---|---|---|"]
    for row in rows:
        lines.append(f"| `{row.label}` | {statistics.median(row.times):.3f} s | "
                     f"{min(row.times):.3f} - {max(row.times):.3f} s |")
    lines.append("")
    for python, found in hooks.items():
        lines.append(f"Start-up `.pth` hooks of {python}: " + (", ".join(found) if found else "none"))
    lines.append("")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pivot", default=shutil.which("pivot") or "pivot", help="pivot-ci's `pivot` [PATH's]")
    ap.add_argument("--upstream", nargs="?", const=UPSTREAM, default=None, metavar="PATH",
                    help=f"also upstream pivot's `pivot` [{UPSTREAM}]")
    ap.add_argument("--dvc", nargs="?", const=DVC, default=None, metavar="PATH", help=f"also `dvc` [{DVC}]")
    ap.add_argument("--command", dest="commands", action="append", default=None, metavar="ARGS",
                    help="a pivot-ci command line to time, e.g. 'repro --help' (repeatable) "
                         "[--help, status --help, repro --help]")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--out", type=Path, help="also write the Markdown report here")
    ap.add_argument("--json", type=Path, help="raw figures (seconds) as JSON")
    args = ap.parse_args()
    if args.runs < 1 or args.warmup < 0:
        ap.error("--runs must be at least 1 and --warmup at least 0")
    for tool, path in (("pivot-ci", args.pivot), ("upstream", args.upstream), ("dvc", args.dvc)):
        if path is not None and not os.access(path, os.X_OK):
            ap.error(f"{tool}: not an executable: {path}")

    commands = [c.split() for c in (args.commands or ["--help", "status --help", "repro --help"])]
    rows = rows_for("pivot-ci", args.pivot, commands, floor=True)
    if args.upstream:
        rows += rows_for("upstream", args.upstream, [["--help"], ["status", "--help"]], floor=True)
    if args.dvc:
        rows += rows_for("dvc", args.dvc, [["--help"], ["status", "--help"]], floor=True)
    pythons = dict.fromkeys(p for s in (args.pivot, args.upstream, args.dvc) if s for p in [interpreter(s)] if p)
    hooks = {python: start_up_hooks(python) for python in pythons}

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory(prefix="pivot-startup-") as cwd:  # outside any project
        for _ in range(args.warmup):
            for row in rows:
                run_once(row, cwd, env)
        for _ in range(args.runs):
            for row in rows:
                row.times.append(run_once(row, cwd, env))
    text = report(rows, hooks, args)
    print(text)
    if args.out:
        args.out.write_text(text)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "runs": {r.label: r.times for r in rows}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
