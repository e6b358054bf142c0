"""The run cache in the scheduler: before a stale stage runs, look its inputs up; after it ran, record them.

A hit is used only when every output object it names is in the local cache and hashes to its name (a corrupt
one is moved to `cache/bad/` with a warning); then the outputs are restored, the metrics files written from
the entry, and the lock written as the run would have written it. Anything wrong with an entry is a warning
and a miss: the stage runs. The engine never talks to a remote itself: the CLI hands it a `RemoteRuns`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from pivot_ci.engine import commit
from pivot_ci.engine.access import StateAccess
from pivot_ci.errors import PivotError, StateError
from pivot_ci.pipeline import model
from pivot_ci.state import cache, fsutil, hashing, lockfile, runcache

# (key, inputs, stage display name) -> the remote's entry for `key`, validated against `inputs`, with every
# output object it names fetched into the local cache (verified by hash); None when the remote has no usable
# entry. Raises PivotError for anything the user should hear about (reported as a warning; the stage runs).
RemoteLookup = Callable[[str, runcache.Inputs, str], runcache.Entry | None]


@dataclasses.dataclass(frozen=True, slots=True)
class RemoteRuns:
    """`repro --pull`: where stale stages are also looked up."""

    name: str
    lookup: RemoteLookup


@dataclasses.dataclass(frozen=True, slots=True)
class Restored:
    """Where a restored stage's result came from: the local run cache (remote None) or a remote."""

    remote: str | None
    recorded_duration: float  # how long the run that produced it took

    def __str__(self) -> str:
        return "the local run cache" if self.remote is None else f"the run cache of remote '{self.remote}'"


@dataclasses.dataclass(frozen=True, slots=True)
class Lookup:
    restored: Restored | None
    warnings: tuple[str, ...] = ()


def cacheable(st: model.StageSpec) -> bool:
    """Whether `st` takes part in the run cache: not opted out, and something to restore (a stage without
    outputs or metrics runs only for its side effects)."""
    return st.run_cache and bool(st.outs or st.metrics)


def _warning(exc: PivotError) -> str:
    return f"run cache: {exc}" + (f" ({exc.hint})" if exc.hint else "")


def inputs(access: StateAccess, st: model.StageSpec, deps: Mapping[str, str]) -> runcache.Inputs:
    """The run-cache inputs of `st` now, given its dependencies' hashes."""
    return runcache.make_inputs(
        cmd=st.cmd, code=access.code(st), cwd=st.pipeline_dir, params=st.params, deps=deps,
        outs=[(o.path, o.is_dir) for o in st.outs], metrics=[(m.path, m.is_dir) for m in st.metrics])


def lock_inputs(st: model.StageSpec, lock: lockfile.LockData) -> runcache.Inputs:
    """The inputs a lock file records (directory-ness from the hashes): the key its run was recorded under."""
    return runcache.make_inputs(
        cmd=lock["cmd"], code=lock["code"], cwd=st.pipeline_dir, params=lock["params"],
        deps={e["path"]: e["hash"] for e in lock["deps"]},
        outs=[(e["path"], hashing.is_tree_hash(e["hash"])) for e in lock["outs"]],
        metrics=[(e["path"], hashing.is_tree_hash(e["hash"])) for e in lock["metrics"]])


def _display(access: StateAccess, key: str) -> str:
    return access.project.rel(runcache.entry_path(access.cache.root, key))


def _object_ok(access: StateAccess, h: str, what: str, warnings: list[str]) -> bool:
    """True when object `h` is in the cache and hashes to its name; a corrupt one is quarantined."""
    path = access.cache.object_path(h)
    try:
        actual = hashing.hash_file(path)
    except FileNotFoundError:
        return False  # gone (never fetched, or collected): a miss, not a problem
    except OSError as exc:
        warnings.append(f"run cache: cannot read cache object {h} ({what}): {exc.strerror or exc}")
        return False
    if hashing.is_tree_hash(h):
        actual += hashing.DIR_SUFFIX
    if actual == h:
        return True
    moved = access.cache.quarantine(h)
    where = f"moved to {access.project.rel(moved)}" if moved is not None else "gone"
    warnings.append(f"run cache: cache object {h} ({what}) is corrupt: its content hashes to {actual}; {where}")
    return False


def _outputs_ok(access: StateAccess, entry: runcache.Entry, display: str, warnings: list[str]) -> bool:
    """Every object the entry's outputs need is present and verified (a tree: its manifest and each file)."""
    for out in entry["outs"]:
        h, what = out["hash"], f"output {out['path']} of '{display}'"
        if not _object_ok(access, h, what, warnings):
            return False
        if hashing.is_tree_hash(h):
            try:
                tree = access.cache.read_tree(h)
            except StateError as exc:
                warnings.append(_warning(exc))
                return False
            if not all(_object_ok(access, fh, f"{what}: {rel}", warnings) for rel, fh in tree.entries):
                return False
    return True


def _restore(access: StateAccess, st: model.StageSpec, deps: Mapping[str, str], entry: runcache.Entry) -> None:
    for out in entry["outs"]:
        access.cache.restore(out["hash"], access.project.abs(out["path"]), cache.LinkMode.COPY)
    for m in entry["metrics"]:
        access.fence.workspace(access.project.abs(m["path"]))
        fsutil.atomic_write(access.project.abs(m["path"]), runcache.metric_bytes(m))
    outs: list[lockfile.PathEntry] = [{"path": o["path"], "hash": o["hash"]} for o in entry["outs"]]
    metrics: list[lockfile.PathEntry] = [{"path": m["path"], "hash": m["hash"]} for m in entry["metrics"]]
    commit.write_lock(access, st, commit.build_lock(access, st, deps, outs, metrics))


def _use(access: StateAccess, st: model.StageSpec, display: str, deps: Mapping[str, str],
         entry: runcache.Entry, warnings: list[str]) -> bool:
    if not _outputs_ok(access, entry, display, warnings):
        return False
    try:
        _restore(access, st, deps, entry)
    except (OSError, StateError) as exc:
        why = _warning(exc) if isinstance(exc, StateError) else f"run cache: {exc}"
        warnings.append(f"{why}; running '{display}'")
        return False
    return True


def restore(access: StateAccess, st: model.StageSpec, display: str, deps: Mapping[str, str],
            remote: RemoteRuns | None) -> Lookup:
    """Restore `st` from the local run cache, else from `remote`'s; a miss leaves everything as it was."""
    ins = inputs(access, st, deps)
    key = runcache.key_of(ins)
    warnings: list[str] = []
    try:
        entry = runcache.read(access.cache.root, key, ins, _display(access, key))
    except StateError as exc:
        warnings.append(_warning(exc))
        entry = None
    if entry is not None and _use(access, st, display, deps, entry, warnings):
        return Lookup(Restored(None, entry["duration"]), tuple(warnings))
    if remote is None:
        return Lookup(None, tuple(warnings))
    try:
        found = remote.lookup(key, ins, display)
    except PivotError as exc:
        warnings.append(_warning(exc))
        found = None
    if found is None or not _use(access, st, display, deps, found, warnings):
        return Lookup(None, tuple(warnings))
    try:
        runcache.write(access.cache.root, found)  # the next lookup is local (and `push` knows it)
    except OSError as exc:
        warnings.append(f"run cache: cannot store entry {key}: {exc}")
    return Lookup(Restored(remote.name, found["duration"]), tuple(warnings))


def record(access: StateAccess, st: model.StageSpec, deps: Mapping[str, str], lock: lockfile.LockData,
           duration: float) -> str | None:
    """Record a successful run of `st` (its lock just written); a warning when the entry cannot be stored."""
    if any(m.is_dir for m in st.metrics):
        return None  # a directory of metrics is not embedded in an entry
    metrics: list[runcache.Metric] = []
    total = 0
    for m in lock["metrics"]:
        try:
            data = access.project.abs(m["path"]).read_bytes()
        except OSError:
            return None
        total += len(data)
        if hashing.hash_bytes(data) != m["hash"] or total > runcache.MAX_METRICS_BYTES:
            return None  # changed since it was hashed, or too big to embed: no entry rather than a wrong one
        metrics.append(runcache.metric(m["path"], data))
    entry = runcache.new_entry(inputs(access, st, deps), lock["outs"], metrics, duration)
    try:
        runcache.write(access.cache.root, entry)
    except OSError as exc:
        return f"run cache: cannot record '{st.name}': {exc}"
    return None


def entry_for_lock(access: StateAccess, st: model.StageSpec, lock: lockfile.LockData) -> str | None:
    """The key of the local entry that records exactly this lock's run, if there is one (what `push` sends)."""
    ins = lock_inputs(st, lock)
    key = runcache.key_of(ins)
    try:
        entry = runcache.read(access.cache.root, key, ins, _display(access, key))
    except StateError:
        return None
    if entry is None:
        return None
    same_outs = {o["path"]: o["hash"] for o in entry["outs"]} == {e["path"]: e["hash"] for e in lock["outs"]}
    same_metrics = ({m["path"]: m["hash"] for m in entry["metrics"]}
                    == {e["path"]: e["hash"] for e in lock["metrics"]})
    return key if same_outs and same_metrics else None
