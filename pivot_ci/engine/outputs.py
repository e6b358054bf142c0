"""A stage's outputs in the workspace: what its lock may restore, links cut before it runs, leftovers removed.

Everything here writes only through the project's fence (`state/confine.py`), and restores only the outputs a
stage declares: a lock whose `outs` differ from the declaration is an error naming the lock file and line,
raised before anything is restored.
"""

from __future__ import annotations

import dataclasses
import os
import stat

from pivot_ci.engine.access import StateAccess
from pivot_ci.errors import StateError
from pivot_ci.pipeline import model
from pivot_ci.state import cache, fsutil, lockfile


@dataclasses.dataclass(frozen=True, slots=True)
class NotRestored:
    """An output that could not be restored, and why (a corrupt or missing object, a write that failed)."""

    path: str
    why: str


def locked_outs(access: StateAccess, st: model.StageSpec, lock: lockfile.LockData) -> dict[str, str]:
    """Declared output path -> the hash its lock records; StateError (lock file and line) when the lock's
    `outs` are not exactly the declared outputs, so that a lock never makes pivot restore anything else."""
    declared = {o.path for o in st.outs}
    locked = {e["path"]: e["hash"] for e in lock["outs"]}
    if set(locked) == declared:
        return locked
    display = access.lock_display(st)
    extra = next((i for i, e in enumerate(lock["outs"]) if e["path"] not in declared), None)
    where: lockfile.Where
    if extra is not None:
        path = lock["outs"][extra]["path"]
        why, where = f"output '{path}' is not declared by the stage", ("outs", extra, "path")
    else:
        path = sorted(declared - set(locked))[0]
        why, where = f"declared output '{path}' is not in it", ("outs",)
    raise StateError(f"lock file does not match stage '{st.name}' ({st.location}): {why}", file=display,
                     line=lockfile.locate(access.lock_path(st), where),
                     hint=f"the stage changed since it ran: `pivot repro {st.name}` (or restore {display} from git)")


def clean_temps(access: StateAccess, st: model.StageSpec) -> None:
    """Remove the temporary files a killed pivot left beside the stage's outputs (and its lock)."""
    for out in st.all_outputs():
        path = access.project.abs(out.path)
        for stale in fsutil.stale_temps(path):
            access.fence.workspace(stale)
            fsutil.remove_path(stale)
    for stale in fsutil.stale_temps(access.lock_path(st)):
        fsutil.remove_path(stale)


def _is_link(access: StateAccess, path: str, cache_real: str) -> bool:
    """A symbolic link into the cache, or a file with other hard links (a `--link hardlink` restore)."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if stat.S_ISLNK(st.st_mode):
        return os.path.realpath(path).startswith(cache_real + os.sep)
    return stat.S_ISREG(st.st_mode) and st.st_nlink > 1


def cut_links(access: StateAccess, st: model.StageSpec) -> None:
    """Before `st` runs: remove its outputs that are links into the cache (`checkout --link hardlink` or
    `symlink`), so the stage writes new files and never through a link into a cache object."""
    cache_real = os.path.realpath(access.cache.root)
    for out in st.outs:
        path = os.fspath(access.project.abs(out.path))
        if _is_link(access, path, cache_real):
            access.fence.workspace(path)
            os.unlink(path)
        elif os.path.isdir(path) and not os.path.islink(path):
            linked = [e.path for e in fsutil.walk_files(path) if _is_link(access, e.path, cache_real)]
            for file in linked:
                access.fence.workspace(file)
                os.unlink(file)


def restore(access: StateAccess, st: model.StageSpec, paths: list[str],
            mode: cache.LinkMode = cache.LinkMode.COPY) -> list[NotRestored]:
    """Put outputs that are missing from the workspace back from the cache; what could not be restored (the
    stage must run again instead)."""
    lock = access.read_lock(st)
    if lock is None:
        return [NotRestored(p, "no lock file") for p in paths]
    locked = locked_outs(access, st, lock)
    failed = []
    for path in paths:
        h = locked[path]
        try:
            access.cache.restore(h, access.project.abs(path), mode)
        except cache.CorruptObject as exc:
            failed.append(NotRestored(path, f"{exc.message} (named by {access.lock_display(st)})"))
        except StateError as exc:
            failed.append(NotRestored(path, exc.message))
        except OSError as exc:
            failed.append(NotRestored(path, os_why(access, exc)))
    return failed


def os_why(access: StateAccess, exc: OSError) -> str:
    """`cannot restore it: No space left on device (prep/out.csv)`: an OSError of a restore, for humans."""
    where = ""
    if exc.filename:
        name = os.fspath(exc.filename)
        root = os.fspath(access.project.root)
        where = f" ({os.path.relpath(name, root) if name.startswith(root + os.sep) else name})"
    return f"cannot restore it: {exc.strerror or exc}{where}"
