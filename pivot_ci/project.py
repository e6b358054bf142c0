"""Project root, state dirs and path normalisation (project-relative POSIX paths)."""

from __future__ import annotations

import dataclasses
import os
import posixpath
from pathlib import Path

from pivot_ci import errors

STATE_DIR_NAME = ".pivot"


@dataclasses.dataclass(frozen=True, slots=True)
class Project:
    """A project: the top-most directory holding `.pivot/`, and where its shared state lives."""

    root: Path

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR_NAME

    @property
    def cache_dir(self) -> Path:
        return self.state_dir / "cache"

    def abs(self, rel: str) -> Path:
        """Absolute path of a project-relative POSIX path."""
        return self.root if rel in ("", ".") else Path(self.abs_str(rel))

    def abs_str(self, rel: str) -> str:
        """`abs` as a string, for hot paths (pathlib costs more than the syscall it wraps)."""
        root = str(self.root)
        return root if rel in ("", ".") else f"{root}/{rel}"

    def rel(self, path: Path | str) -> str:
        """Project-relative POSIX path of an absolute path inside the project."""
        text, root = str(path), str(self.root)
        if text.startswith(root + "/"):
            return text[len(root) + 1:]
        r = os.path.relpath(text, root)
        return "." if r == "." else Path(r).as_posix()


def find_root(cwd: Path) -> Project:
    """The top-most ancestor of cwd (inclusive) holding a `.pivot/` directory."""
    cwd = cwd.resolve()
    found: Path | None = None
    for candidate in (cwd, *cwd.parents):
        if (candidate / STATE_DIR_NAME).is_dir():
            found = candidate
    if found is None:
        raise errors.DiscoveryError(
            f"not inside a pivot project: no {STATE_DIR_NAME}/ directory in {cwd} or above",
            hint="run `pivot init` at the top of your project",
        )
    return Project(found)


def join_rel(base: str, path: str) -> str | None:
    """Join a path relative to a project-relative dir; None when it escapes the project."""
    if posixpath.isabs(path):
        return None
    joined = posixpath.normpath(posixpath.join(base, path)) if base not in ("", ".") else posixpath.normpath(path)
    if joined == ".." or joined.startswith("../"):
        return None
    return joined


def is_within(path: str, directory: str) -> bool:
    """True when project-relative `path` is `directory` or lies below it."""
    if directory == ".":
        return True
    return path == directory or path.startswith(directory + "/")
