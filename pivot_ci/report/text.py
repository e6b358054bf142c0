"""Human-readable status/verify output: what is not up to date, grouped per pipeline, then one summary line.

A project of a thousand stages with one edited file prints a few lines: the stages stale for their own
reasons with those reasons and the fix, the ones stale only through them on one line per pipeline, and the
summary. When everything passes, the summary alone. `verbose` lists every stage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pivot_ci.engine.check import CheckReport, Command, Failure, PipelineCheck, StageCheck, TrackedCheck

if TYPE_CHECKING:
    from pivot_ci.compare.values import Comparison

MAX_NAMES = 8  # stages named on one collapsed line before "+N more"
_UPSTREAM = "stale through upstream stages:"
_MISSING = "outputs missing from the workspace and the cache:"


def _remote(s: StageCheck) -> str:
    """The `status --remote` column."""
    if s.pushed is None:
        return ""
    return "  [pushed]" if s.pushed else "  [not pushed]"


def _ok_line(report: CheckReport, s: StageCheck) -> str:
    st = s.status
    word = "ok" if report.command is Command.VERIFY else "up to date"
    extra = f" (outputs in cache, not in workspace: {', '.join(st.restorable)})" if st.restorable else ""
    if st.on_remote:
        extra += f" (outputs on the remote only: {', '.join(st.on_remote)})"
    return f"  {st.display}: {word}{extra}{_remote(s)}"


def _bad_lines(report: CheckReport, s: StageCheck, explain: bool) -> list[str]:
    st = s.status
    word = "FAILED" if report.command is Command.VERIFY else "stale"
    lines = [f"  {st.display}: {word} ({s.spec.location}){_remote(s)}"]
    for r in st.reasons:
        lines.append(f"    - {r}")
        if explain:
            lines += [f"        {d}" for d in r.details]
            if not r.details and (r.old or r.new):
                lines.append(f"        old: {r.old or '-'}")
                lines.append(f"        new: {r.new or '-'}")
    for dep in s.missing_deps:
        if not any(r.path == dep for r in st.reasons):
            lines.append(f"    - dependency not produced by any stage and missing: {dep}")
    if s.fix:
        lines.append(f"    fix: {s.fix}")
    return lines


def _bad(s: StageCheck) -> bool:
    return not s.passed or s.status.stale


def _listed(s: StageCheck) -> bool:
    """Whether a stage shows up in the default (quiet) listing: it is not up to date, or not pushed."""
    return _bad(s) or s.pushed is False


def _group(s: StageCheck) -> str | None:
    """The one-line group a stage is named in, or None when it gets lines of its own.

    Stale only because an upstream stage is: its upstream carries the detail. Outputs missing everywhere
    (a fresh clone): the same fix for all of them, which the report's note gives.
    """
    if s.pushed is not None or s.missing_deps:  # status --remote: each stage's [pushed] column counts
        return None
    if s.failure is Failure.MISSING_OUTPUT:
        return _MISSING
    if s.status.stale and s.status.only_upstream:
        return _UPSTREAM
    return None


def _names(stages: list[StageCheck]) -> str:
    names = [s.status.display for s in stages]
    more = len(names) - MAX_NAMES
    return ", ".join(names[:MAX_NAMES]) + (f" (+{more} more)" if more > 0 else "")


def _tracked_lines(report: CheckReport, checks: tuple[TrackedCheck, ...], verbose: bool) -> list[str]:
    """Tracked data (SPEC §10): what is not ok, with its fix; every entry when verbose."""
    lines = []
    for t in checks:
        if t.passed:
            if verbose:
                lines.append(f"  {t.spec.path}: ok{t.reason.removeprefix('ok')}")
            continue
        word = "FAILED" if report.command is Command.VERIFY else t.status.state.value
        lines += [f"  {t.spec.path}: {word} ({t.spec.pvt_file})", f"    - {t.reason}", f"    fix: {t.fix}"]
    return lines


def _pipeline(report: CheckReport, p: PipelineCheck, explain: bool, verbose: bool) -> list[str]:
    if p.error is not None:
        return [f"{p.file}: failed to load: {p.error}"]
    header = f"{p.name} ({p.file}, state {p.state_dir})"
    tracked = _tracked_lines(report, p.tracked, verbose)
    if verbose:
        body = [x for s in p.stages for x in (_bad_lines(report, s, explain) if _bad(s) else [_ok_line(report, s)])]
        return [header, *body, *tracked]
    listed = [s for s in p.stages if _listed(s)]
    if not listed:
        return [header, *tracked] if tracked else []
    groups: dict[str, list[StageCheck]] = {}
    for s in listed:
        label = _group(s)
        if label is not None:
            groups.setdefault(label, []).append(s)
    if len(groups) == 1 and sum(map(len, groups.values())) == len(listed) and not tracked:  # the pipeline on one line
        ((label, stages),) = groups.items()
        return [f"{header}: {label} {_names(stages)}"]
    body = [x for s in listed if _group(s) is None
            for x in (_bad_lines(report, s, explain) if _bad(s) else [_ok_line(report, s)])]
    body += [f"  {label} {_names(stages)}" for label, stages in groups.items()]
    return [header, *body, *tracked]


def render(report: CheckReport, *, explain: bool = False, verbose: bool = False,
           comparison: Comparison | None = None) -> str:
    lines = [x for p in report.pipelines for x in _pipeline(report, p, explain, verbose)]
    project_tracked = _tracked_lines(report, report.tracked, verbose)
    if project_tracked:
        lines += ["tracked data of no pipeline", *project_tracked]
    lines += list(report.notes)
    if comparison is not None:
        from pivot_ci.report import comparison as compare_report

        lines += [compare_report.text(comparison, "params and metrics").rstrip("\n"), ""]
    lines.append(summary(report, comparison))
    return "\n".join(lines) + "\n"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _comparison_tail(comparison: Comparison) -> str:
    gates = len(comparison.failed_gates)
    gaps = sum(1 for s in comparison.stages if s.gaps)  # a pipeline that failed to load is counted above
    parts = [f"{_count(gates, 'metric gate')} failed"] if gates else []
    if gaps:
        parts.append(f"{_count(gaps, 'stage')} not comparable" if comparison.old is None
                     else f"{_count(gaps, 'stage')} not comparable with {comparison.old.label}")
    return ", ".join(parts)


def summary(report: CheckReport, comparison: Comparison | None = None) -> str:
    stages = report.stages
    tracked = report.all_tracked
    bad_tracked = sum(1 for t in tracked if not t.passed)
    bad = sum(1 for s in stages if not s.passed) + bad_tracked
    broken = sum(1 for p in report.pipelines if p.error is not None)
    what = f"{_count(len(stages), 'stage')} in {_count(len(report.pipelines), 'pipeline')}"
    if tracked:
        what += f", {_count(len(tracked), 'tracked path')}"
    load = f", {_count(broken, 'pipeline file')} failed to load" if broken else ""
    if report.command is Command.VERIFY:
        if report.passed and (comparison is None or comparison.passed):
            return f"verify passed: {what} up to date"
        tail = f"{bad:,} failed{load}"
        extra = _comparison_tail(comparison) if comparison is not None else ""
        if extra:
            tail = f"{tail}, {extra}" if bad or broken else extra
        return f"verify FAILED: {tail} ({what})"
    stale = sum(1 for s in stages if s.status.stale)
    if not stale and not broken and not bad_tracked:
        return f"{what} up to date"
    data = f", {bad_tracked:,} tracked not ok" if bad_tracked else ""
    return f"{stale:,} stale, {len(stages) - stale:,} up to date{data}{load} ({what})"
