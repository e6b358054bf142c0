from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pivot_ci.errors import StateError
from pivot_ci.state import cache, hashing, statedb


def _tree(tmp_path: Path, src: Path) -> hashing.TreeHash:
    with statedb.StateDB.open(tmp_path) as db:
        tree = hashing.PathHasher(tmp_path, db).tree(src.relative_to(tmp_path).as_posix())
    assert tree is not None
    return tree


def _make_src(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    for rel, data in {"a.txt": "a", "sub/b.txt": "b", "sub/deeper/c.txt": "c", "dup.txt": "a"}.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(data)
    return src


def _contents(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def _leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


@pytest.fixture
def store(tmp_path: Path) -> cache.Cache:
    return cache.Cache(tmp_path / ".pivot" / "cache")


def test_object_layout(store: cache.Cache) -> None:
    assert store.object_path("abcdef") == store.root / "files" / "ab" / "cdef"
    assert store.object_path("abcdef.dir") == store.root / "files" / "ab" / "cdef.dir"
    with pytest.raises(StateError):
        store.object_path("../../etc")


def test_store_file_is_read_only_and_idempotent(tmp_path: Path, store: cache.Cache) -> None:
    src = tmp_path / "f"
    src.write_text("hello")
    h = hashing.hash_file(src)
    assert not store.has(h)
    store.store_file(src, h)
    store.store_file(src, h)
    obj = store.object_path(h)
    assert store.has(h) and obj.read_text() == "hello"
    assert stat.S_IMODE(obj.stat().st_mode) == 0o444
    assert _leftovers(obj.parent) == []
    assert store.verify(h)


def test_store_file_from_missing_source_leaves_nothing(tmp_path: Path, store: cache.Cache) -> None:
    with pytest.raises(FileNotFoundError):
        store.store_file(tmp_path / "missing", "0123456789abcdef")
    obj = store.object_path("0123456789abcdef")
    assert not obj.exists() and _leftovers(obj.parent) == []


@pytest.mark.parametrize("mode", list(cache.LinkMode))
def test_file_round_trip(tmp_path: Path, store: cache.Cache, mode: cache.LinkMode) -> None:
    src = tmp_path / "f"
    src.write_text("content")
    h = hashing.hash_file(src)
    store.store_file(src, h)
    dest = tmp_path / "out" / "restored"
    dest.parent.mkdir()
    dest.write_text("old")
    store.restore(h, dest, mode)
    assert dest.read_text() == "content"
    assert _leftovers(dest.parent) == []
    match mode:
        case cache.LinkMode.SYMLINK:
            assert dest.is_symlink() and dest.resolve() == store.object_path(h).resolve()
        case cache.LinkMode.HARDLINK:
            assert dest.stat().st_ino == store.object_path(h).stat().st_ino
        case _:
            assert not dest.is_symlink() and dest.stat().st_ino != store.object_path(h).stat().st_ino
            assert stat.S_IMODE(dest.stat().st_mode) == 0o644
    assert store.verify(h)


@pytest.mark.parametrize("mode", list(cache.LinkMode))
def test_tree_round_trip(tmp_path: Path, store: cache.Cache, mode: cache.LinkMode) -> None:
    src = _make_src(tmp_path)
    tree = _tree(tmp_path, src)
    store.store_tree(src, tree)
    assert store.has(tree.hash) and store.verify(tree.hash)
    assert store.read_tree(tree.hash) == tree
    dest = tmp_path / "dest"
    (dest / "stale").mkdir(parents=True)
    (dest / "stale" / "gone.txt").write_text("old")
    store.restore(tree.hash, dest, mode)
    assert _contents(dest) == _contents(src)
    assert _tree(tmp_path, dest).hash == tree.hash
    assert _leftovers(tmp_path) == []
    if mode in (cache.LinkMode.COPY, cache.LinkMode.REFLINK):
        (dest / "a.txt").write_text("writable")


def test_tree_restore_replaces_a_file_and_file_restore_replaces_a_tree(tmp_path: Path,
                                                                      store: cache.Cache) -> None:
    src = _make_src(tmp_path)
    tree = _tree(tmp_path, src)
    store.store_tree(src, tree)
    h = hashing.hash_file(src / "a.txt")
    dest = tmp_path / "dest"
    dest.write_text("a file")
    store.restore(tree.hash, dest)
    assert _contents(dest) == _contents(src)
    store.restore(h, dest)
    assert dest.read_text() == "a"


def test_empty_tree_round_trip(tmp_path: Path, store: cache.Cache) -> None:
    (tmp_path / "empty").mkdir()
    tree = _tree(tmp_path, tmp_path / "empty")
    store.store_tree(tmp_path / "empty", tree)
    store.restore(tree.hash, tmp_path / "dest")
    assert (tmp_path / "dest").is_dir() and list((tmp_path / "dest").iterdir()) == []


def test_interrupted_tree_restore_leaves_dest_untouched(tmp_path: Path, store: cache.Cache) -> None:
    src = _make_src(tmp_path)
    tree = _tree(tmp_path, src)
    store.store_tree(src, tree)
    # Entries are restored in order: losing a late object fails the restore after earlier files were placed.
    late = dict(tree.entries)["sub/deeper/c.txt"]
    obj = store.object_path(late)
    os.chmod(obj, 0o644)
    obj.unlink()
    assert not store.has(tree.hash) and not store.verify(tree.hash)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep.txt").write_text("previous")
    with pytest.raises(StateError, match=late):
        store.restore(tree.hash, dest)
    assert _contents(dest) == {"keep.txt": "previous"}
    assert _leftovers(tmp_path) == []
    with pytest.raises(StateError):
        store.restore(tree.hash, tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists() and _leftovers(tmp_path) == []


def test_corrupt_manifest_raises_naming_it(tmp_path: Path, store: cache.Cache) -> None:
    src = _make_src(tmp_path)
    tree = _tree(tmp_path, src)
    store.store_tree(src, tree)
    manifest = store.object_path(tree.hash)
    os.chmod(manifest, 0o644)
    manifest.write_bytes(b'[["a.txt", "0123')
    with pytest.raises(StateError) as info:
        store.read_tree(tree.hash)
    assert tree.hash in info.value.message and info.value.file == str(manifest)
    assert not store.verify(tree.hash) and not store.has(tree.hash)
    with pytest.raises(StateError, match=tree.hash):
        store.restore(tree.hash, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_manifest_escaping_its_directory_is_corrupt(tmp_path: Path, store: cache.Cache) -> None:
    entries = (("../evil", hashing.hash_bytes(b"x")),)
    data = hashing.manifest_bytes(entries)
    h = hashing.hash_bytes(data) + hashing.DIR_SUFFIX
    store.object_path(h).parent.mkdir(parents=True)
    store.object_path(h).write_bytes(data)
    with pytest.raises(StateError, match="corrupt"):
        store.read_tree(h)


def test_store_tree_refuses_mismatched_hash(tmp_path: Path, store: cache.Cache) -> None:
    src = _make_src(tmp_path)
    tree = _tree(tmp_path, src)
    with pytest.raises(StateError):
        store.store_tree(src, hashing.TreeHash("0" * 32 + ".dir", tree.entries))


def test_verify_detects_altered_object(tmp_path: Path, store: cache.Cache) -> None:
    src = tmp_path / "f"
    src.write_text("content")
    h = hashing.hash_file(src)
    store.store_file(src, h)
    obj = store.object_path(h)
    os.chmod(obj, 0o644)
    obj.write_text("tampered")
    assert not store.verify(h)
    assert not store.verify("0123456789abcdef")


def test_quarantine_moves_a_bad_object_aside_and_never_deletes_it(tmp_path: Path) -> None:
    c = cache.Cache(tmp_path / "cache")
    src = tmp_path / "f.txt"
    src.write_text("good")
    h = hashing.hash_file(src)
    for round_ in range(2):
        c.store_file(src, h)
        obj = c.object_path(h)
        os.chmod(obj, 0o644)
        obj.write_text(f"flipped {round_}")
        assert not c.verify(h)
        moved = c.quarantine(h)
        assert moved is not None and moved.parent == tmp_path / "cache" / "bad"
        assert moved.read_text() == f"flipped {round_}"
        assert not obj.exists()
    assert sorted(p.name for p in (tmp_path / "cache" / "bad").iterdir()) == [h, f"{h}.2"]
    assert c.quarantine(h) is None


def test_objects_lists_every_object_and_skips_temporary_and_foreign_files(tmp_path: Path, store: cache.Cache) -> None:
    src = _make_src(tmp_path)
    tree = _tree(tmp_path, src)
    store.store_tree(src, tree)
    (store.root / "files" / "ab").mkdir(parents=True, exist_ok=True)
    (store.root / "files" / "ab" / ".cdef.123.tmp").write_text("half")  # a write in progress
    (store.root / "files" / "ab" / "NOTES").write_text("not an object")
    (store.root / "files" / "README").write_text("not a directory of objects")
    listed = dict(store.objects())
    assert set(listed) == {tree.hash} | {h for _, h in tree.entries}
    assert listed[tree.hash].st_size == len(hashing.manifest_bytes(tree.entries))
    assert list(cache.Cache(tmp_path / "nowhere").objects()) == []
    first = tree.entries[0][1]
    assert store.delete(first) and not store.object_path(first).exists()
    assert not store.delete(first)  # already gone
