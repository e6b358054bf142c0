"""Find pipeline files: the one of the working directory, or every one in the project."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pivot_ci import errors
from pivot_ci.project import Project

if TYPE_CHECKING:
    import pathspec

PYTHON_FILE_NAME = "pipeline.py"
PIPELINE_FILE_NAMES = ("pivot.yaml", "pivot.yml", PYTHON_FILE_NAME)
SKIP_DIRS = frozenset({
    ".git", ".pivot", ".venv", "venv", "node_modules", "__pycache__",
    ".tox", ".nox", ".mypy_cache", ".ruff_cache",
})
IGNORE_FILE = ".pivotignore"
_IMPORT_RE = re.compile(rb"^[ \t]*(?:from[ \t]+pivot_ci[ \t.]|import[ \t]+[^\n#]*\bpivot_ci\b)", re.M)
POINTER_SUFFIX = ".pvt"  # tracked data's pointer files (state/pointer.py reads them)


@dataclasses.dataclass(frozen=True, slots=True)
class Skipped:
    """A file or directory discovery passed over, and why (`pivot list --all -v` shows them)."""

    path: str  # project-relative
    why: str


def imports_pivot(path: Path) -> bool:
    """Whether a pipeline.py imports pivot_ci, read from its source without running it.

    `pipeline.py` is a common module name in ML code; only the ones that use pivot are pipeline files. A line
    starting an import of pivot_ci is enough (even one inside a string: then the file is loaded, as before);
    other mentions are checked on the parsed source.
    """
    try:
        data = path.read_bytes()
    except OSError:
        return True  # let loading it report why it cannot be read
    if b"pivot_ci" not in data:
        return False
    if _IMPORT_RE.search(data) is not None:  # a line that starts an import of it: the usual case, no parse
        return True
    import ast  # only files that mention pivot_ci elsewhere pay for parsing (a docstring, `x; import pivot_ci`)

    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError):
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(_is_pivot(a.name) for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and not node.level and _is_pivot(node.module or ""):
            return True
    return False


def _is_pivot(module: str) -> bool:
    return module == "pivot_ci" or module.startswith("pivot_ci.")


def pipeline_file_in(directory: Path, project: Project, skipped: list[Skipped] | None = None) -> Path | None:
    """The pipeline file of one directory; two in one directory is an error naming both.

    A pipeline.py that does not import pivot_ci is not a pipeline file (recorded in `skipped`).
    """
    found = [directory / n for n in PIPELINE_FILE_NAMES if (directory / n).is_file()]
    if found and found[-1].name == PYTHON_FILE_NAME and not imports_pivot(found[-1]):
        if skipped is not None:
            skipped.append(Skipped(project.rel(found[-1]), "does not import pivot_ci, so it is not a pipeline file"))
        found.pop()
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
    skipped: list[Skipped] = []
    for directory in (cwd, *cwd.parents):
        found = pipeline_file_in(directory, project, skipped)
        if found is not None:
            return found
        if directory == project.root:
            break
    passed = "".join(f"; skipped {s.path}: it {s.why}" for s in skipped)
    raise errors.DiscoveryError(
        f"no pipeline file ({', '.join(PIPELINE_FILE_NAMES)}) in {project.rel(cwd)} or above it{passed}",
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


def _entries(path: str) -> tuple[list[str], list[str]]:
    """Names of the directories (not followed through symlinks) and of the other entries in `path`; none when
    it cannot be read."""
    dirs: list[str] = []
    files: list[str] = []
    try:
        with os.scandir(path) as it:
            for e in it:
                (dirs if e.is_dir(follow_symlinks=False) else files).append(e.name)
    except OSError:
        pass
    return dirs, files


def _dirs(project: Project, start: Path, spec: pathspec.PathSpec[Any] | None,
          passed: list[Skipped] | None = None) -> Iterator[tuple[Path, list[str]]]:
    """`start` and the directories below it that discovery looks into, in sorted walk order (depth first,
    parents before children, like os.walk), with the names of their files — iteratively: a directory nested
    thousands deep is no problem.

    Directories matched by `.pivotignore` are recorded in `passed` (the fixed SKIP_DIRS are not: noise).
    """
    todo = [os.fspath(start)]
    while todo:
        here = todo.pop()
        rel = project.rel(Path(here))
        subdirs, files = _entries(here)
        keep = []
        for d in subdirs:
            if d in SKIP_DIRS:
                continue
            child = d if rel == "." else f"{rel}/{d}"
            if spec is not None and spec.match_file(child + "/"):
                if passed is not None:
                    passed.append(Skipped(child + "/", f"matched by {IGNORE_FILE}"))
                continue
            keep.append(d)
        todo.extend(os.path.join(here, d) for d in sorted(keep, reverse=True))
        yield Path(here), files


@dataclasses.dataclass(frozen=True, slots=True)
class Found:
    """What one walk of the project finds: pipeline files (by directory, root first) and pointer files."""

    pipelines: list[Path]
    pointers: list[Path]


def scan(project: Project, skipped: list[Skipped] | None = None) -> Found:
    """Every pipeline file and every pointer file (`*.pvt`, SPEC §10) under the project root, in one walk.

    What was passed over (pipeline.py files that are not pivot's, `.pivotignore`d directories) is appended
    to `skipped` when given.
    """
    pipelines: list[Path] = []
    pointers: list[Path] = []
    for d, names in _dirs(project, project.root, ignore_spec(project), skipped):
        pf = pipeline_file_in(d, project, skipped)
        if pf is not None:
            pipelines.append(pf)
        pointers += [d / n for n in names if n.endswith(POINTER_SUFFIX)]
    pipelines.sort(key=lambda p: (p.parent != project.root, project.rel(p.parent).split("/")))
    return Found(pipelines, sorted(pointers))


def find_all(project: Project, skipped: list[Skipped] | None = None) -> list[Path]:
    """Every pipeline file under the project root, by directory path, root first."""
    return scan(project, skipped).pipelines


def find_under(project: Project, directory: Path) -> list[Path]:
    """Pipeline files in and below `directory`, skipping what `find_all` skips (watch mode: a new directory)."""
    spec, rel = ignore_spec(project), project.rel(directory)
    if rel != "." and skipped(f"{rel}/-", spec):
        return []
    return [d / n for d, _ in _dirs(project, directory, spec) for n in PIPELINE_FILE_NAMES
            if (d / n).is_file() and (n != PYTHON_FILE_NAME or imports_pivot(d / n))]
