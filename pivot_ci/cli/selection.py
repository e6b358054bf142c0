"""Targets -> the ordered stages a command works on, and the state-dir locks it takes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from pivot_ci.cli.common import Invocation
from pivot_ci.dag import select
from pivot_ci.dag.load import Loaded
from pivot_ci.pipeline import model
from pivot_ci.state import confine, fsutil, statedir

LOCK_NAME = "tmp/lock"


def order(inv: Invocation, targets: tuple[str, ...], *, upstream: bool = True,
          downstream: bool = False) -> list[model.StageId]:
    """The selected stages (targets and, by default, what they depend on) in topological order."""
    return order_in(inv.loaded, inv.cwd, targets, upstream=upstream, downstream=downstream)


def order_in(loaded: Loaded, cwd: Path, targets: tuple[str, ...], *, upstream: bool = True,
             downstream: bool = False) -> list[model.StageId]:
    """No targets: the whole scope. Else the targets, plus what they depend on (`upstream`) and what
    depends on them (`downstream`)."""
    if not targets:
        return loaded.in_order(loaded.scope)
    ids = select.resolve(loaded, targets, cwd)
    if downstream:
        ids = select.with_downstream(loaded, ids)
    return loaded.in_order(select.with_upstream(loaded, ids) if upstream else ids)


@contextlib.contextmanager
def locked(inv: Invocation, ids: list[model.StageId], command: str) -> Iterator[None]:
    """Hold the lock of every state dir the stages use, so two runs never write the same state."""
    root = inv.loaded.project
    dirs = sorted({sid.state_dir for sid in ids})
    paths: list[Path] = []
    fence = confine.Fence(root.root)
    for d in dirs:
        fence.state_dir(root.abs(d))
        statedir.ensure(root.abs(d))
        paths.append(root.abs(d) / LOCK_NAME)

    def waiting(path: Path, holder: str) -> None:
        inv.console.info(f"Waiting for another pivot process ({holder.strip() or 'unknown'}) "
                         f"holding {root.rel(path)} ...")

    with fsutil.hold_locks(paths, command=command, on_wait=waiting):
        yield
