"""Human-readable status/verify output, grouped per pipeline."""

from __future__ import annotations

from pivot_ci.engine.check import CheckReport, Command, StageCheck


def _remote(s: StageCheck) -> str:
    """The `status --remote` column."""
    if s.pushed is None:
        return ""
    return "  [pushed]" if s.pushed else "  [not pushed]"


def _line(report: CheckReport, s: StageCheck, explain: bool) -> list[str]:
    st = s.status
    if s.passed and not st.stale:
        word = "ok" if report.command is Command.VERIFY else "up to date"
        extra = f" (outputs in cache, not in workspace: {', '.join(st.restorable)})" if st.restorable else ""
        if st.on_remote:
            extra += f" (outputs on the remote only: {', '.join(st.on_remote)})"
        return [f"  {st.display}: {word}{extra}{_remote(s)}"]
    word = "FAILED" if report.command is Command.VERIFY else "stale"
    lines = [f"  {st.display}: {word} ({s.spec.location}){_remote(s)}"]
    for r in st.reasons:
        lines.append(f"    - {r}")
        if explain and (r.old or r.new):
            lines.append(f"        old: {r.old or '-'}")
            lines.append(f"        new: {r.new or '-'}")
    for dep in s.missing_deps:
        if not any(r.path == dep for r in st.reasons):
            lines.append(f"    - dependency not produced by any stage and missing: {dep}")
    if s.fix:
        lines.append(f"    fix: {s.fix}")
    return lines


def render(report: CheckReport, *, explain: bool = False) -> str:
    lines: list[str] = []
    for p in report.pipelines:
        if p.error is not None:
            lines.append(f"{p.file}: failed to load: {p.error}")
            continue
        lines.append(f"{p.name} ({p.file}, state {p.state_dir})")
        lines += [x for s in p.stages for x in _line(report, s, explain)]
    lines.append(summary(report))
    return "\n".join(lines) + "\n"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def summary(report: CheckReport) -> str:
    stages = report.stages
    bad = sum(1 for s in stages if not s.passed)
    broken = sum(1 for p in report.pipelines if p.error is not None)
    what = f"{_count(len(stages), 'stage')} in {_count(len(report.pipelines), 'pipeline')}"
    if report.command is Command.VERIFY:
        verdict = "verify passed" if report.passed else "verify FAILED"
        tail = f": {bad} failed" + (f", {_count(broken, 'pipeline file')} failed to load" if broken else "")
        return f"{verdict}{'' if report.passed else tail} ({what})"
    stale = sum(1 for s in stages if s.status.stale)
    return f"{stale} stale, {len(stages) - stale} up to date ({what})"
