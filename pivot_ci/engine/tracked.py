"""Tracked data in the engine (SPEC §10): its status, the hash a dependency on it is expected to have when
the data is absent, and which tracked paths a selection of stages carries along."""

from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Iterable

from pivot_ci.dag.load import Loaded
from pivot_ci.engine.access import StateAccess
from pivot_ci.errors import StateError
from pivot_ci.pipeline import model
from pivot_ci.project import Project
from pivot_ci.state import hashing


class TrackedState(enum.Enum):
    OK = "ok"
    MODIFIED = "modified"  # the workspace differs from the pointer: `pivot track PATH` records it
    MISSING = "missing"  # absent from the workspace and the cache (and, with --allow-missing, the remote)


@dataclasses.dataclass(frozen=True, slots=True)
class TrackedStatus:
    spec: model.TrackedSpec
    state: TrackedState
    workspace: str | None  # the workspace copy's hash; None when absent
    in_cache: bool = False  # absent here, restorable from the cache
    on_remote: bool = False  # absent here and from the cache, on the remote (verify --allow-missing)
    seconds: float = 0.0


def project_state_dir(project: Project) -> str:
    """Tracked data is hashed through the project state dir's memo (`pivot track` fills it)."""
    return project.rel(project.state_dir)


def hasher(access: StateAccess) -> hashing.PathHasher:
    return access.hasher(project_state_dir(access.project))


def status(access: StateAccess, spec: model.TrackedSpec, remote_ok: frozenset[str] = frozenset()) -> TrackedStatus:
    """ok / modified / missing, hashing the workspace copy through the memo."""
    start = time.perf_counter()
    now = hasher(access).path(spec.path)
    if now is not None:
        state = TrackedState.OK if now == spec.hash else TrackedState.MODIFIED
        return TrackedStatus(spec, state, now, seconds=time.perf_counter() - start)
    if access.cache.has(spec.hash):
        return TrackedStatus(spec, TrackedState.OK, None, in_cache=True, seconds=time.perf_counter() - start)
    if spec.hash in remote_ok:
        return TrackedStatus(spec, TrackedState.OK, None, on_remote=True, seconds=time.perf_counter() - start)
    return TrackedStatus(spec, TrackedState.MISSING, None, seconds=time.perf_counter() - start)


def expected_hash(access: StateAccess, spec: model.TrackedSpec, path: str) -> str | None:
    """The hash `path` (the tracked path, or one inside a tracked directory) has by the pointer, for when the
    data is absent from the workspace. Inside a directory it needs the manifest in the cache; None without."""
    if path == spec.path:
        return spec.hash
    if not spec.is_dir:
        return None
    try:
        tree = access.cache.read_tree(spec.hash)
    except StateError:
        return None
    rel = path[len(spec.path) + 1:]
    sub: list[tuple[str, str]] = []
    for name, h in tree.entries:
        if name == rel:
            return h
        if name.startswith(rel + "/"):
            sub.append((name[len(rel) + 1:], h))
    return hashing.tree_from_entries(sub).hash if sub else None


def of_stages(loaded: Loaded, ids: Iterable[model.StageId]) -> list[model.TrackedSpec]:
    """The tracked paths the stages depend on: a dep that is tracked data, lies inside it, or contains it."""
    g = loaded.graph
    found: dict[str, model.TrackedSpec] = {}
    if not g.tracked:
        return []
    for sid in ids:
        for dep in g.stages[sid].deps:
            t = g.tracked_of(dep.path)
            if t is not None:
                found[t.path] = t
            elif dep.is_dir:
                found.update((p, t) for p, t in g.tracked.items() if p.startswith(dep.path + "/"))
    return [found[p] for p in sorted(found)]


def selected(loaded: Loaded, ids: Iterable[model.StageId], *, whole_scope: bool) -> list[model.TrackedSpec]:
    """The tracked data a command on stages `ids` covers (SPEC §10): with --all and no targets every pointer;
    otherwise what the stages depend on and, without targets, the current pipeline's own pointers."""
    g = loaded.graph
    if whole_scope and loaded.all_pipelines:
        return [g.tracked[p] for p in sorted(g.tracked)]
    found = {t.path: t for t in of_stages(loaded, ids)}
    if whole_scope and loaded.current is not None:
        found.update((t.path, t) for t in g.tracked.values() if t.owner_file == loaded.current.file)
    return [found[p] for p in sorted(found)]


def by_target(loaded: Loaded, rel: str) -> model.TrackedSpec | None:
    """The tracked data a project-relative target names: its data path or its pointer file."""
    t = loaded.graph.tracked.get(rel.rstrip("/"))
    if t is not None:
        return t
    return next((t for t in loaded.graph.tracked.values() if t.pvt_file == rel), None)


def warnings(access: StateAccess, specs: Iterable[model.TrackedSpec]) -> list[str]:
    """What `repro` says about modified tracked data it is about to use: it never re-tracks on its own."""
    return [f"{spec.path} differs from {spec.pvt_file}: stages run on the workspace content, and verify fails "
            f"until `pivot track {spec.path}` records it"
            for spec in specs if status(access, spec).state is TrackedState.MODIFIED]
