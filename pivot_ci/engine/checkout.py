"""Restore outputs recorded in lock files from the cache, never discarding unsaved work."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from pivot_ci.engine.access import StateAccess
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


def checkout(access: StateAccess, stages: Iterable[model.StageSpec], *, force: bool,
             mode: cache.LinkMode) -> CheckoutResult:
    restored: list[str] = []
    skipped: list[Skipped] = []
    for st in stages:
        lock = access.read_lock(st)
        if lock is None:
            continue
        hasher = access.hasher(st.state_dir)
        for entry in lock["outs"]:
            path, locked = entry["path"], entry["hash"]
            now = hasher.path(path)
            if now == locked:
                continue
            if not access.cache.has(locked):
                skipped.append(Skipped(path, "not in the cache (run `pivot repro`)"))
            elif now is not None and not force and not _safe_to_replace(access, path, now, locked, st.state_dir):
                skipped.append(Skipped(path, "modified in the workspace; not overwritten "
                                             "(use --force to discard the change)"))
            else:
                access.cache.restore(locked, access.project.abs(path), mode)
                restored.append(path)
    return CheckoutResult(tuple(restored), tuple(skipped))
