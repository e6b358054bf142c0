"""Pointer files found by discovery -> TrackedSpec values, and the overlaps that make them invalid."""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Iterable
from pathlib import Path

from pivot_ci import errors
from pivot_ci.pipeline import model
from pivot_ci.pipeline.inputs import Inputs
from pivot_ci.pipeline.memo import PipelineMemo
from pivot_ci.project import Project
from pivot_ci.state import pointer


def load_one(project: Project, path: Path, owner_file: str | None,
             memo: PipelineMemo | None = None) -> model.TrackedSpec:
    """The tracked data of one pointer file (through the memo when one is given: an unchanged pointer file is
    not parsed again); StateError (file:line) when it does not parse."""
    found = memo.get_tracked(path) if memo is not None else None
    if found is not None:
        return dataclasses.replace(found, owner_file=owner_file)
    rel = project.rel(path)
    inputs = Inputs()
    inputs.read(path)
    data = pointer.read(path, rel)
    if data is None:
        raise errors.StateError("pointer file vanished while loading", file=rel,
                                hint="run the command again")
    spec = model.TrackedSpec(pointer.data_path(rel, data), rel, data["hash"], data["size"], data.get("files"), None)
    if memo is not None:
        memo.put(path, inputs, spec)
    return dataclasses.replace(spec, owner_file=owner_file)


def check_overlaps(tracked: Iterable[model.TrackedSpec]) -> dict[str, model.TrackedSpec]:
    """Tracked specs by data path; two pointers naming the same or nested paths are an error naming both."""
    by_path: dict[str, model.TrackedSpec] = {}
    # shorter paths first, so a directory is indexed before anything inside it is checked
    for t in sorted(tracked, key=lambda t: (t.path.count("/"), t.path)):
        other = next((by_path[p] for p in _self_and_parents(t.path) if p in by_path), None)
        if other is not None:
            how = "the same path" if other.path == t.path else f"'{t.path}' inside '{other.path}'"
            raise errors.GraphError(
                f"pointer files {other.pvt_file} and {t.pvt_file} track overlapping data: {how}",
                file=t.pvt_file, hint=f"track either one, not both: `pivot untrack {t.path}`")
        by_path[t.path] = t
    return by_path


def _self_and_parents(path: str) -> Iterable[str]:
    cur = path
    while cur not in ("", "."):
        yield cur
        cur = posixpath.dirname(cur)
