"""Run-cache entries on a remote, under their own namespace `runs/<2 hex>/<rest>` (never under files/).

`push` uploads the entries a remote lacks, after the objects they name (so an entry on the remote implies its
outputs are there, as a manifest implies its files). `lookup` downloads one entry, validates it exactly as a
local one (its format, its key, the inputs it records), then fetches the objects its outputs name through
`sync.fetch`, each verified by hash. Nothing a remote returns is used as a path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pivot_ci.errors import StateError
from pivot_ci.remote import base, sync
from pivot_ci.state import cache as cache_mod
from pivot_ci.state import fsutil, runcache

RUNS = base.Namespace.RUNS
MAX_ENTRY_BYTES = 4 * runcache.MAX_METRICS_BYTES  # an entry embeds at most this much metrics content
_BAD_HINT = "delete it from the remote: the next `pivot push` of the stage uploads a good one"


@dataclasses.dataclass(frozen=True, slots=True)
class EntrySync:
    transferred: int
    present: int  # entries the remote already had
    dry_run: bool


def push(cache_root: Path, remote: base.Remote, keys: Sequence[str], *, jobs: int,
         dry_run: bool) -> EntrySync:
    """Upload the local entries `keys` that the remote lacks (an entry already there is kept, never replaced)."""
    wanted = list(dict.fromkeys(keys))
    present = remote.has_many(wanted, jobs, RUNS) if wanted else set()
    send = [k for k in wanted if k not in present]
    if dry_run or not send:
        return EntrySync(len(send), len(present), dry_run)
    remote.prepare_upload()

    def upload(key: str) -> None:
        remote.upload(key, runcache.entry_path(cache_root, key), RUNS)

    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(send))), thread_name_prefix="pivot-runs") as pool:
        for _ in pool.map(upload, send):
            pass
    return EntrySync(len(send), len(present), False)


def _download(cache: cache_mod.Cache, remote: base.Remote, key: str) -> bytes | None:
    final = runcache.entry_path(cache.root, key)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = fsutil.temp_path(final)
    try:
        if not remote.download(key, tmp, RUNS):
            return None
        if tmp.stat().st_size > MAX_ENTRY_BYTES:
            raise remote.spec.bad_content(f"refused entry {base.rel_name(key, RUNS)}",
                                          f"{tmp.stat().st_size} bytes is too big for an entry", _BAD_HINT)
        return tmp.read_bytes()
    finally:
        tmp.unlink(missing_ok=True)


def lookup(cache: cache_mod.Cache, remote: base.Remote, key: str, inputs: runcache.Inputs, stage: str,
           jobs: int) -> runcache.Entry | None:
    """The remote's entry for `key` with its outputs fetched into `cache`; None when the remote has no entry,
    or no longer has all its outputs (such an entry is ignored, never trusted).

    BadContent for a corrupt entry or object; RemoteError when the remote cannot be asked.
    """
    data = _download(cache, remote, key)
    if data is None:
        return None
    name = base.rel_name(key, RUNS)
    try:
        entry = runcache.parse(data, key, inputs, f"{remote.spec.url}: {name}")
    except StateError as exc:
        why = exc.message.removeprefix(f"entry {key} ")
        raise base.BadContent(f"remote '{remote.spec.name}' ({remote.spec.url}): entry {name} {why}",
                              hint=_BAD_HINT) from None
    refs = [sync.OutRef(stage, o["path"], o["hash"]) for o in entry["outs"]]
    result = sync.fetch(cache, remote, refs, jobs=jobs, dry_run=False)
    return None if result.missing else entry
