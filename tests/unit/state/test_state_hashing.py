from __future__ import annotations

import json
import os
from pathlib import Path

import xxhash

from pivot_ci.state import hashing, statedb

OLD_NS = 1_600_000_000 * 10**9  # well outside the racy window


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, ns=(OLD_NS, OLD_NS))
    return path


def test_hash_bytes_is_xxh3_128() -> None:
    assert hashing.HASH_NAME == "xxh3_128"
    assert hashing.hash_bytes(b"abc") == xxhash.xxh3_128_hexdigest(b"abc")


def test_hash_file_small_and_streamed(tmp_path: Path) -> None:
    small = _write(tmp_path / "small", b"hello")
    big_data = os.urandom(3 * (1 << 20) + 17)
    big = _write(tmp_path / "big", big_data)
    exact = _write(tmp_path / "exact", big_data[: 1 << 20])
    assert hashing.hash_file(small) == hashing.hash_bytes(b"hello")
    assert hashing.hash_file(big) == hashing.hash_bytes(big_data)
    assert hashing.hash_file(exact) == hashing.hash_bytes(big_data[: 1 << 20])


def test_dir_hash_matches_manifest_definition(tmp_path: Path) -> None:
    _write(tmp_path / "d" / "b.txt", b"b")
    _write(tmp_path / "d" / "sub" / "a.txt", b"a")
    with statedb.StateDB.open(tmp_path) as db:
        tree = hashing.PathHasher(tmp_path, db).tree("d")
    entries = [["b.txt", hashing.hash_bytes(b"b")], ["sub/a.txt", hashing.hash_bytes(b"a")]]
    manifest = json.dumps(entries, separators=(",", ":")).encode()
    assert tree is not None
    assert tree.hash == hashing.hash_bytes(manifest) + hashing.DIR_SUFFIX
    assert tree.entries == tuple(tuple(e) for e in entries)


def test_dir_hash_is_stable_and_order_independent(tmp_path: Path) -> None:
    names = [f"f{i}/n{i % 3}.txt" for i in range(20)]
    for name in names:
        _write(tmp_path / "one" / name, name.encode())
    for name in reversed(names):
        _write(tmp_path / "two" / name, name.encode())
    with statedb.StateDB.open(tmp_path) as db:
        hasher = hashing.PathHasher(tmp_path, db)
        first = hasher.path("one")
        assert first == hasher.path("two") == hasher.path("one")
    with statedb.StateDB.open(tmp_path) as db:
        assert hashing.PathHasher(tmp_path, db).path("one/") == first


def test_dir_hash_skips_state_dirs_and_follows_file_symlinks(tmp_path: Path) -> None:
    _write(tmp_path / "plain" / "x", b"x")
    _write(tmp_path / "noisy" / "x", b"x")
    _write(tmp_path / "noisy" / ".pivot" / "state", b"s")
    _write(tmp_path / "noisy" / "pkg" / "__pycache__" / "m.pyc", b"c")
    _write(tmp_path / "target", b"y")
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "x").symlink_to(tmp_path / "plain" / "x")
    (tmp_path / "linked" / "dangling").symlink_to(tmp_path / "nowhere")
    with statedb.StateDB.open(tmp_path) as db:
        hasher = hashing.PathHasher(tmp_path, db)
        assert hasher.path("noisy") == hasher.path("plain") == hasher.path("linked")


def test_path_dispatches_and_reports_missing(tmp_path: Path) -> None:
    _write(tmp_path / "f", b"data")
    (tmp_path / "d").mkdir()
    with statedb.StateDB.open(tmp_path) as db:
        hasher = hashing.PathHasher(tmp_path, db)
        assert hasher.path("f") == hasher.file("f") == hashing.hash_bytes(b"data")
        assert hasher.path("d") == hashing.hash_bytes(b"[]") + ".dir"
        assert hasher.path("missing") is None
        assert hasher.path("f/below") is None
        assert hasher.file("d") is None
        assert hasher.tree("f") is None
        assert hasher.tree("missing") is None


def test_file_hash_comes_from_memo_when_stat_unchanged(tmp_path: Path) -> None:
    f = _write(tmp_path / "f", b"data")
    with statedb.StateDB.open(tmp_path) as db:
        db.record("f", os.stat(f), "memoised")
    with statedb.StateDB.open(tmp_path) as db:
        assert hashing.PathHasher(tmp_path, db).file("f") == "memoised"


def test_new_hashes_are_recorded_in_memo(tmp_path: Path) -> None:
    _write(tmp_path / "d" / "a", b"a")
    with statedb.StateDB.open(tmp_path) as db:
        hashing.PathHasher(tmp_path, db).tree("d")
    with statedb.StateDB.open(tmp_path) as db:
        assert db.lookup("d/a", os.stat(tmp_path / "d" / "a")) == hashing.hash_bytes(b"a")


def test_recently_modified_file_is_not_memoised(tmp_path: Path) -> None:
    f = tmp_path / "fresh"
    f.write_bytes(b"now")
    with statedb.StateDB.open(tmp_path) as db:
        assert hashing.PathHasher(tmp_path, db).file("fresh") == hashing.hash_bytes(b"now")
    with statedb.StateDB.open(tmp_path) as db:
        assert db.lookup("fresh", os.stat(f)) is None


def test_edit_changes_hash_despite_memo(tmp_path: Path) -> None:
    f = _write(tmp_path / "f", b"one")
    with statedb.StateDB.open(tmp_path) as db:
        hasher = hashing.PathHasher(tmp_path, db)
        before = hasher.file("f")
        f.write_bytes(b"two!")
        assert hasher.file("f") == hashing.hash_bytes(b"two!") != before
