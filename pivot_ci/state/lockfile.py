"""Stage lock files: what a stage's last successful run consumed and produced, as sorted YAML."""

from __future__ import annotations

import dataclasses
import functools
import posixpath
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from pivot_ci.errors import StateError
from pivot_ci.state import fsutil

if TYPE_CHECKING:
    import yaml

# yaml (and pivot_ci.yamlutil) are imported by the functions that parse or write YAML: a no-change `status`
# reads lock files through the state db's memo and never needs them.

SCHEMA = 1

_HINT = "restore it from git (git checkout -- {display}) or delete it and run `pivot repro`"
_NEWER_HINT = "upgrade pivot-ci, or delete it and run `pivot repro`"


class PathEntry(TypedDict):
    path: str
    hash: str


class LockData(TypedDict):
    schema: int
    stage: str
    cmd: str | None
    code: str | None
    params: dict[str, Any]
    deps: list[PathEntry]
    outs: list[PathEntry]
    metrics: list[PathEntry]


_PATH_LISTS = ("deps", "outs", "metrics")
_KEYS = frozenset(LockData.__annotations__)
HASH_RE = re.compile(r"[0-9a-f]{3,128}(\.dir)?")

Where = tuple[str | int, ...]  # a key path into the document: ("outs", 2, "path")


@functools.cache
def _dumper() -> type[yaml.SafeDumper]:
    """Safe dumper: multi-line strings (cmd text) as literal blocks for readable diffs, never an alias."""
    from pivot_ci import yamlutil

    class Dumper(yamlutil.Dumper):  # type: ignore[misc, valid-type]
        def ignore_aliases(self, data: Any) -> bool:
            return True

    Dumper.add_representer(str, _str)
    return Dumper


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _sorted(entries: list[PathEntry]) -> list[dict[str, str]]:
    return [{"hash": e["hash"], "path": e["path"]} for e in sorted(entries, key=lambda e: e["path"])]


def dumps(data: LockData) -> bytes:
    """The canonical YAML of `data`: keys sorted, path lists sorted by path, block style."""
    doc: dict[str, Any] = dict(data)
    doc.update(deps=_sorted(data["deps"]), outs=_sorted(data["outs"]), metrics=_sorted(data["metrics"]))
    import yaml

    text: str = yaml.dump(doc, Dumper=_dumper(), sort_keys=True, default_flow_style=False,
                          allow_unicode=True, width=1 << 20)
    return text.encode("utf-8")


def write(path: Path, data: LockData) -> None:
    """Atomically write `data` as the lock file at `path`."""
    fsutil.atomic_write(path, dumps(data))


def path_problem(path: str) -> str | None:
    """Why `path` is not a project-relative POSIX path that stays inside the project, or None."""
    if not path or "\0" in path:
        return "is empty" if not path else "holds a NUL byte"
    if path.startswith("/"):
        return "is absolute"
    if path in (".", "..") or path.startswith("../"):
        return "is outside the project"
    if posixpath.normpath(path) != path:
        return "is not a normalised relative path"
    return None


def _check_entries(key: str, value: object) -> tuple[Where, str] | None:
    if not isinstance(value, list):
        return (key,), f"`{key}` must be a list"
    for i, e in enumerate(value):
        if not (isinstance(e, dict) and set(e) == {"path", "hash"}
                and isinstance(e["path"], str) and isinstance(e["hash"], str)):
            return (key, i), f"`{key}` item {i} must be a mapping of `path` and `hash` strings"
        why = path_problem(e["path"])
        if why is not None:
            return (key, i, "path"), f"`{key}` item {i}: path {e['path']!r} {why}"
        if not HASH_RE.fullmatch(e["hash"]):
            return (key, i, "hash"), f"`{key}` item {i} ({e['path']}): {e['hash']!r} is not a content hash"
    return None


def _problem(raw: dict[Any, Any]) -> tuple[Where, str] | None:
    """The first thing wrong with `raw` as (where, message), or None."""
    extra = sorted(str(k) for k in raw if k not in _KEYS)
    if extra:
        return (extra[0],), f"unexpected key {extra[0]!r}"
    for key in sorted(_KEYS):
        if key not in raw:
            return (), f"missing key {key!r}"
    schema = raw["schema"]
    if type(schema) is not int or schema < 1:
        return ("schema",), "`schema` must be a positive integer"
    if not isinstance(raw["stage"], str):
        return ("stage",), "`stage` must be a string"
    for key in ("cmd", "code"):
        if raw[key] is not None and not isinstance(raw[key], str):
            return (key,), f"`{key}` must be a string or null"
    if not (isinstance(raw["params"], dict) and all(isinstance(k, str) for k in raw["params"])):
        return ("params",), "`params` must be a mapping with string keys"
    for key in _PATH_LISTS:
        found = _check_entries(key, raw[key])
        if found:
            return found
    return None


def locate(path: Path, where: Where) -> int | None:
    """The line of key path `where` (("outs", 2, "path")) in the lock file at `path`; for error messages."""
    from pivot_ci import yamlutil

    try:
        return yamlutil.line_of(path.read_text(encoding="utf-8"), where)
    except (OSError, UnicodeDecodeError):
        return None


@dataclasses.dataclass(frozen=True, slots=True)
class Format:
    """A kind of sorted-YAML state file (lock files, pointer files): how a read names and checks it."""

    what: str  # "lock file"
    schema: int  # the newest schema this version reads
    hint: str  # the fix, with {display}
    newer_hint: str
    problem: Callable[[dict[Any, Any]], tuple[Where, str] | None]  # (where, message) of the first problem


def read_text(path: Path, display: str, fmt: Format) -> str | None:
    """The text of the file at `path`, None when absent; StateError (located at `display`) when unreadable."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise StateError(f"cannot read {fmt.what}: {exc}", file=display,
                         hint=fmt.hint.format(display=display)) from None


def load_checked(text: str, display: str, fmt: Format, hint: str | None = None) -> dict[Any, Any]:
    """`text` parsed and checked as a `fmt` file (read from disk or a git revision); StateError at `display`,
    with the line of the offending key."""
    import yaml

    from pivot_ci import yamlutil

    hint = hint or fmt.hint.format(display=display)
    try:
        raw = yamlutil.load(text)
    except yaml.YAMLError as exc:
        problem, line = yamlutil.problem(exc, text)
        raise StateError(f"malformed {fmt.what}: {problem}", file=display, line=line, hint=hint) from None
    if not isinstance(raw, dict):
        raise StateError(f"malformed {fmt.what}: expected a mapping", file=display,
                         line=yamlutil.line_of(text, ()), hint=hint)
    schema = raw.get("schema")
    # Checked before the shape: a newer schema may well have a different shape.
    if type(schema) is int and schema > fmt.schema:
        raise StateError(f"{fmt.what} has schema {schema}, newer than this pivot-ci reads ({fmt.schema})",
                         file=display, line=yamlutil.line_of(text, ("schema",)), hint=fmt.newer_hint)
    found = fmt.problem(raw)
    if found is not None:
        where, message = found
        raise StateError(f"malformed {fmt.what}: {message}", file=display, line=yamlutil.line_of(text, where),
                         hint=hint)
    return raw


LOCK = Format("lock file", SCHEMA, _HINT, _NEWER_HINT, _problem)


def read(path: Path, display: str) -> LockData | None:
    """The lock file at `path`, None when absent; StateError (located at `display`) when unusable."""
    text = read_text(path, display, LOCK)
    return None if text is None else parse(text, display)


def parse(text: str, display: str, hint: str | None = None) -> LockData:
    """A lock file's text (read from disk or from a git revision) as validated LockData; StateError if not."""
    raw = load_checked(text, display, LOCK, hint)
    data: LockData = {
        "schema": raw["schema"], "stage": raw["stage"], "cmd": raw["cmd"], "code": raw["code"],
        "params": raw["params"], "deps": raw["deps"], "outs": raw["outs"], "metrics": raw["metrics"],
    }
    return data
