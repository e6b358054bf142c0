"""`pivot track` / `pivot untrack` (SPEC §10): raw data into the cache, a pointer file beside it, a
`.gitignore` line; every path is checked before anything is written."""

from __future__ import annotations

import dataclasses
import os
import posixpath
import stat
from collections.abc import Sequence
from pathlib import Path

from pivot_ci import discover, errors
from pivot_ci import project as project_mod
from pivot_ci.dag.load import Loaded
from pivot_ci.engine import tracked
from pivot_ci.engine.access import StateAccess
from pivot_ci.pipeline import model
from pivot_ci.project import Project
from pivot_ci.state import gitignore, gitread, pointer


@dataclasses.dataclass(frozen=True, slots=True)
class Tracked:
    """What `pivot track` did for one path."""

    path: str
    pvt_file: str
    hash: str
    size: int
    files: int | None
    changed: bool  # the pointer file was created or now records other content
    ignored_line: bool  # a `/<name>` line was added to the .gitignore beside the data
    replaced: tuple[str, ...] = ()  # pointer files inside it that --force removed


@dataclasses.dataclass(frozen=True, slots=True)
class Untracked:
    path: str
    pvt_file: str
    ignored_line: bool  # our `/<name>` line was removed


def resolve(project: Project, cwd: Path, raw: str) -> str:
    """The project-relative path of a PATH argument (relative to `cwd`); errors for paths that cannot be data."""
    abs_path = os.path.abspath(cwd / raw)
    rel = project.rel(abs_path)
    if rel == ".." or rel.startswith("../"):
        raise errors.ConfigError(f"'{raw}' lies outside the project ({project.root})",
                                 hint="tracked data must be inside the project: move or copy it there")
    if rel == ".":
        raise errors.ConfigError("cannot track the project root", hint="name a file or directory inside it")
    if any(p in pointer.FORBIDDEN_PARTS for p in rel.split("/")):
        raise errors.ConfigError(f"'{rel}' lies inside .git or .pivot", hint="those hold git's and pivot's own state")
    real_root, real_parent = os.path.realpath(project.root), os.path.realpath(os.path.dirname(abs_path))
    if real_parent != real_root and not real_parent.startswith(real_root + os.sep):
        raise errors.ConfigError(f"'{rel}' lies outside the project through a symbolic link",
                                 hint="tracked data and its pointer file must be inside the project")
    return rel


def _stage_conflict(loaded: Loaded, rel: str) -> str | None:
    g = loaded.graph
    outer = next((p for p in _self_and_parents(rel) if p in g.producers), None)
    inner = next((p for p in g.producers if p.startswith(rel + "/")), None)
    out = outer or inner
    if out is None:
        return None
    how = "is an output of" if out == rel else (f"lies inside output '{out}' of" if outer else
                                                f"contains output '{out}' of")
    st = g.stages[g.producers[out]]
    return f"'{rel}' {how} stage '{g.display(st.id)}' ({st.location}): outputs are cached by their stage"


def _self_and_parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]


def _pipeline_inside(loaded: Loaded, rel: str) -> str | None:
    files = [p.file for p in loaded.graph.merged.pipelines] + [b.file for b in loaded.broken]
    return next((f for f in files if f.startswith(rel + "/") and not f.endswith(pointer.SUFFIX)), None)


def _check(loaded: Loaded, repo: gitread.GitRepo | None, rels: Sequence[str], force: bool) -> None:
    """Every reason not to track `rels`, before anything is written."""
    project = loaded.project
    spec = discover.ignore_spec(project)
    for i, rel in enumerate(rels):
        other = next((o for o in rels[:i] if project_mod.is_within(rel, o) or project_mod.is_within(o, rel)), None)
        if other is not None:
            raise errors.ConfigError(f"'{other}' and '{rel}' overlap", hint="track one of them")
        if rel.endswith(pointer.SUFFIX):
            raise errors.ConfigError(f"'{rel}' is a pointer file", hint=f"track the data it names: "
                                     f"`pivot track {rel.removesuffix(pointer.SUFFIX)}`")
        if discover.skipped(_pointer_file(loaded, rel), spec):
            raise errors.ConfigError(f"'{rel}' lies in a directory discovery skips (a tool directory such as "
                                     f"node_modules, or {discover.IGNORE_FILE}): its pointer file would never be found",
                                     hint="keep tracked data outside the directories pivot does not search")
        why = _stage_conflict(loaded, rel)
        if why is None and (inner := _pipeline_inside(loaded, rel)) is not None:
            why = f"'{rel}' contains pipeline file {inner}"
        if why is not None:
            raise errors.ConfigError(f"cannot track {why}", hint="track raw inputs only")
        try:
            st = os.lstat(project.abs(rel))
        except FileNotFoundError:
            raise errors.ConfigError(f"'{rel}' does not exist", hint="name an existing file or directory") from None
        if stat.S_ISLNK(st.st_mode):
            raise errors.ConfigError(f"'{rel}' is a symbolic link", hint="track the data it points to")
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            raise errors.ConfigError(f"'{rel}' is not a regular file or a directory")
        outer = next((t for t in loaded.graph.tracked.values()
                      if t.path != rel and project_mod.is_within(rel, t.path)), None)
        if outer is not None:
            raise errors.ConfigError(f"'{rel}' lies inside tracked data '{outer.path}' ({outer.pvt_file})",
                                     hint=f"track that again instead: `pivot track {outer.path}`")
        inner_t = [t for t in loaded.graph.tracked.values() if t.path.startswith(rel + "/")]
        if inner_t and not force:
            raise errors.ConfigError(f"'{rel}' contains tracked data: {', '.join(t.pvt_file for t in inner_t)}",
                                     hint="--force replaces those pointer files by one for the whole directory")
        broken = next((b for b in loaded.broken if b.file == _pointer_file(loaded, rel)), None)
        if broken is not None and not force:
            raise errors.ConfigError(f"pointer file {broken.file} exists and cannot be read: {broken.error.message}",
                                     file=broken.file, line=broken.error.line,
                                     hint="fix it, or overwrite it with `pivot track --force`")
    if repo is not None:
        in_git = repo.tracked(rels)
        if in_git:
            names = " ".join(in_git)
            raise errors.ConfigError(f"git tracks {', '.join(repr(p) for p in in_git)}: it is already in git",
                                     hint=f"to move it out of git into pivot: `git rm -r --cached {names}`, "
                                          "then `pivot track` it and commit")


def _pointer_file(loaded: Loaded, rel: str) -> str:
    """An existing pointer of `rel` (whatever its name), else `rel.pvt` beside it."""
    t = loaded.graph.tracked.get(rel)
    return t.pvt_file if t is not None else pointer.pointer_of(rel)


def _untrack_one(project: Project, t: model.TrackedSpec | None, pvt_file: str, path: str) -> Untracked:
    project.abs(pvt_file).unlink(missing_ok=True)
    parent = posixpath.dirname(path)
    removed = gitignore.remove(project.abs(parent), [posixpath.basename(path)])
    return Untracked(path if t is None else t.path, pvt_file, bool(removed))


def track(access: StateAccess, loaded: Loaded, rels: Sequence[str], *, force: bool) -> list[Tracked]:
    """Track every path of `rels` (project-relative), or raise before writing anything."""
    project = loaded.project
    repo = gitread.GitRepo.find(project.root)
    try:
        _check(loaded, repo, rels, force)
        ignored = repo.ignored(rels) if repo is not None else set()
    finally:
        if repo is not None:
            repo.close()
    done = []
    for rel in rels:
        replaced = tuple(_untrack_one(project, t, t.pvt_file, t.path).pvt_file
                         for t in loaded.graph.tracked.values() if t.path.startswith(rel + "/"))
        done.append(_track_one(access, loaded, rel, rel in ignored, replaced))
    return done


def _track_one(access: StateAccess, loaded: Loaded, rel: str, git_ignores: bool,
               replaced: tuple[str, ...]) -> Tracked:
    project = loaded.project
    hasher = tracked.hasher(access)
    abs_path = project.abs(rel)
    files: int | None = None
    if abs_path.is_dir():
        sizes: list[int] = []
        tree = hasher.tree(rel, sizes)
        assert tree is not None
        access.cache.store_tree(abs_path, tree)
        h, size, files = tree.hash, sum(sizes), len(tree.entries)
    else:
        fh = hasher.file(rel)
        if fh is None:
            raise errors.ConfigError(f"'{rel}' vanished while it was being tracked")
        access.cache.store_file(abs_path, fh)
        h, size = fh, abs_path.stat().st_size
    pvt_file = _pointer_file(loaded, rel)
    data: pointer.PointerData = {"schema": pointer.SCHEMA, "path": posixpath.relpath(rel, posixpath.dirname(pvt_file)),
                                 "hash": h, "size": size}
    if files is not None:
        data["files"] = files
    added = [] if git_ignores else gitignore.add(project.abs(posixpath.dirname(rel)), [posixpath.basename(rel)])
    try:
        old = pointer.read(project.abs(pvt_file), pvt_file)
    except errors.StateError:
        old = None  # unreadable: --force was given (checked above)
    if old != data:
        pointer.write(project.abs(pvt_file), data)
    return Tracked(rel, pvt_file, h, size, files, old != data, bool(added), replaced)


def untrack(loaded: Loaded, rels: Sequence[str]) -> list[Untracked]:
    """Remove the pointer files and `.gitignore` lines of `rels`; the data and its cache objects stay."""
    project = loaded.project
    found: list[tuple[model.TrackedSpec | None, str, str]] = []
    for rel in rels:
        t = tracked.by_target(loaded, rel)
        if t is not None:
            found.append((t, t.pvt_file, t.path))
            continue
        pvt = rel if rel.endswith(pointer.SUFFIX) else pointer.pointer_of(rel)
        if any(b.file == pvt for b in loaded.broken):  # a pointer that does not parse can still be removed
            found.append((None, pvt, pvt.removesuffix(pointer.SUFFIX)))
            continue
        raise errors.ConfigError(f"'{rel}' is not tracked (no pointer file names it)",
                                 hint="see the *.pvt files of the project")
    return [_untrack_one(project, t, pvt, path) for t, pvt, path in found]
