"""Filesystem primitives: atomic writes, inter-process file locks, path removal."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path


def temp_path(path: Path) -> Path:
    """A unique hidden sibling of `path`, so a rename onto `path` stays on one filesystem."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def fsync_dir(directory: Path) -> None:
    """Flush a directory entry so a rename inside it survives a crash."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename itself is still atomic
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so readers see the old or the new content, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def remove_path(path: Path) -> None:
    """Remove a file, symlink or directory tree if present."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    # The holder writes its description just after acquiring, so a reader can catch it empty.
    return text or "another process"


def _release(fd: int) -> None:
    # Truncate while still holding the lock so no stale holder text outlives us.
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
    fcntl.flock(fd, fcntl.LOCK_UN)


@contextlib.contextmanager
def hold_locks(
    lock_files: Sequence[Path],
    *,
    command: str,
    on_wait: Callable[[Path, str], None] | None = None,
) -> Iterator[None]:
    """Hold exclusive flocks on `lock_files`, taken in sorted order so two holders cannot deadlock."""
    paths = sorted({Path(os.path.abspath(p)) for p in lock_files})
    note = f"pid {os.getpid()}: {command}\n".encode()
    with contextlib.ExitStack() as stack:
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            stack.callback(os.close, fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if on_wait is not None:
                    on_wait(path, _read_holder(fd))
                fcntl.flock(fd, fcntl.LOCK_EX)
            stack.callback(_release, fd)
            os.ftruncate(fd, 0)
            os.pwrite(fd, note, 0)
        yield
