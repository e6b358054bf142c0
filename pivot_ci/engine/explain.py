"""`status --explain`: what changed inside a changed hash.

A Python stage's code fingerprint covers the function and the project definitions it uses: the functions,
classes and globals that changed are named. A directory's hash covers its files: the files added, removed
or modified are named. The old side comes from the state dir (`state/parts.py`) or the cache; when it is not
known here (a lock written on another machine), the old and new hashes are all there is to show.
"""

from __future__ import annotations

import dataclasses

from pivot_ci.engine import check, status
from pivot_ci.engine.access import StateAccess
from pivot_ci.errors import StateError
from pivot_ci.pipeline import model
from pivot_ci.state import cache, hashing, parts

MAX_LINES = 20
_HASHED = ("func", "class", "const", "module")
_WORD = {"func": "function", "class": "class", "const": "global", "module": "module", "ext": "external",
         "unresolved": "unresolved name", "root": "stage function"}


def _entries(found: tuple[str, ...]) -> dict[str, str]:
    """Fingerprint entries as key -> hash ("" for entries that are only a name)."""
    out = {}
    for entry in found:
        kind = entry.partition(":")[0]
        key, _, h = entry.rpartition("=") if kind in _HASHED else (entry, "", "")
        out[key] = h
    return out


def _describe(key: str) -> str:
    kind, _, rest = key.partition(":")
    if kind in ("func", "class", "const", "root"):
        file, _, name = rest.rpartition(":")
        return f"{_WORD[kind]} {name} ({file})"
    return f"{_WORD.get(kind, kind)} {rest}"


def _capped(lines: list[str]) -> tuple[str, ...]:
    if len(lines) <= MAX_LINES:
        return tuple(lines)
    return (*lines[:MAX_LINES], f"... and {len(lines) - MAX_LINES} more")


def code_details(access: StateAccess, spec: model.StageSpec, old: str | None, new: str | None) -> tuple[str, ...]:
    """The definitions whose change made the fingerprint go from `old` to `new`."""
    now = access.code_parts(spec, new)
    before = access.code_parts(spec, old)
    if now is None or before is None:
        return (f"old: {old or '-'} (what it was made of is not known here: the lock was written elsewhere)",
                f"new: {new or '-'}")
    a, b = _entries(before), _entries(now)
    lines = [f"{_describe(k)} changed" for k in sorted(a.keys() & b.keys()) if a[k] != b[k]]
    lines += [f"{_describe(k)} is now used" for k in sorted(b.keys() - a.keys())]
    lines += [f"{_describe(k)} is no longer used" for k in sorted(a.keys() - b.keys())]
    return _capped(lines)


def _tree(access: StateAccess, spec: model.StageSpec, h: str) -> dict[str, str] | None:
    """The files (relative path -> hash) behind directory hash `h`, from the cache or the state dir."""
    data = parts.get(access.state_dir(spec.state_dir), h)
    if data is None and access.cache.has(h):
        try:
            return dict(access.cache.read_tree(h).entries)
        except StateError:  # a damaged manifest: nothing to tell (fsck's business)
            return None
    if data is None:
        return None
    try:
        return dict(cache.parse_tree(h, data, h).entries)
    except StateError:
        return None


def dir_details(access: StateAccess, spec: model.StageSpec, path: str, old: str, new: str) -> tuple[str, ...]:
    """The files of directory `path` that were added, removed or modified between `old` and `new`."""
    before = _tree(access, spec, old)
    tree = access.hasher(spec.state_dir).tree(path)
    if before is None or tree is None or tree.hash != new:
        return (f"old: {old} (its file list is not known here)", f"new: {new}")
    now = dict(tree.entries)
    lines = [f"modified: {path}/{f}" for f in sorted(before.keys() & now.keys()) if before[f] != now[f]]
    lines += [f"added: {path}/{f}" for f in sorted(now.keys() - before.keys())]
    lines += [f"removed: {path}/{f}" for f in sorted(before.keys() - now.keys())]
    return _capped(lines)


def _details(access: StateAccess, spec: model.StageSpec, r: status.Reason) -> tuple[str, ...]:
    if r.kind is status.ReasonKind.CODE:
        return code_details(access, spec, r.old, r.new)
    trees = r.old is not None and r.new is not None and hashing.is_tree_hash(r.old) and hashing.is_tree_hash(r.new)
    if r.kind in (status.ReasonKind.DEP_CHANGED, status.ReasonKind.OUT_CHANGED) and trees and r.path:
        assert r.old is not None and r.new is not None
        return dir_details(access, spec, r.path, r.old, r.new)
    return ()


def apply(report: check.CheckReport, access: StateAccess) -> check.CheckReport:
    """The report with details under each reason that has some to give."""
    pipelines = []
    for p in report.pipelines:
        stages = []
        for s in p.stages:
            reasons = tuple(dataclasses.replace(r, details=_details(access, s.spec, r)) for r in s.status.reasons)
            stages.append(dataclasses.replace(s, status=dataclasses.replace(s.status, reasons=reasons)))
        pipelines.append(dataclasses.replace(p, stages=tuple(stages)))
    return dataclasses.replace(report, pipelines=tuple(pipelines))
