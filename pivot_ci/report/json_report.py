"""SPEC §5 JSON: schema_version 1, every key always present, deterministic order."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pivot_ci.engine.check import CheckReport, Command, StageCheck, TrackedCheck
from pivot_ci.engine.status import ReasonKind

if TYPE_CHECKING:
    from pivot_ci.compare.values import Comparison

SCHEMA_VERSION = 1
_CHANGE_KIND = {ReasonKind.DEP_CHANGED: "dep", ReasonKind.DEP_MISSING: "dep", ReasonKind.PARAM: "param",
                ReasonKind.CODE: "code", ReasonKind.CMD: "cmd", ReasonKind.OUT_CHANGED: "out",
                ReasonKind.OUT_MISSING: "out"}


def _status_word(report: CheckReport, s: StageCheck) -> str:
    if report.command is Command.VERIFY:
        return "passed" if s.passed else "failed"
    return "up_to_date" if not s.status.stale else "stale"


def stage_dict(report: CheckReport, s: StageCheck) -> dict[str, Any]:
    st = s.status
    changes = [{"kind": _CHANGE_KIND[r.kind], "path": r.path, "old": r.old, "new": r.new}
               for r in st.reasons if r.kind in _CHANGE_KIND]
    return {
        "name": s.spec.name, "display_name": st.display, "pipeline": s.spec.pipeline,
        "status": _status_word(report, s),
        "failure": None if s.failure is None else s.failure.value,
        "reason": s.reason, "file": s.spec.pipeline_file, "line": s.spec.line, "lock_file": s.lock_file,
        "changes": changes,
        "missing_files": sorted(set(st.missing_files) | set(s.missing_deps)),
        "upstream_stale": list(st.upstream_stale), "fix": s.fix,
        "pushed": s.pushed,
    }


def tracked_dict(t: TrackedCheck) -> dict[str, Any]:
    return {"path": t.spec.path, "pvt_file": t.spec.pvt_file, "status": t.status.state.value,
            "failure": None if t.failure is None else t.failure.value, "reason": t.reason, "fix": t.fix,
            "hash": t.spec.hash, "workspace_hash": t.status.workspace}


def to_dict(report: CheckReport, comparison: Comparison | None = None) -> dict[str, Any]:
    """The report; `comparison` (verify --compare-to) adds its object and its verdict to `passed`."""
    stages = report.stages
    failed = [s for s in stages if not s.passed]
    state_dirs: dict[str, dict[str, Any]] = {}
    for p in report.pipelines:
        if not p.state_dir:
            continue
        entry = state_dirs.setdefault(p.state_dir, {"path": p.state_dir, "pipelines": [], "stages": 0, "failed": 0})
        entry["pipelines"].append(p.name)
        entry["stages"] += len(p.stages)
        entry["failed"] += sum(1 for s in p.stages if not s.passed)
    return {
        "schema_version": SCHEMA_VERSION,
        "command": report.command.value,
        "passed": report.passed and (comparison is None or comparison.passed),
        "project_root": ".",
        "all_pipelines": report.all_pipelines,
        "summary": {
            "stages": len(stages), "passed": len(stages) - len(failed), "failed": len(failed),
            "stale": sum(1 for s in stages if s.status.stale),
            "missing": sum(1 for s in stages if s.status.missing_files or s.missing_deps),
            "pipelines": len(report.pipelines),
            "broken_pipelines": sum(1 for p in report.pipelines if p.error is not None),
            "tracked": len(report.all_tracked),
            "tracked_failed": sum(1 for t in report.all_tracked if not t.passed),
        },
        "pipelines": [
            {"name": p.name, "file": p.file, "state_dir": p.state_dir, "passed": p.passed,
             "error": p.error, "stages": [stage_dict(report, s) for s in p.stages],
             "tracked": [tracked_dict(t) for t in p.tracked]}
            for p in report.pipelines
        ],
        "tracked": [tracked_dict(t) for t in report.tracked],
        "state_dirs": sorted(state_dirs.values(), key=lambda d: str(d["path"])),
        "warnings": list(report.warnings),
        "comparison": None if comparison is None else _comparison(comparison),
    }


def _comparison(comparison: Comparison) -> dict[str, Any]:
    from pivot_ci.report import comparison_json

    return comparison_json.to_dict(comparison)


def render(report: CheckReport, comparison: Comparison | None = None) -> str:
    return json.dumps(to_dict(report, comparison), indent=2, allow_nan=False) + "\n"
