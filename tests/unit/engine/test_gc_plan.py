"""gc's plan: what each reason keeps, the grace period, manifests removed before their files."""

from __future__ import annotations

import pytest

from pivot_ci.engine import gc

NOW = 1_000_000.0
HOUR = 3600.0


def test_plan_keeps_by_first_reason_then_grace_and_removes_manifests_first() -> None:
    objects = {"aa": (1, NOW - 2 * HOUR), "bb": (2, NOW - 2 * HOUR), "cc.dir": (3, NOW - 2 * HOUR),
               "dd": (4, NOW - 2 * HOUR), "ee": (5, NOW - 60), "ff.dir": (6, NOW - 2 * HOUR)}
    keep = {"aa": gc.WORKSPACE, "bb": gc.REVISIONS, "zz": gc.WORKSPACE}  # zz: named, but not in this store
    p = gc.plan(objects, keep, [], HOUR, now=NOW)
    assert list(p.kept) == [gc.WORKSPACE, gc.REVISIONS, gc.GRACE]
    assert p.kept[gc.WORKSPACE] == gc.Tally(1, 1) and p.kept[gc.GRACE] == gc.Tally(1, 5)
    assert [k for k, _ in p.remove] == ["cc.dir", "ff.dir", "dd"]
    assert p.removed == gc.Tally(3, 13)
    assert gc.plan(objects, keep, [], 0, now=NOW).removed == gc.Tally(4, 18)  # no grace: ee goes too


@pytest.mark.parametrize(("text", "seconds"), [("0", 0), ("90", 90), ("90s", 90), ("30m", 1800), ("1h", 3600),
                                               ("2d", 172800), ("1w", 604800), ("1.5h", 5400), (" 2H ", 7200)])
def test_durations(text: str, seconds: float) -> None:
    assert gc.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "soon", "-1h", "nan", "1y"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        gc.parse_duration(text)


def test_grace_is_shown_in_its_unit() -> None:
    assert [gc.human_grace(s) for s in (3600, 5400, 0, 172800, 90)] == ["1h", "90m", "0s", "2d", "90s"]
