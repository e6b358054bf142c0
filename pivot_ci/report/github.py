"""GitHub Actions output: error annotations at each failing stage's line, groups, a job-summary table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pivot_ci.engine.check import CheckReport, Command, Failure, StageCheck
from pivot_ci.report import text
from pivot_ci.report.sanitize import clean, one_line

if TYPE_CHECKING:
    from pivot_ci.compare.values import Comparison

MAX_ANNOTATIONS = 10
_SEVERITY = {Failure.MISSING_DEP: 0, Failure.MISSING_OUTPUT: 1, Failure.NOT_PUSHED: 2, Failure.STALE: 3}


def escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def _rank(s: StageCheck) -> tuple[int, int, str]:
    """Worst first: missing things, then stages stale for their own reasons, then upstream-only ones."""
    severity = _SEVERITY[s.failure] if s.failure is not None else 9
    return severity, 1 if s.status.only_upstream else 0, s.status.display


def _repo_path(prefix: str, path: str) -> str:
    """GitHub matches annotation paths against the repository root, which may lie above the project."""
    return f"{prefix.rstrip('/')}/{path}" if prefix not in ("", ".") else path


def _annotation(report: CheckReport, s: StageCheck, prefix: str) -> str:
    kind = (s.failure.value.removeprefix("pivot.") if s.failure else "Stale")
    title = f"pivot {report.command.value}: {s.status.display} ({kind})"
    body = one_line(s.reason, 500) + (f" -- fix: {s.fix}" if s.fix else "")
    file = _repo_path(prefix, s.spec.pipeline_file)
    props = f"file={escape_property(file)},line={s.spec.line},title={escape_property(title)}"
    return f"::error {props}::{escape_data(clean(body))}"


def render(report: CheckReport, prefix: str = "", comparison: Comparison | None = None) -> str:
    """Workflow commands for stdout: ::group:: per pipeline, then the worst annotations.

    `prefix`: the project root relative to the repository root (GITHUB_WORKSPACE), for annotation paths.
    `comparison` (verify --compare-to): its tables in a group, an annotation per failed gate or unavailable stage.
    """
    lines: list[str] = []
    for pipe in report.pipelines:
        lines.append(f"::group::{escape_data(clean(pipe.name))} ({pipe.file}, state {pipe.state_dir or '-'})")
        if pipe.error is not None:
            lines.append(f"  ERROR: {one_line(pipe.error)}")
        for s in pipe.stages:
            word = "ok" if s.passed else ("stale" if report.command is Command.STATUS else "FAILED")
            lines.append(f"  {s.status.display}: {word}" + ("" if s.passed else f" ({one_line(s.reason)})"))
        lines.append("::endgroup::")
    for pipe in report.pipelines:
        if pipe.error is not None:
            title = escape_property("pivot: pipeline file failed to load")
            file = _repo_path(prefix, pipe.file)
            props = f"file={escape_property(file)},line={pipe.error_line or 1},title={title}"
            lines.append(f"::error {props}::{escape_data(one_line(pipe.error, 500))}")
    failing = sorted((s for s in report.stages if not s.passed), key=_rank)
    lines += [_annotation(report, s, prefix) for s in failing[:MAX_ANNOTATIONS]]
    if len(failing) > MAX_ANNOTATIONS:
        lines.append(f"::notice title=pivot {report.command.value}::{len(failing) - MAX_ANNOTATIONS} more failing "
                     f"stages not annotated ({len(failing)} in all); see the report")
    if comparison is not None:
        from pivot_ci.report import comparison_github

        lines += comparison_github.workflow_lines(comparison, lambda path: _repo_path(prefix, path))
    return "\n".join(lines) + "\n"


def _cell(value: str) -> str:
    return clean(value).replace("|", "\\|").replace("\n", " ")


def summary_markdown(report: CheckReport, comparison: Comparison | None = None) -> str:
    """The job summary: a verdict, a table per pipeline, and the failing stages with their fixes; with a
    comparison (verify --compare-to), its tables."""
    passed = report.passed and (comparison is None or comparison.passed)
    icon = "✅" if passed else "❌"
    out = [f"### {icon} pivot {report.command.value}: {text.summary(report, comparison)}", "",
           "| pipeline | file | state dir | stages | passed | failed |", "|---|---|---|---:|---:|---:|"]
    for p in report.pipelines:
        failed = sum(1 for s in p.stages if not s.passed) + (p.error is not None)
        out.append(f"| {_cell(p.name)} | `{_cell(p.file)}` | `{_cell(p.state_dir or '-')}` | {len(p.stages)} | "
                   f"{len(p.stages) - sum(1 for s in p.stages if not s.passed)} | {failed} |")
    failing = [s for s in report.stages if not s.passed]
    if failing:
        out += ["", "| stage | where | why | fix |", "|---|---|---|---|"]
        out += [f"| {_cell(s.status.display)} | `{_cell(s.spec.location)}` | {_cell(one_line(s.reason))} | "
                f"`{_cell(s.fix or '')}` |" for s in sorted(failing, key=_rank)]
    errors = [p for p in report.pipelines if p.error is not None]
    if errors:
        out += ["", "| pipeline file | load error |", "|---|---|"]
        out += [f"| `{_cell(p.file)}` | {_cell(one_line(p.error or ''))} |" for p in errors]
    if comparison is not None:
        from pivot_ci.report import comparison_github

        out += ["", comparison_github.summary(comparison)]
    return "\n".join(out) + "\n"
