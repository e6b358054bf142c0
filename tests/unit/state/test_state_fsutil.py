from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pivot_ci.state import fsutil

REPO = Path(__file__).resolve().parents[3]

_HOLDER = """
import sys
from pathlib import Path
from pivot_ci.state import fsutil
with fsutil.hold_locks([Path(sys.argv[1])], command="child-cmd"):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_atomic_write_creates_parents_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "f.txt"
    fsutil.atomic_write(target, b"one")
    fsutil.atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.txt"]


def test_atomic_write_leaves_no_temp_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "dir"
    (target / "child").mkdir(parents=True)
    with pytest.raises(OSError):
        fsutil.atomic_write(target, b"data")  # cannot replace a non-empty directory
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir"]


def test_temp_path_is_unique_hidden_sibling(tmp_path: Path) -> None:
    a, b = fsutil.temp_path(tmp_path / "x"), fsutil.temp_path(tmp_path / "x")
    assert a != b
    assert a.parent == tmp_path and a.name.startswith(".x.") and a.name.endswith(".tmp")


def test_remove_path_handles_files_links_trees_and_missing(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    tree = tmp_path / "t" / "u"
    tree.mkdir(parents=True)
    (tree / "g").write_text("y")
    (tree / "g").chmod(0o444)
    link = tmp_path / "l"
    link.symlink_to(tmp_path / "t")
    fsutil.remove_path(link)
    assert (tmp_path / "t").is_dir()
    fsutil.remove_path(f)
    fsutil.remove_path(tmp_path / "t")
    fsutil.remove_path(tmp_path / "missing")
    assert list(tmp_path.iterdir()) == []


def test_hold_locks_dedupes_creates_and_records_holder(tmp_path: Path) -> None:
    lock = tmp_path / "state" / "repro.lock"
    with fsutil.hold_locks([lock, lock, tmp_path / "state" / ".." / "state" / "repro.lock"], command="repro"):
        assert lock.read_text() == f"pid {os.getpid()}: repro\n"
    assert lock.read_text() == ""


def test_hold_locks_waits_for_another_process(tmp_path: Path) -> None:
    lock = tmp_path / "repro.lock"
    other = tmp_path / "other.lock"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", _HOLDER, str(lock)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=env)
    # Whatever goes wrong below, the child dies within the bound and the kernel drops its lock.
    watchdog = threading.Timer(30, child.kill)
    watchdog.start()
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline() == "held\n"
        waits: list[tuple[Path, str]] = []

        def on_wait(path: Path, holder: str) -> None:
            waits.append((path, holder))
            assert child.stdin is not None
            child.stdin.write("release\n")
            child.stdin.flush()

        with fsutil.hold_locks([lock, other], command="mine", on_wait=on_wait):
            assert lock.read_text() == f"pid {os.getpid()}: mine\n"
        assert waits == [(lock, f"pid {child.pid}: child-cmd")]
        assert child.wait(timeout=30) == 0
    finally:
        watchdog.cancel()
        child.kill()
        child.wait()


def test_hold_locks_releases_on_exception(tmp_path: Path) -> None:
    lock = tmp_path / "repro.lock"
    with pytest.raises(RuntimeError), fsutil.hold_locks([lock], command="a"):
        raise RuntimeError("boom")

    def on_wait(path: Path, holder: str) -> None:
        raise AssertionError(f"{path} still held by {holder}")  # fail rather than block forever

    with fsutil.hold_locks([lock], command="b", on_wait=on_wait):
        pass


def test_makedirs_any_depth_and_relative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deep = tmp_path.joinpath(*["d"] * 1100)
    fsutil.makedirs(deep)
    assert deep.is_dir()
    fsutil.remove_path(tmp_path / "d")  # no recursion either
    assert not (tmp_path / "d").exists()
    monkeypatch.chdir(tmp_path)
    fsutil.makedirs(Path("rel/a"))
    assert (tmp_path / "rel/a").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        fsutil.makedirs(tmp_path / "file/sub")


def test_stale_temps_are_those_of_dead_processes(tmp_path: Path) -> None:
    target = tmp_path / ("x" * 200)  # a long name: temporary names stay under the 255-byte limit
    mine = fsutil.temp_path(target)
    mine.write_text("in use")
    assert len(mine.name) < 255
    dead = target.with_name(mine.name.replace(f".{os.getpid()}.", f".{2**22 + 1}."))
    dead.write_text("left by a killed run")
    (tmp_path / "unrelated.tmp").write_text("")
    assert fsutil.stale_temps(target) == [dead]
