"""GitHub Actions output: error annotations at each failing stage's line, groups, a job-summary table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pivot_ci.engine.check import CheckReport, Command, Failure, StageCheck, TrackedCheck
from pivot_ci.report import text
from pivot_ci.report.sanitize import clean, one_line

if TYPE_CHECKING:
    from pivot_ci.compare.values import Comparison

MAX_ANNOTATIONS = 10
_SEVERITY = {Failure.MISSING_DEP: 0, Failure.TRACKED_MISSING: 0, Failure.MISSING_OUTPUT: 1, Failure.NOT_PUSHED: 2,
             Failure.TRACKED_MODIFIED: 3, Failure.STALE: 3}


def escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def _rank(s: StageCheck | TrackedCheck) -> tuple[int, int, str]:
    """Worst first: missing things, then stages stale for their own reasons, then upstream-only ones."""
    severity = _SEVERITY[s.failure] if s.failure is not None else 9
    if isinstance(s, TrackedCheck):
        return severity, 0, s.spec.path
    return severity, 1 if s.status.only_upstream else 0, s.status.display


def _repo_path(prefix: str, path: str) -> str:
    """GitHub matches annotation paths against the repository root, which may lie above the project."""
    return f"{prefix.rstrip('/')}/{path}" if prefix not in ("", ".") else path


def _tracked_annotation(report: CheckReport, t: TrackedCheck, prefix: str) -> str:
    """Tracked data is annotated on its pointer file (SPEC §10)."""
    kind = t.failure.value.removeprefix("pivot.") if t.failure else "Tracked"
    title = f"pivot {report.command.value}: {t.spec.path} ({kind})"
    body = one_line(t.reason, 500) + (f" -- fix: {t.fix}" if t.fix else "")
    props = f"file={escape_property(_repo_path(prefix, t.spec.pvt_file))},line=1,title={escape_property(title)}"
    return f"::error {props}::{escape_data(clean(body))}"


def _annotation(report: CheckReport, s: StageCheck | TrackedCheck, prefix: str) -> str:
    if isinstance(s, TrackedCheck):
        return _tracked_annotation(report, s, prefix)
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
        lines += _tracked_lines(pipe.tracked)
        lines.append("::endgroup::")
    if report.tracked:
        lines += ["::group::tracked data of no pipeline", *_tracked_lines(report.tracked), "::endgroup::"]
    for pipe in report.pipelines:
        if pipe.error is not None:
            title = escape_property("pivot: pipeline file failed to load")
            file = _repo_path(prefix, pipe.file)
            props = f"file={escape_property(file)},line={pipe.error_line or 1},title={title}"
            lines.append(f"::error {props}::{escape_data(one_line(pipe.error, 500))}")
    failing = _failing(report)
    lines += [_annotation(report, s, prefix) for s in failing[:MAX_ANNOTATIONS]]
    if len(failing) > MAX_ANNOTATIONS:
        lines.append(f"::notice title=pivot {report.command.value}::{len(failing) - MAX_ANNOTATIONS} more failing "
                     f"stages not annotated ({len(failing)} in all); see the report")
    if comparison is not None:
        from pivot_ci.report import comparison_github

        lines += comparison_github.workflow_lines(comparison, lambda path: _repo_path(prefix, path))
    return "\n".join(lines) + "\n"


def _tracked_lines(checks: tuple[TrackedCheck, ...]) -> list[str]:
    return [f"  {t.spec.path}: {t.status.state.value}" + ("" if t.passed else f" ({one_line(t.reason)})")
            for t in checks]


def _failing(report: CheckReport) -> list[StageCheck | TrackedCheck]:
    failing: list[StageCheck | TrackedCheck] = [s for s in report.stages if not s.passed]
    failing += [t for t in report.all_tracked if not t.passed]
    return sorted(failing, key=_rank)


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
    failing = _failing(report)
    if failing:
        out += ["", "| stage or tracked data | where | why | fix |", "|---|---|---|---|"]
        out += [f"| {_cell(_name(s))} | `{_cell(_where(s))}` | {_cell(one_line(s.reason))} | "
                f"`{_cell(s.fix or '')}` |" for s in failing]
    errors = [p for p in report.pipelines if p.error is not None]
    if errors:
        out += ["", "| pipeline file | load error |", "|---|---|"]
        out += [f"| `{_cell(p.file)}` | {_cell(one_line(p.error or ''))} |" for p in errors]
    if comparison is not None:
        from pivot_ci.report import comparison_github

        out += ["", comparison_github.summary(comparison)]
    return "\n".join(out) + "\n"


def _name(s: StageCheck | TrackedCheck) -> str:
    return s.spec.path if isinstance(s, TrackedCheck) else s.status.display


def _where(s: StageCheck | TrackedCheck) -> str:
    return s.spec.pvt_file if isinstance(s, TrackedCheck) else s.spec.location
