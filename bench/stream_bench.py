#!/usr/bin/env python3
"""What live stage output costs: cold `repro --all` by the pivot-ci before streaming and by this one, in turn.

Two builds of pivot-ci run from source with the same Python and the same installed dependencies
(`python -m pivot_ci`, PYTHONPATH = the source tree): **after** is this repository's working tree, **before** a
git worktree of `--before REV` (default: the commit before the one that added `pivot_ci/state/stagelog.py`,
i.e. main just before streaming landed), checked out under the work directory and removed at the end.

On the shared synthetic workload (`../shared/bench/gen.py`: `pivot-yaml`, shell `cmd` stages, and
`pivot-ci-py`, Python stages; medium = 200 stages whose work is trivial, so pivot's own overhead dominates),
each timed run resets the workload to cold (no `.pivot/`, no outputs; `pivot init`, untimed) and runs
`repro --all` with stderr to a file, the way CI runs it. The two builds alternate run by run (before, after,
before, ...) so that load on the machine falls on both alike; the report gives each build's median and the
median of the per-pair ratios after/before. `--print N` makes every stage print N lines (the gen.py stages
print nothing: that is the fast path a silent stage takes), to see the cost of streaming output too.

Before timing, one untimed cold run per build checks that every output matches gen.py's manifest.

    bench/stream_bench.py                                 # medium, both workloads, 5 pairs
    bench/stream_bench.py --size small --runs 1 --warmup 0   # a quick check that it works
    bench/stream_bench.py --print 200 --out /tmp/stream.md
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench_run  # noqa: E402 - bench/run.py: gen.py loading and the output check
from run_cache_bench import machine, setup_problem  # noqa: E402 - the report's machine line, the checks

WORKLOADS = ("pivot-yaml", "pivot-ci-py")
BenchError = bench_run.BenchError


def sh(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} (in {cwd}) exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


def before_rev() -> str:
    added = sh(["git", "log", "--diff-filter=A", "--format=%H", "--", "pivot_ci/state/stagelog.py"], REPO).stdout
    if not added.split():
        raise BenchError("pivot_ci/state/stagelog.py is not in git history: pass --before REV")
    return added.split()[-1] + "^"


class Build:
    """One pivot-ci source tree, run as `python -m pivot_ci`."""

    def __init__(self, name: str, source: Path) -> None:
        self.name, self.source = name, source
        self.env = {**os.environ, "PYTHONPATH": str(source), "NO_COLOR": "1"}

    def cmd(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "pivot_ci", *args]


def checkout(rev: str, where: Path) -> Path:
    if where.exists():
        sh(["git", "worktree", "remove", "--force", str(where)], REPO)
    sh(["git", "worktree", "add", "--detach", str(where), rev], REPO)
    return where


def generate(gen: Path, root: Path, tool: str, size: str, lines: int) -> dict[str, Any]:
    shutil.rmtree(root, ignore_errors=True)
    sh([sys.executable, str(gen), "--tool", tool, "--size", size, str(root)], REPO)
    manifest: dict[str, Any] = json.loads((root / "bench-manifest.json").read_text())
    if lines:
        add_prints(root, tool, lines)
    return manifest


def add_prints(root: Path, tool: str, lines: int) -> None:
    """Every stage prints `lines` lines as it runs (its output files stay as gen.py expects)."""
    for path in sorted(root.glob("p*/pivot.yaml" if tool == "pivot-yaml" else "p*/pipeline.py")):
        text = path.read_text()
        if tool == "pivot-yaml":
            text = text.replace("    cmd: '", f"    cmd: 'seq {lines} && ")
        else:
            text = text.replace("    _transform(", f"    print('\\n'.join(map(str, range({lines}))))\n    _transform(")
        path.write_text(text)


def reset(root: Path, outputs: dict[str, str], build: Build) -> None:
    for state in root.rglob(".pivot"):
        shutil.rmtree(state)
    for rel in outputs.values():
        (root / rel).unlink(missing_ok=True)
    for cache in root.rglob("__pycache__"):
        shutil.rmtree(cache)
    sh(build.cmd("init"), root, build.env)


def cold_repro(root: Path, outputs: dict[str, str], build: Build, log: Path) -> float:
    reset(root, outputs, build)
    with log.open("w") as err:
        start = time.perf_counter()
        proc = subprocess.run(build.cmd("repro", "--all"), cwd=root, stdout=subprocess.DEVNULL, stderr=err,
                              stdin=subprocess.DEVNULL, env=build.env)
        took = time.perf_counter() - start
    if proc.returncode != 0:
        raise BenchError(f"{build.name}: repro --all in {root} exited {proc.returncode}; see {log}")
    return took


def check(gen: ModuleType, tool: str, root: Path, manifest: dict[str, Any]) -> None:
    """Every output is what gen.py says it must be (bench/run.py's check)."""
    wl = bench_run.Workload(tool, tool, "", True, root, root)
    bench_run.check_outputs(gen, wl, manifest)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=["small", "medium", "large"], default="medium")
    ap.add_argument("--workload", choices=WORKLOADS, action="append", help="one workload (repeatable) [both]")
    ap.add_argument("--before", default=None, metavar="REV", help="the build to compare against [see above]")
    ap.add_argument("--print", dest="lines", type=int, default=0, metavar="N", help="lines each stage prints [0]")
    ap.add_argument("--workdir", type=Path, default=Path("/work/benchwork/stream"))
    ap.add_argument("--gen", type=Path, default=REPO.parent / "shared" / "bench" / "gen.py")
    ap.add_argument("--runs", type=int, default=5, help="timed pairs")
    ap.add_argument("--warmup", type=int, default=1, help="untimed pairs first")
    ap.add_argument("--out", type=Path, help="also write the Markdown report here")
    args = ap.parse_args()
    work = args.workdir.resolve() / args.size
    problem = setup_problem(work, args.gen)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    start = machine()
    rows = []
    try:
        gen = bench_run.load_gen(args.gen)
        rev = args.before or before_rev()
        work.mkdir(parents=True, exist_ok=True)
        builds = [Build("before", checkout(rev, work / "before-src")), Build("after", REPO)]
        for tool in args.workload or WORKLOADS:
            root = work / tool
            manifest = generate(args.gen, root, tool, args.size, args.lines)
            outputs = manifest["outputs"]
            for build in builds:  # correctness first, untimed
                cold_repro(root, outputs, build, work / f"{tool}-{build.name}.log")
                check(gen, tool, root, manifest)
            times: dict[str, list[float]] = {b.name: [] for b in builds}
            for i in range(args.warmup + args.runs):
                for build in builds if i % 2 == 0 else builds[::-1]:
                    took = cold_repro(root, outputs, build, work / f"{tool}-{build.name}.log")
                    if i >= args.warmup:
                        times[build.name].append(took)
            ratios = [a / b for a, b in zip(times["after"], times["before"], strict=True)]
            rows.append((tool, times, ratios))
    except BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if (work / "before-src").exists():  # the checkout is registered with the repository: unregister it
            subprocess.run(["git", "worktree", "remove", "--force", str(work / "before-src")], cwd=REPO,
                           capture_output=True, check=False)
    lines = [f"Cold `repro --all`, size {args.size}, every stage printing {args.lines} lines; before = {rev}, "
             f"after = the working tree of {REPO}.", f"Machine: {start} (start)", "",
             "| workload | before median s | after median s | after/before (median of pairs) | pairs |",
             "|---|---:|---:|---:|---:|"]
    for tool, times, ratios in rows:
        lines.append(f"| {tool} | {statistics.median(times['before']):.2f} | "
                     f"{statistics.median(times['after']):.2f} | {statistics.median(ratios):.3f} | {len(ratios)} |")
    lines += ["", f"Machine: {machine()} (end)"]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
