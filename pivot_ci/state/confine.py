"""Where pivot may write: inside the project, never in `.git/`, never through a symbolic link out of it.

Every path pivot writes, deletes or restores in the workspace (outputs restored from the cache, linked outputs
unlinked before a stage runs, temporary files cleaned up) and every state dir it keeps state in goes through a
`Fence` first. A path is judged by its real location: the directory it would be written in, with every
symbolic link on the way resolved, must lie inside the project root (itself resolved) and outside `.git/`;
a workspace path must not resolve into a state dir either. The path itself may be a symbolic link: pivot
replaces or removes the link, never what it points to. A refusal names the path and the link that leads out.
"""

from __future__ import annotations

import os
from pathlib import Path

from pivot_ci.errors import ConfinementError

STATE_DIR_NAME = ".pivot"
_HINT = ("pivot never writes, deletes or restores anything outside the project ({root}) or in .git/: "
         "replace the symbolic link with a real directory")


class Fence:
    """The write boundary of one project."""

    def __init__(self, root: Path | str) -> None:
        self.root = os.path.abspath(root)
        self.real_root = os.path.realpath(root)

    def _problem(self, real: str, *, state: bool) -> str | None:
        """Why a directory whose real path is `real` may not be written in, or None."""
        if real != self.real_root and not real.startswith(self.real_root + os.sep):
            return "outside the project"
        parts = real[len(self.real_root) + 1:].split(os.sep) if real != self.real_root else []
        if ".git" in parts:
            return "inside .git/"
        if not state and STATE_DIR_NAME in parts:
            return f"inside a {STATE_DIR_NAME}/ state dir"
        return None

    def _rel(self, path: str) -> str:
        rel = os.path.relpath(path, self.root)
        return rel if not rel.startswith("..") else path

    def _refuse(self, path: str, directory: str, why: str, *, state: bool) -> ConfinementError:
        """The error for `path`, naming the first symbolic link on the way to `directory` that leads astray."""
        link = self._culprit(directory, state=state)
        what = f"'{self._rel(path)}' lies {why}"
        if link is not None:
            what += f": '{self._rel(link)}' is a symbolic link to '{os.readlink(link)}'"
        return ConfinementError(f"refusing to touch {what}", hint=_HINT.format(root=self.root))

    def _culprit(self, directory: str, *, state: bool) -> str | None:
        rel = os.path.relpath(directory, self.root)
        if rel.startswith(".."):
            return None
        cur = self.root
        for part in [] if rel == "." else rel.split(os.sep):
            cur = os.path.join(cur, part)
            if os.path.islink(cur) and self._problem(os.path.realpath(cur), state=state) is not None:
                return cur
        return None

    def workspace(self, path: Path | str) -> None:
        """Refuse (ConfinementError) to write, delete or restore workspace path `path` when the directory it
        is in resolves outside the project, into .git/ or into a state dir."""
        target = os.path.abspath(path)
        directory = os.path.dirname(target)
        why = self._problem(os.path.realpath(directory), state=False)
        if why is not None:
            raise self._refuse(target, directory, why, state=False)

    def state_dir(self, path: Path | str) -> None:
        """Refuse a state dir (or a directory pivot keeps state in, like the cache) that resolves outside the
        project or into .git/, or that holds a symbolic link: pivot opens files there in place."""
        directory = os.path.abspath(path)
        why = self._problem(os.path.realpath(directory), state=True)
        if why is not None:
            raise self._refuse(directory, directory, why, state=True)
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            if entry.is_symlink():
                raise ConfinementError(
                    f"refusing to use the state dir '{self._rel(directory)}': '{self._rel(entry.path)}' is a "
                    f"symbolic link to '{os.readlink(entry.path)}'",
                    hint="pivot keeps no links in its state dirs (a cache on another disk is not supported): "
                         "remove the link")
