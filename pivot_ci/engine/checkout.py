"""Restore outputs recorded in lock files from the cache, never discarding unsaved work."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from pivot_ci.engine import outputs
from pivot_ci.engine.access import StateAccess
from pivot_ci.errors import StateError
from pivot_ci.pipeline import model
from pivot_ci.state import cache, hashing


@dataclasses.dataclass(frozen=True, slots=True)
class Skipped:
    path: str
    why: str


@dataclasses.dataclass(frozen=True, slots=True)
class CheckoutResult:
    restored: tuple[str, ...]
    skipped: tuple[Skipped, ...]


def _safe_to_replace(access: StateAccess, path: str, now: str, locked: str, state_dir: str) -> bool:
    """True when replacing the workspace copy loses nothing: it is cached, or a subset of the locked tree."""
    if access.cache.has(now):
        return True
    if not (hashing.is_tree_hash(locked) and access.cache.has(locked)):
        return False
    tree = access.hasher(state_dir).tree(path)
    return tree is not None and set(tree.entries) <= set(access.cache.read_tree(locked).entries)


def _plan(access: StateAccess, stages: Iterable[model.StageSpec]) -> list[tuple[model.StageSpec, str, str]]:
    """(stage, path, locked hash) of every output to consider, each lock checked against its stage and each
    path against the fence before anything is restored."""
    plan = []
    for st in stages:
        lock = access.read_lock(st)
        if lock is None:
            continue
        for path, h in outputs.locked_outs(access, st, lock).items():
            access.fence.workspace(access.project.abs(path))
            plan.append((st, path, h))
    return plan


def checkout(access: StateAccess, stages: Iterable[model.StageSpec], *, force: bool,
             mode: cache.LinkMode) -> CheckoutResult:
    stages = list(stages)
    plan = _plan(access, stages)
    for st in stages:
        outputs.clean_temps(access, st)
    restored: list[str] = []
    skipped: list[Skipped] = []
    for st, path, locked in plan:
        now = access.hasher(st.state_dir).path(path)
        if now == locked:
            continue
        if not access.cache.has(locked):
            skipped.append(Skipped(path, _unusable(access, st, locked)))
        elif now is not None and not force and not _safe_to_replace(access, path, now, locked, st.state_dir):
            skipped.append(Skipped(path, "modified in the workspace; not overwritten "
                                         "(use --force to discard the change)"))
        else:
            try:
                access.cache.restore(locked, access.project.abs(path), mode)
            except cache.CorruptObject as exc:
                skipped.append(Skipped(path, _corrupt(access, st, exc)))
                continue
            except StateError as exc:
                skipped.append(Skipped(path, exc.message))
                continue
            except OSError as exc:
                skipped.append(Skipped(path, outputs.os_why(access, exc)))
                continue
            restored.append(path)
    return CheckoutResult(tuple(restored), tuple(skipped))


def _corrupt(access: StateAccess, st: model.StageSpec, exc: cache.CorruptObject) -> str:
    return f"{exc.message} (named by {access.lock_display(st)}); run `pivot repro` or `pivot pull`"


def _unusable(access: StateAccess, st: model.StageSpec, h: str) -> str:
    """Why object `h` cannot be restored: missing, or present but corrupt (then moved to bad/)."""
    if access.cache.object_path(h).is_file():
        try:
            if hashing.is_tree_hash(h):
                access.cache.checked_tree(h)
            else:
                access.cache.checked(h)
        except cache.CorruptObject as exc:
            return _corrupt(access, st, exc)
        except StateError:
            pass
    return "not in the cache (run `pivot repro`)"
