"""JUnit XML (SPEC §5): a testsuite per pipeline, a testcase per stage, typed failures.

The default dialect is Jenkins' junit-10.xsd plus `file`/`line` on testcases (GitHub and GitLab use them);
`strict=True` drops them so the file validates against junit-10.xsd itself.
"""

from __future__ import annotations

import datetime
import socket
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from pivot_ci import __version__
from pivot_ci.engine.check import CheckReport, PipelineCheck, StageCheck, TrackedCheck
from pivot_ci.report.sanitize import clean, one_line

if TYPE_CHECKING:
    from pivot_ci.compare.values import Comparison, PipelineComparison
    from pivot_ci.report import comparison_cases

LOAD_ERROR = "pivot.LoadError"
PROJECT_SUITE = "(project)"


def _time(seconds: float) -> str:
    return f"{seconds:.3f}"


def _failure_text(s: StageCheck) -> str:
    st = s.status
    lines = [f"stage {s.spec.name} ({s.spec.location}), lock file {s.lock_file}"]
    for r in st.reasons:
        change = f" (old {r.old or '-'}, new {r.new or '-'})" if r.old or r.new else ""
        lines.append(f"- {r}{change}")
    lines += [f"- missing: {p}" for p in sorted(set(st.missing_files) | set(s.missing_deps))]
    if s.fix:
        lines.append(f"fix: {s.fix}")
    return clean("\n".join(lines))


def _testcase(parent: ET.Element, pipe: PipelineCheck, s: StageCheck, strict: bool) -> None:
    attrs = {"classname": clean(pipe.name), "name": clean(s.spec.name), "time": _time(s.status.seconds)}
    if not strict:
        attrs.update(file=clean(s.spec.pipeline_file), line=str(s.spec.line))
    case = ET.SubElement(parent, "testcase", attrs)
    if s.failure is not None:
        failure = ET.SubElement(case, "failure", {"type": s.failure.value, "message": one_line(s.reason)})
        failure.text = _failure_text(s)


def _tracked_case(parent: ET.Element, classname: str, t: TrackedCheck, strict: bool) -> None:
    """A testcase per tracked path (SPEC §10), located at its pointer file."""
    attrs = {"classname": clean(classname), "name": clean(t.spec.path), "time": _time(t.status.seconds)}
    if not strict:
        attrs.update(file=clean(t.spec.pvt_file), line="1")
    case = ET.SubElement(parent, "testcase", attrs)
    if t.failure is not None:
        failure = ET.SubElement(case, "failure", {"type": t.failure.value, "message": one_line(t.reason)})
        failure.text = clean(f"tracked data {t.spec.path} ({t.spec.pvt_file})\n- {t.reason}\nfix: {t.fix}")


def _suite(parent: ET.Element, pipe: PipelineCheck, strict: bool, stamp: str, host: str,
           compared: PipelineComparison | None = None) -> tuple[int, int, float]:
    extra = [] if compared is None else _comparison_cases(compared)
    failures = (sum(1 for s in pipe.stages if not s.passed) + sum(1 for t in pipe.tracked if not t.passed)
                + sum(1 for c in extra if c.failure is not None))
    errors = 1 if pipe.error is not None else 0
    seconds = sum(s.status.seconds for s in pipe.stages) + sum(t.status.seconds for t in pipe.tracked)
    suite = ET.SubElement(parent, "testsuite", {
        "name": clean(pipe.name), "tests": str(len(pipe.stages) + len(pipe.tracked) + len(extra) + errors),
        "failures": str(failures),
        "errors": str(errors), "skipped": "0", "time": _time(seconds), "timestamp": stamp, "hostname": host})
    props = ET.SubElement(suite, "properties")
    for name, value in (("pivot.pipeline_file", pipe.file), ("pivot.state_dir", pipe.state_dir),
                        ("pivot.version", __version__)):
        ET.SubElement(props, "property", {"name": name, "value": clean(value)})
    if pipe.error is not None:
        attrs = {"classname": clean(pipe.name), "name": "load pipeline file", "time": _time(0)}
        if not strict:
            attrs.update(file=clean(pipe.file), line=str(pipe.error_line or 1))
        case = ET.SubElement(suite, "testcase", attrs)
        error = ET.SubElement(case, "error", {"type": LOAD_ERROR, "message": one_line(pipe.error)})
        error.text = clean(pipe.error)
    for s in pipe.stages:
        _testcase(suite, pipe, s, strict)
    for t in pipe.tracked:
        _tracked_case(suite, pipe.name, t, strict)
    for compared_case in extra:
        compared_case.add(suite, pipe.name, strict)
    return len(pipe.stages) + len(pipe.tracked) + len(extra) + errors, failures, seconds


def _comparison_cases(compared: PipelineComparison) -> list[comparison_cases.Case]:
    from pivot_ci.report import comparison_cases as cases

    return cases.for_pipeline(compared)


def render(report: CheckReport, *, strict: bool = False, comparison: Comparison | None = None) -> str:
    """`comparison` (verify --compare-to): a testcase per metric gate (and per stage whose data is
    unavailable) in its pipeline's suite."""
    root = ET.Element("testsuites", {"name": f"pivot {report.command.value}"})
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    host = socket.gethostname()
    tests = failures = errors = 0
    seconds = 0.0
    compared = {} if comparison is None else {p.file: p for p in comparison.pipelines}
    pipelines = list(report.pipelines)
    if report.tracked:  # tracked data no pipeline owns: a suite of its own
        pipelines.append(PipelineCheck(PROJECT_SUITE, "", "", (), tracked=report.tracked))
    for pipe in pipelines:
        t, f, s = _suite(root, pipe, strict, stamp, host, compared.get(pipe.file))
        tests, failures, errors, seconds = tests + t, failures + f, errors + (pipe.error is not None), seconds + s
    root.attrib.update(tests=str(tests), failures=str(failures), errors=str(errors), time=_time(seconds))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
