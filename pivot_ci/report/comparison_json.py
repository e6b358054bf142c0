"""A Comparison as JSON: the document of `params diff` / `metrics show|diff --json`, and `comparison` in the
verify report (schema: schemas/comparison-v1.schema.json)."""

from __future__ import annotations

import json
import math
from typing import Any

from pivot_ci.compare.values import Comparison, Gap, GateResult, Kind, Row, Side, StageComparison

SCHEMA_VERSION = 1


def _value(value: Any) -> Any:
    """JSON has no NaN or infinity: those become the strings Python's json module would have written."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, list):
        return [_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _value(v) for k, v in value.items()}
    return value


def _side(side: Side | None) -> dict[str, Any] | None:
    return None if side is None else {"rev": side.label, "commit": side.commit}


def shown(row: Row, unchanged: bool) -> bool:
    return unchanged or row.kind is not Kind.UNCHANGED


def _row(row: Row) -> dict[str, Any]:
    absent_old = row.kind in (None, Kind.ADDED)
    absent_new = row.kind is Kind.REMOVED
    return {"key": row.key, "file": row.file, "old": None if absent_old else _value(row.old),
            "new": None if absent_new else _value(row.new), "change": _value(row.delta),
            "kind": None if row.kind is None else row.kind.value}


def _gate(g: GateResult) -> dict[str, Any]:
    return {"file": g.gate.path, "key": g.gate.key, "rule": g.gate.rule.value, "bound": g.gate.bound,
            "line": g.gate.line, "old": _value(g.old), "new": _value(g.new), "passed": g.passed,
            "message": g.message}


def _gap(c: Comparison, gap: Gap) -> dict[str, Any]:
    return {"side": "new" if gap.side == c.new else "old", "rev": gap.side.label, "what": gap.what,
            "reason": gap.reason}


def _stage(c: Comparison, s: StageComparison, unchanged: bool) -> dict[str, Any]:
    return {
        "name": s.spec.name, "display_name": s.display, "file": s.spec.pipeline_file, "line": s.spec.line,
        "new_stage": s.new_stage, "passed": s.passed,
        "params": [_row(r) for r in s.params if shown(r, unchanged)] if c.params else None,
        "metrics": [_row(r) for r in s.metrics if shown(r, unchanged)] if c.metrics else None,
        "gates": [_gate(g) for g in s.gates],
        "unavailable": [_gap(c, gap) for gap in s.gaps],
    }


def counts(c: Comparison) -> dict[str, int]:
    rows = [r for s in c.stages for r in (*s.params, *s.metrics)]
    kinds = {k: sum(1 for r in rows if r.kind is k) for k in Kind}
    return {
        "stages": len(c.stages), "changed": kinds[Kind.CHANGED], "added": kinds[Kind.ADDED],
        "removed": kinds[Kind.REMOVED], "unchanged": kinds[Kind.UNCHANGED],
        "gates": sum(len(s.gates) for s in c.stages), "failed_gates": len(c.failed_gates),
        "unavailable_stages": sum(1 for s in c.stages if s.gaps),
        "broken_pipelines": sum(1 for p in c.pipelines if p.error is not None),
    }


def to_dict(c: Comparison, *, unchanged: bool = False) -> dict[str, Any]:
    """The comparison object (rows of unchanged keys only with `unchanged`)."""
    return {
        "passed": c.passed, "old": _side(c.old), "new": _side(c.new),
        "params": c.params, "metrics": c.metrics,
        "summary": counts(c),
        "pipelines": [{"name": p.name, "file": p.file, "error": p.error,
                       "stages": [_stage(c, s, unchanged) for s in p.stages]} for p in c.pipelines],
    }


def render(c: Comparison, command: str, *, unchanged: bool = False) -> str:
    doc = {"schema_version": SCHEMA_VERSION, "command": command, **to_dict(c, unchanged=unchanged)}
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"
