"""Record a stage as done: hash deps and outputs, store outputs in the cache, write its lock."""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Mapping

from pivot_ci.dag.graph import StageGraph
from pivot_ci.engine import status
from pivot_ci.engine.access import StateAccess
from pivot_ci.errors import PivotError, StateError
from pivot_ci.pipeline import model
from pivot_ci.state import gitignore, hashing, lockfile


@dataclasses.dataclass(frozen=True, slots=True)
class CommitProblem:
    """Why a stage could not be committed (e.g. an output was not created)."""

    message: str


def dep_hashes(access: StateAccess, st: model.StageSpec) -> dict[str, str | None]:
    hasher = access.hasher(st.state_dir)
    return {d.path: hasher.path(d.path) for d in st.deps}


def lock_data(access: StateAccess, st: model.StageSpec,
              deps: Mapping[str, str | None] | None = None) -> lockfile.LockData | CommitProblem:
    """Hash the stage's outputs, store them in the cache, and return its lock (not written yet)."""
    hasher = access.hasher(st.state_dir)
    deps = dict(deps) if deps is not None else dep_hashes(access, st)
    absent = [p for p, h in deps.items() if h is None]
    if absent:
        return CommitProblem(f"dependency missing: {', '.join(absent)}")
    entries: dict[str, list[lockfile.PathEntry]] = {"outs": [], "metrics": []}
    for group, specs in (("outs", st.outs), ("metrics", st.metrics)):
        for out in specs:
            abs_path = access.project.abs(out.path)
            if out.is_dir:
                tree = hasher.tree(out.path)
                if tree is None:
                    return CommitProblem(f"output directory not created: {out.path}")
                if group == "outs":
                    _drop_corrupt(access, [tree.hash, *(fh for _, fh in tree.entries)])
                    access.cache.store_tree(abs_path, tree)
                h = tree.hash
            else:
                fh = hasher.file(out.path)
                if fh is None:
                    if abs_path.is_dir():
                        return CommitProblem(f"output {out.path} is a directory: declare it as '{out.path}/'")
                    return CommitProblem(f"output not created: {out.path}")
                if group == "outs":
                    _drop_corrupt(access, [fh])
                    access.cache.store_file(abs_path, fh)
                h = fh
            entries[group].append({"path": out.path, "hash": h})
    return build_lock(access, st, {p: h for p, h in deps.items() if h is not None}, entries["outs"],
                      entries["metrics"])


def _drop_corrupt(access: StateAccess, hashes: list[str]) -> None:
    """Objects already in the cache are re-used by a commit, not copied again: one that no longer matches its name
    is moved to bad/ first, so the commit stores it afresh (checked through the memo: read once per object)."""
    for h in hashes:
        if not access.cache.object_path(h).is_file():
            continue
        if hashing.is_tree_hash(h):
            try:
                access.cache.read_tree(h)  # checks the manifest against its name
            except StateError:
                access.cache.quarantine(h)
        elif not access.object_ok(h):
            access.cache.quarantine(h)


def build_lock(access: StateAccess, st: model.StageSpec, deps: Mapping[str, str],
               outs: list[lockfile.PathEntry], metrics: list[lockfile.PathEntry]) -> lockfile.LockData:
    """The lock of `st` for these dependency and output hashes."""
    return {
        "schema": lockfile.SCHEMA, "stage": st.name, "cmd": st.cmd, "code": access.code(st),
        "params": dict(st.params), "deps": [{"path": p, "hash": h} for p, h in deps.items()],
        "outs": outs, "metrics": metrics,
    }


def commit(access: StateAccess, st: model.StageSpec,
           deps: Mapping[str, str | None] | None = None) -> CommitProblem | None:
    """Write the stage's lock from current files (deps: hashes taken before it ran, if known)."""
    try:
        data = lock_data(access, st, deps)
        if isinstance(data, CommitProblem):
            return data
        lockfile.write(access.lock_path(st), data)
        ignore_outputs(access, st)
    except (OSError, PivotError) as exc:  # disk full, a cache that is not the project's...
        return CommitProblem(f"cannot record its outputs: {exc}")
    return None


def ignore_outputs(access: StateAccess, st: model.StageSpec) -> None:
    """`/<name>` for each cached output in the .gitignore beside it, as DVC does (metrics stay in git)."""
    by_dir: dict[str, list[str]] = {}
    for out in st.outs:
        parent, name = posixpath.split(out.path)
        if name != gitignore.FILE_NAME:
            by_dir.setdefault(parent or ".", []).append(name)
    for parent, names in by_dir.items():
        gitignore.add(access.project.abs(parent), names)


def commit_stages(access: StateAccess, graph: StageGraph, order: list[model.StageId],
                  force: bool) -> list[tuple[str, model.StageSpec, CommitProblem | None]]:
    """`pivot commit`: commit the stale stages of `order` (every one with force) -> (display, spec, problem)."""
    statuses = status.compute(access, graph, order)
    done = []
    for sid in order:
        st = statuses[sid]
        if st.stale or force:
            done.append((st.display, st.spec, commit(access, st.spec)))
    return done


def is_dir_hash(h: str) -> bool:
    return h.endswith(hashing.DIR_SUFFIX)
