"""Filesystem primitives: atomic writes, inter-process file locks, path removal, iterative tree walks.

Nothing here recurses on directory depth: a directory nested thousands of levels deep is walked, removed and
created with explicit stacks. Temporary files have recognisable names, so that what a killed process left
behind is found and removed by the next one (`stale_temps`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from pivot_ci.errors import StateError

_LONG_NAME = 160  # past this, a temporary name uses a digest of the name (file names stop at 255 bytes)


def _temp_base(name: str) -> str:
    if len(name.encode("utf-8", "surrogateescape")) <= _LONG_NAME:
        return name
    digest = hashlib.blake2b(name.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()
    return f"{name[:40]}~{digest}"


def temp_path(path: Path) -> Path:
    """A unique hidden sibling of `path`, so a rename onto `path` stays on one filesystem."""
    return path.with_name(f".{_temp_base(path.name)}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_temps(path: Path) -> list[Path]:
    """Temporary siblings of `path` (see `temp_path`) left by processes that no longer run."""
    pattern = re.compile(rf"\.{re.escape(_temp_base(path.name))}\.(\d+)\.[0-9a-f]{{8}}\.tmp")
    try:
        names = os.listdir(path.parent)
    except OSError:
        return []
    found = []
    for name in names:
        match = pattern.fullmatch(name)
        if match is not None and int(match.group(1)) != os.getpid() and not _pid_alive(int(match.group(1))):
            found.append(path.parent / name)
    return found


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
    makedirs(path.parent)
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


def makedirs(path: Path) -> None:
    """`mkdir -p` without recursion (Path.mkdir(parents=True) and os.makedirs recurse once per level)."""
    missing: list[str] = []
    cur = os.fspath(path)
    while cur and not os.path.isdir(cur):  # a relative path ends in "": the working directory
        missing.append(cur)
        parent = os.path.dirname(cur)
        if parent == cur:
            break
        cur = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory)
        except FileExistsError:
            if not os.path.isdir(directory):
                raise NotADirectoryError(errno.ENOTDIR, "a file is in the way of a directory", directory) from None


def _walk(top: str) -> Iterator[tuple[os.DirEntry[str], bool]]:
    """(entry, is a directory) for everything below `top`, parents before children, symlinks never followed;
    iterative, so any depth works."""
    todo = [top]
    while todo:
        with os.scandir(todo.pop()) as it:
            for entry in it:
                is_dir = entry.is_dir(follow_symlinks=False)
                if is_dir:
                    todo.append(entry.path)
                yield entry, is_dir


def walk_files(top: str) -> Iterator[os.DirEntry[str]]:
    """Every entry below directory `top` that is not a directory (symlinks included, never followed)."""
    return (entry for entry, is_dir in _walk(top) if not is_dir)


def _rmtree(top: str) -> None:
    """shutil.rmtree without recursion; symlinks are removed, never followed."""
    dirs = [top]
    for entry, is_dir in _walk(top):
        if is_dir:
            dirs.append(entry.path)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
    for directory in reversed(dirs):  # children were appended after their parents
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(directory)


def replace_quickly(path: Path, data: bytes) -> None:
    """Replace `path` atomically (rename) but without fsync: for records that may be lost in a crash."""
    makedirs(path.parent)
    tmp = temp_path(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_path(path: Path) -> None:
    """Remove a file, symlink or directory tree if present."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        _rmtree(os.fspath(path))
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
            makedirs(path.parent)
            try:
                # never through a symbolic link: truncating its target would destroy a file pivot does not own
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            except OSError as exc:
                if exc.errno != errno.ELOOP:
                    raise
                raise StateError(f"the state-dir lock {path} is a symbolic link", file=str(path),
                                 hint="pivot never opens its lock files through a link: remove it") from None
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
