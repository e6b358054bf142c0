"""`vars` files, and params declared once by naming their keys: `params: [train.lr, prep]`.

The list form takes each dotted key (or whole section) from the pipeline's `vars` values; a pipeline without
`vars` reads `params.yaml` beside its pipeline file, as DVC does. The stage receives `lr=...` and `prep={...}`:
the last part of the key is the parameter's name.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from pivot_ci import errors, project
from pivot_ci.pipeline.build import FileContext

DEFAULT_VARS = "params.yaml"
KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$")
_VARS_HINT = "e.g. vars: [params.yaml]"
_LIST_HINT = "e.g. params: [train.lr, prep] (keys of the vars files) or params: {lr: 0.1}"


def read_vars(ctx: FileContext, value: object, line: int | None) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The merged values of `vars` entries (files relative to the pipeline file, or mappings), and the
    project-relative files they came from."""
    entries = [value] if isinstance(value, str | dict) else value
    if not isinstance(entries, list | tuple):
        raise ctx.error("vars must be a list of files (or mappings)", line, hint=_VARS_HINT)
    merged: dict[str, Any] = {}
    files: list[str] = []
    for entry in entries:
        if isinstance(entry, dict):
            merged.update(entry)
            continue
        if not isinstance(entry, str):
            raise ctx.error(f"vars: {entry!r} is not a file name", line, hint=_VARS_HINT)
        rel = project.join_rel(ctx.dir, entry)
        if rel is not None:  # a vars file outside the project is read, but not watched
            files.append(rel)
        merged.update(_read_file(ctx, entry, line))
    return merged, tuple(files)


def _read_file(ctx: FileContext, entry: str, line: int | None) -> dict[str, Any]:
    path = ctx.project.abs(ctx.dir) / entry
    ctx.inputs.read(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8, or a NUL byte in the name
        why = exc.strerror if isinstance(exc, OSError) else (
            "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else "not a file name")
        raise ctx.error(f"vars: cannot read {entry}: {why}", line,
                        hint="vars files are relative to the pipeline file's directory") from None
    import yaml  # a pipeline.py without vars files never needs the YAML parser

    from pivot_ci import yamlutil

    try:
        data = yamlutil.load(text)
    except yaml.YAMLError as exc:
        problem, at = yamlutil.problem(exc, text)
        what, hint = (("refused YAML", yamlutil.LIMIT_HINT) if isinstance(exc, yamlutil.LimitError)
                      else ("malformed YAML", "fix the YAML at that line"))
        raise errors.ConfigError(
            f"vars file {entry} (listed at {ctx.file}:{line}): {what}: {problem}",
            file=ctx.project.rel(path), line=at, hint=hint) from None
    if data is not None and not isinstance(data, dict):
        raise ctx.error(f"vars: {entry} must hold a mapping", line, hint="e.g. `lr: 0.1`")
    return data or {}


class Vars:
    """A pipeline's vars values; `params.yaml` is read on first use when the pipeline declares no `vars`."""

    def __init__(self, ctx: FileContext, values: dict[str, Any], files: tuple[str, ...], declared: bool) -> None:
        self.ctx = ctx
        self.values = values
        self.files = files
        self.declared = declared
        self._default: dict[str, Any] | None = None
        self.budget: int | None = None  # values handed to stages, like ${...}: bounded alike (set on first use)

    def for_params(self, where: str, line: int | None) -> tuple[dict[str, Any], str]:
        """The values the list form reads, and what to call their source in messages."""
        if self.declared:
            return self.values, "the vars files"
        if self._default is None:
            if not self.ctx.inputs.isfile(str(self.ctx.project.abs(self.ctx.dir).joinpath(DEFAULT_VARS))):
                raise self.ctx.error(
                    f"{where} names keys of the vars files, but this pipeline declares no `vars` and has no "
                    f"{DEFAULT_VARS}", line, hint=f"add {DEFAULT_VARS} beside the pipeline file, or list the "
                    "files that hold the keys: vars: [params.yaml]")
            self._default = _read_file(self.ctx, DEFAULT_VARS, line)
            rel = project.join_rel(self.ctx.dir, DEFAULT_VARS)
            self.files = (*self.files, rel) if rel is not None else self.files
        return self._default, DEFAULT_VARS


def select(ctx: FileContext, where: str, keys: list[Any] | tuple[Any, ...], source: Vars,
           line: int | None) -> dict[str, Any]:
    """`[train.lr, prep]` -> `{lr: <train.lr>, prep: <prep>}`: each key named by its last part."""
    for i, key in enumerate(keys):
        if not isinstance(key, str) or not KEY_RE.match(key.strip()):
            raise ctx.error(f"{where}[{i}] must be a key of the vars files like `train.lr`, got {key!r}", line,
                            hint=_LIST_HINT)
    from pivot_ci import yamlutil

    values, origin = source.for_params(where, line)
    if source.budget is None:
        source.budget = yamlutil.MAX_ALIAS_NODES
    out: dict[str, Any] = {}
    full: dict[str, str] = {}
    for i, key in enumerate(k.strip() for k in keys):
        value = _lookup(ctx, f"{where}[{i}]", key, values, origin, line)
        name = key.rsplit(".", 1)[-1]
        if not name.isidentifier():
            raise ctx.error(f"{where}[{i}]: '{name}' (the name {key} is passed as) is not a valid identifier",
                            line, hint="params arrive as keyword arguments: rename the key, or use the mapping "
                            "form params: {name: ${" + key + "}}")
        if name in out:
            raise ctx.error(f"{where}: '{full[name]}' and '{key}' would both be passed as '{name}'", line,
                            hint="use the mapping form for one of them: params: {other_name: ${" + key + "}}")
        source.budget -= yamlutil.value_size(value, source.budget + 1)
        if source.budget < 0:
            raise ctx.error(f"refused: params named by key expand to more than {yamlutil.MAX_ALIAS_NODES} nodes "
                            f"(at '{key}')", line, hint=yamlutil.LIMIT_HINT)
        out[name], full[name] = value, key
    return out


def _lookup(ctx: FileContext, where: str, key: str, values: dict[str, Any], origin: str, line: int | None) -> Any:
    cur: Any = values
    done: list[str] = []
    parts = key.split(".")
    for n, part in enumerate(parts):
        if not isinstance(cur, dict) or part not in cur:
            known = [str(k) for k in cur] if isinstance(cur, dict) else []
            close = difflib.get_close_matches(part, known, n=1)
            at = ".".join(done) or "the top level"
            hint = (f"did you mean '{'.'.join([*done, close[0], *parts[n + 1:]])}'? " if close else "") + (
                f"keys at {at}: {', '.join(sorted(known)[:10])}" if known else f"'{at}' is not a mapping")
            raise ctx.error(f"{where}: '{key}' is not defined in {origin}", line, hint=hint)
        cur = cur[part]
        done.append(part)
    return cur
