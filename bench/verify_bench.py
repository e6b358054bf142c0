#!/usr/bin/env python3
"""What verifying cache objects costs: every object is re-hashed before it is restored into the workspace and
before it is uploaded to a remote ("one extra read"), on the shared synthetic workload
(`../shared/bench/gen.py --tool pivot-yaml`).

Rows, each timed for the pivot under test and, with --baseline, for another pivot (e.g. a build from before
verification existed, installed in its own venv):

- cold `repro --all`: a fresh copy of the generated workload (no cache, no outputs) per run. Nothing is restored
  here; the row shows what the checks before each stage cost (its outputs' links cut, leftovers removed).
- `checkout --all` and `checkout --all --link hardlink`: the built workload with every output deleted, restored
  from the cache: each object is re-hashed once before it is placed.
- `push --all`: the built workload pushed into a new, empty directory remote: each object is re-hashed before
  its upload.
- `verify --all` with every output deleted: an output counts as available only when its object hashes to its
  name; objects are hashed through the memo, which a fresh copy does not have (the first run after a cache is
  restored, as in CI): each object is read once.
- `hash every cache object`: the extra read itself, in-process (xxh3-128 over every object of the cache, warm
  page cache): what verification adds to checkout and push at most.

Every command figure is the whole process's wall time (start-up and discovery included), median and min-max of
--runs counted runs after --warmup uncounted ones; preparing each run is untimed. Before timing, one untimed
pass checks that the outputs are byte-identical to the generated ones after each command.

    bench/verify_bench.py                                  # medium, `pivot` on PATH, 5 runs
    bench/verify_bench.py --baseline /work/benchwork/baseline-venv/bin/pivot --out /tmp/verify.md
    bench/verify_bench.py --size small --runs 1 --warmup 0 # a quick check that it works
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from run_cache_bench import BenchError, measure, run  # the same helpers (bench/ is on sys.path when run)

REPO = Path(__file__).resolve().parents[1]


def outputs_of(root: Path, manifest: dict[str, Any]) -> dict[str, bytes]:
    return {p: (root / p).read_bytes() for p in manifest["outputs"].values()}


def remove_outputs(root: Path, manifest: dict[str, Any]) -> None:
    for rel in manifest["outputs"].values():
        (root / rel).unlink(missing_ok=True)


def hash_objects(cache: Path) -> float:
    """Seconds to hash every object of `cache` once (the read verification adds), warm page cache."""
    import xxhash  # a pivot-ci dependency

    objects = [p for p in (cache / "files").rglob("*") if p.is_file()]
    for p in objects:  # warm the page cache, as a checkout right after a build finds it
        p.read_bytes()
    start = time.perf_counter()
    for p in objects:
        with open(p, "rb", buffering=0) as f:
            h = xxhash.xxh3_128()
            while chunk := f.read(1 << 20):
                h.update(chunk)
            h.hexdigest()
    return time.perf_counter() - start


class Workload:
    """The generated sources (`src`), a built copy (`built`) and scratch copies for each run."""

    def __init__(self, gen: Path, work: Path, size: str, pivot: str) -> None:
        self.work = work
        shutil.rmtree(work, ignore_errors=True)
        self.src = work / "src"
        subprocess.run([sys.executable, str(gen), "--tool", "pivot-yaml", "--size", size, str(self.src)],
                       check=True, stdout=subprocess.DEVNULL)
        self.manifest: dict[str, Any] = json.loads((self.src / "bench-manifest.json").read_text())
        (self.src / ".pivot").mkdir()
        self.built = work / "built"
        shutil.copytree(self.src, self.built, symlinks=True)
        run([pivot, "repro", "--all"], self.built)
        self.expected = outputs_of(self.built, self.manifest)
        self.scratch = work / "run"

    def fresh(self) -> Path:
        """A copy of the unbuilt sources."""
        shutil.rmtree(self.scratch, ignore_errors=True)
        shutil.copytree(self.src, self.scratch, symlinks=True)
        return self.scratch

    def without_outputs(self) -> Path:
        """A copy of the built workload whose outputs are all deleted (the cache holds them)."""
        shutil.rmtree(self.scratch, ignore_errors=True)
        shutil.copytree(self.built, self.scratch, symlinks=True)
        remove_outputs(self.scratch, self.manifest)
        return self.scratch

    def with_empty_remote(self) -> Path:
        shutil.rmtree(self.scratch, ignore_errors=True)
        shutil.copytree(self.built, self.scratch, symlinks=True)
        remote = self.work / "remote"
        shutil.rmtree(remote, ignore_errors=True)
        config = self.scratch / ".pivot/config.yaml"
        config.write_text(f"default: bench\nremotes:\n  bench: {{url: {remote}}}\n")
        return self.scratch


def rows(workload: Workload) -> list[tuple[str, Callable[[], Path], list[str], bool]]:
    """(row, prepare, pivot arguments, whether the outputs are checked after it)."""
    return [
        ("cold `repro --all`", workload.fresh, ["repro", "--all"], True),
        ("`checkout --all` (all outputs deleted)", workload.without_outputs, ["checkout", "--all"], True),
        ("`checkout --all --link hardlink`", workload.without_outputs, ["checkout", "--all", "--link", "hardlink"],
         True),
        ("`push --all` (empty directory remote)", workload.with_empty_remote, ["push", "--all"], False),
        ("`verify --all` (all outputs deleted)", workload.without_outputs, ["verify", "--all"], False),
    ]


def check(workload: Workload, pivot: str) -> None:
    for name, prepare, args, compare in rows(workload):
        cwd = prepare()
        run([pivot, *args], cwd)
        if compare and outputs_of(cwd, workload.manifest) != workload.expected:
            raise BenchError(f"{name} with {pivot}: outputs differ from the generated ones")


def fmt(times: list[float], digits: int = 2) -> str:
    return f"**{statistics.median(times):.{digits}f}** ({min(times):.{digits}f}–{max(times):.{digits}f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=("small", "medium", "large"), default="medium")
    ap.add_argument("--pivot", default=shutil.which("pivot") or "pivot", help="the pivot under test")
    ap.add_argument("--baseline", default=None, help="another pivot to time alongside (e.g. without verification)")
    ap.add_argument("--workdir", type=Path, default=Path("/work/benchwork/verify"))
    ap.add_argument("--gen", type=Path, default=REPO.parent / "shared/bench/gen.py")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="write the Markdown report here too")
    ap.add_argument("--json", type=Path, default=None, help="raw figures")
    args = ap.parse_args()
    work = args.workdir.resolve()
    if work.is_relative_to(REPO) or any((d / ".pivot").is_dir() for d in (work, *work.parents)):
        print(f"error: --workdir {work} is inside the repository or a pivot project", file=sys.stderr)
        return 2
    pivots = [("this build", args.pivot)] + ([("baseline", args.baseline)] if args.baseline else [])
    load_before = os.getloadavg()
    try:
        workload = Workload(args.gen, work, args.size, args.pivot)
        for _, pivot in pivots:
            check(workload, pivot)
        figures: dict[str, dict[str, list[float]]] = {}
        for name, prepare, cmd, _ in rows(workload):
            figures[name] = {label: measure(args.runs, args.warmup, prepare, [pivot, *cmd])
                             for label, pivot in pivots}
        hashing = [hash_objects(workload.built / ".pivot/cache") for _ in range(args.runs)]
    except BenchError as exc:
        print(f"check failed: {exc}", file=sys.stderr)
        return 1
    objects = [p for p in (workload.built / ".pivot/cache/files").rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in objects)
    head = ["operation", *(label for label, _ in pivots)] + (["this build / baseline"] if args.baseline else [])
    lines = [
        f"# Verification cost — {datetime.datetime.now():%Y-%m-%d %H:%M}",
        "",
        f"`bench/verify_bench.py --size {args.size} --runs {args.runs}`; {platform.node()}, {os.cpu_count()} CPUs, "
        f"load {load_before[0]:.1f} → {os.getloadavg()[0]:.1f}; cache: {len(objects)} objects, {size / 1e6:.1f} MB. "
        "Whole-process wall seconds, median (min–max).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for name, by in figures.items():
        cells = [fmt(by[label]) for label, _ in pivots]
        if args.baseline:
            cells.append(f"{statistics.median(by['this build']) / statistics.median(by['baseline']):.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| hash every cache object (in-process) | " + " | ".join([fmt(hashing, 3)] + [""] * (len(head) - 2))
                 + " |")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report)
    if args.json:
        args.json.write_text(json.dumps({"figures": figures, "hash_objects": hashing}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
