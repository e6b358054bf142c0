"""`metrics:` entries: a path, or `{path: ..., fail_if: {<key>: {drop|rise|above|below: <number>}}}`."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Any

from pivot_ci.pipeline import build, model
from pivot_ci.pipeline.build import FileContext

ENTRY_KEYS = ("path", "fail_if")
RULES = tuple(r.value for r in model.GateRule)
_HINT = "e.g. metrics: [{path: eval/metrics.json, fail_if: {accuracy: {drop: 0.01}, latency_ms: {above: 200}}}]"

# (entry index, key under fail_if or None for the entry itself) -> line, where the loader knows it
Lines = Mapping[tuple[int, str | None], int]


def parse(ctx: FileContext, where: str, value: object, line: int,
          lines: Lines | None = None) -> tuple[tuple[model.PathSpec, ...], tuple[model.MetricGate, ...]]:
    """The metric files of a stage and the gates declared on them."""
    if value is None:
        return (), ()
    entries = [value] if isinstance(value, str | Mapping) else value
    if not isinstance(entries, list | tuple):
        raise ctx.error(f"{where} must be a path, a list of paths or of {{path, fail_if}} mappings, "
                        f"got {type(value).__name__}", line, hint=_HINT)
    lines = lines or {}
    paths: list[object] = []
    gate_specs: list[tuple[int, object, int]] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            paths.append(entry)
            continue
        at = lines.get((i, None), line)
        build.check_keys(ctx, f"{where}[{i}]", {str(k): at for k in entry}, ENTRY_KEYS)
        if "path" not in entry:
            raise ctx.error(f"{where}[{i}]: a metrics mapping needs `path`", at, hint=_HINT)
        paths.append(entry["path"])
        if entry.get("fail_if") is not None:
            gate_specs.append((i, entry["fail_if"], at))
    specs = build.resolve_paths(ctx, where, paths, line, output=True)
    gates: list[model.MetricGate] = []
    for i, fail_if, at in gate_specs:
        if specs[i].is_dir:
            raise ctx.error(f"{where}[{i}]: fail_if needs a metric file, '{specs[i].path}' is a directory", at,
                            hint="name the JSON, YAML or TOML file the gate reads")
        gates += _gates(ctx, f"{where}[{i}].fail_if", specs[i].path, fail_if, at, i, lines)
    return specs, tuple(gates)


def _gates(ctx: FileContext, where: str, path: str, fail_if: object, line: int, index: int,
           lines: Lines) -> list[model.MetricGate]:
    if not isinstance(fail_if, Mapping) or not fail_if:
        raise ctx.error(f"{where} must be a mapping of metric keys to rules", line, hint=_HINT)
    out = []
    for key, rules in fail_if.items():
        at = lines.get((index, str(key)), line)
        if not isinstance(key, str) or not key.strip():
            raise ctx.error(f"{where}: metric key {key!r} must be a non-empty string", at,
                            hint="a key of the metric file, nested keys joined with dots: eval.accuracy")
        if not isinstance(rules, Mapping) or not rules:
            raise ctx.error(f"{where}.{key} must be a mapping of rules to numbers", at,
                            hint=f"rules: {', '.join(RULES)}, e.g. {key}: {{drop: 0.01}}")
        for rule, bound in rules.items():
            out.append(model.MetricGate(path, key.strip(), _rule(ctx, f"{where}.{key}", rule, at),
                                        _bound(ctx, f"{where}.{key}.{rule}", rule, bound, at), at))
    return out


def _rule(ctx: FileContext, where: str, rule: object, line: int) -> model.GateRule:
    if rule not in RULES:
        close = difflib.get_close_matches(str(rule), RULES, n=1)
        hint = (f"did you mean '{close[0]}'? " if close else "") + f"rules: {', '.join(RULES)}"
        raise ctx.error(f"{where}: unknown rule {rule!r}", line, hint=hint)
    return model.GateRule(rule)


def _bound(ctx: FileContext, where: str, rule: object, bound: Any, line: int) -> float:
    if isinstance(bound, bool) or not isinstance(bound, int | float) or not math.isfinite(bound):
        raise ctx.error(f"{where} must be a finite number, got {bound!r}", line,
                        hint="drop/rise: by how much the metric may move; above/below: an absolute bound")
    if rule in ("drop", "rise") and bound < 0:
        raise ctx.error(f"{where} must not be negative, got {bound!r}", line,
                        hint=f"{rule}: 0 fails on any {'fall' if rule == 'drop' else 'rise'} at all")
    return float(bound)
