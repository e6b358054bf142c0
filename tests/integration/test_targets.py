"""Targets: glob patterns of stage names, repro --single-item and --downstream, with and without --all."""

from __future__ import annotations

import json

from tests.support.factory import Project


def _would_run(p: Project, *args: str, cwd: str = ".") -> list[str]:
    out = p.run("repro", "-n", "--json", *args, cwd=cwd).ok()
    return [e["display_name"] for e in map(json.loads, out.stdout.splitlines()) if e["outcome"] == "would_run"]


def _ran(p: Project, *args: str, cwd: str = ".") -> list[str]:
    out = p.run("repro", "--json", *args, cwd=cwd)
    return [e["display_name"] for e in map(json.loads, out.stdout.splitlines()) if e["outcome"] == "ran"]


def test_glob_patterns_match_display_names_and_pipeline_stage_names(multi: Project) -> None:
    assert _would_run(multi, "--all", "-s", "tune/*") == ["tune/train", "tune/report"]
    assert _would_run(multi, "--all", "-s", "*train") == ["train", "tune/train"]
    assert _would_run(multi, "--all", "-s", "prep/*") == ["clean"]  # <pipeline>/<stage> of a bare name
    assert _would_run(multi, "--all", "-s", "tune/re?ort", "clean") == ["clean", "tune/report"]
    assert _would_run(multi, "--all", "tune/r*") == ["clean", "train", "tune/train", "tune/report"]  # + upstream
    assert _would_run(multi, "-s", "*", cwd="train") == ["clean", "train"]  # the pipeline and its producers
    missing = multi.run("repro", "--all", "*eval*")
    assert missing.code == 2 and "no stage matches '*eval*'" in missing.stderr
    assert multi.run("status", "--all", "--json", "tune/*").ok().json()["summary"]["stages"] == 4


def test_single_item_runs_the_named_stages_only_and_never_starts_one_without_its_inputs(multi: Project) -> None:
    assert _ran(multi, "--all", "--single-item", "clean") == ["clean"]
    assert not multi.exists("train/.pivot/stages/train.lock")
    out = multi.run("repro", "--all", "-s", "tune/train")
    assert out.code == 1 and not multi.exists("tune/result.txt")
    assert ("'tune/train' FAILED: not started: dependency missing: train/model.txt (an output of stage 'train', "
            "which is not part of this run)") in out.stderr
    assert "Running 'tune/train'" not in out.stderr
    assert _ran(multi, "--all", "-s", "train", "tune/train") == ["train", "tune/train"]
    assert multi.run("status", "--all", "--json").ok().json()["summary"]["stale"] == 1  # tune/report


def test_downstream_runs_the_named_stages_and_what_depends_on_them(multi: Project) -> None:
    multi.run("repro", "--all").ok()
    multi.write("prep/raw.txt", "new raw\n")
    multi.write("train/helpers.py", "def scale(x):\n    return x * 3\n")
    assert _ran(multi, "--all", "--downstream", "train") == ["train", "tune/train", "tune/report"]
    stale = multi.run("status", "--all", "--json").ok().json()
    assert [s["display_name"] for p in stale["pipelines"] for s in p["stages"] if s["status"] == "stale"] == [
        "clean", "train", "tune/train", "tune/report"]  # clean was left out, the rest is stale through it
    # without --all, downstream stays inside the scope: the pipeline of cwd and its producers
    assert _ran(multi, "--downstream", "clean", cwd="prep") == ["clean"]
    assert _ran(multi, "--downstream", "clean", cwd="train") == ["train"]  # clean is up to date by now
    assert _ran(multi, "--all") == ["tune/train", "tune/report"]


def test_single_item_and_downstream_need_targets(multi: Project) -> None:
    for flag in ("--single-item", "--downstream"):
        out = multi.run("repro", "--all", flag)
        assert out.code == 2 and f"{flag} needs TARGETS" in out.stderr
    both = multi.run("repro", "--all", "-s", "--downstream", "clean")
    assert both.code == 2 and "contradict" in both.stderr


def test_a_stage_whose_dependency_exists_nowhere_is_not_started(project: Project) -> None:
    project.write("p/pivot.yaml", """
        stages:
          s:
            cmd: touch started.txt && cat absent.txt > out.txt
            deps: [absent.txt]
            outs: [out.txt]
          after:
            cmd: cp out.txt after.txt
            deps: [out.txt]
            outs: [after.txt]
        """)
    out = project.run("repro", cwd="p")
    assert out.code == 1 and not project.exists("p/started.txt")
    assert "'s' FAILED: not started: dependency missing: p/absent.txt (no stage produces it)" in out.stderr
    assert "'after' blocked" in out.stderr
    assert out.stderr.count("absent.txt") == 2  # the load warning, then the failure
