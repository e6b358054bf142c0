"""`pivot fsck` (SPEC §11): re-hash every cache object, move bad ones aside, and say who needs what is bad or
missing and which command repairs it. Never deletes: a bad object goes to `.pivot/cache/bad/`."""

from __future__ import annotations

import dataclasses
import enum
import shlex
from collections.abc import Callable, Iterable

from pivot_ci import errors
from pivot_ci.dag.load import Loaded
from pivot_ci.engine import roots, tracked
from pivot_ci.engine.access import StateAccess
from pivot_ci.state import cache as cache_mod
from pivot_ci.state import hashing, statedir


class ProblemKind(enum.Enum):
    BAD = "bad"  # its content does not match its name: moved to cache/bad/
    MISSING = "missing"  # a lock or pointer file needs it and the cache lacks it
    NOT_ON_REMOTE = "not on remote"  # with --remote: needed, and the remote lacks it


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    key: str
    kind: ProblemKind
    needed_by: tuple[roots.Need, ...]  # empty: an unused object (bad, but nothing needs it)
    fixes: tuple[str, ...]
    moved_to: str | None = None  # where a bad object went (project-relative)


@dataclasses.dataclass(frozen=True, slots=True)
class FsckResult:
    checked: int
    nbytes: int
    problems: tuple[Problem, ...]
    remote: str | None

    @property
    def ok(self) -> bool:
        return not self.problems


def object_ok(cache: cache_mod.Cache, key: str) -> bool:
    """Whether one object's content matches its name (a manifest: its bytes, and that it parses), read afresh."""
    path = cache.object_path(key)
    try:
        if not hashing.is_tree_hash(key):
            return hashing.hash_file(path) == key
        data = path.read_bytes()
    except OSError:
        return False
    try:
        cache_mod.parse_tree(key, data, str(path))
    except errors.StateError:
        return False
    return True


def _workspace_has(access: StateAccess, loaded: Loaded, need: roots.Need) -> bool:
    """Whether the workspace holds exactly what `need` names (through the memo: this is advice, not a check)."""
    if need.kind is roots.Kind.TRACKED:
        return tracked.hasher(access).path(need.path) == need.hash
    state_dir = need.source.rsplit(f"/{statedir.STAGES_DIR}/", 1)[0]
    return access.hasher(state_dir).path(need.path) == need.hash


def _fixes(access: StateAccess, loaded: Loaded, need: roots.Need, on_remote: Callable[[str], bool | None]) -> list[str]:
    """The command that puts back what `need` names, given where it still is."""
    name = shlex.quote(need.stage or need.path)
    there = on_remote(need.hash)
    if need.kind is roots.Kind.TRACKED:
        if _workspace_has(access, loaded, need):
            return [f"pivot track {name}"]
        if there is False:
            return [f"restore {need.path} from its source, then pivot track {name}"]
        return [f"pivot fetch --all {name}"]
    if need.stage is None:
        return [f"delete {need.source}: no stage declares it any more"]
    if _workspace_has(access, loaded, need):
        return [f"pivot commit --all --force {name}"]
    if there is None:
        return [f"pivot fetch --all {name}", f"pivot repro --all --force {name}"]
    return [f"pivot fetch --all {name}"] if there else [f"pivot repro --all --force {name}"]


def check(access: StateAccess, loaded: Loaded, remote_keys: Callable[[Iterable[str]], set[str]] | None = None,
          remote: str | None = None) -> FsckResult:
    """Verify every cache object (quarantining bad ones), then what the workspace's lock and pointer files need;
    with `remote_keys` (which of some keys a remote holds), that the remote holds all of it."""
    cache = access.cache
    project = loaded.project
    checked = nbytes = 0
    bad: dict[str, str | None] = {}
    for key, st in list(cache.objects()):
        checked += 1
        nbytes += st.st_size
        if not object_ok(cache, key):
            dest = cache.quarantine(key)
            bad[key] = None if dest is None else project.rel(dest)
    needs = roots.workspace(loaded, access)
    by_key: dict[str, list[roots.Need]] = {}
    for need in needs:
        for key in roots.expand(cache, [need.hash]).keys | {need.hash}:
            by_key.setdefault(key, []).append(need)
    missing = [k for k in by_key if not cache.object_path(k).is_file()]
    held = remote_keys(list(by_key)) if remote_keys is not None else None

    def on_remote(h: str) -> bool | None:
        return None if held is None else h in held

    problems: list[Problem] = []
    for key, moved in bad.items():
        users = tuple(by_key.get(key, ()))
        fixes = dict.fromkeys(f for n in users for f in _fixes(access, loaded, n, on_remote))
        problems.append(Problem(key, ProblemKind.BAD, users, tuple(fixes), moved))
    for key in missing:
        if key in bad:
            continue
        users = tuple(by_key[key])
        fixes = dict.fromkeys(f for n in users for f in _fixes(access, loaded, n, on_remote))
        problems.append(Problem(key, ProblemKind.MISSING, users, tuple(fixes)))
    if held is not None:
        for key in sorted(set(by_key) - held):
            users = tuple(by_key[key])
            fixes = dict.fromkeys(f"pivot push --all {shlex.quote(n.stage or n.path)} -r {shlex.quote(remote or '')}"
                                  for n in users if n.kind is roots.Kind.TRACKED or n.stage is not None)
            problems.append(Problem(key, ProblemKind.NOT_ON_REMOTE, users, tuple(fixes)))
    return FsckResult(checked, nbytes, tuple(problems), remote)
