#!/usr/bin/env python3
"""Benchmark pivot-ci against upstream pivot 0.5.11 on the shared synthetic workload.

Three workloads are generated with the peer generator (../shared/bench/gen.py, called by path, never copied):

  pivot-yaml   pKK/pivot.yaml, shell `cmd` stages          -> timed with pivot-ci (--pivot-ci)
  pivot-ci-py  pKK/pipeline.py, Python @pipeline.stage     -> timed with pivot-ci (--pivot-ci)
  upstream     pKK/pipeline.py for upstream pivot 0.5.11   -> timed with upstream (--upstream)

and for each, four operations are timed as whole processes (several runs, median quoted), and the peak RSS
of status and verify is taken (the largest of three runs):

  cold    `pivot repro --all` from a cold project: every .pivot/ dir, __pycache__ dir, .pivotignore and
          generated output deleted, then `pivot init` (the reset is timed on its own and subtracted)
  status  `pivot status --all` with nothing changed
  verify  `pivot verify --all` with nothing changed
  edit    `pivot repro --all` after appending a line to the manifest's `edit_path` (the append is timed on
          its own and subtracted)

For each pivot-ci workload, a fifth case: CI on a fresh clone, `verify --all --allow-missing` against a
directory remote the workload was pushed to (bench/fresh_clone.py); with `--dvc PATH`, `dvc status -c` in a
`git clone` of the same graph built by DVC beside it.

Before anything is timed, every workload is run once untimed and every output is compared with gen.py's
`expected_outputs` (after the cold build and after the edit); outputs are checked again after the timed
runs. A workload with a wrong or missing output, or a non-zero exit, is reported as FAILED, never timed.

Timing: by default an in-process timer (subprocess + perf_counter, stdlib only). `--timer CMD` (or the
BENCH_TIMER environment variable) hands timing to an external whole-process timer instead, called as
`CMD -n RUNS --warmup N --timeout S [--vs 'B'] -- COMMAND...` and expected to print rows
`A wall s MIN MEDIAN MAX` (and `B ...`, `A/B wall ...` with --vs) and `A exit 0 (k of k)`.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import os
import pathlib
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import fresh_clone  # bench/fresh_clone.py: this script's directory is on sys.path

REPO = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_GEN = REPO.parent / "shared" / "bench" / "gen.py"
DEFAULT_UPSTREAM = "/work/pv13/bin/pivot"
DEFAULT_WORKDIR = pathlib.Path("/work/benchwork")

OPS: tuple[str, ...] = ("cold", "status", "verify", "edit", "fresh")
OP_LABELS: dict[str, str] = {
    "cold": "cold `repro --all`",
    "status": "no-change `status --all`",
    "verify": "no-change `verify --all`",
    "edit": "edit → `repro --all`",
    "fresh": "fresh clone `verify --all --allow-missing`",
}
RSS_OPS = ("status", "verify")
# runs a command and prints its exit status and the peak RSS (KiB) of the largest process it waited for
_RSS_HELPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,"
    " stderr=subprocess.DEVNULL).returncode\n"
    "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


class BenchError(Exception):
    """A problem that stops one workload (or the whole run) with a message."""


# ---------------------------------------------------------------- workloads
@dataclasses.dataclass(frozen=True)
class Workload:
    name: str  # label in the table and directory name
    gen_tool: str  # gen.py --tool
    exe: str  # the `pivot` executable that runs it
    ours: bool  # pivot-ci (True) or upstream (False)
    root: pathlib.Path  # generated workload directory
    scripts: pathlib.Path  # helper scripts directory (outside the workload)
    jobs: int | None = None  # -j for `repro` (pivot-ci only)

    @property
    def reset_sh(self) -> pathlib.Path:
        return self.scripts / f"{self.name}-reset.sh"

    @property
    def edit_sh(self) -> pathlib.Path:
        return self.scripts / f"{self.name}-edit.sh"

    @property
    def edit_dry_sh(self) -> pathlib.Path:
        return self.scripts / f"{self.name}-edit-dry.sh"

    def repro(self) -> list[str]:
        cmd = [self.exe, "repro", "--all"]
        if self.ours and self.jobs is not None:
            cmd += ["-j", str(self.jobs)]
        return cmd

    def command(self, op: str) -> list[str]:
        """The timed command for `op` (run with cwd = the workload root)."""
        if op == "cold":
            return ["bash", str(self.reset_sh), *self.repro()]
        if op == "edit":
            return ["bash", str(self.edit_sh), *self.repro()]
        if op in ("status", "verify"):
            return [self.exe, op, "--all"]
        raise ValueError(op)

    def setup_command(self, op: str) -> list[str] | None:
        """What `command(op)` does besides the measured operation, timed alone and subtracted."""
        if op == "cold":
            return ["bash", str(self.reset_sh), "true"]
        if op == "edit":
            return ["bash", str(self.edit_dry_sh), "true"]
        return None


def load_gen(path: pathlib.Path) -> ModuleType:
    """Import gen.py from its path (registered in sys.modules: its dataclasses need that)."""
    spec = importlib.util.spec_from_file_location("pivot_bench_gen", path)
    if spec is None or spec.loader is None:
        raise BenchError(f"cannot import {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def generate(gen_path: pathlib.Path, wl: Workload, params: dict[str, int], seed: int) -> dict[str, Any]:
    if wl.root.exists():
        shutil.rmtree(wl.root)
    flags = [x for f in "PSFB" for x in (f"-{f}", str(params[f]))]
    cmd = [sys.executable, str(gen_path), "--tool", wl.gen_tool, *flags, "--seed", str(seed), str(wl.root)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError(f"gen.py failed for {wl.name}: {proc.stderr.strip()[-2000:]}")
    manifest: dict[str, Any] = json.loads((wl.root / "bench-manifest.json").read_text())
    return manifest


def write_scripts(wl: Workload, manifest: dict[str, Any]) -> None:
    """reset.sh (cold state + `pivot init`), edit.sh (append to edit_path), edit-dry.sh (same cost, scratch file)."""
    wl.scripts.mkdir(parents=True, exist_ok=True)
    q = shlex.quote
    outputs = sorted(manifest["outputs"].values())
    rm_outs = " \\\n  ".join(q(p) for p in outputs)
    wl.reset_sh.write_text(
        f"# cold reset of {wl.name}: no .pivot/, __pycache__, .pivotignore or output left;\n"
        '# `pivot init`; then exec "$@"\n'
        f"cd {q(str(wl.root))} || exit 1\n"
        "find . -name .pivot -type d -prune -exec rm -rf {} + || exit 1\n"
        "find . -name __pycache__ -type d -prune -exec rm -rf {} + || exit 1\n"
        "rm -f .pivotignore\n"
        f"rm -f -- \\\n  {rm_outs}\n"
        "find . -mindepth 1 -depth -type d -empty -delete\n"
        f"{q(wl.exe)} init >/dev/null || exit 1\n"
        'exec "$@"\n'
    )
    edit = "printf 'edit\\n' >> {} || exit 1\n"
    wl.edit_sh.write_text(
        f'# edit case of {wl.name}: append a line to the manifest\'s edit_path, then exec "$@"\n'
        f"cd {q(str(wl.root))} || exit 1\n" + edit.format(q(manifest["edit_path"])) + 'exec "$@"\n'
    )
    wl.edit_dry_sh.write_text(
        "# the edit script's own cost, on a scratch file (timed alone and subtracted)\n"
        f"cd {q(str(wl.root))} || exit 1\n" + edit.format(q(str(wl.scripts / f"{wl.name}-scratch.txt"))) + 'exec "$@"\n'
    )


def check_outputs(gen: ModuleType, wl: Workload, manifest: dict[str, Any]) -> None:
    """Every stage output must equal gen.expected_outputs for the inputs now on disk."""
    graph = gen.build_graph(
        manifest["P"], manifest["S"], manifest["F"], manifest["B"], manifest["cross"], manifest["seed"]
    )
    expected: dict[str, str] = gen.expected_outputs(graph, wl.root)
    missing, wrong = [], []
    for sid, rel in manifest["outputs"].items():
        p = wl.root / rel
        if not p.is_file():
            missing.append(rel)
        elif p.read_text() != expected[sid]:
            wrong.append(rel)
    if missing or wrong:
        raise BenchError(
            f"{wl.name}: {len(missing)} missing and {len(wrong)} wrong outputs of {len(expected)}"
            f" (e.g. {(missing + wrong)[:3]})"
        )


# ---------------------------------------------------------------- timers
@dataclasses.dataclass
class Stats:
    min: float
    median: float
    max: float
    runs: int
    cpu: float | None = None  # median user + sys seconds of the processes waited for (None for ratios)


@dataclasses.dataclass
class Measurement:
    a: Stats
    b: Stats | None = None  # the --vs command, when paired
    ratio: Stats | None = None  # A/B wall, pair by pair


class Timer:
    name = "builtin"

    def measure(
        self,
        cmd: Sequence[str],
        cwd: pathlib.Path,
        runs: int,
        warmup: int,
        timeout: float,
        vs: Sequence[str] | None = None,
    ) -> Measurement:
        raise NotImplementedError


class BuiltinTimer(Timer):
    """Wall clock of whole processes (output discarded), warm-up runs first; A B A B ... when paired."""

    name = "builtin (perf_counter)"

    @staticmethod
    def _once(cmd: Sequence[str], cwd: pathlib.Path, deadline: float) -> tuple[float, float]:
        """(wall, cpu) seconds of one run.

        The child is reaped by a blocking `os.wait4` (its rusage: the process and what it waited for), and a
        timer thread kills it at the deadline. Not `subprocess.run(timeout=...)`: that polls with sleeps of up
        to 50 ms, which rounds every figure up to the next poll.
        """
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd), cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            proc.kill()

        killer = threading.Timer(max(1.0, deadline - time.monotonic()), expire)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        if expired.is_set():
            raise subprocess.TimeoutExpired(list(cmd), deadline)
        if proc.returncode != 0:
            raise BenchError(f"exit {proc.returncode} from {shlex.join(cmd)}")
        return wall, usage.ru_utime + usage.ru_stime

    def measure(
        self,
        cmd: Sequence[str],
        cwd: pathlib.Path,
        runs: int,
        warmup: int,
        timeout: float,
        vs: Sequence[str] | None = None,
    ) -> Measurement:
        deadline = time.monotonic() + timeout
        a: list[tuple[float, float]] = []
        b: list[tuple[float, float]] = []
        try:
            for i in range(warmup + runs):
                ta = self._once(cmd, cwd, deadline)
                tb = self._once(vs, cwd, deadline) if vs is not None else None
                if i >= warmup:
                    a.append(ta)
                    if tb is not None:
                        b.append(tb)
        except subprocess.TimeoutExpired as e:
            raise BenchError(f"timed out after {timeout:.0f} s: {shlex.join(cmd)}") from e

        def stats(xs: list[tuple[float, float]]) -> Stats:
            walls = [w for w, _ in xs]
            return Stats(min(walls), statistics.median(walls), max(walls), len(xs), statistics.median(c for _, c in xs))

        if vs is None:
            return Measurement(stats(a))
        ratios = [x[0] / y[0] for x, y in zip(a, b, strict=True)]
        return Measurement(stats(a), stats(b), Stats(min(ratios), statistics.median(ratios), max(ratios), len(ratios)))


class ExternalTimer(Timer):
    """Hands each measurement to an external whole-process timer and parses its median rows."""

    ROW = re.compile(r"^(A/B|A|B) (wall|cpu)(?: s)?\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s*$")
    EXIT = re.compile(r"^(A|B) exit (.*)$")
    EXIT_OK = re.compile(r"^0 \((\d+) of (\d+)\)")

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.name = f"external ({shlex.join(argv)})"
        self.log: pathlib.Path | None = None

    def measure(
        self,
        cmd: Sequence[str],
        cwd: pathlib.Path,
        runs: int,
        warmup: int,
        timeout: float,
        vs: Sequence[str] | None = None,
    ) -> Measurement:
        full = [*self.argv, "-n", str(runs), "--warmup", str(warmup), "--timeout", str(math.ceil(timeout))]
        if vs is not None:
            full += ["--vs", shlex.join(vs)]
        full += ["--", *cmd]
        proc = subprocess.run(full, cwd=cwd, capture_output=True, text=True, timeout=timeout + 120)
        if self.log is not None:
            with self.log.open("a") as f:
                f.write(f"$ (cd {shlex.quote(str(cwd))} && {shlex.join(full)})\n{proc.stdout}{proc.stderr}\n")
        if proc.returncode != 0:
            raise BenchError(
                f"timer exit {proc.returncode} for {shlex.join(cmd)}: {(proc.stderr or proc.stdout).strip()[-1500:]}"
            )
        rows: dict[str, Stats] = {}
        cpu: dict[str, float] = {}
        exits: dict[str, str] = {}
        for line in proc.stdout.splitlines():
            if m := self.ROW.match(line.strip()):
                if m[2] == "wall":
                    rows[m[1]] = Stats(float(m[3]), float(m[4]), float(m[5]), runs)
                elif m[1] != "A/B":
                    cpu[m[1]] = float(m[4])
            elif m := self.EXIT.match(line.strip()):
                exits[m[1]] = m[2]
        for side in ("A", "B") if vs is not None else ("A",):
            status = exits.get(side, "(no exit line)")
            ok = self.EXIT_OK.match(status)
            if not ok or ok[1] != ok[2]:
                raise BenchError(
                    f"{side} did not exit 0 on every run ({status}): {shlex.join(cmd if side == 'A' else vs or [])}"
                )
            if side not in rows:
                raise BenchError(f"no '{side} wall' row in the timer's output:\n{proc.stdout[-1500:]}")
            rows[side].runs = int(ok[2])
            rows[side].cpu = cpu.get(side)
        return Measurement(rows["A"], rows.get("B"), rows.get("A/B"))


# ---------------------------------------------------------------- running
@dataclasses.dataclass
class OpResult:
    whole: Measurement  # the timed command as a whole
    setup: Stats | None  # its setup timed alone (subtracted), if any

    @property
    def net(self) -> float:
        return self.whole.a.median - (self.setup.median if self.setup else 0.0)


@dataclasses.dataclass
class WorkloadResult:
    wl: Workload
    manifest: dict[str, Any]
    ops: dict[str, OpResult] = dataclasses.field(default_factory=dict)
    error: str | None = None
    estimate: dict[str, float] = dataclasses.field(default_factory=dict)  # untimed pass, seconds
    rss: dict[str, int] = dataclasses.field(default_factory=dict)  # peak RSS KiB of status / verify


def peak_rss_kib(cmd: Sequence[str], cwd: pathlib.Path) -> int:
    """Peak RSS of `cmd` (its largest process), measured in a fresh helper process that waits for nothing else."""
    proc = subprocess.run([sys.executable, "-c", _RSS_HELPER, *cmd], cwd=cwd, capture_output=True, text=True)
    fields = proc.stdout.split()
    if proc.returncode != 0 or len(fields) != 2 or fields[0] != "0":
        raise BenchError(f"peak RSS of `{shlex.join(cmd)}`: {proc.stdout.strip()} {proc.stderr.strip()[-500:]}")
    return int(fields[1])


def measure_rss(res: WorkloadResult, tries: int = 3) -> None:
    for op in RSS_OPS:
        res.rss[op] = max(peak_rss_kib(res.wl.command(op), res.wl.root) for _ in range(tries))


def time_fresh(timer: Timer, case: fresh_clone.FreshCase, runs: int, warmup: int) -> OpResult:
    """The fresh-clone case: the command through its reset script, and the reset alone (subtracted)."""
    setup = timer.measure(case.setup, case.clone, runs, warmup, 300).a
    return OpResult(timer.measure(case.command, case.clone, runs, warmup, 1800), setup)


def run_checked(cmd: Sequence[str], cwd: pathlib.Path, log: pathlib.Path, what: str) -> float:
    """Run once (untimed pass); exit 0 required. Returns wall seconds."""
    t0 = time.perf_counter()
    with log.open("a") as f:
        f.write(f"\n$ (cd {shlex.quote(str(cwd))} && {shlex.join(cmd)})\n")
        f.flush()
        proc = subprocess.run(list(cmd), cwd=cwd, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-15:])
        raise BenchError(f"{what}: exit {proc.returncode} from `{shlex.join(cmd)}` (log {log}):\n{tail}")
    return wall


def correctness_pass(gen: ModuleType, res: WorkloadResult, logs: pathlib.Path) -> None:
    """Run every operation once, untimed, and check outputs; also gives the timeouts' estimates."""
    wl, log = res.wl, logs / f"{res.wl.name}-check.log"
    log.write_text("")
    res.estimate["cold_setup"] = run_checked(wl.setup_command("cold") or [], wl.root, log, "reset + init")
    res.estimate["cold"] = run_checked(wl.repro(), wl.root, log, "cold repro")
    check_outputs(gen, wl, res.manifest)
    for op in ("status", "verify"):
        res.estimate[op] = run_checked(wl.command(op), wl.root, log, f"no-change {op}")
    if wl.ours:  # SPEC §4: --exit-code makes `status` fail when anything is stale
        run_checked([wl.exe, "status", "--all", "--exit-code"], wl.root, log, "status --exit-code after build")
    res.estimate["edit"] = run_checked(wl.command("edit"), wl.root, log, "edit + repro")
    check_outputs(gen, wl, res.manifest)
    run_checked([wl.exe, "verify", "--all"], wl.root, log, "verify after edit")


def time_workload(
    gen: ModuleType,
    timer: Timer,
    res: WorkloadResult,
    runs: int,
    warmup: int,
    pair_with: Callable[[str], list[str] | None],
    ops: Sequence[str] = OPS,
) -> None:
    wl = res.wl

    def bound(seconds: float) -> float:
        return float(min(3600, max(100, math.ceil((runs + warmup) * seconds * 3 + 30))))

    def m(cmd: list[str], est: float, vs: list[str] | None = None) -> Measurement:
        if vs is not None:  # both sides of a pair start the same way (bash, cd, exec)
            return timer.measure(in_dir(wl, cmd), wl.root, runs, warmup, bound(est * 2), vs)
        return timer.measure(cmd, wl.root, runs, warmup, bound(est))

    # order matters: reset alone destroys the state, cold rebuilds it, status/verify need it built,
    # the dry edit leaves the workspace as it was, edit dirties and rebuilds it.
    # `ops` leaves some out (--ops): the untimed correctness pass has built the workload either way.
    if "cold" in ops:
        setup_cold = m(wl.setup_command("cold") or [], res.estimate["cold_setup"]).a
        res.ops["cold"] = OpResult(
            m(wl.command("cold"), res.estimate["cold"] + res.estimate["cold_setup"], pair_with("cold")), setup_cold
        )
        check_outputs(gen, wl, res.manifest)
    if wl.ours and ({"status", "verify"} & set(ops)):
        settle(wl)
    for op in ("status", "verify"):
        if op in ops:
            res.ops[op] = OpResult(m(wl.command(op), res.estimate[op], pair_with(op)), None)
    if "edit" in ops:
        setup_edit = m(wl.setup_command("edit") or [], 0.05).a
        res.ops["edit"] = OpResult(m(wl.command("edit"), res.estimate["edit"], pair_with("edit")), setup_edit)
        check_outputs(gen, wl, res.manifest)


# pivot-ci memoises a parsed lock or pipeline file only once it is older than its mtime granularity allows to
# trust (2 s: pivot_ci/engine/access.py RACY_NS); a repro's lock files are seconds old when status follows it.
SETTLE_S = 2.5


def settle(wl: Workload) -> None:
    """Let the workspace age past pivot-ci's racy window, then one untimed status fills the memos: a no-change
    check is timed as a git hook or CI step sees it, long after the files were written (not in the seconds
    after a repro, when every lock file is parsed again on purpose)."""
    time.sleep(SETTLE_S)
    subprocess.run([wl.exe, "status", "--all"], cwd=wl.root, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def in_dir(wl: Workload, cmd: list[str]) -> list[str]:
    """`cmd` run from wl.root whatever the caller's cwd (for the paired --vs command)."""
    return ["bash", "-c", 'cd "$1" || exit 1; shift; exec "$@"', "in-dir", str(wl.root), *cmd]


# ---------------------------------------------------------------- report
def fmt(x: float) -> str:
    return f"{x:.3f}" if x < 10 else f"{x:.2f}"


def table(results: list[WorkloadResult], extra: dict[str, OpResult] | None = None) -> str:
    """The report's table; `extra`: rows of other tools by label (DVC's fresh-clone `status -c`)."""
    up = next((r for r in results if not r.wl.ours and r.error is None), None)
    lines = [
        "| workload | operation | median s | min–max s | cpu s | setup s (subtracted) | peak RSS MiB "
        "| pivot-ci / upstream |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    rows: list[tuple[str, str, OpResult, str]] = []
    for r in results:
        if r.error is not None:
            lines.append(f"| {r.wl.name} | all | FAILED | | | | | {r.error.splitlines()[0][:160]} |")
            continue
        for op in OPS:
            if op not in r.ops:
                continue
            o = r.ops[op]
            ratio = "—"
            if r.wl.ours and up is not None and op in up.ops and up.ops[op].net > 0:
                ratio = f"{o.net / up.ops[op].net:.2f}×"
                if o.whole.ratio is not None:
                    ratio += f" (paired, whole commands: {o.whole.ratio.median:.2f}×)"
            rss = f"{r.rss[op] / 1024:.1f}" if op in r.rss else "—"
            rows.append((r.wl.name, OP_LABELS[op], o, f"{rss} | {ratio}"))
    rows += [(label, "fresh clone `dvc status -c`", o, "— | —") for label, o in (extra or {}).items()]
    for name, label, o, tail in rows:
        s = o.setup.median if o.setup else 0.0
        cpu = "?"
        if o.whole.a.cpu is not None:
            cpu = fmt(o.whole.a.cpu - ((o.setup.cpu or 0.0) if o.setup else 0.0))
        lines.append(
            f"| {name} | {label} | {fmt(o.net)} | {fmt(o.whole.a.min - s)}–{fmt(o.whole.a.max - s)}"
            f" | {cpu} | {fmt(o.setup.median) if o.setup else '—'} | {tail} |"
        )
    return "\n".join(lines)


def dist_version(exe: str, dist: str) -> str:
    """Version of `dist` in the environment of the console script `exe` (best effort)."""
    py = pathlib.Path(exe).resolve().parent / "python"
    if not py.exists():
        return "?"
    proc = subprocess.run(
        [str(py), "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"], capture_output=True, text=True
    )
    return proc.stdout.strip() if proc.returncode == 0 else "?"


def load_avg() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def header(
    args: argparse.Namespace, params: dict[str, int], label: str, timer: Timer, workloads: list[Workload]
) -> str:
    p = params
    out = [
        f"Workload `{label}`: {p['P']} pipelines × {p['S']} stages, {p['F']} inputs of {p['B']} bytes per pipeline "
        f"(seed {args.seed}); {args.runs} counted runs after {args.warmup} warm-up, medians, "
        f"whole-process wall seconds; timer: {timer.name}.",
        f"Machine: {os.cpu_count()} CPUs, {platform.platform()}, harness Python {platform.python_version()}.",
    ]
    for wl in workloads:
        ver = dist_version(wl.exe, "pivot-ci" if wl.ours else "pivot")
        jobs = f", repro -j {wl.jobs}" if wl.ours and wl.jobs is not None else ""
        out.append(f"- {wl.name}: `{wl.exe}` ({'pivot-ci' if wl.ours else 'pivot'} {ver}{jobs}), in `{wl.root}`")
    out.append(
        "cold and edit: setup (reset + `pivot init` / the append) timed alone and subtracted; "
        "cpu s = median user + sys seconds of the processes waited for (setup's subtracted); "
        "ratio = pivot-ci median / upstream median, wall (< 1 means pivot-ci is faster)."
    )
    out.append(f"Load average (1/5/15 min) at start: {args.load_start}, at end: {load_avg()}.")
    return "\n".join(out)


# ---------------------------------------------------------------- main
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--pivot-ci", default="pivot", metavar="PATH", help="pivot-ci's `pivot` executable (default: `pivot` on PATH)"
    )
    ap.add_argument(
        "--upstream",
        default=DEFAULT_UPSTREAM,
        metavar="PATH",
        help=f"upstream pivot 0.5.11's `pivot` (default: {DEFAULT_UPSTREAM})",
    )
    ap.add_argument("--no-upstream", action="store_true", help="time pivot-ci only (no ratio column)")
    ap.add_argument("--no-pivot-ci", action="store_true", help="time upstream only (checks the harness)")
    ap.add_argument("--no-fresh", action="store_true", help="skip the fresh-clone `verify --allow-missing` case")
    ap.add_argument(
        "--dvc",
        metavar="PATH",
        help="also time `dvc status -c` in a fresh clone of the DVC form (e.g. /work/dvcvenv/bin/dvc)",
    )
    ap.add_argument("--size", choices=("small", "medium", "large", "xl"), default="medium", help="default: medium")
    whats = ("pipelines", "stages per pipeline", "inputs per pipeline", "bytes per input")
    for flag, what in zip("PSFB", whats, strict=True):
        ap.add_argument(f"-{flag}", type=int, metavar="N", help=f"override the size's {what}")
    ap.add_argument("--seed", type=int, default=0, help="gen.py seed (default 0)")
    ap.add_argument(
        "--workdir",
        type=pathlib.Path,
        default=DEFAULT_WORKDIR,
        help=f"where workloads are generated; must be outside the repo (default {DEFAULT_WORKDIR})",
    )
    ap.add_argument("--gen", type=pathlib.Path, default=DEFAULT_GEN, help=f"gen.py (default {DEFAULT_GEN})")
    ap.add_argument("--runs", type=int, default=5, metavar="N", help="counted runs per figure (default 5)")
    ap.add_argument("--warmup", type=int, default=1, metavar="N", help="uncounted runs first (default 1)")
    ap.add_argument("-j", "--jobs", type=int, metavar="N", help="pass `-j N` to pivot-ci's repro (default: its own)")
    ap.add_argument(
        "--timer",
        default=os.environ.get("BENCH_TIMER"),
        metavar="CMD",
        help="external whole-process timer command (default: $BENCH_TIMER, else the builtin timer)",
    )
    ap.add_argument(
        "--paired",
        action="store_true",
        help="also time each pivot-ci command against upstream's in turn (A B A B) for a paired ratio",
    )
    ap.add_argument("--ops", default=",".join(OPS), metavar="LIST",
                    help=f"the operations to time, comma-separated (default {','.join(OPS)}; the workloads are "
                         "built and checked untimed either way): e.g. status,verify,edit at the xl size")
    ap.add_argument("--generate-only", action="store_true", help="generate workloads and scripts, time nothing")
    ap.add_argument("--out", type=pathlib.Path, help="also write the Markdown report here")
    ap.add_argument("--json", type=pathlib.Path, help="also write raw figures here as JSON")
    args = ap.parse_args(argv)
    args.ops = tuple(op for op in args.ops.split(",") if op)
    if not args.ops or any(op not in OPS for op in args.ops):
        ap.error(f"--ops takes a comma-separated subset of {','.join(OPS)}")
    if args.runs < 1 or args.warmup < 0:
        ap.error("--runs must be >= 1 and --warmup >= 0")
    if args.no_upstream and args.no_pivot_ci:
        ap.error("--no-upstream and --no-pivot-ci leave nothing to run")
    if args.paired and (args.no_upstream or args.no_pivot_ci):
        ap.error("--paired needs both pivot-ci and upstream")
    return args


def resolve_exe(name: str, what: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BenchError(f"{what} executable not found: {name}")
    return str(pathlib.Path(found).absolute())


def check_workdir(workdir: pathlib.Path) -> pathlib.Path:
    wd = workdir.expanduser().resolve()
    if wd == REPO or REPO in wd.parents:
        raise BenchError(f"--workdir {wd} is inside the repository {REPO}: use a directory outside it")
    for anc in (wd, *wd.parents):
        if (anc / ".pivot").is_dir():
            raise BenchError(f"{anc}/.pivot exists: it would become the workloads' project root")
    return wd


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    args.load_start = load_avg()
    workdir = check_workdir(args.workdir)
    gen = load_gen(args.gen)
    params = dict(gen.SIZES[args.size])
    overridden = {f: getattr(args, f) for f in "PSFB" if getattr(args, f) is not None}
    params.update(overridden)
    label = args.size if not overridden else "P{P}-S{S}-F{F}-B{B}".format(**params)
    base = workdir / label
    scripts, logs = base / "scripts", base / "logs"

    specs: list[tuple[str, str, bool]] = []
    if not args.no_pivot_ci:
        specs += [("pivot-yaml", "pivot-yaml", True), ("pivot-ci-py", "pivot-ci-py", True)]
    if not args.no_upstream:
        specs.append(("upstream", "pivot", False))
    ours_exe = up_exe = ""
    if not args.generate_only:
        if not args.no_pivot_ci:
            ours_exe = resolve_exe(args.pivot_ci, "pivot-ci")
        if not args.no_upstream:
            up_exe = resolve_exe(args.upstream, "upstream pivot")
        if ours_exe and up_exe and pathlib.Path(ours_exe).resolve() == pathlib.Path(up_exe).resolve():
            raise BenchError(f"--pivot-ci and --upstream are the same program ({ours_exe})")
    else:  # scripts still name an executable; resolve if possible
        ours_exe = shutil.which(args.pivot_ci) or args.pivot_ci
        up_exe = shutil.which(args.upstream) or args.upstream
    workloads = [
        Workload(name, tool, ours_exe if ours else up_exe, ours, base / name, scripts, args.jobs if ours else None)
        for name, tool, ours in specs
    ]

    logs.mkdir(parents=True, exist_ok=True)
    results: list[WorkloadResult] = []
    for wl in workloads:
        manifest = generate(args.gen, wl, params, args.seed)
        write_scripts(wl, manifest)
        results.append(WorkloadResult(wl, manifest))
        print(
            f"generated {wl.name}: {manifest['stages']} stages, edit {manifest['edit_path']} "
            f"(invalidates {manifest['affected_by_edit']}) in {wl.root}",
            file=sys.stderr,
        )
    if args.generate_only:
        return 0

    timer: Timer = BuiltinTimer()
    if args.timer:
        ext = ExternalTimer(shlex.split(args.timer))
        ext.log = logs / "timer.log"
        ext.log.write_text("")
        timer = ext

    for res in results:  # correctness first: nothing is timed that has not produced the right outputs
        try:
            correctness_pass(gen, res, logs)
            print(
                f"checked {res.wl.name}: outputs correct (cold repro {res.estimate['cold']:.1f} s untimed)",
                file=sys.stderr,
            )
        except BenchError as e:
            res.error = str(e)
            print(f"FAILED {res.wl.name}: {e}", file=sys.stderr)

    up_res = next((r for r in results if not r.wl.ours), None)

    def pairing(res: WorkloadResult) -> Callable[[str], list[str] | None]:
        def vs(op: str) -> list[str] | None:
            if not args.paired or not res.wl.ours or up_res is None or up_res.error is not None:
                return None
            return in_dir(up_res.wl, up_res.wl.command(op))

        return vs

    # upstream first, so that a paired pivot-ci run finds upstream's state built
    for res in sorted(results, key=lambda r: r.wl.ours):
        if res.error is not None:
            continue
        try:
            print(f"timing {res.wl.name} ...", file=sys.stderr)
            time_workload(gen, timer, res, args.runs, args.warmup, pairing(res), args.ops)
            measure_rss(res)
            if res.wl.ours and not args.no_fresh:
                print(f"fresh clone of {res.wl.name} ...", file=sys.stderr)
                case = fresh_clone.prepare_pivot(res.wl.exe, res.wl.root, res.manifest, base, scripts, res.wl.name)
                res.ops["fresh"] = time_fresh(timer, case, args.runs, args.warmup)
        except (BenchError, fresh_clone.FreshError, subprocess.TimeoutExpired) as e:
            res.error = str(e)
            print(f"FAILED {res.wl.name}: {e}", file=sys.stderr)

    extra: dict[str, OpResult] = {}
    dvc_error = None
    if args.dvc:
        try:
            print("fresh clone of the DVC form (dvc repro, push, git clone) ...", file=sys.stderr)
            dvc_exe = resolve_exe(args.dvc, "dvc")
            case = fresh_clone.prepare_dvc(dvc_exe, args.gen, params, args.seed, base, scripts)
            extra[f"dvc ({dist_version(dvc_exe, 'dvc')})"] = time_fresh(timer, case, args.runs, args.warmup)
        except (BenchError, fresh_clone.FreshError, subprocess.TimeoutExpired) as e:
            dvc_error = str(e)
            print(f"FAILED dvc: {e}", file=sys.stderr)

    report = f"{header(args, params, label, timer, workloads)}\n\n{table(results, extra)}\n"
    if dvc_error is not None:
        report += f"\nDVC fresh clone FAILED: {dvc_error.splitlines()[0][:300]}\n"
    print(report)
    if args.out:
        args.out.write_text(report)
    if args.json:
        raw = {
            r.wl.name: {
                "error": r.error,
                "exe": r.wl.exe,
                "ops": {
                    op: {
                        "whole": dataclasses.asdict(o.whole),
                        "setup": dataclasses.asdict(o.setup) if o.setup else None,
                        "net_median": o.net,
                    }
                    for op, o in r.ops.items()
                },
                "peak_rss_kib": r.rss,
            }
            for r in results
        }
        args.json.write_text(
            json.dumps(
                {
                    "label": label,
                    "params": params,
                    "runs": args.runs,
                    "warmup": args.warmup,
                    "timer": timer.name,
                    "results": raw,
                },
                indent=1,
            )
        )
    return 1 if any(r.error for r in results) or dvc_error is not None else 0


if __name__ == "__main__":
    sys.exit(main())
