"""`python -m pivot_ci.engine.cluster.pyrun IO_PATH`: one Python stage on a Dask worker.

IO_PATH holds the request (JSON); the stage runs as in the local executor's worker processes
(engine/worker.py: cwd, sys.path, env, params as keyword arguments, output captured), and its ExecResult
replaces the request in IO_PATH. Stdin is the lifeline: a thread blocks on it, and end-of-file means the
worker that started this process is gone, so the whole process group is killed. The stage gets /dev/null.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import tempfile
import threading

from pivot_ci.engine import worker


def _lifeline(fd: int) -> None:
    while os.read(fd, 1):
        pass
    os.killpg(0, signal.SIGKILL)


def main(io_path: str) -> int:
    lifeline = os.dup(0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    threading.Thread(target=_lifeline, args=(lifeline,), name="pivot-lifeline", daemon=True).start()
    with open(io_path, encoding="utf-8") as f:
        req = worker.PythonRequest(**json.load(f))
    with tempfile.TemporaryFile() as capture:
        res = worker.run(req, capture.fileno())
    with open(io_path, "w", encoding="utf-8") as f:
        json.dump(dataclasses.asdict(res), f)
    return 0 if res.ok else 1


if __name__ == "__main__":
    code = main(sys.argv[1])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # threads the stage left behind do not keep its process (and group) alive
