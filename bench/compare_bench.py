#!/usr/bin/env python3
"""`pivot metrics diff --all main` and `pivot params diff --all main` beside `dvc metrics diff main` and
`dvc params diff main`, on the shared synthetic workload with params and metric files added.

The graph is `../shared/bench/gen.py`'s (default `--size large`: 30 pipelines x 40 stages = 1,200 stages),
written twice, as `pKK/pivot.yaml` (pivot-ci) and `pKK/dvc.yaml` (DVC 3), each stage extended with

    params: [sJJ]                  # its section of pKK/params.yaml: {lr: ..., depth: ...}
    metrics: [sJJ.metrics.json]    # {"acc": ..., "loss": ..., "per_class": [..., ...]} (DVC: cache: false)

and a command that also writes that metric file. On `main` everything is committed: pivot-ci's project after
`pivot repro --all` (lock files included: old params come from them); DVC's with the same params and metric
files (its `params diff` / `metrics diff` read params.yaml and the metric files from git, not dvc.lock, so its
`dvc repro` - about two minutes at this size - is not needed and skipped). Then both working trees change in
the same way: every 10th stage gets a new `lr` in params.yaml and a new metric file.

Correctness first: every command runs once untimed with `--json` and the changed rows are counted; pivot-ci's
and DVC's counts must agree (and match the edit) or the script stops (exit 1) before timing anything.
Figures: whole-process wall seconds, median of --runs after --warmup uncounted runs (min-max shown).

    bench/compare_bench.py                                   # large, 5 runs, DVC from /work/dvcvenv
    bench/compare_bench.py --size small --runs 1 --warmup 0  # a quick check that it works
    bench/compare_bench.py --no-dvc --out /tmp/compare.md
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_GEN = REPO.parent / "shared" / "bench" / "gen.py"
DEFAULT_DVC = "/work/dvcvenv/bin/dvc"
DEFAULT_WORKDIR = Path("/work/benchwork/compare")
EDIT_EVERY = 10  # every 10th stage gets a new lr and new metrics
GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid", "GIT_COMMITTER_NAME": "bench",
           "GIT_COMMITTER_EMAIL": "bench@example.invalid", "GIT_CONFIG_NOSYSTEM": "1"}


class BenchError(Exception):
    """A step or a check failed: the figures would not mean what they say."""


def run(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          env={**os.environ, **GIT_ENV})
    if check and proc.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} (in {cwd}) exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


def load_gen(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("pivot_bench_gen", path)
    if spec is None or spec.loader is None:
        raise BenchError(f"cannot import {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses need it
    spec.loader.exec_module(mod)
    return mod


# --- the workload ------------------------------------------------------------------------------------------


def _params(k: int, j: int, edited: bool) -> dict[str, Any]:
    lr = round(0.001 * (1 + (k * 7 + j) % 13), 6)
    return {"lr": round(lr * 2, 6) if edited else lr, "depth": 2 + j % 5}


def _metrics(k: int, j: int, edited: bool) -> dict[str, Any]:
    base = round(0.5 + ((k * 40 + j) % 47) / 100, 4)
    acc = round(base + 0.01, 4) if edited else base  # an edit moves acc and loss; per_class stays
    return {"acc": acc, "loss": round(1 - acc, 4), "per_class": [round(base - 0.1, 4), round(base + 0.05, 4)]}


def _edited(j: int) -> bool:
    return j % EDIT_EVERY == 0


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def write_workload(gen: ModuleType, graph: Any, root: Path, tool: str) -> int:
    """Inputs, pipeline files and params.yaml of every pipeline; returns the number of stages."""
    gen.write_inputs(graph, root)
    for k in range(graph.P):
        stages, _ = gen._cmd_stages(graph, k)
        lines = ["stages:"]
        params: dict[str, Any] = {}
        for name, st in stages.items():
            j = int(name.rsplit("_s", 1)[1])
            metric = f"s{j:02d}.metrics.json"
            cmd = f"{st['cmd']} && printf '%s\\n' '{json.dumps(_metrics(k, j, False))}' > {metric}"
            lines += [f"  {name}:", f"    cmd: {_q(cmd)}", "    deps:", *(f"      - {_q(d)}" for d in st["deps"]),
                      "    outs:", *(f"      - {_q(o)}" for o in st["outs"]), f"    params: [s{j:02d}]"]
            lines += [f"    metrics: [{metric}]"] if tool == "pivot" else [
                "    metrics:", f"      - {metric}:", "          cache: false"]
            params[f"s{j:02d}"] = _params(k, j, False)
        name = "pivot.yaml" if tool == "pivot" else "dvc.yaml"
        (root / gen.pdir(k) / name).write_text("\n".join(lines) + "\n")
        (root / gen.pdir(k) / "params.yaml").write_text(json.dumps(params, indent=1) + "\n")  # YAML is JSON
    return graph.P * graph.S


def write_metrics(graph: Any, root: Path, edited_only: bool) -> None:
    for k in range(graph.P):
        for j in range(graph.S):
            if edited_only and not _edited(j):
                continue
            path = root / f"p{k:02d}" / f"s{j:02d}.metrics.json"
            path.write_text(json.dumps(_metrics(k, j, edited_only)) + "\n")


def edit_params(graph: Any, root: Path) -> None:
    for k in range(graph.P):
        params = {f"s{j:02d}": _params(k, j, _edited(j)) for j in range(graph.S)}
        (root / f"p{k:02d}" / "params.yaml").write_text(json.dumps(params, indent=1) + "\n")


def build(gen: ModuleType, graph: Any, work: Path, pivot: str, dvc: str | None, jobs: int) -> dict[str, Path]:
    roots: dict[str, Path] = {}
    for tool in ("pivot", "dvc") if dvc else ("pivot",):
        root = work / tool
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        run(["git", "init", "-q", "-b", "main"], root)
        write_workload(gen, graph, root, tool)
        if tool == "pivot":
            run([pivot, "init"], root)
            print(f"  pivot repro --all -j {jobs} (untimed) ...", file=sys.stderr, flush=True)
            run([pivot, "repro", "--all", "-j", str(jobs)], root)
        else:
            assert dvc is not None
            run([dvc, "init", "-q"], root)
            write_metrics(graph, root, edited_only=False)  # what the stages would write: no dvc repro needed
        run(["git", "add", "-A"], root)
        run(["git", "commit", "-q", "-m", "main"], root)
        edit_params(graph, root)
        write_metrics(graph, root, edited_only=True)
        roots[tool] = root
    return roots


# --- correctness, then timing --------------------------------------------------------------------------------


def pivot_rows(pivot: str, root: Path, what: str) -> int:
    doc = json.loads(run([pivot, what, "diff", "--all", "main", "--json"], root).stdout)
    if not doc["passed"] or doc["summary"]["unavailable_stages"]:
        raise BenchError(f"pivot {what} diff: data unavailable: {json.dumps(doc['summary'])}")
    return sum(len(s[what] or []) for p in doc["pipelines"] for s in p["stages"])


def dvc_rows(dvc: str, root: Path, what: str) -> int:
    doc = json.loads(run([dvc, what, "diff", "main", "--json"], root).stdout or "{}")
    return sum(len(keys) for keys in doc.values())


def check(graph: Any, roots: dict[str, Path], pivot: str, dvc: str | None) -> dict[str, int]:
    edited = graph.P * sum(1 for j in range(graph.S) if _edited(j))
    expected = {"params": edited, "metrics": edited * 2}  # lr; acc and loss of each
    found = {}
    for what, want in expected.items():
        got = pivot_rows(pivot, roots["pivot"], what)
        if got != want:
            raise BenchError(f"pivot {what} diff --all main: {got} changed rows, expected {want}")
        if dvc:
            theirs = dvc_rows(dvc, roots["dvc"], what)
            if theirs != want:
                raise BenchError(f"dvc {what} diff main: {theirs} changed rows, expected {want}")
        found[what] = got
    return found


def measure(cmd: list[str], cwd: Path, runs: int, warmup: int) -> list[float]:
    times = []
    for i in range(warmup + runs):
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL)
        took = time.perf_counter() - start
        if proc.returncode != 0:
            raise BenchError(f"timed {' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
        if i >= warmup:
            times.append(took)
    return times


def version(cmd: list[str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return (proc.stdout or proc.stderr).strip().splitlines()[-1] if proc.returncode == 0 else "?"


def report(args: argparse.Namespace, graph: Any, rows: dict[str, int], figures: list[tuple[str, list[float]]],
           load: tuple[str, str], pivot: str, dvc: str | None) -> str:
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"## params / metrics diff vs a revision — {args.size} workload ({stamp})", "",
           f"{graph.P} pipelines x {graph.S} stages = {graph.P * graph.S} stages, each with a params section and a "
           f"metric file; every {EDIT_EVERY}th stage edited: {rows['params']} params and {rows['metrics']} metric "
           f"values changed ({'both tools report' if dvc else 'pivot-ci reports'} exactly these). "
           f"Whole-process wall seconds, median of {args.runs} "
           f"runs after {args.warmup} warm-up (min-max). Load average {load[0]} at start, {load[1]} at end; "
           f"{os.cpu_count()} CPUs, Python {platform.python_version()}; {version([pivot, '--version'])}"
           + (f"; DVC {version([dvc, '--version'])}" if dvc else "") + ".", "",
           "| command (cwd = workload root) | median s | min–max s |", "|---|---:|---:|"]
    for label, times in figures:
        out.append(f"| `{label}` | **{statistics.median(times):.3f}** | {min(times):.3f}–{max(times):.3f} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("small", "medium", "large", "xl"), default="large")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--pivot-ci", default=shutil.which("pivot") or "pivot", help="pivot-ci's `pivot`")
    parser.add_argument("--dvc", default=DEFAULT_DVC, help=f"DVC's `dvc` [{DEFAULT_DVC}]")
    parser.add_argument("--no-dvc", action="store_true", help="pivot-ci only")
    parser.add_argument("--gen", type=Path, default=DEFAULT_GEN)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, help="for the untimed repro")
    parser.add_argument("--out", type=Path, default=None, help="also write the Markdown report here")
    args = parser.parse_args(argv)
    dvc = None if args.no_dvc else args.dvc
    if dvc and not Path(dvc).exists() and not shutil.which(dvc):
        print(f"error: no DVC at {dvc} (--dvc PATH, or --no-dvc)", file=sys.stderr)
        return 2
    if args.workdir.resolve().is_relative_to(REPO):
        print("error: --workdir must lie outside the repository", file=sys.stderr)
        return 2
    try:
        gen = load_gen(args.gen)
        graph = gen.build_graph(**gen.SIZES[args.size])
        load_start = f"{os.getloadavg()[0]:.2f}"
        print(f"building {args.size} workloads in {args.workdir} ...", file=sys.stderr, flush=True)
        roots = build(gen, graph, args.workdir / args.size, args.pivot_ci, dvc, args.jobs)
        rows = check(graph, roots, args.pivot_ci, dvc)
        figures = []
        for what in ("metrics", "params"):
            pivot_cmd = [args.pivot_ci, what, "diff", "--all", "main"]
            figures.append((f"pivot {what} diff --all main", measure(pivot_cmd, roots["pivot"], args.runs,
                                                                     args.warmup)))
            if dvc:
                figures.append((f"dvc {what} diff main", measure([dvc, what, "diff", "main"], roots["dvc"],
                                                                 args.runs, args.warmup)))
    except BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    text = report(args, graph, rows, figures, (load_start, f"{os.getloadavg()[0]:.2f}"), args.pivot_ci, dvc)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
