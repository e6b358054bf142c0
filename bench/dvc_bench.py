#!/usr/bin/env python3
"""DVC 3.x on the shared synthetic workload: the third column of bench/run.py's tables.

The same graph as bench/run.py's workloads, emitted for DVC (`gen.py --tool dvc`: one `dvc.yaml` per pipeline
directory), set up as ../shared/bench/README.md says (`git init`, `dvc init -q`), built once untimed with
`dvc repro -P` and checked against gen.py's expected outputs. Then, as whole processes (median of --runs after
--warmup):

  help    `dvc --help`
  status  `dvc status` with nothing changed (DVC's no-change check of every pipeline; it has no `verify`)
  edit    `dvc repro -P` after appending a line to the manifest's edit_path (the append timed alone and
          subtracted, as in bench/run.py); outputs checked against gen.py afterwards
  cold    (only with --cold) `dvc repro -P` from a cold project: `.dvc/cache`, `.dvc/tmp`, every dvc.lock and
          output deleted (the reset timed alone and subtracted). Slow: ~2 minutes a run at the large size.

Timing reuses bench/run.py's timers (builtin perf_counter, or `--timer CMD` / BENCH_TIMER). A step that takes
longer than --timeout seconds is reported as not finished, never as a figure.

    bench/dvc_bench.py --dvc /work/dvcvenv/bin/dvc --size medium --gen ../shared/bench/gen.py
    bench/dvc_bench.py --dvc /work/dvcvenv/bin/dvc --size xl --runs 3 --timeout 1200
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import run as bench_run  # noqa: E402  (bench/run.py: timers, gen.py loading, output checks)

DEFAULT_WORKDIR = pathlib.Path("/work/benchwork/dvc")


def _sh(cmd: Sequence[str], cwd: pathlib.Path, timeout: float) -> None:
    proc = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=timeout)
    if proc.returncode != 0:
        raise bench_run.BenchError(f"exit {proc.returncode} from `{shlex.join(cmd)}` in {cwd}: "
                                   f"{(proc.stderr or proc.stdout).strip()[-1500:]}")


def _scripts(root: pathlib.Path, scripts: pathlib.Path, manifest: dict[str, Any]) -> dict[str, pathlib.Path]:
    """cold reset, edit, and the edit's own cost on a scratch file; each ends with exec "$@"."""
    scripts.mkdir(parents=True, exist_ok=True)
    q = shlex.quote
    outs = " \\\n  ".join(q(p) for p in sorted(manifest["outputs"].values()))
    paths = {name: scripts / f"dvc-{name}.sh" for name in ("reset", "edit", "edit-dry")}
    paths["reset"].write_text(
        f"cd {q(str(root))} || exit 1\n"
        "rm -rf .dvc/cache .dvc/tmp\n"
        "find . -name dvc.lock -not -path './.git/*' -delete\n"
        f"rm -f -- \\\n  {outs}\n"
        'exec "$@"\n')
    append = "printf 'edit\\n' >> {} || exit 1\n"
    paths["edit"].write_text(f"cd {q(str(root))} || exit 1\n" + append.format(q(manifest["edit_path"]))
                             + 'exec "$@"\n')
    paths["edit-dry"].write_text(f"cd {q(str(root))} || exit 1\n"
                                 + append.format(q(str(scripts / "dvc-scratch.txt"))) + 'exec "$@"\n')
    return paths


def _row(label: str, m: bench_run.Measurement, setup: bench_run.Measurement | None) -> str:
    net = m.a.median - (setup.a.median if setup else 0.0)
    setup_cpu = (setup.a.cpu or 0.0) if setup is not None else 0.0
    cpu = "" if m.a.cpu is None else f"{m.a.cpu - setup_cpu:.3f}"
    return (f"| {label} | {net:.3f} | {m.a.min:.3f}–{m.a.max:.3f} | {cpu} | "
            f"{'' if setup is None else f'{setup.a.median:.3f}'} | {m.a.runs} |")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dvc", default="dvc", help="the dvc executable (default: dvc on PATH)")
    ap.add_argument("--size", choices=("small", "medium", "large", "xl"), default="medium")
    ap.add_argument("--gen", type=pathlib.Path, default=bench_run.DEFAULT_GEN)
    ap.add_argument("--workdir", type=pathlib.Path, default=DEFAULT_WORKDIR)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--cold", action="store_true", help="also time a cold `dvc repro -P` (slow)")
    ap.add_argument("--timeout", type=float, default=1200.0, help="seconds for any one step (default 1200)")
    ap.add_argument("--timer", default=os.environ.get("BENCH_TIMER"), metavar="CMD")
    ap.add_argument("--out", type=pathlib.Path, help="also write the Markdown report here")
    args = ap.parse_args(argv)
    try:
        return _bench(args)
    except bench_run.BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _bench(args: argparse.Namespace) -> int:
    load_start = bench_run.load_avg()
    dvc = bench_run.resolve_exe(args.dvc, "dvc")
    workdir = bench_run.check_workdir(args.workdir)
    gen = bench_run.load_gen(args.gen)
    params = dict(gen.SIZES[args.size])
    root, scripts = workdir / args.size / "dvc", workdir / args.size / "scripts"
    wl = bench_run.Workload("dvc", "dvc", dvc, False, root, scripts)
    manifest = bench_run.generate(args.gen, wl, params, 0)
    paths = _scripts(root, scripts, manifest)
    began = time.monotonic()
    for cmd in (["git", "init", "-q"], [dvc, "init", "-q"], [dvc, "repro", "-P", "-q"]):
        _sh(cmd, root, args.timeout)
    build = time.monotonic() - began
    bench_run.check_outputs(gen, wl, manifest)
    print(f"built {manifest['stages']} stages with dvc repro -P in {build:.1f} s (untimed); outputs correct",
          file=sys.stderr)
    timer: bench_run.Timer = (bench_run.ExternalTimer(shlex.split(args.timer)) if args.timer
                              else bench_run.BuiltinTimer())
    rows: list[str] = []
    failed: list[str] = []

    def timed(label: str, cmd: list[str], setup: list[str] | None = None) -> None:
        try:
            # the setup alone first: the cold reset deletes what the timed command then rebuilds
            s = timer.measure(setup, root, args.runs, args.warmup, args.timeout) if setup else None
            m = timer.measure(cmd, root, args.runs, args.warmup, args.timeout)
        except (bench_run.BenchError, subprocess.TimeoutExpired) as exc:
            failed.append(f"{label}: not finished ({str(exc).splitlines()[0][:200]})")
            return
        rows.append(_row(label, m, s))

    timed("`dvc --help`", [dvc, "--help"])
    timed("no-change `dvc status`", [dvc, "status"])
    timed("edit → `dvc repro -P`", ["bash", str(paths["edit"]), dvc, "repro", "-P", "-q"],
          ["bash", str(paths["edit-dry"]), "true"])
    bench_run.check_outputs(gen, wl, manifest)
    if args.cold:
        timed("cold `dvc repro -P`", ["bash", str(paths["reset"]), dvc, "repro", "-P", "-q"],
              ["bash", str(paths["reset"]), "true"])
        bench_run.check_outputs(gen, wl, manifest)
    version = bench_run.dist_version(dvc, "dvc")
    lines = [
        f"DVC {version} on gen.py `--size {args.size}` ({manifest['stages']} stages; the edit invalidates "
        f"{manifest['affected_by_edit']}), in {root}; untimed build {build:.1f} s.",
        f"{args.runs} counted runs after {args.warmup} warm-up, whole-process wall seconds (setup subtracted "
        f"where given); timer: {timer.name}. Load average {load_start} at start, {bench_run.load_avg()} at end.",
        "", "| operation | median s | min–max s | cpu s | setup s (subtracted) | runs |",
        "|---|---:|---:|---:|---:|---:|", *rows, *(f"\n{f}" for f in failed)]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
