"""Pre-flight verdicts and attempt records, on plain values (the cluster tests run them for real)."""

from __future__ import annotations

from pathlib import Path

import pytest

import pivot_ci
from pivot_ci import errors
from pivot_ci.engine.cluster import attempts, preflight
from pivot_ci.pipeline import model


def _stage(name: str, resources: dict[str, float]) -> model.StageSpec:
    return model.StageSpec(name=name, pipeline="p", pipeline_file="p/pivot.yaml", pipeline_dir="p",
                           state_dir="p/.pivot", line=7, kind=model.StageKind.CMD, cmd="true", python=None, deps=(),
                           outs=(), metrics=(), params={}, resources=resources)


def test_a_stage_needs_one_worker_offering_all_its_resources() -> None:
    workers = {"tcp://a:1": {"GPU": 1.0}, "tcp://b:1": {"MEMORY": 16e9}}
    preflight.check_resources(workers, [_stage("s", {"GPU": 1}), _stage("t", {"MEMORY": 8e9}), _stage("u", {})])
    with pytest.raises(errors.ClusterError) as info:
        preflight.check_resources(workers, [_stage("both", {"GPU": 1, "MEMORY": 8e9})])
    assert info.value.location == "p/pivot.yaml:7" and "stage 'both' needs resources GPU=1, MEMORY=8e+09" \
        in info.value.message and "tcp://a:1: GPU=1; tcp://b:1: MEMORY=1.6e+10" in info.value.message


def test_worker_problems_name_the_worker() -> None:
    ok = {"version": pivot_ci.__version__, "token": "t", "problem": "", "host": "h", "python": "py"}
    preflight.check_workers({"tcp://a:1": ok}, "t", "/p")
    cases = [
        (ModuleNotFoundError("No module named 'pivot_ci'"), "cannot run pivot-ci's stage task"),
        ({**ok, "version": "0.0.1"}, f"runs pivot-ci 0.0.1, this is pivot-ci {pivot_ci.__version__}"),
        ({**ok, "token": "", "problem": "No such file or directory"}, "does not see this project at /p: No such"),
        ({**ok, "token": "other"}, "a different directory is there"),
        ({**ok, "problem": "not writable"}, "cannot write to the project at /p"),
    ]
    for seen, words in cases:
        with pytest.raises(errors.ClusterError) as info:
            preflight.check_workers({"tcp://a:1": ok, "tcp://b:2": seen, "tcp://c:3": seen}, "t", "/p")
        assert "worker tcp://b:2" in info.value.message and words in info.value.message
        assert "(and 1 more problems like it)" in info.value.message and info.value.hint


def test_an_attempt_is_accepted_only_when_no_other_may_still_be_writing(tmp_path: Path) -> None:
    run = str(tmp_path)
    first = attempts.begin(run, "s", "tcp://a:1")
    second = attempts.begin(run, "s", "tcp://b:1")
    assert (first, second, attempts.begin(run, "s", "tcp://c:1")) == (1, 2, None)  # tried at most twice
    assert attempts.verdict(run, "s", 1, lambda: {"tcp://a:1", "tcp://b:1"}) == "a later attempt started on tcp://b:1"
    still = attempts.verdict(run, "s", 2, lambda: {"tcp://a:1"})
    assert still == "its earlier attempt on tcp://a:1 may still be running"
    assert attempts.verdict(run, "s", 2, lambda: {"tcp://b:1"}) is None  # the first attempt's worker is gone
    attempts.end(run, "s", 1)
    assert attempts.verdict(run, "s", 2, lambda: {"tcp://a:1"}) is None  # ... or its process group ended
    assert attempts.workers(run, "s") == ["tcp://a:1", "tcp://b:1"]
    assert attempts.verdict(run, "other", 1, set) is not None
