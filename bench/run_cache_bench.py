#!/usr/bin/env python3
"""What the run cache saves, on the shared synthetic workload (`../shared/bench/gen.py --tool pivot-yaml`).

Two comparisons, each between commands that leave the same workspace and lock files behind:

1. **Param flip back.** One param is added to the head stage of pipeline p00's lane 0 (its output depends on
   it), so flipping it invalidates that stage and everything downstream of it (the same stages an edit of
   `p00/data/in_0.txt` does). After both values have run once, each timed run flips the value and runs
   `pivot repro --all` (the run cache restores them) or `pivot repro --all --no-run-cache` (they run).
2. **Fresh clone.** The workload is built once and pushed (`pivot push --all`: outputs and run-cache entries)
   to a directory remote. Each timed run gets a new fresh clone (sources, lock files and the remote's config,
   as `git clone` gives them: no cache, no outputs) and runs `pivot repro --all --pull` next to a cold
   `pivot repro --all` (it computes everything) and, for reference, `pivot pull --all` (restores by lock file).

Every figure is the whole process's wall time (pivot's start-up and discovery included), the median of
--runs runs after --warmup uncounted ones; the flip and the clone are done untimed before each run. Before
timing, one untimed pass of each command checks what it does (`--json` events: which stages ran or were
restored) and that the outputs are byte-identical either way; a check that fails stops the script (exit 1).

    bench/run_cache_bench.py                         # medium (10 pipelines x 20 stages), 5 runs
    bench/run_cache_bench.py --size small --runs 1 --warmup 0    # a quick check that it works
    bench/run_cache_bench.py --out /tmp/run-cache.md --json /tmp/run-cache.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FLIP_STAGE = "p00_s00"
PARAM_LINE = "    params: {{flip: {value}}}\n"


class BenchError(Exception):
    """A check failed: the figures would not mean what they say."""


def run(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} (in {cwd}) exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


def timed_run(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          stdin=subprocess.DEVNULL)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise BenchError(f"timed {' '.join(cmd)} (in {cwd}) exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return took


def measure(runs: int, warmup: int, prepare: Callable[[], Path], cmd: list[str]) -> list[float]:
    """Times of `cmd` (in the directory `prepare` readies, untimed) over `runs` counted runs."""
    times = []
    for i in range(warmup + runs):
        cwd = prepare()
        took = timed_run(cmd, cwd)
        if i >= warmup:
            times.append(took)
    return times


def outcomes(pivot: str, cwd: Path, *args: str) -> dict[str, int]:
    """`pivot repro --json ARGS`: how many stages ended with each outcome."""
    proc = run([pivot, "repro", "--json", *args], cwd)
    counts: dict[str, int] = {}
    for line in proc.stdout.splitlines():
        event = json.loads(line)
        if event["event"] == "stage_finished":
            counts[event["outcome"]] = counts.get(event["outcome"], 0) + 1
    return counts


def snapshot(root: Path, outputs: list[str]) -> dict[str, bytes]:
    return {p: (root / p).read_bytes() for p in outputs}


def expect(what: str, got: object, want: object) -> None:
    if got != want:
        raise BenchError(f"{what}: expected {want}, got {got}")


# ---------------------------------------------------------------- the workload
def generate(gen: Path, work: Path, size: str | None, overrides: list[str]) -> tuple[Path, dict[str, Any]]:
    src = work / "src"
    shutil.rmtree(work, ignore_errors=True)
    args = [sys.executable, str(gen), "--tool", "pivot-yaml", *(["--size", size] if size else []), *overrides, str(src)]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    manifest = json.loads((src / "bench-manifest.json").read_text())
    add_param(src / "p00" / "pivot.yaml")
    (src / ".pivot").mkdir()
    return src, manifest


def add_param(pipeline: Path) -> None:
    """Give the first stage of p00 a param `flip` that its output depends on (gen.py's format is fixed)."""
    text = pipeline.read_text()
    head = f"  {FLIP_STAGE}:\n    cmd: '"
    at = text.index(head) + len(head)
    end = text.index("'\n", at)
    cmd = text[at:end] + ' && echo "flip=$PIVOT_PARAM_FLIP" >> s00.txt'
    pipeline.write_text(text[:at] + cmd + "'\n" + PARAM_LINE.format(value=0) + text[end + 2:])


def set_flip(root: Path, value: int) -> None:
    path = root / "p00" / "pivot.yaml"
    path.write_text(re.sub(r"params: \{flip: \d+\}", f"params: {{flip: {value}}}", path.read_text()))


def fresh_clone(src: Path, dst: Path, outputs: list[str]) -> Path:
    """What `git clone` gives: sources, lock files and .pivot/config.yaml; no cache, no outputs, no memo."""
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("cache", "state.db*", "tmp"))
    for rel in outputs:
        (dst / rel).unlink(missing_ok=True)
    return dst


# ---------------------------------------------------------------- the two comparisons
def flip_back(pivot: str, proj: Path, runs: int, warmup: int, outputs: list[str],
              affected: int) -> list[tuple[str, list[float]]]:
    run([pivot, "repro", "--all"], proj)
    expected = {0: snapshot(proj, outputs)}
    set_flip(proj, 1)
    expect("first flip (computed)", outcomes(pivot, proj, "--all").get("ran"), affected)
    expected[1] = snapshot(proj, outputs)
    state = {"value": 1}

    def flip() -> Path:
        state["value"] ^= 1
        set_flip(proj, state["value"])
        return proj

    for args, outcome in ((["--all"], "restored"), (["--all", "--no-run-cache"], "ran")):
        flip()
        expect(f"repro {' '.join(args)} after a flip", outcomes(pivot, proj, *args).get(outcome), affected)
        expect("outputs after a flip", snapshot(proj, outputs) == expected[state["value"]], True)
    rows = [("repro --all after a param flip back (run cache)", measure(runs, warmup, flip, [pivot, "repro", "--all"])),
            ("repro --all --no-run-cache after a param flip back",
             measure(runs, warmup, flip, [pivot, "repro", "--all", "--no-run-cache"]))]
    expect("outputs after the timed runs", snapshot(proj, outputs) == expected[state["value"]], True)
    set_flip(proj, 0)
    run([pivot, "repro", "--all"], proj)
    return rows


def clone_pull(pivot: str, proj: Path, work: Path, runs: int, warmup: int, outputs: list[str],
               stages: int) -> list[tuple[str, list[float]]]:
    remote = work / "remote"
    shutil.rmtree(remote, ignore_errors=True)
    run([pivot, "remote", "add", "origin", str(remote), "--force"], proj)
    run([pivot, "push", "--all"], proj)
    built = snapshot(proj, outputs)
    clone = work / "clone"

    def prepare() -> Path:
        return fresh_clone(proj, clone, outputs)

    checks = ((["--all", "--pull"], "restored"), (["--all"], "ran"))
    for args, outcome in checks:
        expect(f"repro {' '.join(args)} in a fresh clone", outcomes(pivot, prepare(), *args).get(outcome), stages)
        expect("outputs in the clone", snapshot(clone, outputs) == built, True)
        run([pivot, "verify", "--all"], clone)
    run([pivot, "pull", "--all"], prepare())
    expect("outputs after pull", snapshot(clone, outputs) == built, True)
    return [("fresh clone: repro --all --pull (directory remote)", measure(runs, warmup, prepare,
                                                                          [pivot, "repro", "--all", "--pull"])),
            ("fresh clone: cold repro --all", measure(runs, warmup, prepare, [pivot, "repro", "--all"])),
            ("fresh clone: pull --all (reference)", measure(runs, warmup, prepare, [pivot, "pull", "--all"]))]


# ---------------------------------------------------------------- report
def machine() -> str:
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    now = datetime.datetime.now(datetime.UTC)
    return (f"{now:%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs; {platform.platform()}; "
            f"Python {platform.python_version()}; load average {load}")


def setup_problem(work: Path, gen: Path) -> str | None:
    """Why a benchmark cannot start with this work directory and generator (None: it can)."""
    if work.is_relative_to(REPO) or any((d / ".pivot").is_dir() for d in work.parents):
        return "--workdir must lie outside the repository and outside any pivot project"
    if not gen.is_file():
        return f"workload generator not found: {gen} (--gen PATH)"
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=["small", "medium", "large"], default="medium")
    for flag in "PSFB":
        ap.add_argument(f"-{flag}", type=int, help="gen.py override (pipelines, stages, inputs, bytes per input)")
    ap.add_argument("--workdir", type=Path, default=Path("/work/benchwork/run-cache"))
    ap.add_argument("--pivot", default=shutil.which("pivot") or "pivot", help="pivot-ci's `pivot` [PATH's]")
    ap.add_argument("--gen", type=Path, default=REPO.parent / "shared" / "bench" / "gen.py")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--only", choices=["flip", "clone"], default=None)
    ap.add_argument("--out", type=Path, help="also write the Markdown report here")
    ap.add_argument("--json", type=Path, help="also write the raw times here")
    args = ap.parse_args()
    work = args.workdir.resolve() / args.size
    problem = setup_problem(work, args.gen)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    overrides = [x for f in "PSFB" if getattr(args, f) is not None for x in (f"-{f}", str(getattr(args, f)))]
    start = machine()
    try:
        src, manifest = generate(args.gen, work, args.size, overrides)
        outputs = sorted(manifest["outputs"].values())
        rows: list[tuple[str, list[float]]] = []
        if args.only in (None, "flip"):
            rows += flip_back(args.pivot, src, args.runs, args.warmup, outputs, manifest["affected_by_edit"])
        if args.only in (None, "clone"):
            if args.only == "clone":
                run([args.pivot, "repro", "--all"], src)
            rows += clone_pull(args.pivot, src, work, args.runs, args.warmup, outputs, manifest["stages"])
    except BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    size = " ".join([args.size, *overrides])
    lines = [f"Workload: gen.py --tool pivot-yaml, size {size}: {manifest['stages']} "
             f"stages; the param flip invalidates {manifest['affected_by_edit']}. pivot-ci: {args.pivot}.",
             f"Machine: {start} (start)", "",
             "| operation | median s | min–max s | runs |", "|---|---:|---:|---:|"]
    for label, times in rows:
        lines.append(f"| {label} | {statistics.median(times):.2f} | {min(times):.2f}–{max(times):.2f} | "
                     f"{len(times)} |")
    lines += ["", f"Machine: {machine()} (end)"]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    if args.json:
        args.json.write_text(json.dumps({label: times for label, times in rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
