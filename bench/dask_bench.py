#!/usr/bin/env python3
"""The Dask executor next to the local one, on one machine: one scheduler and two local workers.

Two measurements, both whole `pivot` processes, medians of --runs after --warmup:

  overhead  cold `pivot repro --all -j J` of the shared workload (../shared/bench/gen.py, default medium: 200
            stages of trivial work), with the local executor and with `--executor dask`, run in turn (A B A B);
            the reset (delete state and outputs, `pivot init`) is timed alone and subtracted. The fixed
            cost of a cluster run (importing `distributed`, connecting, pre-flight, closing) is measured on
            a one-stage project (`repro -f`, both executors, in turn) and taken out: per-stage overhead =
            ((dask - local) - fixed) / stages. Target: <= 20 ms a stage.
  sleep     N stages of `sleep 1` (default 20), all independent, `pivot repro -f -j 4` across the two workers
            (2 threads each). Target: <= 6 s for 20 stages (the ideal is 5 s); the local executor beside it.

Every workload is first run once untimed on both executors and its outputs compared with gen.py's expected
outputs. Needs pivot-ci with the `dask` (or `dev`) extra in the Python that runs this script; the cluster
is started from that environment's `dask` CLI (tests/support/dask_cluster.py) and stopped at the end.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import platform
import shutil
import sys
from collections.abc import Sequence
from types import ModuleType

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.dask_cluster import Cluster, WorkerSpec  # noqa: E402


def _load_run() -> ModuleType:
    """bench/run.py: the workload generator's driver, reset scripts, output checks and timer."""
    spec = importlib.util.spec_from_file_location("pivot_bench_run", REPO / "bench" / "run.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


run = _load_run()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pivot-ci", default="pivot", metavar="PATH", help="pivot-ci's `pivot` (default: on PATH)")
    ap.add_argument("--size", choices=["small", "medium", "large"], default="medium")
    ap.add_argument("--tools", default="pivot-yaml,pivot-ci-py",
                    help="gen.py tools to time: pivot-yaml (cmd stages), pivot-ci-py (Python stages)")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="repro -j for both executors (default 2)")
    ap.add_argument("--sleep-stages", type=int, default=20)
    ap.add_argument("--sleep-jobs", type=int, default=4)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--workdir", type=pathlib.Path, default=pathlib.Path("/work/benchwork/dask"))
    ap.add_argument("--gen", type=pathlib.Path, default=run.DEFAULT_GEN)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=pathlib.Path, help="also write the Markdown report here")
    return ap.parse_args(argv)


def _repro(wl: object, extra: list[str]) -> list[str]:
    return [*wl.repro(), *extra]  # type: ignore[attr-defined]


def fixed_cost(args: argparse.Namespace, exe: str, dask: list[str], root: pathlib.Path) -> float:
    """Median seconds a one-stage `repro -f` takes longer on the cluster than locally."""
    proj = sleep_project(root / "one", 1, "true")
    base = [exe, "repro", "-f"]
    run.run_checked([*base, *dask], proj, root / "one-check.log", "one stage on the cluster")
    m = run.BuiltinTimer().measure(base, proj, args.runs, args.warmup, 600, vs=[*base, *dask])
    assert m.b is not None
    return float(m.b.median - m.a.median)


def overhead(args: argparse.Namespace, gen: ModuleType, exe: str, dask: list[str], root: pathlib.Path,
             fixed: float) -> list[str]:
    """Rows of the overhead table, one per tool."""
    rows = []
    for tool in args.tools.split(","):
        wl = run.Workload(tool, tool, exe, True, root / tool, root / "scripts", args.jobs)
        manifest = run.generate(args.gen, wl, dict(gen.SIZES[args.size]), args.seed)
        run.write_scripts(wl, manifest)
        stages = len(manifest["outputs"])
        log = root / f"{tool}-check.log"
        log.write_text("")
        for extra in ([], dask):  # untimed, checked: both executors build the right outputs
            run.run_checked(["bash", str(wl.reset_sh), *_repro(wl, extra)], wl.root, log, f"cold repro {extra}")
            run.check_outputs(gen, wl, manifest)
        local = ["bash", str(wl.reset_sh), *_repro(wl, [])]
        remote = ["bash", str(wl.reset_sh), *_repro(wl, dask)]
        timer = run.BuiltinTimer()
        setup = timer.measure(["bash", str(wl.reset_sh), "true"], wl.root, args.runs, args.warmup, 600).a
        both = timer.measure(local, wl.root, args.runs, args.warmup, 3600, vs=remote)
        run.check_outputs(gen, wl, manifest)
        assert both.b is not None
        lo, da = both.a.median - setup.median, both.b.median - setup.median
        rows.append(f"| {tool} | {stages} | {lo:.2f} | {da:.2f} | {(da - lo - fixed) / stages * 1000:.1f} | "
                    f"{both.a.min - setup.median:.2f}–{both.a.max - setup.median:.2f} / "
                    f"{both.b.min - setup.median:.2f}–{both.b.max - setup.median:.2f} |")
    return rows


def sleep_project(root: pathlib.Path, n: int, work: str = "sleep 1") -> pathlib.Path:
    """`n` independent stages running `work`, each writing one output."""
    if root.exists():
        shutil.rmtree(root)
    (root / ".pivot").mkdir(parents=True)
    lines = ["stages:"] + [f"  s{i:02d}:\n    cmd: {work} && echo {i} > o{i:02d}.txt\n    outs: [o{i:02d}.txt]"
                           for i in range(n)]
    (root / "pivot.yaml").write_text("\n".join(lines) + "\n")
    return root


def sleeps(args: argparse.Namespace, exe: str, dask: list[str], root: pathlib.Path) -> list[str]:
    proj = sleep_project(root / "sleep", args.sleep_stages)
    base = [exe, "repro", "-f", "-j", str(args.sleep_jobs)]
    run.run_checked([*base, *dask], proj, root / "sleep-check.log", "sleep stages on the cluster")
    m = run.BuiltinTimer().measure(base, proj, args.runs, args.warmup, 3600, vs=[*base, *dask])
    assert m.b is not None
    return [f"| local, -j {args.sleep_jobs} | {m.a.median:.2f} | {m.a.min:.2f}–{m.a.max:.2f} |",
            f"| dask, 2 workers × 2 threads, -j {args.sleep_jobs} | {m.b.median:.2f} | {m.b.min:.2f}–{m.b.max:.2f} |"]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load_start = run.load_avg()
    exe = run.resolve_exe(args.pivot_ci, "pivot-ci")
    root = run.check_workdir(args.workdir)
    root.mkdir(parents=True, exist_ok=True)
    gen = run.load_gen(args.gen)
    cluster = Cluster([WorkerSpec("w1", nthreads=2), WorkerSpec("w2", nthreads=2)]).start()
    try:
        dask = ["--executor", "dask", "--scheduler", cluster.address]
        fixed = fixed_cost(args, exe, dask, root)
        rows = overhead(args, gen, exe, dask, root, fixed)
        sleep_rows = sleeps(args, exe, dask, root)
    finally:
        cluster.close()
    report = "\n".join([
        f"Dask executor vs local: one scheduler + two workers (2 threads each) on this machine; {args.runs} runs "
        f"after {args.warmup} warm-up, medians, whole-process wall seconds, local and dask run in turn.",
        f"Machine: {os.cpu_count()} CPUs, {platform.platform()}, pivot-ci {run.dist_version(exe, 'pivot-ci')}, "
        f"distributed {run.dist_version(exe, 'distributed')}. Load average at start {load_start}, at end "
        f"{run.load_avg()}.",
        "",
        f"Fixed cost of a cluster run (one-stage `repro -f`, dask minus local): {fixed:.2f} s.",
        "",
        f"Cold `repro --all -j {args.jobs}` of the `{args.size}` workload (reset timed alone and subtracted; "
        "overhead per stage with the fixed cost taken out):",
        "",
        "| workload | stages | local s | dask s | dask overhead ms/stage | min–max local / dask |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"{args.sleep_stages} independent stages of `sleep 1`, `repro -f -j {args.sleep_jobs}`:",
        "",
        "| executor | median s | min–max s |",
        "|---|---|---|",
        *sleep_rows,
    ])
    print(report)
    if args.out:
        args.out.write_text(report + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except run.BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
