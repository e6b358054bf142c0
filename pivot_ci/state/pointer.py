"""Pointer files (`PATH.pvt`): tracked data kept out of git, recorded beside it as sorted YAML.

A pointer names its data relative to its own directory and holds the content hash (a directory's ends in
`.dir`, its manifest being a cache object as for directory outputs), the size in bytes and, for a
directory, the number of files. Pointers are committed to git; the data they name is not.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from pivot_ci.state import fsutil, lockfile

SCHEMA = 1
SUFFIX = ".pvt"
# Names a pointer may never reach into: git's own directory and pivot's state.
FORBIDDEN_PARTS = frozenset({".git", ".pivot"})
_REQUIRED = ("hash", "path", "schema", "size")
_KEYS = frozenset((*_REQUIRED, "files"))
_HINT = "restore it from git (git checkout -- {display}) or track the data again (pivot track --force PATH)"
_NEWER_HINT = "upgrade pivot-ci, or track the data again with this version (pivot track --force PATH)"


class PointerData(TypedDict):
    schema: int
    path: str  # relative to the pointer's directory, POSIX
    hash: str
    size: int
    files: NotRequired[int]  # directories only


def dumps(data: PointerData) -> bytes:
    """The canonical YAML of `data`: keys sorted, block style."""
    import yaml  # only writing a pointer needs it (reading: lockfile.load_checked)

    from pivot_ci import yamlutil

    text: str = yaml.dump(dict(data), Dumper=yamlutil.Dumper, sort_keys=True, default_flow_style=False,
                          allow_unicode=True, width=1 << 20)
    return text.encode("utf-8")


def write(path: Path, data: PointerData) -> None:
    """Atomically write `data` as the pointer file at `path`."""
    fsutil.atomic_write(path, dumps(data))


def path_problem(rel: object) -> str | None:
    """Why `rel` cannot be the data path of a pointer (relative, inside the pointer's directory), or None."""
    if not isinstance(rel, str) or not rel:
        return "`path` must be a non-empty string"
    if rel.startswith("/") or "\\" in rel or "\0" in rel or "\n" in rel:
        return f"`path` {rel!r} must be a relative POSIX path"
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return f"`path` {rel!r} must stay inside the pointer's directory (no '.', '..' or empty parts)"
    if any(p in FORBIDDEN_PARTS for p in parts):
        return f"`path` {rel!r} may not reach into .git or .pivot"
    return None


def _is_count(value: object) -> bool:
    return type(value) is int and value >= 0


def _problem(raw: dict[Any, Any]) -> tuple[lockfile.Where, str] | None:
    """The first thing wrong with `raw` as (where, message), or None."""
    extra = sorted(str(k) for k in raw if k not in _KEYS)
    if extra:
        return (extra[0],), f"unexpected key {extra[0]!r} (valid keys: {', '.join(sorted(_KEYS))})"
    for key in _REQUIRED:
        if key not in raw:
            return (), f"missing key {key!r}"
    if type(raw["schema"]) is not int or raw["schema"] < 1:
        return ("schema",), "`schema` must be a positive integer"
    why = path_problem(raw["path"])
    if why:
        return ("path",), why
    if not isinstance(raw["hash"], str) or not lockfile.HASH_RE.fullmatch(raw["hash"]):
        return ("hash",), "`hash` must be a content hash (hex digits, `.dir` for a directory)"
    if not _is_count(raw["size"]):
        return ("size",), "`size` must be a non-negative integer (bytes)"
    is_dir = raw["hash"].endswith(".dir")
    if is_dir and not _is_count(raw.get("files")):
        where = ("files",) if "files" in raw else ("hash",)
        return where, "a directory's pointer needs `files`, a non-negative integer"
    if not is_dir and "files" in raw:
        return ("files",), "`files` is only for a directory (a hash ending in .dir)"
    return None


POINTER = lockfile.Format("pointer file", SCHEMA, _HINT, _NEWER_HINT, _problem)


def read(path: Path, display: str) -> PointerData | None:
    """The pointer file at `path`, None when absent; StateError (located at `display`) when unusable."""
    text = lockfile.read_text(path, display, POINTER)
    return None if text is None else loads(text, display)


def loads(text: str, display: str) -> PointerData:
    """The pointer whose content is `text` (from disk or from a git revision); StateError at `display`."""
    raw = lockfile.load_checked(text, display, POINTER)
    data: PointerData = {"schema": raw["schema"], "path": raw["path"], "hash": raw["hash"], "size": raw["size"]}
    if "files" in raw:
        data["files"] = raw["files"]
    return data


def data_path(pointer_rel: str, data: PointerData) -> str:
    """The project-relative path of the data a pointer (at project-relative `pointer_rel`) names."""
    return posixpath.normpath(posixpath.join(posixpath.dirname(pointer_rel), data["path"]))


def pointer_of(data_rel: str) -> str:
    """Where the pointer of project-relative `data_rel` lives: `data_rel.pvt`, beside it."""
    return data_rel + SUFFIX
