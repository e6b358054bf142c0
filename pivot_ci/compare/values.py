"""What a comparison found, per pipeline and stage: rows of params and metrics, gate verdicts, gaps."""

from __future__ import annotations

import dataclasses
import enum
import math
from typing import Any

from pivot_ci.pipeline import model


class Kind(enum.Enum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


@dataclasses.dataclass(frozen=True, slots=True)
class Side:
    """One side of a comparison: a git revision as the user named it, or the workspace (commit None)."""

    label: str
    commit: str | None

    @property
    def at(self) -> str:
        """For messages: `at main`, `in the workspace`."""
        return "in the workspace" if self.commit is None else f"at {self.label}"


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True, slots=True)
class Row:
    """One param or metric key. `old`/`new` are meaningful as `kind` says (no old when added, ...);
    `kind` is None in `metrics show`, which has one side only."""

    key: str
    old: Any
    new: Any
    kind: Kind | None
    file: str | None = None  # the metric file; None for params

    @property
    def delta(self) -> float | int | None:
        """new - old when both are numbers (the `change` column), else None."""
        if self.kind not in (Kind.CHANGED, Kind.UNCHANGED) or not (is_number(self.old) and is_number(self.new)):
            return None
        delta = self.new - self.old
        scale = max(abs(self.old), abs(self.new))
        if isinstance(delta, float) and math.isfinite(delta) and math.isfinite(scale) and scale > 0:
            # to the 15 significant digits of the operands: 0.3 - 0.1 is 0.2, not 0.19999999999999998
            delta = round(delta, 14 - math.floor(math.log10(scale)))
        return delta  # type: ignore[no-any-return]


@dataclasses.dataclass(frozen=True, slots=True)
class Gap:
    """Data a comparison needed and did not find: said plainly, never shown as a change."""

    side: Side
    what: str    # "params" or "metrics"
    reason: str  # e.g. "lock file p/.pivot/stages/a.lock is not in git at main"

    def __str__(self) -> str:
        return f"{self.what} unavailable {self.side.at}: {self.reason}"


@dataclasses.dataclass(frozen=True, slots=True)
class GateResult:
    gate: model.MetricGate
    old: Any
    new: Any
    passed: bool
    message: str  # what was found: "fell by 0.03 (0.91 -> 0.88), more than 0.01"


@dataclasses.dataclass(frozen=True, slots=True)
class StageComparison:
    spec: model.StageSpec
    display: str
    params: tuple[Row, ...]
    metrics: tuple[Row, ...]
    gates: tuple[GateResult, ...]
    gaps: tuple[Gap, ...]
    new_stage: bool  # git shows the stage did not exist on the old side: its values are added, not missing

    @property
    def passed(self) -> bool:
        return not self.gaps and all(g.passed for g in self.gates)

    @property
    def failed_gates(self) -> list[GateResult]:
        return [g for g in self.gates if not g.passed]


@dataclasses.dataclass(frozen=True, slots=True)
class PipelineComparison:
    name: str
    file: str
    stages: tuple[StageComparison, ...]
    error: str | None = None  # the pipeline file failed to load (--skip-broken): nothing could be compared
    error_line: int | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and all(s.passed for s in self.stages)


@dataclasses.dataclass(frozen=True, slots=True)
class Comparison:
    """`old` is None for `metrics show` (the workspace alone)."""

    old: Side | None
    new: Side
    params: bool
    metrics: bool
    pipelines: tuple[PipelineComparison, ...]

    @property
    def stages(self) -> list[StageComparison]:
        return [s for p in self.pipelines for s in p.stages]

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.pipelines)

    @property
    def failed_gates(self) -> list[tuple[StageComparison, GateResult]]:
        return [(s, g) for s in self.stages for g in s.failed_gates]
