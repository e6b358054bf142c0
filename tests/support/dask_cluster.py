"""A real Dask cluster on 127.0.0.1 for tests and benchmarks: `dask scheduler` and `dask worker` processes.

The scheduler listens on a free port and writes its scheduler file; workers are started through the `dask`
CLI beside this Python (nanny included, as users run them). A `prefix` runs a worker inside another command
(e.g. `unshare` for a worker that does not see the project).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DASK = str(Path(sys.executable).parent / "dask")
START_TIMEOUT = 60.0


@dataclasses.dataclass(frozen=True)
class WorkerSpec:
    name: str
    nthreads: int = 1
    resources: str | None = None  # e.g. "GPU=1"
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    prefix: tuple[str, ...] = ()


PLAIN = WorkerSpec("plain", nthreads=2)
GPU = WorkerSpec("gpu", nthreads=1, resources="GPU=1")


class Cluster:
    def __init__(self, workers: Sequence[WorkerSpec] = (PLAIN, GPU)) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pivot-dask-"))
        self.scheduler_file = self.dir / "scheduler.json"
        self.specs = list(workers)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.client: Any = None

    def _spawn(self, argv: list[str], log: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with open(self.dir / log, "ab") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=self.dir, env={**os.environ, **(env or {})}, start_new_session=True)
        self.procs.append(proc)
        return proc

    def start(self) -> Cluster:
        try:
            return self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> Cluster:
        self._spawn([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--scheduler-file", str(self.scheduler_file)], "scheduler.log")
        deadline = time.monotonic() + START_TIMEOUT
        while not self.scheduler_file.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the scheduler did not start; see {self.dir / 'scheduler.log'}")
            time.sleep(0.05)
        from distributed import Client

        self.client = Client(scheduler_file=str(self.scheduler_file), timeout=START_TIMEOUT, set_as_default=False)
        for spec in self.specs:
            self.add(spec)
        self.wait_workers(len(self.specs))
        return self

    @property
    def address(self) -> str:
        return str(json.loads(self.scheduler_file.read_text())["address"])

    def add(self, spec: WorkerSpec) -> subprocess.Popen[bytes]:
        argv = [*spec.prefix, DASK, "worker", "--scheduler-file", str(self.scheduler_file), "--name", spec.name,
                "--nthreads", str(spec.nthreads), "--no-dashboard", "--death-timeout", "60",
                "--local-directory", str(self.dir / spec.name)]
        if spec.resources:
            argv += ["--resources", spec.resources]
        proc = self._spawn(argv, f"{spec.name}.log", spec.env)
        self.workers[spec.name] = proc
        return proc

    def stop_worker(self, name: str) -> None:
        proc = self.workers.pop(name)
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)

    def info(self) -> dict[str, dict[str, Any]]:
        """worker address -> the scheduler's record of it (name, nthreads, resources)."""
        return dict(self.client.scheduler_info()["workers"])

    def address_of(self, name: str) -> str:
        return next(a for a, w in self.info().items() if w["name"] == name)

    def wait_workers(self, n: int, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while len(self.info()) != n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"expected {n} workers, have {list(self.info())}; logs in {self.dir}")
            time.sleep(0.1)

    def worker_pids(self) -> dict[str, int]:
        return dict(self.client.run(os.getpid))

    def busy(self) -> dict[str, Any]:
        """Tasks the scheduler has on each worker right now."""
        return {a: list(ks) for a, ks in self.client.processing().items() if ks}

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
