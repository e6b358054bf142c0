"""Exit codes and machine output: repro 1 on failure, verify 1 on stale, status --exit-code, --json."""

from __future__ import annotations

import json

from tests.support.factory import Project


def _two_branches(p: Project) -> None:
    p.write("p/pivot.yaml", """
        stages:
          bad:
            cmd: echo failing-output && exit 3
            outs: [bad.txt]
          after_bad:
            cmd: cp bad.txt after.txt
            deps: [bad.txt]
            outs: [after.txt]
          good:
            cmd: echo good > good.txt
            outs: [good.txt]
        """)


def test_repro_exits_1_when_a_stage_fails_and_shows_its_output(project: Project) -> None:
    _two_branches(project)
    out = project.run("repro", "-j", "1", cwd="p")
    assert out.code == 1, out
    assert "failing-output" in out.stderr
    assert "command exited with code 3" in out.stderr
    assert not project.exists("p/.pivot/stages/bad.lock")


def test_fail_fast_stops_starting_stages(project: Project) -> None:
    _two_branches(project)
    out = project.run("repro", "-j", "1", cwd="p")
    assert out.code == 1
    assert not project.exists("p/good.txt")  # declared after `bad`, never started


def test_keep_going_runs_independent_stages_and_still_exits_1(project: Project) -> None:
    _two_branches(project)
    out = project.run("repro", "-j", "1", "--keep-going", cwd="p")
    assert out.code == 1, out
    assert project.exists("p/good.txt") and project.exists("p/.pivot/stages/good.lock")
    assert not project.exists("p/after.txt")
    assert "'after_bad' blocked" in out.stderr


def test_stage_that_does_not_create_its_output_fails(project: Project) -> None:
    project.write("p/pivot.yaml", """
        stages:
          s:
            cmd: "true"
            outs: [never.txt]
        """)
    out = project.run("repro", cwd="p")
    assert out.code == 1
    assert "output not created: p/never.txt" in out.stderr
    assert not project.exists("p/.pivot/stages/s.lock")


def test_python_stage_exception_fails_with_traceback(project: Project) -> None:
    project.write("p/pipeline.py", """
        from pivot_ci import Pipeline

        pipeline = Pipeline()


        @pipeline.stage(outs=["o.txt"], params={"n": 2})
        def boom(n):
            raise ValueError(f"bad n={n}")
        """)
    out = project.run("repro", cwd="p")
    assert out.code == 1
    assert "ValueError: bad n=2" in out.stderr


def test_verify_and_status_exit_codes(multi: Project) -> None:
    assert multi.run("verify", "--all").code == 1
    assert multi.run("status", "--all").code == 0
    assert multi.run("status", "--all", "--exit-code").code == 1
    multi.run("repro", "--all").ok()
    assert multi.run("verify", "--all").code == 0
    assert multi.run("status", "--all", "--exit-code").code == 0


def test_json_reports_are_one_document_on_stdout_without_logs(multi: Project) -> None:
    for args in (("status", "--all", "--json", "--exit-code"), ("verify", "--all", "--format", "json")):
        out = multi.run(*args)
        assert out.code == 1
        doc = json.loads(out.stdout)  # the whole stdout is one document
        assert "\x1b[" not in out.stdout
        assert list(doc) == ["schema_version", "command", "passed", "project_root", "all_pipelines", "summary",
                             "pipelines", "tracked", "state_dirs", "warnings", "comparison"]
        assert doc["schema_version"] == 1 and doc["passed"] is False
        stage = doc["pipelines"][0]["stages"][0]
        assert {"name", "display_name", "status", "reason", "line", "lock_file", "changes", "missing_files",
                "upstream_stale", "fix"} <= set(stage)
    verify = multi.run("verify", "--all", "--json").json()
    assert verify["summary"] == {"stages": 4, "passed": 0, "failed": 4, "stale": 4, "missing": 4,
                                 "pipelines": 3, "broken_pipelines": 0, "tracked": 0, "tracked_failed": 0}
    dirs = {d["path"]: d for d in verify["state_dirs"]}
    assert dirs[".pivot"]["pipelines"] == ["prep"] and dirs["train/.pivot"]["stages"] == 1


def test_json_line_and_lock_file_point_at_the_stage(multi: Project) -> None:
    stages = multi.stage_json(multi.run("verify", "--all", "--json"))
    assert stages["clean"]["line"] == 4 and stages["clean"]["lock_file"] == ".pivot/stages/clean.lock"
    assert stages["tune/train"]["lock_file"] == "tune/.pivot/stages/train.lock"


def test_output_option_writes_the_report_file(multi: Project) -> None:
    out = multi.run("verify", "--all", "--json", "--output", "report.json")
    assert out.code == 1 and out.stdout == ""
    assert json.loads(multi.read("report.json"))["passed"] is False
    assert "verify FAILED" in out.stderr


def test_repro_json_events_are_json_lines(multi: Project) -> None:
    out = multi.run("repro", "--all", "--json").ok()
    events = [json.loads(line) for line in out.stdout.splitlines()]
    finished = [e for e in events if e["event"] == "stage_finished"]
    assert {e["display_name"] for e in finished} == {"clean", "train", "tune/train", "tune/report"}
    assert all(e["outcome"] == "ran" for e in finished)
