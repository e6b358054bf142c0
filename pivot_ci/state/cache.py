"""Content-addressed cache of files and directory trees under <project>/.pivot/cache."""

from __future__ import annotations

import contextlib
import enum
import fcntl
import json
import os
import re
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from pivot_ci.errors import ConfinementError, StateError
from pivot_ci.state import confine, fsutil, hashing

_FICLONE = getattr(fcntl, "FICLONE", 0x40049409)  # fcntl.FICLONE is only exported from Python 3.12
_HASH_RE = re.compile(r"^[0-9a-f]{3,}(\.dir)?\Z")
_FILE_HASH_RE = re.compile(r"^[0-9a-f]{3,}\Z")
_OBJECT_MODE = 0o444  # objects are shared by every restore (and by hard links): never edited in place
_COPY_MODE = 0o644
_CORRUPT_HINT = "delete the object and run `pivot repro` (or `pivot pull`) to recreate it"
_RECREATE_HINT = "run `pivot repro` (or `pivot pull`) to recreate it"


class CorruptObject(StateError):
    """A cache object whose content does not match its name; already moved to `bad/` when raised."""

    def __init__(self, h: str, why: str, moved: Path | None, display: str) -> None:
        where = f"; moved to {display}" if moved is not None else ""
        super().__init__(f"cache object {h} is corrupt: {why}{where}", hint=_RECREATE_HINT)
        self.hash = h
        self.moved = moved


class LinkMode(enum.Enum):
    """How a restored path refers to its cache object."""

    COPY = "copy"
    HARDLINK = "hardlink"
    SYMLINK = "symlink"
    REFLINK = "reflink"


def _reflink(src: Path, dst: Path) -> bool:
    """Clone `src` into the new file `dst`, sharing extents; False (and no `dst`) when unsupported."""
    with open(src, "rb") as s, open(dst, "xb") as d:
        try:
            fcntl.ioctl(d.fileno(), _FICLONE, s.fileno())
            return True
        except OSError:
            pass  # EOPNOTSUPP, EXDEV, EINVAL...: this filesystem cannot clone
    dst.unlink()
    return False


class Cache:
    """Objects at files/<hash[:2]>/<hash[2:]>; a tree's manifest is an object named by its .dir hash."""

    def __init__(self, root: Path, fence: confine.Fence | None = None) -> None:
        self.root = root
        self._files = root / "files"
        self._can_reflink = True  # cleared on the first refusal so we stop asking this filesystem
        self._fence = fence  # the project's: where restores may write, and that the cache is the project's
        self._safe_dirs: set[Path] = set()

    def _writable(self, directory: Path) -> None:
        """Refuse to write in `directory` (an object dir, bad/) unless it is the real one inside the cache."""
        if self._fence is None or directory in self._safe_dirs:
            return
        if not self._safe_dirs:
            self._fence.state_dir(self.root.parent)
            self._fence.state_dir(self.root)
        real = os.path.realpath(directory)
        expected = os.path.join(self._fence.real_root, os.path.relpath(directory, self._fence.root))
        if real != expected:
            shown = os.path.relpath(directory, self._fence.root)
            raise ConfinementError(f"refusing to write in '{shown}': through a symbolic link it is {real}",
                                   hint="pivot keeps no links in its cache: remove the link")
        self._safe_dirs.add(directory)

    def object_path(self, h: str) -> Path:
        """Where the object for hash `h` lives."""
        if not _HASH_RE.match(h):
            raise StateError(f"invalid content hash {h!r}",
                             hint="the lock file naming it is damaged: restore it from git")
        return self._files / h[:2] / h[2:]

    def has(self, h: str) -> bool:
        """True when the object is present; for a tree, its manifest and every file it lists."""
        if not self.object_path(h).is_file():
            return False
        if not hashing.is_tree_hash(h):
            return True
        try:
            tree = self.read_tree(h)
        except StateError:
            return False
        return all(self.object_path(fh).is_file() for _, fh in tree.entries)

    def _copy(self, src: Path, dst: Path) -> None:
        if self._can_reflink:
            if _reflink(src, dst):
                return
            self._can_reflink = False
        shutil.copyfile(src, dst)

    def store_file(self, src: Path, h: str) -> None:
        """Copy `src` into the cache as object `h`, unless already there (an object of another size is corrupt:
        it is moved to bad/ and stored again)."""
        final = self.object_path(h)
        try:
            if os.stat(final).st_size == os.stat(src).st_size:
                return
            self.quarantine(h)
        except FileNotFoundError:
            pass
        self._writable(final.parent)  # before mkdir: a link in the way must not even get a directory
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = fsutil.temp_path(final)
        # No fsync: a cache object is re-creatable, and fsync per object dominates a cold run.
        try:
            self._copy(src, tmp)
            os.chmod(tmp, _OBJECT_MODE)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def store_tree(self, src_dir: Path, tree: hashing.TreeHash) -> None:
        """Store every file of `tree` from `src_dir`, then its manifest, so a manifest implies its files."""
        data = hashing.manifest_bytes(tree.entries)
        if hashing.hash_bytes(data) + hashing.DIR_SUFFIX != tree.hash:
            raise StateError(f"tree hash {tree.hash} does not match its entries")
        files = os.fspath(self._files)
        for rel, fh in tree.entries:
            # string paths: this loop runs once per file of the tree, mostly for objects already stored
            if not _FILE_HASH_RE.match(fh):
                raise StateError(f"invalid content hash {fh!r} in tree {tree.hash}")
            if not os.path.exists(f"{files}/{fh[:2]}/{fh[2:]}"):
                self.store_file(src_dir / rel, fh)
        final = self.object_path(tree.hash)
        if final.exists():
            return
        self._writable(final.parent)  # before mkdir: a link in the way must not even get a directory
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = fsutil.temp_path(final)
        try:
            tmp.write_bytes(data)
            os.chmod(tmp, _OBJECT_MODE)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def read_tree(self, h: str) -> hashing.TreeHash:
        """The entries of tree object `h`; StateError naming the object when it is missing or corrupt."""
        path = self.object_path(h)
        if not hashing.is_tree_hash(h):
            raise StateError(f"cache object {h} is not a directory manifest", file=str(path))
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise StateError(f"cache object {h} is missing", file=str(path),
                             hint="run `pivot repro` (or `pivot pull`) to recreate it") from None
        return parse_tree(h, data, str(path))

    def temp_object(self, h: str) -> Path:
        """A fresh temporary path beside object `h`'s final place (same filesystem, so adopting is a rename)."""
        final = self.object_path(h)
        self._writable(final.parent)  # before mkdir: a link in the way must not even get a directory
        final.parent.mkdir(parents=True, exist_ok=True)
        return fsutil.temp_path(final)

    def adopt(self, h: str, tmp: Path) -> None:
        """Move the downloaded file `tmp` in as object `h` after re-hashing it; a mismatch is refused.

        Objects from elsewhere (a remote) are trusted by content, never by name: `tmp` is removed and
        StateError raised when its content does not hash to `h`.
        """
        final = self.object_path(h)
        try:
            actual = hashing.hash_file(tmp)
            if hashing.is_tree_hash(h):
                actual += hashing.DIR_SUFFIX
            if actual != h:
                raise StateError(f"object {h} failed verification: its content hashes to {actual}",
                                 hint="the remote copy is corrupt: delete it there and push it again "
                                      "from a machine that has it")
            if hashing.is_tree_hash(h):
                parse_tree(h, tmp.read_bytes(), str(tmp))
            os.chmod(tmp, _OBJECT_MODE)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def checked(self, h: str) -> Path:
        """The path of object `h` after re-hashing it (one extra read): a missing object is a StateError,
        one whose content does not match its name is moved to bad/ and raised as CorruptObject."""
        obj = self.object_path(h)
        try:
            actual = hashing.hash_file(obj) + (hashing.DIR_SUFFIX if hashing.is_tree_hash(h) else "")
        except (FileNotFoundError, IsADirectoryError):
            raise StateError(f"cache object {h} is missing", file=str(obj), hint=_RECREATE_HINT) from None
        if actual != h:
            raise self._corrupt(h, f"its content hashes to {actual}")
        return obj

    def _corrupt(self, h: str, why: str) -> CorruptObject:
        moved = self.quarantine(h)
        return CorruptObject(h, why, moved, str(moved) if moved is None or self._fence is None
                             else os.path.relpath(moved, self._fence.root))

    def checked_tree(self, h: str) -> hashing.TreeHash:
        """The entries of tree object `h`; a manifest that does not match its name or is not a valid manifest is
        moved to bad/ and raised as CorruptObject (its files are checked when they are placed)."""
        try:
            return self.read_tree(h)
        except StateError as exc:
            if not self.object_path(h).is_file():
                raise
            raise self._corrupt(h, exc.message.split(": ", 1)[-1]) from None

    def _place(self, h: str, target: Path, mode: LinkMode) -> None:
        """Create `target` (which must not exist) from object `h`, after checking the object's content."""
        obj = self.checked(h)
        match mode:
            case LinkMode.SYMLINK:
                os.symlink(os.path.abspath(obj), target)
                return
            case LinkMode.HARDLINK:
                try:
                    os.link(obj, target)
                    return
                except OSError:
                    pass  # another filesystem, or links refused: a copy is still a correct restore
            case LinkMode.REFLINK:
                self._copy(obj, target)
                os.chmod(target, _COPY_MODE)
                return
            case LinkMode.COPY:
                pass
        shutil.copyfile(obj, target)
        os.chmod(target, _COPY_MODE)

    def restore(self, h: str, dest: Path, mode: LinkMode = LinkMode.COPY) -> None:
        """Make `dest` the file or tree `h`, replacing what is there; never leaves it half-written.

        Every object is re-hashed first (CorruptObject, after moving it to bad/, when it does not match), and
        `dest` must lie inside the project (ConfinementError otherwise). What an earlier, killed restore of
        `dest` left behind is removed first.
        """
        if self._fence is not None:
            self._fence.workspace(dest)
        for stale in fsutil.stale_temps(dest):
            fsutil.remove_path(stale)
        fsutil.makedirs(dest.parent)
        tree = self.checked_tree(h) if hashing.is_tree_hash(h) else None
        tmp = fsutil.temp_path(dest)
        try:
            if tree is not None:
                tmp.mkdir()
                for rel, fh in tree.entries:
                    target = tmp / rel
                    fsutil.makedirs(target.parent)
                    self._place(fh, target, mode)
            else:
                self._place(h, tmp, mode)
            _swap_in(tmp, dest)
        except BaseException:
            fsutil.remove_path(tmp)
            raise

    def quarantine(self, h: str) -> Path | None:
        """Move object `h` (whose content does not match its name) to `bad/`, never deleting it: the evidence
        stays for whoever investigates. Returns where it went; None when there was no object."""
        src = self.object_path(h)
        bad = self.root / "bad"
        self._writable(bad)
        bad.mkdir(parents=True, exist_ok=True)
        dest = bad / h
        n = 1
        while dest.exists():
            n += 1
            dest = bad / f"{h}.{n}"
        try:
            os.replace(src, dest)
        except FileNotFoundError:
            return None
        return dest

    def objects(self) -> Iterator[tuple[str, os.stat_result]]:
        """Every object in the cache with its stat (gc, fsck); temporary files and foreign names are skipped."""
        try:
            tops = os.scandir(self._files)
        except FileNotFoundError:
            return
        with tops:
            for top in tops:
                if len(top.name) != 2 or not top.is_dir(follow_symlinks=False):
                    continue
                with os.scandir(top.path) as entries:
                    for entry in entries:
                        key = top.name + entry.name
                        if entry.name.startswith(".") or not _HASH_RE.match(key):
                            continue
                        try:
                            st = entry.stat(follow_symlinks=False)
                        except FileNotFoundError:
                            continue  # removed while we looked
                        if stat.S_ISREG(st.st_mode):
                            yield key, st

    def delete(self, h: str) -> bool:
        """Remove object `h` (gc: nothing needs it); False when it was not there."""
        try:
            self.object_path(h).unlink()
        except FileNotFoundError:
            return False
        return True

    def verify(self, h: str) -> bool:
        """True when the object's content matches `h` (for a tree: its manifest and every file)."""
        path = self.object_path(h)
        if not hashing.is_tree_hash(h):
            try:
                return hashing.hash_file(path) == h
            except OSError:
                return False
        try:
            tree = self.read_tree(h)
        except StateError:
            return False
        return all(self.verify(fh) for _, fh in tree.entries)


def parse_tree(h: str, data: bytes, where: str) -> hashing.TreeHash:
    """The entries of the manifest `data` of tree `h`; StateError (at `where`) unless it is exactly that."""

    def corrupt(why: str) -> StateError:
        return StateError(f"cache object {h} is corrupt: {why}", file=where, hint=_CORRUPT_HINT)

    if hashing.hash_bytes(data) + hashing.DIR_SUFFIX != h:
        raise corrupt("its content does not match its hash")
    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise corrupt(f"not JSON ({exc})") from None
    if not isinstance(raw, list):
        raise corrupt("not a list of entries")
    entries: list[tuple[str, str]] = []
    for item in raw:
        if not (isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise corrupt(f"bad entry {item!r}")
        rel, fh = item
        # A manifest names paths to create on restore: never outside the restored directory.
        if any(part in ("", ".", "..") for part in rel.split("/")) or "\0" in rel or not _FILE_HASH_RE.match(fh):
            raise corrupt(f"bad entry {item!r}")
        entries.append((rel, fh))
    paths = {rel for rel, _ in entries}
    if len(paths) != len(entries):
        raise corrupt("a path is listed twice")
    for rel, _ in entries:
        parent = rel.rpartition("/")[0]
        while parent:
            if parent in paths:
                raise corrupt(f"'{parent}' is listed as a file and as the directory of '{rel}'")
            parent = parent.rpartition("/")[0]
    return hashing.TreeHash(h, tuple(entries))


def _swap_in(src: Path, dest: Path) -> None:
    """Rename `src` onto `dest`; what was at `dest` is moved aside first when rename cannot replace it."""
    is_dir = src.is_dir() and not src.is_symlink()
    if not is_dir:
        try:
            os.replace(src, dest)
            return
        except IsADirectoryError:
            pass  # dest is a directory: swap it out below
    try:
        os.lstat(dest)
    except FileNotFoundError:
        os.replace(src, dest)
        return
    old = fsutil.temp_path(dest)
    os.replace(dest, old)
    try:
        os.replace(src, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.replace(old, dest)
        raise
    fsutil.remove_path(old)
