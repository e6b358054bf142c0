"""push / fetch / availability: which objects the selected lock files name, a diff, then the transfer.

Only objects named by lock files move (a directory output: its manifest and every file it lists), never
the whole cache or the whole remote. A tree's files travel before its manifest in both directions, so a
manifest present on either side implies its files are too.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from pivot_ci.errors import StateError
from pivot_ci.remote import base
from pivot_ci.state import cache as cache_mod
from pivot_ci.state import hashing, lockfile


@dataclasses.dataclass(frozen=True, slots=True)
class OutRef:
    """One cached output a lock file names: which stage, which path, which object."""

    stage: str
    path: str
    hash: str
    lock: str = ""  # the lock file naming it (for messages)


@dataclasses.dataclass(frozen=True, slots=True)
class SyncResult:
    transferred: int
    nbytes: int | None  # None: not known (a dry-run fetch does not ask the remote for sizes)
    present: int  # objects the destination already had
    missing: tuple[OutRef, ...]  # outputs the source lacks (push: the local cache; fetch: the remote)
    dry_run: bool
    corrupt: tuple[tuple[OutRef, str], ...] = ()  # push: outputs whose local object failed verification, why


def refs_of(stage: str, lock: lockfile.LockData, lock_file: str = "") -> list[OutRef]:
    """The cached outputs of one stage's lock (metrics are not cached, so they do not travel)."""
    return [OutRef(stage, e["path"], e["hash"], lock_file) for e in lock["outs"]]


def _by_hash(refs: Iterable[OutRef]) -> dict[str, list[OutRef]]:
    out: dict[str, list[OutRef]] = {}
    for ref in refs:
        out.setdefault(ref.hash, []).append(ref)
    return out


def _local_tree(cache: cache_mod.Cache, h: str) -> hashing.TreeHash | None:
    try:
        return cache.read_tree(h)
    except StateError:
        return None


class _Counter:
    """Progress across transfer threads."""

    def __init__(self, total: int, progress: base.Progress | None) -> None:
        self.total, self.done, self.nbytes = total, 0, 0
        self._progress = progress
        self._lock = threading.Lock()

    def add(self, nbytes: int) -> None:
        with self._lock:
            self.done += 1
            self.nbytes += nbytes
            if self._progress is not None:
                self._progress(self.done, self.total, self.nbytes)


def _run(fn: Callable[[str], int | None], keys: Sequence[str], jobs: int, counter: _Counter) -> set[str]:
    """Apply `fn` to every key in a pool of `jobs` threads; the keys for which it returned None.

    The first error stops the rest (queued transfers are cancelled) and is raised; what finished stays.
    """
    failed: set[str] = set()
    if not keys:
        return failed
    pool = ThreadPoolExecutor(max_workers=max(1, min(jobs, len(keys))), thread_name_prefix="pivot-sync")
    try:
        futures = {pool.submit(fn, k): k for k in keys}
        for future in as_completed(futures):
            nbytes = future.result()
            if nbytes is None:
                failed.add(futures[future])
            else:
                counter.add(nbytes)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return failed


def push(cache: cache_mod.Cache, remote: base.Remote, refs: Iterable[OutRef], *, jobs: int, dry_run: bool,
         progress: base.Progress | None = None) -> SyncResult:
    """Upload the objects of `refs` that the remote lacks; outputs missing from the local cache are reported."""
    files: dict[str, None] = {}
    manifests: list[str] = []
    trees: dict[str, hashing.TreeHash] = {}
    missing: list[OutRef] = []
    refs_by_hash = _by_hash(refs)
    for h, group in refs_by_hash.items():
        if not hashing.is_tree_hash(h):
            if cache.object_path(h).is_file():
                files[h] = None
            else:
                missing += group
            continue
        tree = _local_tree(cache, h)
        if tree is None or not all(cache.object_path(fh).is_file() for _, fh in tree.entries):
            missing += group
            continue
        files.update((fh, None) for _, fh in tree.entries)
        manifests.append(h)
        trees[h] = tree
    wanted = [*files, *manifests]
    if not dry_run and wanted:
        remote.prepare_upload()
    present = remote.has_many(wanted, jobs)
    send_files = [k for k in files if k not in present]
    send_manifests = [k for k in manifests if k not in present]
    if dry_run:
        size = sum(os.path.getsize(cache.object_path(k)) for k in send_files + send_manifests)
        return SyncResult(len(send_files) + len(send_manifests), size, len(present), tuple(missing), True)

    bad: dict[str, str] = {}

    def upload(key: str) -> int | None:
        try:  # never upload what does not match its name (one extra read)
            path = cache.checked(key)
        except cache_mod.CorruptObject as exc:
            bad[key] = exc.message
            return None
        remote.upload(key, path)
        return os.path.getsize(path)

    counter = _Counter(len(send_files) + len(send_manifests), progress)
    _run(upload, send_files, jobs, counter)
    whole = [h for h in send_manifests if not any(fh in bad for _, fh in trees[h].entries)]
    _run(upload, whole, jobs, counter)
    corrupt = _corrupt_refs(refs_by_hash, trees, bad)
    return SyncResult(counter.done, counter.nbytes, len(present), tuple(missing), False, corrupt)


def _corrupt_refs(groups: dict[str, list[OutRef]], trees: dict[str, hashing.TreeHash],
                  bad: dict[str, str]) -> tuple[tuple[OutRef, str], ...]:
    out: list[tuple[OutRef, str]] = []
    for h, group in groups.items():
        keys = [h, *(fh for _, fh in trees[h].entries)] if h in trees else [h]
        why = next((bad[k] for k in keys if k in bad), None)
        if why is not None:
            out += [(ref, why) for ref in group]
    return tuple(out)


def _download(cache: cache_mod.Cache, remote: base.Remote, key: str) -> Path | None:
    """Object `key` in a temporary file beside its place in the cache; None when the remote lacks it."""
    tmp = cache.temp_object(key)
    try:
        if not remote.download(key, tmp):
            tmp.unlink(missing_ok=True)
            return None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _refuse(remote: base.Remote, key: str, exc: StateError) -> Exception:
    return remote.spec.bad_content(f"refused object {key}", exc.message,
                                   hint=exc.hint or "the remote copy is corrupt: delete it there and push it again")


def _fetch_manifest(cache: cache_mod.Cache, remote: base.Remote, h: str) -> tuple[hashing.TreeHash, Path] | None:
    tmp = _download(cache, remote, h)
    if tmp is None:
        return None
    try:
        return cache_mod.parse_tree(h, tmp.read_bytes(), f"{remote.spec.url}: {base.rel_name(h)}"), tmp
    except StateError as exc:
        tmp.unlink(missing_ok=True)
        raise _refuse(remote, h, exc) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def fetch(cache: cache_mod.Cache, remote: base.Remote, refs: Iterable[OutRef], *, jobs: int, dry_run: bool,
          progress: base.Progress | None = None) -> SyncResult:
    """Download the objects of `refs` the local cache lacks, each verified by hash before it enters the cache."""
    groups = _by_hash(refs)
    need: dict[str, None] = {}
    trees: dict[str, tuple[hashing.TreeHash, Path | None]] = {}
    remote_manifests: list[str] = []
    present: set[str] = set()
    for h in groups:
        if not hashing.is_tree_hash(h):
            _sort_key(cache, h, present, need)
            continue
        tree = _local_tree(cache, h)
        if tree is None:
            remote_manifests.append(h)
        else:
            present.add(h)
            trees[h] = (tree, None)
    manifest_counter = _Counter(0, None)
    temps: dict[str, Path] = {}

    def get_manifest(h: str) -> int | None:
        got = _fetch_manifest(cache, remote, h)
        if got is None:
            return None
        trees[h] = (got[0], got[1])
        temps[h] = got[1]
        return os.path.getsize(got[1])

    try:
        _run(get_manifest, remote_manifests, jobs, manifest_counter)
        for tree, _ in trees.values():
            for _, fh in tree.entries:
                _sort_key(cache, fh, present, need)
        if dry_run:
            on_remote = remote.has_many(list(need), jobs)
            lacking = set(need) - on_remote
            missing = _missing(groups, trees, lacking | (set(remote_manifests) - set(trees)))
            return SyncResult(len(on_remote) + len(temps), None, len(present), missing, True)

        def get_file(key: str) -> int | None:
            tmp = _download(cache, remote, key)
            if tmp is None:
                return None
            size = os.path.getsize(tmp)
            try:
                cache.adopt(key, tmp)
            except StateError as exc:
                raise _refuse(remote, key, exc) from None
            return size

        counter = _Counter(len(need) + len(remote_manifests), progress)
        counter.done, counter.nbytes = manifest_counter.done, manifest_counter.nbytes
        lacking = _run(get_file, list(need), jobs, counter)
        for h, tmp in list(temps.items()):
            tree = trees[h][0]
            if all(fh not in lacking for _, fh in tree.entries):
                cache.adopt(h, tmp)  # its files are in: now the manifest may appear
                del temps[h]
        missing = _missing(groups, trees, lacking | (set(remote_manifests) - set(trees)))
        return SyncResult(counter.done, counter.nbytes, len(present), missing, False)
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)


def _sort_key(cache: cache_mod.Cache, key: str, present: set[str], need: dict[str, None]) -> None:
    if cache.object_path(key).is_file():
        present.add(key)
    else:
        need.setdefault(key, None)


def _missing(groups: dict[str, list[OutRef]], trees: dict[str, tuple[hashing.TreeHash, Path | None]],
             lacking: set[str]) -> tuple[OutRef, ...]:
    out: list[OutRef] = []
    for h, group in groups.items():
        keys = {h} | ({fh for _, fh in trees[h][0].entries} if h in trees else set())
        if keys & lacking:
            out += group
    return tuple(out)


def available(cache: cache_mod.Cache, remote: base.Remote, hashes: Iterable[str], jobs: int) -> frozenset[str]:
    """The hashes whose objects are all on the remote, in one bulk check and without downloading.

    A tree counts when its manifest is there (push uploads its files first) and, when the manifest is
    in the local cache, every file it lists is there too.
    """
    keys_of: dict[str, list[str]] = {}
    for h in dict.fromkeys(hashes):
        tree = _local_tree(cache, h) if hashing.is_tree_hash(h) else None
        keys_of[h] = [h] + ([fh for _, fh in tree.entries] if tree is not None else [])
    have = remote.has_many(list(dict.fromkeys(k for ks in keys_of.values() for k in ks)), jobs)
    return frozenset(h for h, ks in keys_of.items() if all(k in have for k in ks))


def fetch_manifests(cache: cache_mod.Cache, remote: base.Remote, hashes: Iterable[str], jobs: int) -> None:
    """Download the manifests (file lists, no data) of the directory hashes the cache lacks, each verified.

    `verify --allow-missing` needs them to know what a dependency inside absent tracked data stands for.
    """
    wanted = [h for h in dict.fromkeys(hashes) if hashing.is_tree_hash(h) and not cache.object_path(h).is_file()]

    def get(h: str) -> int | None:
        got = _fetch_manifest(cache, remote, h)
        if got is None:
            return None
        cache.adopt(h, got[1])
        return 0

    _run(get, wanted, jobs, _Counter(len(wanted), None))
