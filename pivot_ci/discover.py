"""Find pipeline files: the one of the working directory, or every one in the project."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pivot_ci import errors
from pivot_ci.project import Project

if TYPE_CHECKING:
    import pathspec

PIPELINE_FILE_NAMES = ("pivot.yaml", "pivot.yml", "pipeline.py")
SKIP_DIRS = frozenset({
    ".git", ".pivot", ".venv", "venv", "node_modules", "__pycache__",
    ".tox", ".nox", ".mypy_cache", ".ruff_cache",
})
IGNORE_FILE = ".pivotignore"


def pipeline_file_in(directory: Path, project: Project) -> Path | None:
    """The pipeline file of one directory; two in one directory is an error naming both."""
    found = [directory / n for n in PIPELINE_FILE_NAMES if (directory / n).is_file()]
    if len(found) > 1:
        names = " and ".join(project.rel(p) for p in found)
        raise errors.DiscoveryError(
            f"two pipeline files in one directory: {names}",
            file=project.rel(found[0]),
            hint="keep one pipeline file per directory",
        )
    return found[0] if found else None


def find_current(project: Project, cwd: Path) -> Path:
    """The nearest pipeline file at or above cwd, inside the project."""
    cwd = cwd.resolve()
    for directory in (cwd, *cwd.parents):
        found = pipeline_file_in(directory, project)
        if found is not None:
            return found
        if directory == project.root:
            break
    raise errors.DiscoveryError(
        f"no pipeline file ({', '.join(PIPELINE_FILE_NAMES)}) in {project.rel(cwd)} or above it",
        hint="cd into a pipeline directory, or use --all for every pipeline of the project",
    )


def ignore_spec(project: Project) -> pathspec.PathSpec[Any] | None:
    """The project's `.pivotignore` (gitignore syntax), or None."""
    path = project.root / IGNORE_FILE
    if not path.is_file():
        return None
    import pathspec  # only projects with a .pivotignore pay for the import

    return pathspec.GitIgnoreSpec.from_lines(path.read_text().splitlines())


def skipped(rel: str, spec: pathspec.PathSpec[Any] | None) -> bool:
    """Whether project-relative `rel` lies in a directory that discovery skips (SKIP_DIRS, `.pivotignore`)."""
    parts = rel.split("/")
    for i, name in enumerate(parts[:-1]):
        if name in SKIP_DIRS or spec is not None and spec.match_file("/".join(parts[:i + 1]) + "/"):
            return True
    return False


def _subdirs(path: str) -> list[str]:
    """Names of the directories in `path` (not followed through symlinks); none when it cannot be read."""
    try:
        with os.scandir(path) as it:
            return [e.name for e in it if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def _dirs(project: Project, start: Path, spec: pathspec.PathSpec[Any] | None) -> Iterator[Path]:
    """`start` and the directories below it that discovery looks into, in sorted walk order (depth first,
    parents before children, like os.walk) — iteratively: a directory nested thousands deep is no problem."""
    todo = [os.fspath(start)]
    while todo:
        here = todo.pop()
        rel = project.rel(here)
        keep = []
        for d in _subdirs(here):
            if d in SKIP_DIRS:
                continue
            child = d if rel == "." else f"{rel}/{d}"
            if spec is not None and spec.match_file(child + "/"):
                continue
            keep.append(d)
        todo.extend(os.path.join(here, d) for d in sorted(keep, reverse=True))
        yield Path(here)


def find_all(project: Project) -> list[Path]:
    """Every pipeline file under the project root, by directory path, root first."""
    found = [pf for d in _dirs(project, project.root, ignore_spec(project))
             if (pf := pipeline_file_in(d, project)) is not None]
    return sorted(found, key=lambda p: (p.parent != project.root, project.rel(p.parent).split("/")))


def find_under(project: Project, directory: Path) -> list[Path]:
    """Pipeline files in and below `directory`, skipping what `find_all` skips (watch mode: a new directory)."""
    spec, rel = ignore_spec(project), project.rel(directory)
    if rel != "." and skipped(f"{rel}/-", spec):
        return []
    return [d / n for d in _dirs(project, directory, spec) for n in PIPELINE_FILE_NAMES if (d / n).is_file()]
