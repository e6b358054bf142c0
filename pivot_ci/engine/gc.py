"""`pivot gc` (SPEC §11): remove the cache (and remote) objects nothing needs.

The plan is computed first and is the whole decision: what each root source keeps, what the grace period
keeps, what goes. Any file that cannot be read aborts before anything is removed (fail closed). The caller
holds the state-dir locks repro holds, so no run writes a lock file between the plan and the deletion.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from pivot_ci import errors
from pivot_ci.dag.load import Loaded
from pivot_ci.engine import roots
from pivot_ci.engine.access import StateAccess
from pivot_ci.state import cache as cache_mod
from pivot_ci.state import gitread, hashing, runcache

WORKSPACE = "workspace"
REVISIONS = "revisions"
GRACE = "grace period"


@dataclasses.dataclass(frozen=True, slots=True)
class GcOptions:
    revs: tuple[str, ...] = ()
    all_branches: bool = False
    all_tags: bool = False
    all_commits: bool = False
    grace_seconds: float = 3600.0

    @property
    def uses_git(self) -> bool:
        return bool(self.revs) or self.all_branches or self.all_tags or self.all_commits


@dataclasses.dataclass(frozen=True, slots=True)
class RootContext:
    """What a root source reads: the project, its state, and the git revisions in scope."""

    loaded: Loaded
    access: StateAccess
    repo: gitread.GitRepo | None
    commits: tuple[str, ...]


# A source of roots: a reason (how the plan counts what it keeps) and the needs it names. To make gc keep
# something new (e.g. run-cache entries and their outputs), add a source to ROOT_SOURCES: the local plan, the
# remote plan and the dry run all follow.
RootSource = Callable[[RootContext], tuple[str, list[roots.Need]]]


def _workspace(ctx: RootContext) -> tuple[str, list[roots.Need]]:
    return WORKSPACE, roots.workspace(ctx.loaded, ctx.access)


def _revisions(ctx: RootContext) -> tuple[str, list[roots.Need]]:
    if ctx.repo is None or not ctx.commits:
        return REVISIONS, []
    return REVISIONS, roots.revisions(ctx.loaded, ctx.repo, ctx.commits)


ROOT_SOURCES: tuple[RootSource, ...] = (_workspace, _revisions)


def commits(repo: gitread.GitRepo, opts: GcOptions) -> tuple[str, ...]:
    """The commits in scope; an unknown revision raises (GitError, with the shallow-clone hint)."""
    found = dict.fromkeys(repo.resolve(rev) for rev in opts.revs)
    found.update(dict.fromkeys(repo.revisions(branches=opts.all_branches, tags=opts.all_tags,
                                              commits=opts.all_commits)))
    return tuple(found)


@dataclasses.dataclass(frozen=True, slots=True)
class Roots:
    """Every need, by reason in priority order."""

    by_reason: tuple[tuple[str, tuple[roots.Need, ...]], ...]

    @property
    def hashes(self) -> set[str]:
        return {n.hash for _, needs in self.by_reason for n in needs}


def collect_roots(ctx: RootContext) -> Roots:
    return Roots(tuple((reason, tuple(needs)) for reason, needs in (source(ctx) for source in ROOT_SOURCES)))


@dataclasses.dataclass(frozen=True, slots=True)
class Tally:
    objects: int = 0
    bytes: int = 0

    def add(self, size: int) -> Tally:
        return Tally(self.objects + 1, self.bytes + size)


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """What gc keeps (by reason) and removes, in one store (the cache or a remote)."""

    kept: Mapping[str, Tally]
    remove: tuple[tuple[str, int], ...]  # (key, size): manifests first, so a manifest never outlives its files
    unknown_trees: tuple[roots.Need, ...]  # directories whose manifest is not here: their files are unknown

    @property
    def removed(self) -> Tally:
        return Tally(len(self.remove), sum(size for _, size in self.remove))


def keep_map(cache: cache_mod.Cache, found: Roots) -> tuple[dict[str, str], list[roots.Need]]:
    """Object key -> the first reason that keeps it (the dict lists each reason first in priority order); and
    the needs whose directory manifest is not in `cache`."""
    keep: dict[str, str] = {}
    unknown: list[roots.Need] = []
    for reason, needs in found.by_reason:
        expanded = roots.expand(cache, (n.hash for n in needs))
        for key in expanded.keys:
            keep.setdefault(key, reason)
        seen: set[str] = set()
        for n in needs:
            if n.hash in expanded.unknown_trees and n.hash not in seen:
                seen.add(n.hash)
                unknown.append(n)
    return keep, unknown


def plan(objects: Mapping[str, tuple[int, float]], keep: Mapping[str, str], unknown: Sequence[roots.Need],
         grace_seconds: float, now: float | None = None) -> Plan:
    """Split a store's `objects` (key -> size, newest of mtime/ctime) into kept (by reason, in the order of the
    root sources, then the grace period) and removed."""
    cutoff = (time.time() if now is None else now) - grace_seconds
    kept: dict[str, Tally] = dict.fromkeys(dict.fromkeys(keep.values()), Tally())
    kept[GRACE] = Tally()
    remove: list[tuple[str, int]] = []
    for key, (size, stamp) in objects.items():
        reason = keep.get(key) or (GRACE if stamp > cutoff else None)
        if reason is None:
            remove.append((key, size))
        else:
            kept[reason] = kept.get(reason, Tally()).add(size)
    remove.sort(key=lambda item: (not hashing.is_tree_hash(item[0]), item[0]))
    return Plan({r: t for r, t in kept.items() if t.objects}, tuple(remove), tuple(unknown))


def cache_objects(cache: cache_mod.Cache) -> dict[str, tuple[int, float]]:
    """key -> (size, newest of mtime and ctime) of every object in the local cache."""
    out: dict[str, tuple[int, float]] = {}
    for key, st in cache.objects():
        out[key] = (st.st_size, max(st.st_mtime, st.st_ctime))
    return out


def remove_local(cache: cache_mod.Cache, p: Plan) -> Tally:
    """Delete the plan's objects from the cache (an object already gone is not an error)."""
    done = Tally()
    for key, size in p.remove:
        if cache.delete(key):
            done = done.add(size)
    return done


@dataclasses.dataclass(frozen=True, slots=True)
class EntryPlan:
    """Run-cache entries: how many stay, which go."""

    kept: int
    remove: tuple[str, ...]


def _entries(cache: cache_mod.Cache) -> Iterator[tuple[str, Path]]:
    """(key, path) of every run-cache entry in the cache (temporary files and foreign names skipped)."""
    root = cache.root / runcache.RUNS_DIR
    try:
        tops = sorted(os.listdir(root))
    except OSError:
        return
    for top in tops:
        try:
            names = sorted(os.listdir(root / top))
        except OSError:
            continue
        for name in names:
            if not name.startswith(".") and runcache.KEY_RE.match(top + name):
                yield top + name, root / top / name


def entry_plan(cache: cache_mod.Cache, p: Plan) -> EntryPlan:
    """The run cache's rule (docs/run-cache.md): an entry stays when every object its outputs name stays (a
    directory: its manifest and files); the others go, and so do entries that cannot be read (never trusted)."""
    removed = {key for key, _ in p.remove}
    kept = 0
    drop: list[str] = []
    for key, path in _entries(cache):
        try:
            entry = runcache.parse(path.read_bytes(), key, None, str(path))
            needed = roots.expand(cache, (o["hash"] for o in entry["outs"]))
        except (OSError, errors.StateError):
            drop.append(key)
            continue
        if needed.unknown_trees or any(k in removed or not cache.object_path(k).is_file() for k in needed.keys):
            drop.append(key)
        else:
            kept += 1
    return EntryPlan(kept, tuple(drop))


def remove_entries(cache: cache_mod.Cache, keys: Iterable[str]) -> None:
    for key in keys:
        runcache.entry_path(cache.root, key).unlink(missing_ok=True)


class Store(Protocol):
    """A remote as gc sees it (the CLI adapts remote/): list, delete, and fetch manifests to expand trees."""

    name: str

    def listing(self) -> dict[str, tuple[int, float]]:
        """key -> (size, modification time) of every object."""
        ...

    def fetch_manifests(self, hashes: Iterable[str]) -> None:
        """Put the manifests of these directory hashes that the remote has into the local cache (verified)."""
        ...

    def delete(self, keys: Sequence[str]) -> None:
        """Delete objects, in the order given."""
        ...


def remote_plan(ctx: RootContext, found: Roots, store: Store, grace_seconds: float) -> Plan:
    """The plan for a remote: the same roots, trees expanded with manifests from the cache or the remote."""
    store.fetch_manifests(h for h in found.hashes if hashing.is_tree_hash(h)
                          and not ctx.access.cache.object_path(h).is_file())
    keep, unknown = keep_map(ctx.access.cache, found)
    return plan(store.listing(), keep, unknown, grace_seconds)


def parse_duration(text: str) -> float:
    """Seconds in `90s`, `30m`, `1h`, `2d`, `1w` or a bare number of seconds; ValueError otherwise."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    raw = text.strip().lower()
    factor = units.get(raw[-1:])
    number = raw[:-1] if factor is not None else raw
    value = float(number)  # ValueError for garbage
    if value < 0 or value != value:  # negative, NaN
        raise ValueError(text)
    return value * (factor or 1)


def human_grace(seconds: float) -> str:
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"

