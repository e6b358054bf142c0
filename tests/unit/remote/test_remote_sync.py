"""push / fetch / available on a real cache and real remotes (a directory; S3 through moto)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pivot_ci.errors import RemoteError
from pivot_ci.remote import base, local, s3, sync
from pivot_ci.state import cache, hashing
from tests.support import s3server


def _store(c: cache.Cache, tmp_path: Path, files: dict[str, str]) -> tuple[str, list[str]]:
    """Store a tree of `files` in the cache: (tree hash, file hashes)."""
    src = tmp_path / "src"
    entries = []
    for rel, text in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
        entries.append((rel, hashing.hash_bytes(text.encode())))
    tree = hashing.tree_from_entries(entries)
    c.store_tree(src, tree)
    return tree.hash, [fh for _, fh in tree.entries]


def _file(c: cache.Cache, tmp_path: Path, text: str) -> str:
    path = tmp_path / f"f-{hashing.hash_bytes(text.encode())}"
    path.write_text(text)
    h = hashing.hash_file(path)
    c.store_file(path, h)
    return h


@pytest.fixture
def setup(tmp_path: Path) -> tuple[cache.Cache, cache.Cache, local.LocalRemote]:
    remote = local.LocalRemote(base.RemoteSpec("origin", str(tmp_path / "remote")), tmp_path)
    return cache.Cache(tmp_path / "c1"), cache.Cache(tmp_path / "c2"), remote


def test_round_trip_of_files_and_trees(setup: tuple[cache.Cache, cache.Cache, local.LocalRemote],
                                       tmp_path: Path) -> None:
    c1, c2, remote = setup
    tree, files = _store(c1, tmp_path, {"a.txt": "a", "sub/b.txt": "b", "dup.txt": "a"})
    f = _file(c1, tmp_path, "single")
    refs = [sync.OutRef("s", "out/", tree), sync.OutRef("s", "x.txt", f), sync.OutRef("t", "y.txt", f)]
    dry = sync.push(c1, remote, refs, jobs=2, dry_run=True)
    assert (dry.transferred, dry.present, dry.dry_run) == (4, 0, True) and not remote.root.exists()
    pushed = sync.push(c1, remote, refs, jobs=2, dry_run=False)
    assert (pushed.transferred, pushed.present, pushed.missing) == (4, 0, ())
    assert pushed.nbytes == sum(os.path.getsize(c1.object_path(k)) for k in {tree, f, *files})
    assert sync.available(c2, remote, [tree, f], 2) == {tree, f}
    fetched = sync.fetch(c2, remote, refs, jobs=3, dry_run=False)
    assert (fetched.transferred, fetched.present, fetched.missing) == (4, 0, ())
    assert c2.has(tree) and c2.has(f) and c2.verify(tree)
    again = sync.fetch(c2, remote, refs, jobs=3, dry_run=False)
    assert (again.transferred, again.present) == (0, 4)  # objects: the manifest, its 2 files, the file


def test_push_reports_outputs_missing_from_the_cache(setup: tuple[cache.Cache, cache.Cache, local.LocalRemote],
                                                     tmp_path: Path) -> None:
    c1, _, remote = setup
    tree, files = _store(c1, tmp_path, {"a.txt": "a", "b.txt": "b"})
    os.chmod(c1.object_path(files[0]), 0o644)
    c1.object_path(files[0]).unlink()
    ref = sync.OutRef("s", "out", tree)
    ghost = sync.OutRef("t", "gone.txt", "ab" * 16)
    result = sync.push(c1, remote, [ref, ghost], jobs=1, dry_run=False)
    assert result.missing == (ref, ghost) and result.transferred == 0


def test_a_manifest_is_adopted_only_with_its_files(setup: tuple[cache.Cache, cache.Cache, local.LocalRemote],
                                                   tmp_path: Path) -> None:
    c1, c2, remote = setup
    tree, files = _store(c1, tmp_path, {"a.txt": "a", "b.txt": "b"})
    ref = sync.OutRef("s", "out", tree)
    sync.push(c1, remote, [ref], jobs=1, dry_run=False)
    lost = remote.root / base.rel_name(files[1])
    os.chmod(lost, 0o644)
    lost.unlink()
    assert sync.available(c2, remote, [tree], 1) == {tree}  # the manifest vouches for what it lists
    assert sync.available(c1, remote, [tree], 1) == frozenset()  # unless the files are known and checked
    result = sync.fetch(c2, remote, [ref], jobs=2, dry_run=False)
    assert result.missing == (ref,)
    assert not c2.object_path(tree).exists() and c2.object_path(files[0]).exists()
    assert [p for p in (tmp_path / "c2").rglob("*") if p.name.endswith(".tmp")] == []


def test_a_corrupt_download_never_enters_the_cache(setup: tuple[cache.Cache, cache.Cache, local.LocalRemote],
                                                   tmp_path: Path) -> None:
    c1, c2, remote = setup
    f = _file(c1, tmp_path, "precious")
    sync.push(c1, remote, [sync.OutRef("s", "x", f)], jobs=1, dry_run=False)
    obj = remote.root / base.rel_name(f)
    os.chmod(obj, 0o644)
    obj.write_text("precious but changed")
    with pytest.raises(RemoteError, match=f"refused object {f}"):
        sync.fetch(c2, remote, [sync.OutRef("s", "x", f)], jobs=1, dry_run=False)
    assert not c2.object_path(f).exists()
    assert [p for p in (tmp_path / "c2").rglob("*") if p.is_file()] == []


def test_a_hostile_manifest_is_refused(setup: tuple[cache.Cache, cache.Cache, local.LocalRemote]) -> None:
    _, c2, remote = setup
    data = b'[["../../../etc/evil","00"]]'
    h = hashing.hash_bytes(data) + hashing.DIR_SUFFIX  # the name matches the content: only the entries are bad
    (remote.root / base.rel_name(h)).parent.mkdir(parents=True)
    (remote.root / base.rel_name(h)).write_bytes(data)
    with pytest.raises(RemoteError, match="bad entry"):
        sync.fetch(c2, remote, [sync.OutRef("s", "d", h)], jobs=1, dry_run=False)
    assert not c2.object_path(h).exists()


def test_fetch_reports_what_the_remote_lacks(setup: tuple[cache.Cache, cache.Cache, local.LocalRemote]) -> None:
    _, c2, remote = setup
    remote.root.mkdir()
    refs = [sync.OutRef("s", "x", "ab" * 16), sync.OutRef("s", "d", "cd" * 16 + ".dir")]
    assert sync.fetch(c2, remote, refs, jobs=1, dry_run=True).missing == tuple(refs)
    assert sync.fetch(c2, remote, refs, jobs=1, dry_run=False).missing == tuple(refs)


def test_a_missing_remote_directory_is_an_error_for_fetch(tmp_path: Path) -> None:
    remote = local.LocalRemote(base.RemoteSpec("nas", "/nonexistent/mount/pivot"), tmp_path)
    with pytest.raises(RemoteError, match=r"remote 'nas' \(/nonexistent/mount/pivot\): not a directory"):
        sync.fetch(cache.Cache(tmp_path / "c"), remote, [sync.OutRef("s", "x", "ab" * 16)], jobs=1, dry_run=False)


def test_s3_round_trip_and_listing_validation(s3_server: s3server.MotoServer, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in s3server.DUMMY_ENV.items():
        monkeypatch.setenv(key, value)
    bucket = s3_server.new_bucket()
    spec = base.RemoteSpec("s3", f"s3://{bucket}/p", endpoint_url=s3_server.endpoint)
    remote = s3.S3Remote(spec, jobs=4)
    c1, c2 = cache.Cache(tmp_path / "c1"), cache.Cache(tmp_path / "c2")
    tree, files = _store(c1, tmp_path, {f"f{i}.txt": f"content {i}" for i in range(40)})
    ref = sync.OutRef("s", "out", tree)
    assert sync.push(c1, remote, [ref], jobs=4, dry_run=False).transferred == 41
    assert remote.has_many(files, 4) == set(files)  # listing (many keys)
    assert remote.has_many(files[:2] + ["ee" * 16], 4) == set(files[:2])  # HEAD (few keys)
    assert sync.fetch(c2, remote, [ref], jobs=4, dry_run=False).transferred == 41 and c2.verify(tree)
    s3_server.client().put_object(Bucket=bucket, Key=f"p/files/{files[0][:2]}/../../x", Body=b"")
    with pytest.raises(RemoteError, match="refused object key in listing"):
        remote.list_prefix(files[0][:2])
    remote.close()
