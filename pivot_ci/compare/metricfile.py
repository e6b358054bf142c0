"""Metric files (JSON, YAML, TOML) -> flat `{dotted.key: scalar}` mappings; params flattened the same way."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from typing import Any

import yaml

from pivot_ci import errors, yamlutil

_TOML_LINE_RE = re.compile(r"at line (\d+)")


def parse(display: str, data: bytes) -> dict[str, Any]:
    """The flattened content of a metric file; ConfigError naming `display` and the line when unreadable."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.ConfigError("metric file is not UTF-8 text", file=display,
                                 line=data.count(b"\n", 0, exc.start) + 1, hint="write metrics as UTF-8") from None
    doc = _load(display, text)
    if doc is None:
        return {}
    if not isinstance(doc, Mapping):
        raise errors.ConfigError(f"metric file must hold a mapping of names to values, got {type(doc).__name__}",
                                 file=display, line=1, hint='e.g. {"accuracy": 0.91, "loss": 0.2}')
    return flatten(doc, lists=True)


def _load(display: str, text: str) -> Any:
    suffix = display.rsplit("/", 1)[-1].rpartition(".")[2].lower()
    try:
        if suffix == "json":
            return json.loads(text)
        if suffix == "toml":
            return tomllib.loads(text)
        return yamlutil.load(text)
    except json.JSONDecodeError as exc:
        raise errors.ConfigError(f"malformed JSON: {exc.msg}", file=display, line=exc.lineno,
                                 hint="fix the file, or run the stage that writes it again") from None
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_LINE_RE.search(str(exc))
        raise errors.ConfigError(f"malformed TOML: {str(exc).split(' (at ')[0]}", file=display,
                                 line=int(found.group(1)) if found else None,
                                 hint="fix the file, or run the stage that writes it again") from None
    except yaml.YAMLError as exc:
        problem, line = yamlutil.problem(exc, text)
        if isinstance(exc, yamlutil.LimitError):
            raise errors.ConfigError(f"refused YAML: {problem}", file=display, line=line,
                                     hint=yamlutil.LIMIT_HINT) from None
        raise errors.ConfigError(f"malformed YAML: {problem}", file=display, line=line,
                                 hint="fix the file, or run the stage that writes it again") from None


def flatten(doc: Mapping[Any, Any], *, lists: bool) -> dict[str, Any]:
    """Nested mappings (and, with `lists`, lists by index) flattened to dotted keys: `eval.accuracy`,
    `per_class.0`. Leaves are JSON scalars (or lists, without `lists`); other YAML/TOML types become text."""
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif lists and isinstance(value, list):
            for i, v in enumerate(value):
                walk(f"{prefix}.{i}" if prefix else str(i), v)
        elif value is None or isinstance(value, str | int | float | bool | list):
            out[prefix] = value
        else:  # dates and times from YAML or TOML
            out[prefix] = str(value)

    walk("", doc)
    return out


def natural_key(key: str) -> tuple[tuple[int, int, str], ...]:
    """Sort order of dotted keys: numeric parts as numbers (`per_class.2` before `per_class.10`)."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in key.split("."))
