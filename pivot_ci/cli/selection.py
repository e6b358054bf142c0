"""Targets -> the ordered stages a command works on, and the state-dir locks it takes."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import posixpath
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # command modules import this one at start-up: the layers below come when a command runs
    from pathlib import Path

    from pivot_ci.cli.common import Invocation
    from pivot_ci.dag.load import Loaded
    from pivot_ci.pipeline import model

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
    from pivot_ci.dag import select

    ids = select.resolve(loaded, targets, cwd)
    if downstream:
        ids = select.with_downstream(loaded, ids)
    return loaded.in_order(select.with_upstream(loaded, ids) if upstream else ids)


def locked(inv: Invocation, ids: list[model.StageId], command: str) -> contextlib.AbstractContextManager[None]:
    """Hold the lock of every state dir the stages use, so two runs never write the same state."""
    return locked_dirs(inv, {sid.state_dir for sid in ids}, command)


@dataclasses.dataclass(frozen=True, slots=True)
class Picked:
    """What targets select: stages in topological order, and the tracked data that comes with them."""

    order: list[model.StageId]
    tracked: list[model.TrackedSpec]


def pick(loaded: Loaded, cwd: Path, targets: tuple[str, ...], *, upstream: bool = True) -> Picked:
    """As `order_in`, and a target may also name tracked data (its path or its pointer file, SPEC §10), relative to
    `cwd` or to the project root."""
    from pivot_ci.engine import tracked

    named: dict[str, model.TrackedSpec] = {}
    stage_targets: list[str] = []
    for target in targets:
        # relative to the working directory, else to the project root (as reports and fix commands name it)
        spec = (tracked.by_target(loaded, loaded.project.rel(os.path.abspath(cwd / target)))
                or tracked.by_target(loaded, posixpath.normpath(target)))
        if spec is None:
            stage_targets.append(target)
        else:
            named[spec.path] = spec
    order = order_in(loaded, cwd, tuple(stage_targets), upstream=upstream) if stage_targets or not targets else []
    data = {t.path: t for t in tracked.selected(loaded, order, whole_scope=not targets)}
    data.update(named)
    return Picked(order, [data[p] for p in sorted(data)])


def state_dirs(loaded: Loaded, picked: Picked) -> set[str]:
    """The state dirs a command on `picked` writes: its stages' and, for tracked data, the project's."""
    dirs = {sid.state_dir for sid in picked.order}
    if picked.tracked:
        from pivot_ci.engine import tracked

        dirs.add(tracked.project_state_dir(loaded.project))
    return dirs


@contextlib.contextmanager
def locked_dirs(inv: Invocation, state_dirs: Iterable[str], command: str) -> Iterator[None]:
    """Hold the locks of the project-relative `state_dirs` (gc and track take them like repro does)."""
    from pivot_ci.state import confine, fsutil, statedir

    root = inv.loaded.project
    dirs = sorted(set(state_dirs))
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
