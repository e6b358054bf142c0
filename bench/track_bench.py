#!/usr/bin/env python3
"""Benchmark `pivot track` and `pivot gc --dry-run` beside DVC 3.x (`dvc add`, `dvc gc`).

Operations (whole processes, cwd = the project; median of --runs counted runs after --warmup ones):

  track      `pivot track data`  vs `dvc add data`: a directory of --files files of --file-bytes random bytes,
             cold: before every run the cache, the pointer / .dvc file, the .gitignore and the hash memo (pivot's
             .pivot/state.db, DVC's site cache dir) are deleted (untimed)
  retrack    the same command after one file of the directory got new content (untimed), everything else
             unchanged since the previous track: the memo answers for the other files
  gc         `pivot gc --dry-run --grace 0` vs `dvc gc -w --dry -f` on the shared generator's workload (--gc-size)
             after --commits commits, each reproducing an edit of the manifest's edit_path
  gc-all     `pivot gc --dry-run --grace 0 --all-commits` vs `dvc gc -A --dry -f` on the same history

Correctness first: every timed command must exit 0, `pivot track` must leave a pointer whose `files` count is
--files, and pivot's gc plans are checked (the --all-commits plan removes nothing; the workspace plan keeps
every object the workspace needs). Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

REPO = pathlib.Path(__file__).resolve().parents[1]
# ../shared/bench/gen.py from the repository (from a worktree one level deeper, ../../shared)
DEFAULT_GEN = next((p / "shared" / "bench" / "gen.py" for p in REPO.parents[:2]
                    if (p / "shared" / "bench" / "gen.py").is_file()), REPO.parent / "shared" / "bench" / "gen.py")
DEFAULT_DVC = "/work/dvcvenv/bin/dvc"
DEFAULT_WORKDIR = pathlib.Path("/work/benchwork/track")
GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid", "GIT_COMMITTER_NAME": "bench",
           "GIT_COMMITTER_EMAIL": "bench@example.invalid", "GIT_CONFIG_NOSYSTEM": "1"}


class BenchError(Exception):
    pass


def sh(cmd: Sequence[str], cwd: pathlib.Path, log: pathlib.Path | None = None) -> None:
    """Run an untimed setup command; its output goes to `log`; a failure stops the benchmark."""
    with open(log or os.devnull, "ab") as out:
        proc = subprocess.run(list(cmd), cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                              env={**os.environ, **GIT_ENV}, check=False)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} (in {cwd}) exited {proc.returncode}" + (f"; see {log}" if log else ""))


def timed(cmd: Sequence[str], cwd: pathlib.Path) -> tuple[float, float]:
    """(wall seconds, user+system seconds of the children) of one whole process; a non-zero exit is an error."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(list(cmd), cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          env={**os.environ, **GIT_ENV}, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-800:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(cmd: Sequence[str], cwd: pathlib.Path, setup: Callable[[], None], runs: int,
            warmup: int) -> dict[str, float]:
    walls, cpus = [], []
    for i in range(warmup + runs):
        setup()
        wall, cpu = timed(cmd, cwd)
        if i >= warmup:
            walls.append(wall)
            cpus.append(cpu)
    return {"median": statistics.median(walls), "min": min(walls), "max": max(walls), "cpu": statistics.median(cpus)}


def remove(*paths: pathlib.Path) -> None:
    for p in paths:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)


# ---------------------------------------------------------------- track
def make_data(root: pathlib.Path, files: int, size: int) -> None:
    """`data/dNN/fNNNNN.bin`: random content, mtimes an hour old (outside both tools' racy-timestamp windows)."""
    per_dir = 100
    past = time.time() - 3600
    for i in range(files):
        path = root / "data" / f"d{i // per_dir:03d}" / f"f{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
        os.utime(path, (past, past))


def track_project(work: pathlib.Path, tool: str, pivot: str, dvc: str, files: int, size: int) -> pathlib.Path:
    root = work / f"track-{tool}"
    remove(root)
    root.mkdir(parents=True)
    sh(["git", "init", "-q"], root)
    if tool == "pivot":
        sh([pivot, "init", "-q"], root)
    else:
        sh([dvc, "init", "-q"], root)
        sh([dvc, "config", "core.site_cache_dir", str(root / ".dvc-site")], root)
        sh([dvc, "config", "core.analytics", "false"], root)
    make_data(root, files, size)
    return root


def bench_track(args: argparse.Namespace, tool: str, results: dict[str, dict[str, dict[str, float]]]) -> None:
    root = track_project(args.workdir, tool, args.pivot_ci, args.dvc, args.files, args.file_bytes)
    if tool == "pivot":
        cmd = [args.pivot_ci, "track", "data"]
        cold = [root / ".pivot/cache", root / ".pivot/state.db", root / ".pivot/state.db-wal",
                root / ".pivot/state.db-shm", root / "data.pvt", root / ".gitignore"]
    else:
        cmd = [args.dvc, "add", "-q", "data"]
        cold = [root / ".dvc/cache", root / ".dvc/tmp", root / ".dvc-site", root / "data.dvc", root / ".gitignore"]
    results["track"][tool] = measure(cmd, root, lambda: remove(*cold), args.runs, args.warmup)
    if tool == "pivot":
        pointer = (root / "data.pvt").read_text()
        if f"files: {args.files}\n" not in pointer:
            raise BenchError(f"pivot track recorded the wrong directory:\n{pointer}")
    counter = iter(range(10**9))

    def change_one() -> None:
        i = next(counter) % args.files
        path = root / "data" / f"d{i // 100:03d}" / f"f{i:05d}.bin"
        path.write_bytes(os.urandom(args.file_bytes))

    timed(cmd, root)  # the memo now knows every file
    results["retrack"][tool] = measure(cmd, root, change_one, args.runs, args.warmup)


# ---------------------------------------------------------------- gc
def gc_project(args: argparse.Namespace, tool: str) -> pathlib.Path:
    """The generator's workload after --commits commits (built once per size and count, then reused)."""
    root = args.workdir / f"gc-{tool}-{args.gc_size}-{args.commits}"
    stamp = root / ".bench-built"
    if stamp.exists():
        return root
    remove(root)
    log = args.workdir / f"gc-{tool}.log"
    remove(log)
    gen_tool = "pivot-yaml" if tool == "pivot" else "dvc"
    sh([sys.executable, str(args.gen), "--tool", gen_tool, "--size", args.gc_size, str(root)], args.workdir, log)
    manifest = json.loads((root / "bench-manifest.json").read_text())
    sh(["git", "init", "-q"], root, log)
    if tool == "pivot":
        (root / ".gitignore").write_text("".join(f"/{p}\n" for p in manifest["outputs"].values()))
        sh([args.pivot_ci, "init", "-q"], root, log)
        repro = [args.pivot_ci, "repro", "--all", "-q"]
    else:
        sh([args.dvc, "init", "-q"], root, log)
        sh([args.dvc, "config", "core.analytics", "false"], root, log)
        repro = [args.dvc, "repro", "-P", "-q"]
    edit = root / manifest["edit_path"]
    for i in range(args.commits):
        if i:
            with open(edit, "a") as f:
                f.write(f"edit {i}\n")
        sh(repro, root, log)
        sh(["git", "add", "-A"], root, log)
        sh(["git", "commit", "-q", "-m", f"commit {i + 1}"], root, log)
    stamp.write_text("")
    return root


def bench_gc(args: argparse.Namespace, tool: str, results: dict[str, dict[str, dict[str, float]]],
             plans: dict[str, str]) -> None:
    root = gc_project(args, tool)
    if tool == "pivot":
        ws = [args.pivot_ci, "gc", "--dry-run", "--grace", "0"]
        every = [*ws, "--all-commits"]
        for name, cmd in (("gc", ws), ("gc-all", every)):
            out = subprocess.run([*cmd, "--json"], cwd=root, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                raise BenchError(f"{' '.join(cmd)}: {out.stderr}")
            doc = json.loads(out.stdout)["cache"]
            if name == "gc-all" and doc["removed"]["objects"]:
                raise BenchError("gc --all-commits would remove objects a commit needs")
            kept = sum(t["objects"] for t in doc["kept"].values())
            plans[name] = f"{doc['objects']:,} objects: keeps {kept:,}, would remove {doc['removed']['objects']:,}"
    else:
        ws = [args.dvc, "gc", "-w", "--dry", "-f", "-q"]
        every = [args.dvc, "gc", "-A", "--dry", "-f", "-q"]
    results["gc"][tool] = measure(ws, root, lambda: None, args.runs, args.warmup)
    results["gc-all"][tool] = measure(every, root, lambda: None, args.runs, args.warmup)


# ---------------------------------------------------------------- report
LABELS = {
    "track": "`track` a directory of {files:,} × {kib} files (cold)",
    "retrack": "`track` it again after one file changed",
    "gc": "`gc --dry-run` workspace ({size}, {commits} commits)",
    "gc-all": "`gc --dry-run` every commit ({size}, {commits} commits)",
}
TARGETS = {"track": "≤ 0.5", "retrack": "≤ 0.2", "gc": "", "gc-all": ""}


def cell(m: dict[str, float] | None) -> str:
    return "—" if m is None else f"**{m['median']:.2f}** ({m['min']:.2f}–{m['max']:.2f}; cpu {m['cpu']:.2f})"


def report(args: argparse.Namespace, results: dict[str, dict[str, dict[str, float]]], plans: dict[str, str],
           load: tuple[str, str]) -> str:
    kib = f"{args.file_bytes / 1024:g} KiB"
    lines = [f"# pivot track / gc beside DVC — {time.strftime('%Y-%m-%d %H:%M %Z')}", "",
             f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
             f"load average {load[0]} at start, {load[1]} at end; median of {args.runs} runs after "
             f"{args.warmup} warm-up (min–max; cpu = user+system of the process and its children), seconds.", "",
             "| operation | pivot-ci | DVC | pivot-ci / DVC | target |", "|---|---:|---:|---:|---|"]
    for op, label in LABELS.items():
        row = results.get(op, {})
        if not row:
            continue
        ours, theirs = row.get("pivot"), row.get("dvc")
        ratio = f"{ours['median'] / theirs['median']:.2f}" if ours and theirs else "—"
        text = label.format(files=args.files, kib=kib, size=args.gc_size, commits=args.commits)
        lines.append(f"| {text} | {cell(ours)} | {cell(theirs)} | {ratio} | {TARGETS[op]} |")
    if plans:
        lines += ["", "pivot-ci's gc plans (`--grace 0`): "
                  + "; ".join(f"{'workspace' if k == 'gc' else 'every commit'}: {v}" for k, v in plans.items())]
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pivot-ci", default=shutil.which("pivot") or "pivot", help="pivot-ci's `pivot` [on PATH]")
    ap.add_argument("--dvc", default=DEFAULT_DVC, help=f"DVC's `dvc` [{DEFAULT_DVC}]")
    ap.add_argument("--no-dvc", action="store_true", help="time pivot-ci only")
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--file-bytes", type=int, default=4096)
    ap.add_argument("--gc-size", default="large", choices=["small", "medium", "large", "xl"])
    ap.add_argument("--commits", type=int, default=20)
    ap.add_argument("--only", choices=["track", "gc"], default=None, help="one half of the benchmark")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--workdir", type=pathlib.Path, default=DEFAULT_WORKDIR)
    ap.add_argument("--gen", type=pathlib.Path, default=DEFAULT_GEN)
    ap.add_argument("--out", type=pathlib.Path, default=None, help="also write the Markdown report here")
    ap.add_argument("--json", type=pathlib.Path, default=None, help="raw figures as JSON")
    args = ap.parse_args(argv)
    args.workdir = args.workdir.resolve()
    if REPO in (args.workdir, *args.workdir.parents):
        ap.error("--workdir must be outside the repository")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    tools = ["pivot"] + ([] if args.no_dvc else ["dvc"])
    results: dict[str, dict[str, dict[str, float]]] = {op: {} for op in LABELS}
    plans: dict[str, str] = {}
    load_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    try:
        for tool in tools:
            if args.only in (None, "track"):
                bench_track(args, tool, results)
            if args.only in (None, "gc"):
                bench_gc(args, tool, results, plans)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    text = report(args, results, plans, (load_start, " ".join(f"{x:.2f}" for x in os.getloadavg())))
    print(text, end="")
    if args.out:
        args.out.write_text(text)
    if args.json:
        args.json.write_text(json.dumps({"results": results, "plans": plans}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
