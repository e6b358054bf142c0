"""Targets (display names, <pipeline>/<stage>, output paths) -> stage identities."""

from __future__ import annotations

import difflib
import fnmatch
import os
from collections.abc import Sequence
from pathlib import Path

from pivot_ci import errors
from pivot_ci.dag.load import Loaded
from pivot_ci.pipeline import model

GLOB_CHARS = frozenset("*?[")


def _by_name(loaded: Loaded) -> dict[str, model.StageId]:
    g = loaded.graph
    names: dict[str, model.StageId] = {}
    for sid in loaded.scope:
        st = g.stages[sid]
        names[g.display(sid)] = sid
        names[f"{st.pipeline}/{st.name}"] = sid
    return names


def is_glob(target: str) -> bool:
    return any(c in target for c in GLOB_CHARS)


def _glob(loaded: Loaded, names: dict[str, model.StageId], pattern: str) -> set[model.StageId]:
    """Stages whose display name or `<pipeline>/<stage>` matches `pattern` (`*` also matches `/`)."""
    found = {sid for name, sid in names.items() if fnmatch.fnmatchcase(name, pattern)}
    if not found:
        hint = "patterns match stage names as `pivot list` shows them, and <pipeline>/<stage>; quote them in the shell"
        if not loaded.all_pipelines:
            hint += " (add --all for every pipeline of the project)"
        raise errors.TargetError(f"no stage matches '{pattern}'", hint=hint)
    return found


def resolve(loaded: Loaded, targets: Sequence[str], cwd: Path) -> set[model.StageId]:
    """Stages named by targets (names, glob patterns of names, output paths); unknown ones raise with a hint."""
    names = _by_name(loaded)
    found: set[model.StageId] = set()
    for target in targets:
        if target in names:
            found.add(names[target])
            continue
        if is_glob(target):
            found |= _glob(loaded, names, target)
            continue
        rel = loaded.project.rel(Path(os.path.abspath(cwd / target)))
        sid = loaded.graph.producers.get(rel.rstrip("/")) or loaded.graph.producer_of(rel)
        if sid is not None and sid in loaded.scope:
            found.add(sid)
            continue
        close = difflib.get_close_matches(target, list(names), n=3)
        hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else "see `pivot list`"
        if not loaded.all_pipelines:
            hint += " (or use --all for every pipeline of the project)"
        raise errors.TargetError(f"unknown target '{target}': no stage or output of that name", hint=hint)
    return found


def with_upstream(loaded: Loaded, ids: set[model.StageId]) -> set[model.StageId]:
    out = set(ids)
    for sid in ids:
        out |= loaded.graph.upstream(sid)
    return out


def with_downstream(loaded: Loaded, ids: set[model.StageId]) -> set[model.StageId]:
    """`ids` and every stage of the scope that depends on one of them, directly or not."""
    out = set(ids)
    for sid in ids:
        out |= loaded.graph.downstream(sid)
    return out & loaded.scope
