"""Record a stage as done: hash deps and outputs, store outputs in the cache, write its lock."""

from __future__ import annotations

import dataclasses
import functools
import json
import posixpath
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pivot_ci.dag.graph import StageGraph
from pivot_ci.engine import status
from pivot_ci.engine.access import StateAccess
from pivot_ci.errors import PivotError, StateError
from pivot_ci.pipeline import model
from pivot_ci.state import fsutil, gitignore, hashing, lockfile, parts, runlog


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
        write_lock(access, st, data)
    except (OSError, PivotError) as exc:  # disk full, a cache that is not the project's...
        return CommitProblem(f"cannot record its outputs: {exc}")
    return None


def write_lock(access: StateAccess, st: model.StageSpec, data: lockfile.LockData) -> None:
    """Write the lock file; remember what was written (state dir); git-ignore the cached outputs."""
    raw = lockfile.dumps(data)
    fsutil.atomic_write(access.lock_path(st), raw)
    state = access.state_dir(st.state_dir)
    runlog.remember_written(state, st.name, raw)
    runlog.forget_ran(state, st.name)
    ignore_outputs(access, st)
    _keep_dir_parts(access, st, data)


def _keep_dir_parts(access: StateAccess, st: model.StageSpec, data: lockfile.LockData) -> None:
    """The file list behind each directory dependency's hash, for `status --explain` once it changes.

    Output directories have theirs in the cache already; a directory of source data does not.
    """
    state = access.state_dir(st.state_dir)
    for entry in data["deps"]:
        h = entry["hash"]
        if hashing.is_tree_hash(h) and not parts.has(state, h) and not access.cache.has(h):
            tree = access.hasher(st.state_dir).tree(entry["path"])
            if tree is not None and tree.hash == h:
                parts.put(state, h, hashing.manifest_bytes(tree.entries))


@functools.cache
def _in_git_work_tree(root: Path) -> bool:
    """Whether the project lies in a git work tree (a `.git` directory or file at or above its root)."""
    return any((d / ".git").exists() for d in (root, *root.parents))


def ignore_outputs(access: StateAccess, st: model.StageSpec) -> None:
    """`/<name>` for each cached output in the .gitignore beside it, as DVC does (metrics stay in git).

    Only in a git work tree: elsewhere a .gitignore would be a stray file.
    """
    if not _in_git_work_tree(access.project.root):
        return
    by_dir: dict[str, list[str]] = {}
    for out in st.outs:
        parent, name = posixpath.split(out.path)
        if name != gitignore.FILE_NAME:
            by_dir.setdefault(parent or ".", []).append(name)
    for parent, names in by_dir.items():
        directory = access.project.abs(parent)
        access.fence.workspace(directory / gitignore.FILE_NAME)  # never through a link out of the project
        gitignore.add(directory, names)


@dataclasses.dataclass(frozen=True, slots=True)
class Committed:
    """What `pivot commit` did with one stage: committed (problem None), failed, or refused."""

    display: str
    spec: model.StageSpec
    problem: CommitProblem | None = None
    refused: bool = False


_RECIPE = (status.ReasonKind.CMD, status.ReasonKind.CODE, status.ReasonKind.PARAM)


def _unrun(access: StateAccess, st: status.StageStatus) -> list[status.Reason]:
    """The changes of command, code or params that no run has seen since the stage's lock was written.

    A run with --no-commit is known (runlog): committing it records what really ran. Without a lock there
    is nothing to compare: outputs made by hand are what the stage stands for.
    """
    changed = [r for r in st.reasons if r.kind in _RECIPE]
    if not changed:
        return []
    ran = runlog.ran(access.state_dir(st.spec.state_dir), st.spec.name)
    return [] if ran is not None and _same_recipe(access, st.spec, ran) else changed


def _same_recipe(access: StateAccess, st: model.StageSpec, ran: runlog.RanRecord) -> bool:
    return (ran["cmd"], ran["code"], ran["params"]) == (st.cmd, access.code(st), _plain(st.params))


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(dict(params)))  # type: ignore[no-any-return]


def ran_as_is(access: StateAccess, st: model.StageSpec) -> bool:
    """Whether the stage's last run (with --no-commit) saw exactly today's recipe and dependencies."""
    ran = runlog.ran(access.state_dir(st.state_dir), st.name)
    return ran is not None and _same_recipe(access, st, ran) and ran["deps"] == dep_hashes(access, st)


def commit_stages(access: StateAccess, graph: StageGraph, order: list[model.StageId], *, named: bool,
                  force: bool) -> list[Committed]:
    """`pivot commit`: record the stages of `order` whose own deps, outputs or recipe changed.

    A change of command, code or params that has not run is refused (naming it) unless `force`: the lock
    would claim outputs that this recipe never produced. `named` with `force`: commit even up-to-date ones.
    Stages stale only through upstream stages have nothing of their own to record.
    """
    statuses = status.compute(access, graph, order)
    done = []
    for sid in order:
        st = statuses[sid]
        own = [r for r in st.reasons if r.kind is not status.ReasonKind.UPSTREAM]
        if not own and not (force and named):
            continue
        unrun = [] if force else _unrun(access, st)
        if unrun:
            what = "; ".join(str(r) for r in unrun)
            done.append(Committed(st.display, st.spec, CommitProblem(f"{what}, and it has not run since"), True))
            continue
        done.append(Committed(st.display, st.spec, commit(access, st.spec)))
    return done


def remember_run(access: StateAccess, st: model.StageSpec, deps: Mapping[str, str | None]) -> None:
    """A successful run whose lock is not written (repro --no-commit), for `pivot commit`."""
    runlog.remember_ran(access.state_dir(st.state_dir), {
        "schema": runlog.SCHEMA, "stage": st.name, "cmd": st.cmd, "code": access.code(st),
        "params": _plain(st.params), "deps": dict(deps)})


def is_dir_hash(h: str) -> bool:
    return h.endswith(hashing.DIR_SUFFIX)
