"""Memos in one SQLite db per state dir: file hashes by (path, size, mtime_ns, inode), and derived values.

`file_hash` maps a file's stat to its content hash. `memo` maps a key to a value valid while a signature
the caller computes still matches (parsed lock files, code fingerprints). Both are only memos: losing the
db costs re-computation, never correctness.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

DB_NAME = "state.db"
_BUSY_TIMEOUT_S = 30.0
# SQLite primary result codes that mean "another connection holds the lock", not damage.
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
# ...and the ones that mean the file itself is bad (not a db, damaged, or a table of another shape).
_DAMAGED = frozenset({1, 11, 26})  # SQLITE_ERROR, SQLITE_CORRUPT, SQLITE_NOTADB
_SIDECARS = ("", "-wal", "-shm")

_Row = tuple[int, int, int, str]  # size, mtime_ns, inode, hash
_Memo = tuple[str, str]  # signature, value


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


class StateDB:
    """Memo of file hashes; loaded whole on first lookup, writes buffered until flush()."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._rows: dict[str, _Row] | None = None
        self._pending: dict[str, _Row] = {}
        self._memos: dict[str, _Memo] | None = None
        self._pending_memos: dict[str, _Memo] = {}
        self._disabled = False
        self._lock = threading.Lock()

    @classmethod
    def open(cls, state_dir: Path) -> StateDB:
        """Memo for `state_dir`; touches nothing on disk until first used."""
        return cls(state_dir / DB_NAME)

    def __enter__(self) -> StateDB:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def lookup(self, rel: str, st: os.stat_result) -> str | None:
        """The memoised hash of `rel` if its size, mtime_ns and inode are unchanged."""
        rows = self._rows if self._rows is not None else self._load()
        row = rows.get(rel)
        if row is None or row[0] != st.st_size or row[1] != st.st_mtime_ns or row[2] != st.st_ino:
            return None
        return row[3]

    def record(self, rel: str, st: os.stat_result, h: str) -> None:
        """Remember `rel`'s hash for this stat; written at the next flush()."""
        row = (st.st_size, st.st_mtime_ns, st.st_ino, h)
        with self._lock:
            self._pending[rel] = row
            if self._rows is not None:
                self._rows[rel] = row

    def memo_get(self, key: str, sig: str) -> str | None:
        """The value stored for `key` if it was stored with signature `sig`."""
        memos = self._memos if self._memos is not None else self._load_memos()
        found = memos.get(key)
        return found[1] if found is not None and found[0] == sig else None

    def memo_put(self, key: str, sig: str, value: str) -> None:
        """Remember `value` for `key` while `sig` holds; written at the next flush()."""
        with self._lock:
            self._pending_memos[key] = (sig, value)
            if self._memos is not None:
                self._memos[key] = (sig, value)

    def flush(self) -> None:
        """Write all recorded rows in one transaction."""
        with self._lock:
            if not self._pending and not self._pending_memos:
                return
            pending, self._pending = self._pending, {}
            memos, self._pending_memos = self._pending_memos, {}
            rows = [(p, *r) for p, r in pending.items()]
            memo_rows = [(k, *v) for k, v in memos.items()]
            self._run(lambda conn: self._write(conn, rows, memo_rows), "write")

    def close(self) -> None:
        """Flush and close the connection."""
        self.flush()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @staticmethod
    def _write(conn: sqlite3.Connection, rows: list[tuple[str, int, int, int, str]],
               memo_rows: list[tuple[str, str, str]]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("INSERT OR REPLACE INTO file_hash VALUES (?, ?, ?, ?, ?)", rows)
            conn.executemany("INSERT OR REPLACE INTO memo VALUES (?, ?, ?)", memo_rows)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _load(self) -> dict[str, _Row]:
        with self._lock:
            if self._rows is None:
                rows: dict[str, _Row] = {}

                def select(conn: sqlite3.Connection) -> None:
                    rows.clear()  # drop what a damaged db yielded before failing
                    cur = conn.execute("SELECT path, size, mtime_ns, inode, hash FROM file_hash")
                    rows.update((p, (s, m, i, h)) for p, s, m, i, h in cur)

                self._run(select, "read")
                rows.update(self._pending)
                self._rows = rows
            return self._rows

    def _load_memos(self) -> dict[str, _Memo]:
        with self._lock:
            if self._memos is None:
                memos: dict[str, _Memo] = {}

                def select(conn: sqlite3.Connection) -> None:
                    memos.clear()
                    memos.update((k, (s, v)) for k, s, v in conn.execute("SELECT key, sig, value FROM memo"))

                self._run(select, "read")
                memos.update(self._pending_memos)
                self._memos = memos
            return self._memos

    def _run(self, action: Callable[[sqlite3.Connection], None], what: str) -> None:
        # The db is only a memo: damage or contention degrades to re-hashing, never to a failed run.
        if self._disabled:
            return
        for attempt in range(2):
            try:
                action(self._connect())
                return
            except sqlite3.Error as exc:
                code = _primary_code(exc)
                if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
                    warnings.warn(f"{self.path}: busy, skipped {what} of the hash memo ({exc})", stacklevel=3)
                    return
                self._drop_connection()
                if attempt == 0 and code in _DAMAGED and self._move_aside(exc):
                    continue
                warnings.warn(f"{self.path}: unusable ({exc}); hash memo disabled", stacklevel=3)
                self._disabled = True
                return

    def _unlink_links(self) -> None:
        """SQLite opens its files through symbolic links: a link planted here would make pivot write a database
        elsewhere. Links are removed (the memo is only a memo) with a warning."""
        for suffix in _SIDECARS:
            path = self.path.with_name(DB_NAME + suffix)
            if os.path.islink(path):
                os.unlink(path)
                warnings.warn(f"{path}: was a symbolic link; removed (pivot keeps its hash memo in place)",
                              stacklevel=4)

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self._unlink_links()
            conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None,
                                   check_same_thread=False)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("CREATE TABLE IF NOT EXISTS file_hash (path TEXT PRIMARY KEY, size INT,"
                             " mtime_ns INT, inode INT, hash TEXT)")
                conn.execute("CREATE TABLE IF NOT EXISTS memo (key TEXT PRIMARY KEY, sig TEXT, value TEXT)")
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def _move_aside(self, exc: sqlite3.Error) -> bool:
        if not self.path.exists():
            return False  # nothing to move: the failure is elsewhere (e.g. a missing state dir)
        n = 1
        while self.path.with_name(f"{DB_NAME}.corrupt-{n}").exists():
            n += 1
        aside = self.path.with_name(f"{DB_NAME}.corrupt-{n}")
        for suffix in _SIDECARS:
            src = self.path.with_name(DB_NAME + suffix)
            try:
                os.replace(src, aside.with_name(aside.name + suffix))
            except FileNotFoundError:
                pass  # no such sidecar, or another process moved it first
            except OSError:
                return False
        warnings.warn(f"{self.path}: corrupt hash memo moved to {aside.name} ({exc}); starting afresh",
                      stacklevel=4)
        return True

