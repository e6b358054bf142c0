"""Run-cache entries on real remotes (a directory; S3 through moto): push, lookup, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from pivot_ci.remote import base, local, s3
from pivot_ci.remote import runs as remote_runs
from pivot_ci.state import cache, hashing, runcache
from tests.support import s3server

RUNS = base.Namespace.RUNS


def _entry(c: cache.Cache, tmp_path: Path, text: str) -> tuple[runcache.Inputs, runcache.Entry]:
    """An entry for one output whose object (content `text`) is in cache `c`, stored in `c`'s run cache."""
    src = tmp_path / f"out-{hashing.hash_bytes(text.encode())}"
    src.write_text(text)
    h = hashing.hash_file(src)
    c.store_file(src, h)
    inputs = runcache.make_inputs(cmd=f"make {text}", code=None, cwd=".", params={}, deps={},
                                  outs=[("out.txt", False)], metrics=[])
    entry = runcache.new_entry(inputs, [{"path": "out.txt", "hash": h}], [], 0.5)
    runcache.write(c.root, entry)
    return inputs, entry


@pytest.fixture
def caches(tmp_path: Path) -> tuple[cache.Cache, cache.Cache, local.LocalRemote]:
    remote = local.LocalRemote(base.RemoteSpec("origin", str(tmp_path / "remote")), tmp_path)
    return cache.Cache(tmp_path / "a"), cache.Cache(tmp_path / "b"), remote


def test_push_then_lookup_fetches_the_outputs(caches: tuple[cache.Cache, cache.Cache, local.LocalRemote],
                                              tmp_path: Path) -> None:
    a, b, remote = caches
    inputs, entry = _entry(a, tmp_path, "model v1")
    key, h = entry["key"], entry["outs"][0]["hash"]
    assert remote_runs.push(a.root, remote, [key], jobs=2, dry_run=True).transferred == 1
    assert remote_runs.lookup(b, remote, key, inputs, "train", 2) is None  # nothing pushed yet (dry run)
    # objects first (as `pivot push` does), then the entry
    remote.prepare_upload()
    remote.upload(h, a.object_path(h))
    assert remote_runs.push(a.root, remote, [key, key], jobs=2, dry_run=False) == remote_runs.EntrySync(1, 0, False)
    assert remote_runs.push(a.root, remote, [key], jobs=2, dry_run=False) == remote_runs.EntrySync(0, 1, False)
    assert remote_runs.lookup(b, remote, key, inputs, "train", 2) == entry
    assert b.verify(h)
    assert not list((b.root / "runs").rglob(".*"))  # the downloaded entry's temporary file is gone


def test_an_entry_whose_outputs_left_the_remote_is_ignored(caches: tuple[cache.Cache, cache.Cache,
                                                                         local.LocalRemote], tmp_path: Path) -> None:
    a, b, remote = caches
    inputs, entry = _entry(a, tmp_path, "model v2")
    remote_runs.push(a.root, remote, [entry["key"]], jobs=1, dry_run=False)  # without its object
    assert remote_runs.lookup(b, remote, entry["key"], inputs, "train", 1) is None


def test_a_bad_entry_on_the_remote_is_bad_content(caches: tuple[cache.Cache, cache.Cache, local.LocalRemote],
                                                  tmp_path: Path) -> None:
    a, b, remote = caches
    inputs, entry = _entry(a, tmp_path, "model v3")
    other_inputs, _ = _entry(a, tmp_path, "model v4")
    key = entry["key"]
    remote.prepare_upload()
    bogus = tmp_path / "bogus"
    bogus.write_bytes(runcache.dumps(entry))
    remote.upload(runcache.key_of(other_inputs), bogus, RUNS)  # a good entry under another entry's key
    with pytest.raises(base.BadContent, match=r"remote 'origin' .*: entry runs/\w\w/\w+ is corrupt") as exc:
        remote_runs.lookup(b, remote, runcache.key_of(other_inputs), other_inputs, "train", 1)
    assert exc.value.hint is not None and "delete it from the remote" in exc.value.hint
    bogus.write_bytes(b" " * (remote_runs.MAX_ENTRY_BYTES + 1))
    remote.upload(key, bogus, RUNS)
    with pytest.raises(base.BadContent, match="too big for an entry"):
        remote_runs.lookup(b, remote, key, inputs, "train", 1)


def test_s3_keeps_entries_under_runs_and_validates_its_listing(s3_server: s3server.MotoServer, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in s3server.DUMMY_ENV.items():
        monkeypatch.setenv(name, value)
    bucket = s3_server.new_bucket()
    remote = s3.S3Remote(base.RemoteSpec("s3", f"s3://{bucket}/p", endpoint_url=s3_server.endpoint), jobs=4)
    src = tmp_path / "entry"
    src.write_text("{}")
    keys = [f"aa{i:030x}" for i in range(6)]  # one prefix, many keys: has_many lists runs/aa/
    for key in keys:
        remote.upload(key, src, RUNS)
    assert remote.has_many(keys, 4, RUNS) == set(keys)
    assert remote.has_many(keys, 4) == set()  # not objects
    assert remote.has_many(keys[:1], 4, RUNS) == set(keys[:1])  # HEAD
    assert remote.download(keys[0], tmp_path / "back", RUNS) and (tmp_path / "back").read_text() == "{}"
    s3_server.client().put_object(Bucket=bucket, Key="p/runs/aa/../../x", Body=b"")
    with pytest.raises(base.RemoteError, match="refused run-cache key in listing"):
        remote.has_many(keys, 4, RUNS)
    remote.close()
