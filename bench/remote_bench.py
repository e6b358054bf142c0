#!/usr/bin/env python3
"""Push and pull throughput of pivot remotes, next to a reference copy with the same means.

Workloads: 1,000 small files (4 KiB each, one directory output) and one 500 MB file (one file output).
Remotes: a local directory (reference: `cp -r`) and an S3 server on 127.0.0.1 (moto's standalone server;
reference: a plain boto3 upload/download loop over the same files, 10 threads like `aws s3 sync`).

Every figure is whole-process wall time of the command (pivot's includes interpreter start-up and project
discovery), median of --runs runs, each against an empty remote (push) or an empty cache and workspace
(pull = fetch + checkout, and fetch alone). Needs pivot-ci on PATH (or --pivot), boto3 and moto[server].

    bench/remote_bench.py                     # everything, 3 runs, workdir /work/benchwork/remote
    bench/remote_bench.py --runs 5 --only local --out /tmp/remote.md
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

SMALL_FILES, SMALL_SIZE = 1000, 4096
BIG_SIZE = 500 * 1000 * 1000
THREADS = 10  # aws s3 sync's default max_concurrent_requests; pivot gets -j 10 against S3 too
ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
       "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}

PIPELINE = """\
stages:
  small:
    cmd: python make.py small
    outs: [small/]
  big:
    cmd: python make.py big
    outs: [big.bin]
"""
MAKE = f"""\
import os, sys
if sys.argv[1] == "small":
    os.makedirs("small", exist_ok=True)
    for i in range({SMALL_FILES}):
        with open(f"small/f{{i:04d}}.bin", "wb") as f:
            f.write(os.urandom({SMALL_SIZE}))
else:
    with open("big.bin", "wb") as f:
        for _ in range({BIG_SIZE} // (1 << 20)):
            f.write(os.urandom(1 << 20))
        f.write(os.urandom({BIG_SIZE} % (1 << 20)))
"""


def run(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, **ENV})
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} (in {cwd}) exited {proc.returncode}:\n{proc.stderr}")
    return took


class Moto:
    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **ENV})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("moto server did not start")
        import boto3

        self.client: Any = boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="bench",
                                        aws_secret_access_key="bench", region_name="us-east-1")

    def bucket(self) -> str:
        name = f"bench-{uuid.uuid4().hex[:10]}"
        self.client.create_bucket(Bucket=name)
        return name

    def drop(self, bucket: str) -> None:
        """Free the server's memory (moto keeps objects in RAM)."""
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", ())]
            if keys:
                self.client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
        self.client.delete_bucket(Bucket=bucket)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)


def build(work: Path, pivot: str) -> Path:
    proj = work / "proj"
    if (proj / "big.bin").exists() and (proj / "small").is_dir():
        return proj
    shutil.rmtree(work, ignore_errors=True)
    (proj / ".pivot").mkdir(parents=True)
    (proj / "pivot.yaml").write_text(PIPELINE)
    (proj / "make.py").write_text(MAKE)
    run([pivot, "repro"], proj)
    return proj


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def clone(proj: Path, dst: Path) -> Path:
    """Sources, lock files and config; no cache, no outputs."""
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(proj, dst, ignore=shutil.ignore_patterns("cache", "state.db*", "tmp", "small", "big.bin"))
    return dst


def set_remote(proj: Path, pivot: str, url: str, endpoint: str | None) -> None:
    extra = ["--endpoint-url", endpoint] if endpoint else []
    run([pivot, "remote", "add", "bench", url, "--default", "--force", *extra], proj)


def median(xs: list[float]) -> tuple[float, float, float]:
    return statistics.median(xs), min(xs), max(xs)


def timed(runs: int, setup: Callable[[], Any], body: Callable[[Any], float],
          teardown: Callable[[Any], None] = lambda _: None) -> tuple[float, float, float]:
    out = []
    for _ in range(runs):
        state = setup()
        try:
            out.append(body(state))
        finally:
            teardown(state)
    return median(out)


def bench_local(proj: Path, work: Path, pivot: str, runs: int, stage: str, src: str) -> list[tuple[str, Any]]:
    remote = work / "remote-local"
    rows: list[tuple[str, Any]] = []

    def fresh_remote() -> None:
        shutil.rmtree(remote, ignore_errors=True)
        set_remote(proj, pivot, str(remote), None)

    rows.append(("pivot push", timed(runs, fresh_remote, lambda _: run([pivot, "push", stage], proj))))
    run([pivot, "push", stage], proj)
    c = work / "clone"
    rows.append(("pivot fetch", timed(runs, lambda: clone(proj, c), lambda _: run([pivot, "fetch", stage], c))))
    rows.append(("pivot pull", timed(runs, lambda: clone(proj, c), lambda _: run([pivot, "pull", stage], c))))
    up, down = work / "cp-remote", work / "cp-back"

    def cp(from_: Path, to: Path) -> float:
        remove(to)
        return run(["cp", "-r", str(from_), str(to)], work)

    rows.append(("`cp -r` up (workspace → dir)", timed(runs, lambda: None, lambda _: cp(proj / src, up))))
    rows.append(("`cp -r` down (dir → workspace)", timed(runs, lambda: None, lambda _: cp(up, down))))
    for d in (up, down, remote):
        remove(d)
    return rows


def _boto_loop(moto: Moto, bucket: str, files: list[Path], root: Path, up: bool, dest: Path) -> float:
    start = time.perf_counter()

    def one(path: Path) -> None:
        key = path.relative_to(root).as_posix()
        if up:
            moto.client.upload_file(str(path), bucket, key)
        else:
            target = dest / key
            target.parent.mkdir(parents=True, exist_ok=True)
            moto.client.download_file(bucket, key, str(target))

    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(one, files))
    return time.perf_counter() - start


def bench_s3(proj: Path, work: Path, pivot: str, runs: int, stage: str, src: str, moto: Moto) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    jobs = ["-j", str(THREADS)]

    def fresh_bucket() -> str:
        b = moto.bucket()
        set_remote(proj, pivot, f"s3://{b}/pivot", moto.endpoint)
        return b

    rows.append(("pivot push", timed(runs, fresh_bucket, lambda _: run([pivot, "push", *jobs, stage], proj),
                                     moto.drop)))
    keep = fresh_bucket()
    run([pivot, "push", *jobs, stage], proj)
    c = work / "clone"
    rows.append(("pivot fetch", timed(runs, lambda: clone(proj, c), lambda _: run([pivot, "fetch", *jobs, stage], c))))
    rows.append(("pivot pull", timed(runs, lambda: clone(proj, c), lambda _: run([pivot, "pull", *jobs, stage], c))))
    moto.drop(keep)
    src_path = proj / src
    files = sorted(p for p in src_path.rglob("*") if p.is_file()) if src_path.is_dir() else [src_path]
    root = src_path if src_path.is_dir() else src_path.parent
    rows.append(("boto3 loop up", timed(runs, moto.bucket, lambda b: _boto_loop(moto, b, files, root, True, work),
                                        moto.drop)))
    ref = moto.bucket()
    _boto_loop(moto, ref, files, root, True, work)
    dest = work / "boto-dst"

    def down(_: None) -> float:
        shutil.rmtree(dest, ignore_errors=True)
        return _boto_loop(moto, ref, files, root, False, dest)

    rows.append(("boto3 loop down", timed(runs, lambda: None, down)))
    moto.drop(ref)
    shutil.rmtree(dest, ignore_errors=True)
    return rows


def machine() -> str:
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    mem = ""
    with contextlib.suppress(OSError, StopIteration):
        mem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    now = datetime.datetime.now(datetime.UTC)
    return (f"{now:%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs; {mem.split(':')[-1].strip()}; "
            f"{platform.platform()}; Python {platform.python_version()}; load average {load}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=Path("/work/benchwork/remote"))
    ap.add_argument("--pivot", default=shutil.which("pivot") or "pivot")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", choices=["local", "s3"], default=None)
    ap.add_argument("--out", type=Path, default=None, help="also write the Markdown table here")
    args = ap.parse_args()
    repo = Path(__file__).resolve().parents[1]
    if args.workdir.resolve().is_relative_to(repo):
        print("--workdir must lie outside the repository", file=sys.stderr)
        return 2
    args.workdir.mkdir(parents=True, exist_ok=True)
    lines = [f"Machine: {machine()} (start)", ""]
    proj = build(args.workdir, args.pivot)
    workloads = [("1,000 × 4 KiB files", "small", "small", SMALL_FILES * SMALL_SIZE, SMALL_FILES),
                 ("one 500 MB file", "big", "big.bin", BIG_SIZE, 1)]
    lines += ["| workload | remote | operation | median s | min–max s | MB/s | files/s |",
              "|---|---|---|---:|---:|---:|---:|"]
    moto = Moto() if args.only in (None, "s3") else None
    try:
        for label, stage, src, nbytes, nfiles in workloads:
            kinds: list[tuple[str, list[tuple[str, Any]]]] = []
            if args.only in (None, "local"):
                kinds.append(("local dir", bench_local(proj, args.workdir, args.pivot, args.runs, stage, src)))
            if moto is not None:
                kinds.append(("S3 (moto)", bench_s3(proj, args.workdir, args.pivot, args.runs, stage, src, moto)))
            for kind, rows in kinds:
                for op, (med, lo, hi) in rows:
                    line = (f"| {label} | {kind} | {op} | {med:.2f} | {lo:.2f}–{hi:.2f} | {nbytes / 1e6 / med:,.1f} | "
                            f"{nfiles / med:,.0f} |")
                    lines.append(line)
                    print(line, flush=True)
    finally:
        if moto is not None:
            moto.stop()
    lines += ["", f"Machine: {machine()} (end)"]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
