"""A Comparison as text tables and Markdown: rows grouped by pipeline and stage, gates, what was unavailable.

Numbers are shown with `precision` significant digits; a nonzero value is never shown as 0.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pivot_ci.compare.values import Comparison, Kind, Row, StageComparison
from pivot_ci.pipeline.model import MetricGate
from pivot_ci.report.comparison_json import counts, shown
from pivot_ci.report.sanitize import clean

DEFAULT_PRECISION = 5


def number(value: float | int, precision: int) -> str:
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return "nan" if value != value else ("inf" if value > 0 else "-inf")
    return f"{value:.{precision}g}"  # significant digits: 1e-07 stays 1e-07, never 0


def value_text(value: Any, precision: int) -> str:
    match value:
        case bool():
            return "true" if value else "false"
        case int() | float():
            return number(value, precision)
        case None:
            return "null"
        case str():
            return value
    return json.dumps(value, sort_keys=True, separators=(", ", ": "))


def cells(row: Row, precision: int) -> tuple[str, str, str]:
    """(old, new, change) as shown: `-` for a side without the key; the change is the signed numeric delta,
    else added / removed / changed."""
    old = "-" if row.kind in (None, Kind.ADDED) else value_text(row.old, precision)
    new = "-" if row.kind is Kind.REMOVED else value_text(row.new, precision)
    delta = row.delta
    if delta is not None:
        change = ("+" if delta > 0 else "") + number(delta, precision)
    else:
        change = "" if row.kind in (None, Kind.UNCHANGED) else row.kind.value
    return old, new, change


def _columns(c: Comparison, metrics: bool) -> list[str]:
    head = ["pipeline", "stage"] + (["file", "metric"] if metrics else ["param"])
    if c.old is None:
        return [*head, "value"]
    return [*head, c.old.label, c.new.label, "change"]


def _table_rows(c: Comparison, metrics: bool, precision: int, unchanged: bool) -> list[list[str]]:
    out = []
    for p in c.pipelines:
        for s in p.stages:
            for row in (s.metrics if metrics else s.params):
                if not shown(row, unchanged):
                    continue
                head = [p.name, s.display] + ([row.file or "", row.key] if metrics else [row.key])
                old, new, change = cells(row, precision)
                out.append([*head, new] if c.old is None else [*head, old, new, change])
    return out


def _gate_lines(s: StageComparison) -> list[tuple[str, str, str, str]]:
    """(verdict, stage, gate, what was found) per gate."""
    return [("passed" if g.passed else "FAILED", s.display, gate_text(g.gate), g.message) for g in s.gates]


def gate_text(gate: MetricGate) -> str:
    """A gate as declared: `accuracy: {drop: 0.01} (eval/metrics.json)`."""
    return f"{gate.key}: {{{gate.rule.value}: {gate.bound:g}}} ({gate.path})"


def summary(c: Comparison, what: str) -> str:
    n = counts(c)
    span = "the workspace" if c.old is None else f"{c.old.label} -> {c.new.label}"
    parts = []
    if c.old is not None:
        moved = [f"{n[k]} {k}" for k in ("changed", "added", "removed") if n[k]]
        parts.append(", ".join(moved) if moved else "no changes")
    parts.append(f"{n['stages']} stage{'' if n['stages'] == 1 else 's'}")
    if n["gates"]:
        parts.append(f"{n['failed_gates']} of {n['gates']} gates failed" if n["failed_gates"]
                     else f"{n['gates']} gate{'' if n['gates'] == 1 else 's'} passed")
    if n["unavailable_stages"]:
        parts.append(f"{n['unavailable_stages']} with data unavailable")
    if n["broken_pipelines"]:
        parts.append(f"{n['broken_pipelines']} pipeline file(s) failed to load")
    return f"{what} ({span}): " + ", ".join(parts)


# --- text -------------------------------------------------------------------------------------------------


def _visible(text: str) -> str:
    return clean(text).replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")


def _aligned(header: list[str], rows: list[list[str]]) -> list[str]:
    table = [header, *([_visible(x) for x in r] for r in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    return ["  ".join(x.ljust(w) for x, w in zip(r, widths, strict=True)).rstrip() for r in table]


def text(c: Comparison, what: str, *, precision: int = DEFAULT_PRECISION, unchanged: bool = False) -> str:
    lines: list[str] = []
    for metrics, enabled in ((False, c.params), (True, c.metrics)):
        rows = _table_rows(c, metrics, precision, unchanged) if enabled else []
        if rows:
            fixed = 4 if metrics else 3  # pipeline, stage, (file,) key: the rest are revision labels
            labels = _columns(c, metrics)
            header = [h.capitalize() if i < fixed or i == len(labels) - 1 else h for i, h in enumerate(labels)]
            lines += [*_aligned(header, rows), ""]
    gates = [g for s in c.stages for g in _gate_lines(s)]
    if gates:
        lines.append("Gates:" if c.old is None else f"Gates ({c.old.label} -> {c.new.label}):")
        lines += [f"  {v:6}  {stage}: {gate}: {_visible(found)}" for v, stage, gate, found in gates]
        lines.append("")
    gaps = [(s, gap) for s in c.stages for gap in s.gaps]
    broken = [p for p in c.pipelines if p.error is not None]
    if gaps or broken:
        lines.append("Unavailable (not shown as changes):")
        lines += [f"  {s.display} ({s.spec.location}): {_visible(str(gap))}" for s, gap in gaps]
        lines += [f"  {p.file}: {_visible(p.error or '')}" for p in broken]
        lines.append("")
    lines.append(summary(c, what))
    return "\n".join(lines) + "\n"


# --- Markdown ---------------------------------------------------------------------------------------------


def md_cell(text: str) -> str:
    """One table cell: `|` escaped, newlines as <br>, HTML-significant characters as entities."""
    text = clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\r\n", "<br>").replace("\n", "<br>").replace("\r", "<br>")


def _md_table(header: list[str], rows: list[list[str]], align: list[str], cap: int | None) -> list[str]:
    out = ["| " + " | ".join(md_cell(h) for h in header) + " |", "|" + "|".join(align) + "|"]
    shown_rows = rows if cap is None else rows[:cap]
    out += ["| " + " | ".join(md_cell(x) for x in r) + " |" for r in shown_rows]
    if len(shown_rows) < len(rows):
        out += ["", f"_{len(rows) - len(shown_rows)} more rows not shown: see the JSON report._"]
    return out


def markdown(c: Comparison, what: str, *, precision: int = DEFAULT_PRECISION, unchanged: bool = False,
             cap: int | None = None, heading: str = "####") -> str:
    """Tables for a PR comment or job summary; `cap` limits the rows of each table."""
    out: list[str] = []
    span = "" if c.old is None else f" ({md_cell(c.old.label)} → {md_cell(c.new.label)})"

    def section(title: str, header: list[str], rows: list[list[str]], numeric_from: int | None = None) -> None:
        if rows:
            align = ["---:" if numeric_from is not None and i >= numeric_from else "---" for i in range(len(header))]
            out.extend([f"{heading} {title}{span}", "", *_md_table(header, rows, align, cap), ""])

    for metrics, enabled in ((False, c.params), (True, c.metrics)):
        if enabled:
            header = _columns(c, metrics)
            section("Metrics" if metrics else "Params", header, _table_rows(c, metrics, precision, unchanged),
                    4 if metrics else 3)
    gates = [[("✅" if v == "passed" else "❌"), stage, gate, found]
             for s in c.stages for v, stage, gate, found in _gate_lines(s)]
    section("Gates", ["", "stage", "gate", "result"], gates)
    gaps = [[s.display, s.spec.location, str(gap)] for s in c.stages for gap in s.gaps]
    gaps += [[p.name, p.file, p.error or ""] for p in c.pipelines if p.error is not None]
    section("Unavailable", ["stage", "where", "why"], gaps)
    out += [f"_{md_cell(summary(c, what))}_", ""]
    return "\n".join(out)
