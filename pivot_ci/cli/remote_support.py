"""What the remote commands and `status --remote` / `verify --allow-missing` share in the CLI."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
from collections.abc import Iterable, Iterator

import click

from pivot_ci import errors
from pivot_ci.cli import common
from pivot_ci.cli.common import human_bytes
from pivot_ci.dag.load import Loaded
from pivot_ci.engine import check, runs, tracked
from pivot_ci.engine.access import StateAccess
from pivot_ci.pipeline import model
from pivot_ci.remote import base, config, factory, sync
from pivot_ci.remote import runs as remote_runs
from pivot_ci.state import cache, runcache


@dataclasses.dataclass(frozen=True, slots=True)
class RemoteAsk:
    """status --remote [NAME] / verify --allow-missing [-r NAME]: which remote to ask, and why."""

    name: str | None
    allow_missing: bool


def stage_refs(loaded: Loaded, access: StateAccess, ids: Iterable[model.StageId]) -> list[sync.OutRef]:
    """The cached outputs the lock files of `ids` name, each lock read from its stage's own state dir."""
    refs: list[sync.OutRef] = []
    for sid in ids:
        lock = access.read_lock(loaded.graph.stages[sid])
        if lock is not None:
            refs += sync.refs_of(loaded.graph.display(sid), lock, access.lock_display(loaded.graph.stages[sid]))
    return refs


@contextlib.contextmanager
def opened(loaded: Loaded, name: str | None, jobs: int, purpose: str) -> Iterator[base.Remote]:
    spec = config.resolve(loaded.project, name, purpose=purpose)
    remote = factory.connect(spec, loaded.project.root, jobs)
    try:
        yield remote
    finally:
        remote.close()


def remote_state(loaded: Loaded, access: StateAccess, ids: Iterable[model.StageId], ask: RemoteAsk,
                 tracked_data: Iterable[model.TrackedSpec] = ()) -> check.RemoteState:
    """One bulk existence query for the outputs of `ids`, their deps that nothing produces, and tracked data."""
    ids = list(ids)
    hashes = [r.hash for r in stage_refs(loaded, access, ids)] + [t.hash for t in tracked_data]
    wanted = set(ids)
    for miss in loaded.graph.missing_deps:
        lock = access.read_lock(loaded.graph.stages[miss.stage]) if miss.stage in wanted else None
        if lock is not None:
            hashes += [e["hash"] for e in lock["deps"] if e["path"] == miss.path]
    purpose = "--allow-missing" if ask.allow_missing else "--remote"
    jobs = common.transfer_jobs()
    with opened(loaded, ask.name, jobs, purpose) as remote:
        if ask.allow_missing:  # what a dep inside absent tracked data stands for is in its directory's manifest
            sync.fetch_manifests(access.cache, remote, [t.hash for t in tracked.of_stages(loaded, ids)], jobs)
        available = sync.available(access.cache, remote, hashes, jobs)
        return check.RemoteState(remote.spec.name, available, ask.allow_missing)


class ProgressLine:
    """`pushing 120/1000 objects, 3.4 MB` rewritten in place on a terminal; nothing when stderr is not one."""

    def __init__(self, console: common.Console, verb: str) -> None:
        self._verb = verb
        self.enabled = console.verbosity >= 0 and sys.stderr.isatty()
        self._last = 0.0
        self._shown = False

    def __call__(self, done: int, total: int, nbytes: int) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self._last < 0.1 and done < total):
            return
        self._last = now
        self._shown = True
        click.echo(f"\r{self._verb} {done}/{total} objects, {human_bytes(nbytes)}\x1b[K", err=True, nl=False)

    def clear(self) -> None:
        if self._shown:
            click.echo("\r\x1b[K", err=True, nl=False)


class PullRuns:
    """`repro --pull`: the remote lookups handed to the engine. The remote is resolved at once (a missing one is
    a usage error) but connected to only when a stale stage is looked up; after a failure that is about the
    remote rather than one entry or object, it is not asked again in this run."""

    def __init__(self, loaded: Loaded, name: str | None, jobs: int) -> None:
        self.spec = config.resolve(loaded.project, name, purpose="--pull")
        self._root = loaded.project.root
        self._cache = cache.Cache(loaded.project.cache_dir)
        self._jobs = jobs
        self._remote: base.Remote | None = None
        self._gave_up = False

    def lookup(self, key: str, inputs: runcache.Inputs, stage: str) -> runcache.Entry | None:
        if self._gave_up:
            return None
        try:
            if self._remote is None:
                self._remote = factory.connect(self.spec, self._root, self._jobs)
            return remote_runs.lookup(self._cache, self._remote, key, inputs, stage, self._jobs)
        except base.BadContent:
            raise
        except errors.PivotError as exc:
            self._gave_up = True
            raise errors.RemoteError(f"{exc.message}; not asking it again in this run", hint=exc.hint) from None
        except OSError as exc:  # the local cache could not take what was fetched (disk full, permissions)
            self._gave_up = True
            raise errors.StateError(f"cannot store what remote '{self.spec.name}' sent in the cache: {exc}; "
                                    "not asking it again in this run") from None

    def engine_view(self) -> runs.RemoteRuns:
        return runs.RemoteRuns(self.spec.name, self.lookup)

    def close(self) -> None:
        if self._remote is not None:
            self._remote.close()
            self._remote = None
