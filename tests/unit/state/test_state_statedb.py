from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from pivot_ci.state import statedb

REPO = Path(__file__).resolve().parents[3]

_WRITER = """
import os, sys, warnings
from pathlib import Path
from pivot_ci.state import statedb
warnings.simplefilter("error")
state, tag, f = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
st = os.stat(f)
for round in range(30):
    with statedb.StateDB.open(state) as db:
        db.lookup("x", st)
        for i in range(50):
            db.record(f"{tag}/{round}/{i}", st, "h")
"""


def _file(path: Path, data: bytes = b"data") -> os.stat_result:
    path.write_bytes(data)
    return os.stat(path)


def test_open_touches_nothing_until_used(tmp_path: Path) -> None:
    db = statedb.StateDB.open(tmp_path)
    db.close()
    assert list(tmp_path.iterdir()) == []


def test_record_flush_and_lookup_across_instances(tmp_path: Path) -> None:
    st = _file(tmp_path / "f")
    with statedb.StateDB.open(tmp_path) as db:
        assert db.lookup("f", st) is None
        db.record("f", st, "h1")
        assert db.lookup("f", st) == "h1"
    with statedb.StateDB.open(tmp_path) as db:
        assert db.lookup("f", st) == "h1"
    conn = sqlite3.connect(tmp_path / "state.db")
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("SELECT path, size, mtime_ns, inode, hash FROM file_hash").fetchall() == [
        ("f", st.st_size, st.st_mtime_ns, st.st_ino, "h1")
    ]
    conn.close()


def test_memo_misses_on_size_change(tmp_path: Path) -> None:
    f = tmp_path / "f"
    st = _file(f, b"abc")
    with statedb.StateDB.open(tmp_path) as db:
        db.record("f", st, "h")
        f.write_bytes(b"abcd")
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert db.lookup("f", os.stat(f)) is None


def test_memo_misses_on_mtime_change(tmp_path: Path) -> None:
    f = tmp_path / "f"
    st = _file(f)
    with statedb.StateDB.open(tmp_path) as db:
        db.record("f", st, "h")
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
        assert db.lookup("f", os.stat(f)) is None


def test_memo_misses_on_inode_change(tmp_path: Path) -> None:
    f = tmp_path / "f"
    st = _file(f, b"abc")
    keep = tmp_path / "keep"  # holds the old inode so the new file cannot reuse it
    os.link(f, keep)
    f.unlink()
    _file(f, b"xyz")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    new = os.stat(f)
    assert (new.st_size, new.st_mtime_ns) == (st.st_size, st.st_mtime_ns) and new.st_ino != st.st_ino
    with statedb.StateDB.open(tmp_path) as db:
        db.record("f", st, "h")
    with statedb.StateDB.open(tmp_path) as db:
        assert db.lookup("f", st) == "h"
        assert db.lookup("f", new) is None


def test_corrupt_db_is_moved_aside_and_replaced(tmp_path: Path) -> None:
    (tmp_path / "state.db").write_bytes(b"this is not a sqlite database at all" * 100)
    st = _file(tmp_path / "f")
    with statedb.StateDB.open(tmp_path) as db, pytest.warns(UserWarning, match="corrupt"):
        assert db.lookup("f", st) is None
    assert (tmp_path / "state.db.corrupt-1").read_bytes().startswith(b"this is not")
    with statedb.StateDB.open(tmp_path) as db:
        db.record("f", st, "h")
    with statedb.StateDB.open(tmp_path) as db:
        assert db.lookup("f", st) == "h"


def test_db_with_foreign_table_shape_is_replaced(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "state.db")
    conn.execute("CREATE TABLE file_hash (path TEXT PRIMARY KEY, checksum TEXT)")
    conn.commit()
    conn.close()
    (tmp_path / "state.db.corrupt-1").write_bytes(b"older")
    st = _file(tmp_path / "f")
    with pytest.warns(UserWarning, match="corrupt-2"), statedb.StateDB.open(tmp_path) as db:
        db.record("f", st, "h")
    with statedb.StateDB.open(tmp_path) as db:
        assert db.lookup("f", st) == "h"


def test_unusable_location_degrades_to_no_memo(tmp_path: Path) -> None:
    st = _file(tmp_path / "f")
    with pytest.warns(UserWarning, match="disabled"), statedb.StateDB.open(tmp_path / "missing") as db:
        assert db.lookup("f", st) is None
        db.record("f", st, "h")
        assert db.lookup("f", st) == "h"


def test_concurrent_processes_share_the_db(tmp_path: Path) -> None:
    f = tmp_path / "f"
    _file(f)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), f"p{i}", str(f)], env=env,
                              stderr=subprocess.PIPE, text=True) for i in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    conn = sqlite3.connect(tmp_path / "state.db")
    assert conn.execute("SELECT count(*) FROM file_hash").fetchone() == (4 * 30 * 50,)
    conn.close()
