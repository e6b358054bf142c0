"""JUnit testcases of a comparison (verify --compare-to): `metric:<stage>:<key>` per gate, failing with
`pivot.MetricGate`; `compare:<stage>` for a stage whose data is unavailable, failing with `pivot.Unavailable`."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

from pivot_ci.compare.values import PipelineComparison
from pivot_ci.report.comparison import gate_text
from pivot_ci.report.sanitize import clean, one_line

METRIC_GATE = "pivot.MetricGate"
UNAVAILABLE = "pivot.Unavailable"


@dataclasses.dataclass(frozen=True, slots=True)
class Case:
    name: str
    file: str
    line: int
    failure: str | None  # the failure type, None when the case passed
    message: str
    text: str

    def add(self, suite: ET.Element, classname: str, strict: bool) -> None:
        attrs = {"classname": clean(classname), "name": clean(self.name), "time": "0.000"}
        if not strict:
            attrs.update(file=clean(self.file), line=str(self.line))
        case = ET.SubElement(suite, "testcase", attrs)
        if self.failure is not None:
            failure = ET.SubElement(case, "failure", {"type": self.failure, "message": one_line(self.message)})
            failure.text = clean(self.text)


def for_pipeline(compared: PipelineComparison) -> list[Case]:
    cases = []
    for s in compared.stages:
        for g in s.gates:
            what = f"{gate_text(g.gate)}: {g.message}"
            cases.append(Case(f"metric:{s.spec.name}:{g.gate.key}", s.spec.pipeline_file, g.gate.line,
                              None if g.passed else METRIC_GATE, what,
                              f"stage {s.spec.name} ({s.spec.location}): metric gate {what}"))
        if s.gaps:
            reasons = "; ".join(str(gap) for gap in s.gaps)
            cases.append(Case(f"compare:{s.spec.name}", s.spec.pipeline_file, s.spec.line, UNAVAILABLE, reasons,
                              "\n".join([f"stage {s.spec.name} ({s.spec.location}): nothing of this is shown as a "
                                         "change", *(f"- {gap}" for gap in s.gaps)])))
    return cases
