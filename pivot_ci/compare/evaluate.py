"""Metric gates: does a metric fall, rise or cross a bound it must not? Missing data fails a gate, loudly."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from pivot_ci.compare.values import GateResult, Side, is_number
from pivot_ci.pipeline.model import GateRule, MetricGate

# a move of exactly the bound is allowed: 0.90 -> 0.89 with `drop: 0.01` passes despite 0.90 - 0.89 > 0.01
_REL_TOL = 1e-9


def num(value: float) -> str:
    return f"{value:.6g}"


def _exceeds(amount: float, bound: float) -> bool:
    return amount > bound and not math.isclose(amount, bound, rel_tol=_REL_TOL, abs_tol=1e-12)


@dataclasses.dataclass(frozen=True, slots=True)
class Observed:
    """A gate's metric file on one side: its flattened values, or None and why it is unavailable."""

    side: Side
    values: dict[str, Any] | None
    gap: str = ""


def gate(g: MetricGate, old: Observed | None, new: Observed, new_stage: bool) -> GateResult:
    """One gate against the stage's metric file on both sides (old None: nothing to compare with)."""
    before_file, after_file = (None if old is None else old.values), new.values

    def result(passed: bool, message: str, before: Any = None, after: Any = None) -> GateResult:
        return GateResult(g, before, after, passed, message)

    if after_file is None:
        return result(False, f"cannot check: {new.gap or 'metric file unavailable'}")
    if g.key not in after_file:
        return result(False, f"'{g.key}' is not in {g.path} {new.side.at}")
    after = after_file[g.key]
    if not is_number(after) or not math.isfinite(after):
        return result(False, f"'{g.key}' is {after!r} {new.side.at}, not a finite number", after=after)
    if g.rule is GateRule.ABOVE:
        return result(not after > g.bound, f"{num(after)} {'>' if after > g.bound else '<='} {num(g.bound)}",
                      after=after)
    if g.rule is GateRule.BELOW:
        return result(not after < g.bound, f"{num(after)} {'<' if after < g.bound else '>='} {num(g.bound)}",
                      after=after)
    assert old is not None
    if before_file is None:
        return result(False, f"cannot check: {old.gap or 'metric file unavailable'}", after=after)
    if g.key not in before_file:
        why = "the stage is new" if new_stage else f"'{g.key}' is new"
        return result(True, f"no baseline: {why} since {old.side.label}", after=after)
    before = before_file[g.key]
    if not is_number(before) or not math.isfinite(before):
        return result(False, f"'{g.key}' is {before!r} {old.side.at}, not a finite number", before, after)
    moved = before - after if g.rule is GateRule.DROP else after - before
    verb = "fell" if g.rule is GateRule.DROP else "rose"
    if moved <= 0:
        other = "rose" if g.rule is GateRule.DROP else "fell"
        text = f"{other} by {num(-moved)}" if moved < 0 else "unchanged"
        return result(True, f"{text} ({num(before)} -> {num(after)})", before, after)
    over = _exceeds(moved, g.bound)
    limit = f"more than {num(g.bound)}" if over else f"within {num(g.bound)}"
    return result(not over, f"{verb} by {num(moved)} ({num(before)} -> {num(after)}), {limit}", before, after)
