"""Restore outputs recorded in lock files from the cache, never discarding unsaved work."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from pivot_ci.engine import outputs, tracked
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


@dataclasses.dataclass(frozen=True, slots=True)
class _Wanted:
    """An output a lock file names, or tracked data a pointer file names."""

    path: str
    hash: str
    state_dir: str  # whose hash memo judges the workspace copy
    source: str  # the lock or pointer file, for messages
    remedy: str  # what recreates the object


def _plan(access: StateAccess, stages: Iterable[model.StageSpec],
          tracked_data: Iterable[model.TrackedSpec]) -> list[_Wanted]:
    """Every output and tracked path to consider, each lock checked against its stage and each path against the
    fence before anything is restored."""
    plan = []
    for st in stages:
        lock = access.read_lock(st)
        if lock is None:
            continue
        for path, h in outputs.locked_outs(access, st, lock).items():
            access.fence.workspace(access.project.abs(path))
            plan.append(_Wanted(path, h, st.state_dir, access.lock_display(st), "pivot repro"))
    for t in tracked_data:
        access.fence.workspace(access.project.abs(t.path))
        plan.append(_Wanted(t.path, t.hash, tracked.project_state_dir(access.project), t.pvt_file, "pivot fetch"))
    return plan


def checkout(access: StateAccess, stages: Iterable[model.StageSpec], *, force: bool,
             mode: cache.LinkMode, tracked_data: Iterable[model.TrackedSpec] = ()) -> CheckoutResult:
    """Restore the outputs the stages' lock files name, and the tracked data their pointers name."""
    stages = list(stages)
    plan = _plan(access, stages, tracked_data)
    for st in stages:
        outputs.clean_temps(access, st)
    restored: list[str] = []
    skipped: list[Skipped] = []
    for w in plan:
        now = access.hasher(w.state_dir).path(w.path)
        if now == w.hash:
            continue
        if not access.cache.has(w.hash):
            skipped.append(Skipped(w.path, _unusable(access, w)))
        elif now is not None and not force and not _safe_to_replace(access, w.path, now, w.hash, w.state_dir):
            skipped.append(Skipped(w.path, "modified in the workspace; not overwritten "
                                           "(use --force to discard the change)"))
        else:
            try:
                access.cache.restore(w.hash, access.project.abs(w.path), mode)
            except cache.CorruptObject as exc:
                skipped.append(Skipped(w.path, _corrupt(w, exc)))
                continue
            except StateError as exc:
                skipped.append(Skipped(w.path, exc.message))
                continue
            except OSError as exc:
                skipped.append(Skipped(w.path, outputs.os_why(access, exc)))
                continue
            restored.append(w.path)
    return CheckoutResult(tuple(restored), tuple(skipped))


def _corrupt(w: _Wanted, exc: cache.CorruptObject) -> str:
    return f"{exc.message} (named by {w.source}); run `{w.remedy}` or `pivot pull`"


def _unusable(access: StateAccess, w: _Wanted) -> str:
    """Why object `w.hash` cannot be restored: missing, or present but corrupt (then moved to bad/)."""
    if access.cache.object_path(w.hash).is_file():
        try:
            if hashing.is_tree_hash(w.hash):
                access.cache.checked_tree(w.hash)
            else:
                access.cache.checked(w.hash)
        except cache.CorruptObject as exc:
            return _corrupt(w, exc)
        except StateError:
            pass
    return f"not in the cache (run `{w.remedy}`)"
