"""A comparison in GitHub Actions (verify --compare-to --format github): its tables in a log group, an
`::error` at the line of each failed gate and of each stage whose data is unavailable, job-summary tables."""

from __future__ import annotations

from collections.abc import Callable

from pivot_ci.compare.values import Comparison
from pivot_ci.report import comparison
from pivot_ci.report.github import escape_data as _data
from pivot_ci.report.github import escape_property as _property
from pivot_ci.report.sanitize import clean, one_line

MAX_ANNOTATIONS = 10
SUMMARY_ROWS = 100  # per table: the job summary (1 MiB) and a PR comment (65,536 characters) must not overflow


def workflow_lines(c: Comparison, repo_path: Callable[[str], str]) -> list[str]:
    span = "" if c.old is None else f" ({c.old.label} -> {c.new.label})"
    lines = [f"::group::params and metrics{_data(clean(span))}"]
    lines += ["  " + line for line in comparison.text(c, "params and metrics").splitlines()]
    lines.append("::endgroup::")
    problems: list[tuple[str, int, str, str]] = []
    for s in c.stages:
        for g in s.failed_gates:
            problems.append((s.spec.pipeline_file, g.gate.line, f"pivot verify: metric gate {s.display}:{g.gate.key}",
                             f"{comparison.gate_text(g.gate)}: {g.message}"))
        if s.gaps:
            problems.append((s.spec.pipeline_file, s.spec.line, f"pivot verify: {s.display} (comparison unavailable)",
                             "; ".join(str(gap) for gap in s.gaps)))
    for file, line, title, body in problems[:MAX_ANNOTATIONS]:
        props = f"file={_property(repo_path(file))},line={line},title={_property(title)}"
        lines.append(f"::error {props}::{_data(one_line(body, 500))}")
    if len(problems) > MAX_ANNOTATIONS:
        lines.append(f"::notice title=pivot verify::{len(problems) - MAX_ANNOTATIONS} more failed gates or "
                     "unavailable comparisons not annotated; see the job summary")
    return lines


def summary(c: Comparison) -> str:
    """Job-summary tables, at most SUMMARY_ROWS rows each."""
    return comparison.markdown(c, "params and metrics", cap=SUMMARY_ROWS)
