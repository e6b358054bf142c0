"""Content hashes of files and directory trees, memoised through the state db."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import xxhash

from pivot_ci.state import statedb

HASH_NAME = "xxh3_128"
DIR_SUFFIX = ".dir"
SKIP_DIRS = frozenset({".pivot", "__pycache__"})

_CHUNK = 1 << 20
# A file modified within the filesystem's timestamp granularity after we hashed it keeps its
# (size, mtime_ns, inode): memoising such "racy" files could hide an edit, so recent ones are not recorded.
_RACY_NS = 2_000_000_000


@dataclass(frozen=True, slots=True)
class TreeHash:
    """A directory's hash and its sorted (relative POSIX path, file hash) entries."""

    hash: str
    entries: tuple[tuple[str, str], ...]


def hash_bytes(data: bytes) -> str:
    """Hex digest of `data`."""
    return str(xxhash.xxh3_128_hexdigest(data))


def hash_file(path: Path | str) -> str:
    """Hex digest of a file's content, streamed in 1 MiB chunks."""
    with open(path, "rb", buffering=0) as f:
        data = f.read(_CHUNK)
        if len(data) < _CHUNK:
            return hash_bytes(data)
        h = xxhash.xxh3_128(data)
        while chunk := f.read(_CHUNK):
            h.update(chunk)
        return str(h.hexdigest())


def manifest_bytes(entries: Sequence[tuple[str, str]]) -> bytes:
    """Canonical JSON of a tree's entries: the bytes its hash is taken over."""
    return json.dumps([list(e) for e in entries], separators=(",", ":")).encode()


def tree_from_entries(entries: Sequence[tuple[str, str]]) -> TreeHash:
    """Sort `entries` and hash their manifest."""
    ordered = tuple(sorted(entries))
    return TreeHash(hash_bytes(manifest_bytes(ordered)) + DIR_SUFFIX, ordered)


def is_tree_hash(h: str) -> bool:
    """True for a directory's hash."""
    return h.endswith(DIR_SUFFIX)


def _norm(rel: str) -> str:
    rel = rel.strip("/")
    return "" if rel == "." else rel


class PathHasher:
    """Hashes project-relative paths, reusing memoised hashes of unchanged files."""

    def __init__(self, project_root: Path, db: statedb.StateDB) -> None:
        self._root = os.fspath(project_root)
        self._db = db

    def _abs(self, rel: str) -> str:
        return f"{self._root}/{rel}" if rel else self._root  # `rel` is normalised (_norm): never absolute

    def _hash_stat(self, abs_path: str, key: str, st: os.stat_result) -> str:
        memo = self._db.lookup(key, st)
        if memo is not None:
            return memo
        h = hash_file(abs_path)
        if time.time_ns() - st.st_mtime_ns >= _RACY_NS:
            self._db.record(key, st, h)
        return h

    def _stat(self, rel: str) -> tuple[str, str, os.stat_result | None]:
        """(normalised rel, absolute path, stat or None when missing)."""
        rel = _norm(rel)
        abs_path = self._abs(rel)
        try:
            return rel, abs_path, os.stat(abs_path)
        except (FileNotFoundError, NotADirectoryError):
            return rel, abs_path, None

    def file(self, rel: str) -> str | None:
        """Hash of a regular file (symlinks followed); None when missing or not a file."""
        rel, abs_path, st = self._stat(rel)
        if st is None or not stat.S_ISREG(st.st_mode):
            return None
        return self._hash_stat(abs_path, rel, st)

    def tree(self, rel: str, sizes: list[int] | None = None) -> TreeHash | None:
        """Hash of a directory over every regular file below it; None when not a directory.

        `sizes`, when given, receives each file's size in bytes (tracked data records its total).
        """
        rel = _norm(rel)
        abs_path = self._abs(rel)
        if not os.path.isdir(abs_path):
            return None
        return tree_from_entries(self._walk(abs_path, rel + "/" if rel else "", sizes))

    def path(self, rel: str) -> str | None:
        """Tree hash for a directory, file hash for a file, None when missing."""
        rel, abs_path, st = self._stat(rel)
        if st is None:
            return None
        if stat.S_ISDIR(st.st_mode):
            tree = self.tree(rel)
            return None if tree is None else tree.hash
        if stat.S_ISREG(st.st_mode):
            return self._hash_stat(abs_path, rel, st)
        return None

    def _walk(self, top: str, key_prefix: str, sizes: list[int] | None = None) -> list[tuple[str, str]]:
        """(path relative to `top`, hash) of every regular file below `top`; iterative, so any depth works.
        `sizes`, when given, receives each file's size."""
        out: list[tuple[str, str]] = []
        todo = [(top, "")]
        while todo:
            abs_dir, prefix = todo.pop()
            with os.scandir(abs_dir) as it:
                for entry in it:
                    # Directory symlinks are not followed: they could loop, and they are not content we own.
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name not in SKIP_DIRS:
                            todo.append((entry.path, f"{prefix}{entry.name}/"))
                        continue
                    try:
                        st = entry.stat()  # follows a file symlink to its target's content
                    except (FileNotFoundError, NotADirectoryError):
                        continue  # dangling symlink
                    if stat.S_ISREG(st.st_mode):
                        h = self._hash_stat(entry.path, key_prefix + prefix + entry.name, st)
                        out.append((prefix + entry.name, h))
                        if sizes is not None:
                            sizes.append(st.st_size)
        return out
