"""Stage lock files: what a stage's last successful run consumed and produced, as sorted YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict

import yaml

from pivot_ci import yamlutil
from pivot_ci.errors import StateError
from pivot_ci.state import fsutil

SCHEMA = 1

_Loader = yamlutil.Loader
_BaseDumper = yamlutil.Dumper
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


class _Dumper(_BaseDumper):  # type: ignore[misc, valid-type]
    """Safe dumper that writes multi-line strings (cmd text) as literal blocks for readable diffs."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _sorted(entries: list[PathEntry]) -> list[dict[str, str]]:
    return [{"hash": e["hash"], "path": e["path"]} for e in sorted(entries, key=lambda e: e["path"])]


def dumps(data: LockData) -> bytes:
    """The canonical YAML of `data`: keys sorted, path lists sorted by path, block style."""
    doc: dict[str, Any] = dict(data)
    doc.update(deps=_sorted(data["deps"]), outs=_sorted(data["outs"]), metrics=_sorted(data["metrics"]))
    text: str = yaml.dump(doc, Dumper=_Dumper, sort_keys=True, default_flow_style=False,
                          allow_unicode=True, width=1 << 20)
    return text.encode("utf-8")


def write(path: Path, data: LockData) -> None:
    """Atomically write `data` as the lock file at `path`."""
    fsutil.atomic_write(path, dumps(data))


def _key_line(text: str, key: str | None) -> int | None:
    """Line of top-level `key` (or of the document), found only on the error path to keep reads cheap."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    if key is not None and isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if k.value == key:
                return int(k.start_mark.line) + 1
    return int(node.start_mark.line) + 1


def _check_entries(value: object) -> str | None:
    if not isinstance(value, list):
        return "must be a list"
    for i, e in enumerate(value):
        if not (isinstance(e, dict) and set(e) == {"path", "hash"}
                and isinstance(e["path"], str) and isinstance(e["hash"], str)):
            return f"item {i} must be a mapping of `path` and `hash` strings"
    return None


def _problem(raw: dict[Any, Any]) -> tuple[str | None, str] | None:
    """The first thing wrong with `raw` as (key, message), or None."""
    extra = sorted(str(k) for k in raw if k not in _KEYS)
    if extra:
        return extra[0], f"unexpected key {extra[0]!r}"
    for key in sorted(_KEYS):
        if key not in raw:
            return None, f"missing key {key!r}"
    schema = raw["schema"]
    if type(schema) is not int or schema < 1:
        return "schema", "`schema` must be a positive integer"
    if not isinstance(raw["stage"], str):
        return "stage", "`stage` must be a string"
    for key in ("cmd", "code"):
        if raw[key] is not None and not isinstance(raw[key], str):
            return key, f"`{key}` must be a string or null"
    if not (isinstance(raw["params"], dict) and all(isinstance(k, str) for k in raw["params"])):
        return "params", "`params` must be a mapping with string keys"
    for key in _PATH_LISTS:
        why = _check_entries(raw[key])
        if why:
            return key, f"`{key}` {why}"
    return None


def read(path: Path, display: str) -> LockData | None:
    """The lock file at `path`, None when absent; StateError (located at `display`) when unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise StateError(f"cannot read lock file: {exc}", file=display,
                         hint=_HINT.format(display=display)) from None
    try:
        raw = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        problem, line = yamlutil.problem(exc, text)
        raise StateError(f"malformed lock file: {problem}", file=display, line=line,
                         hint=_HINT.format(display=display)) from None
    if not isinstance(raw, dict):
        raise StateError("malformed lock file: expected a mapping", file=display,
                         line=_key_line(text, None), hint=_HINT.format(display=display))
    schema = raw.get("schema")
    # Checked before the shape: a newer schema may well have a different shape.
    if type(schema) is int and schema > SCHEMA:
        raise StateError(f"lock file has schema {schema}, newer than this pivot-ci reads ({SCHEMA})",
                         file=display, line=_key_line(text, "schema"), hint=_NEWER_HINT)
    found = _problem(raw)
    if found is not None:
        key, message = found
        raise StateError(f"malformed lock file: {message}", file=display, line=_key_line(text, key),
                         hint=_HINT.format(display=display))
    data: LockData = {
        "schema": raw["schema"], "stage": raw["stage"], "cmd": raw["cmd"], "code": raw["code"],
        "params": raw["params"], "deps": raw["deps"], "outs": raw["outs"], "metrics": raw["metrics"],
    }
    return data
