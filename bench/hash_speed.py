#!/usr/bin/env python3
"""Hash throughput: xxhash xxh3_128 vs blake3 vs hashlib sha256 / blake2b.

Two cases, each the median of several timed passes after one warm-up pass:

  buffer  one in-memory buffer (default 256 MiB) hashed in a single update(): the algorithm's raw speed
  files   10,000 files of 4 KiB (default) hashed the way a `hash_file` does it: open, read in chunks,
          update, digest, close; files are in the page cache (written just before, then one warm-up pass),
          so this is the per-file cost pivot pays on every status/verify of a cold memo.

A "read only" row (open/read/close, no hash) shows how much of the files case is I/O overhead.
Throughput is MB/s with MB = 10^6 bytes. Needs `xxhash` and `blake3` installed (rows say so otherwise).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import pathlib
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any, Protocol


class Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> Any: ...

    def digest(self) -> bytes: ...


CHUNK = 1 << 20


def algorithms(blake3_threads: bool) -> dict[str, Callable[[], Hasher] | str]:
    """name -> constructor, or a string saying why it is unavailable."""
    algos: dict[str, Callable[[], Hasher] | str] = {}
    try:
        import xxhash

        algos["xxhash xxh3_128"] = xxhash.xxh3_128
    except ImportError:
        algos["xxhash xxh3_128"] = "xxhash not installed"
    try:
        import blake3

        algos["blake3"] = blake3.blake3
        if blake3_threads:
            algos["blake3 (max_threads=AUTO)"] = lambda: blake3.blake3(max_threads=blake3.blake3.AUTO)
    except ImportError:
        algos["blake3"] = "blake3 not installed"
    algos["hashlib sha256"] = hashlib.sha256
    algos["hashlib blake2b"] = hashlib.blake2b
    return algos


def interleaved(cases: dict[str, Callable[[], object]], passes: int) -> dict[str, list[float]]:
    """Time every case once per pass, round-robin (so machine drift hits all cases alike); pass 0 is warm-up."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for i in range(passes + 1):
        for name, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            if i:
                times[name].append(time.perf_counter() - t0)
    return times


def cell(nbytes: int, t: list[float]) -> str:
    return f"{mbps(nbytes, statistics.median(t)):,.0f} ({mbps(nbytes, max(t)):,.0f}–{mbps(nbytes, min(t)):,.0f})"


def hash_buffer(ctor: Callable[[], Hasher], buf: memoryview) -> bytes:
    h = ctor()
    h.update(buf)
    return h.digest()


def hash_file(ctor: Callable[[], Hasher], path: str) -> bytes:
    h = ctor()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.digest()


def hash_all(ctor: Callable[[], Hasher], paths: list[str]) -> list[bytes]:
    return [hash_file(ctor, p) for p in paths]


def read_all(paths: list[str]) -> list[int]:
    return [read_file(p) for p in paths]


def read_file(path: str) -> int:
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            n += len(chunk)
    return n


def make_files(root: pathlib.Path, count: int, size: int) -> list[str]:
    paths = []
    for i in range(count):
        d = root / f"d{i // 1000:03d}"  # 1,000 files per directory, like a real tree
        d.mkdir(exist_ok=True)
        p = d / f"f{i:05d}.bin"
        p.write_bytes(os.urandom(size))
        paths.append(str(p))
    return paths


def mbps(nbytes: int, seconds: float) -> float:
    return nbytes / seconds / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--buffer-mib", type=int, default=256, help="in-memory buffer size in MiB (default 256)")
    ap.add_argument("--files", type=int, default=10_000, help="number of small files (default 10000)")
    ap.add_argument("--file-kib", type=int, default=4, help="size of each small file in KiB (default 4)")
    ap.add_argument("--passes", type=int, default=5, help="timed passes per figure, median quoted (default 5)")
    ap.add_argument("--dir", type=pathlib.Path, help="where to create the small files (default: a temp dir)")
    ap.add_argument("--no-blake3-threads", action="store_true", help="skip the multi-threaded blake3 row")
    ap.add_argument("--out", type=pathlib.Path, help="also write the table here")
    args = ap.parse_args()

    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    algos = algorithms(not args.no_blake3_threads)
    buf = memoryview(os.urandom(args.buffer_mib << 20))
    file_size = args.file_kib << 10

    ctors = {name: c for name, c in algos.items() if not isinstance(c, str)}
    buf_times = interleaved({name: functools.partial(hash_buffer, c, buf) for name, c in ctors.items()}, args.passes)
    with tempfile.TemporaryDirectory(prefix="hash-speed-", dir=args.dir) as tmp:
        paths = make_files(pathlib.Path(tmp), args.files, file_size)
        os.sync()  # no writeback of the new files during the timed passes
        file_cases: dict[str, Callable[[], object]] = {"read only (no hash)": functools.partial(read_all, paths)}
        for name, c in ctors.items():
            if "max_threads" not in name:  # a 4 KiB file is one blake3 chunk: threads cannot help
                file_cases[name] = functools.partial(hash_all, c, paths)
        file_times = interleaved(file_cases, args.passes)
    total_files = len(paths) * file_size

    def files_cells(name: str) -> tuple[str, str]:
        if name not in file_times:
            return "(as blake3: a 4 KiB file is one chunk)", ""
        t = file_times[name]
        return cell(total_files, t), f"{statistics.median(t) / len(paths) * 1e6:.1f}"

    rows: list[tuple[str, str, str, str, str]] = [
        ("read only (no hash)", "—", "—", *files_cells("read only (no hash)"))
    ]
    for name, c_or_why in algos.items():
        if isinstance(c_or_why, str):
            rows.append((name, c_or_why, "", "", ""))
        else:
            bits = str(len(hash_buffer(c_or_why, buf[:16])) * 8)
            rows.append((name, bits, cell(len(buf), buf_times[name]), *files_cells(name)))

    head = (
        f"Hash throughput, MB/s (10^6 B/s), median of {args.passes} passes after 1 warm-up "
        f"(min–max in brackets); buffer = {args.buffer_mib} MiB in memory, files = {args.files:,} × "
        f"{args.file_kib} KiB in the page cache (open/read/hash/close each). "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average {load}.\n\n"
        f"| algorithm | digest bits | {args.buffer_mib} MiB buffer MB/s "
        f"| {args.files:,} × {args.file_kib} KiB files MB/s | µs per file |\n"
        "|---|---:|---:|---:|---:|\n"
    )
    table = head + "\n".join(f"| {' | '.join(r)} |" for r in rows) + "\n"
    print(table)
    if args.out:
        args.out.write_text(table)


if __name__ == "__main__":
    main()
