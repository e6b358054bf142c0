"""Text reports that scale: only what is not up to date, grouped per pipeline, one summary line; -q and -v."""

from __future__ import annotations

from tests.support.factory import Project

PIPELINES = 4
CHAIN = 12  # stages per pipeline: s00 -> s01 -> ... each copying the previous output


def _chains(p: Project) -> None:
    """PIPELINES pipelines of CHAIN cmd stages each; p0's first stage reads src.txt, the others read p0's end."""
    for i in range(PIPELINES):
        stages = []
        for j in range(CHAIN):
            first = "src.txt" if i == 0 else f"../p{i - 1}/o{CHAIN - 1}.txt"
            src = f"o{j - 1}.txt" if j else first
            stages.append(f"  s{j:02d}:\n    cmd: cp {src} o{j}.txt\n    deps: [{src}]\n    outs: [o{j}.txt]\n")
        p.write(f"p{i}/pivot.yaml", f"pipeline: p{i}\nstages:\n" + "".join(stages))
    p.write("p0/src.txt", "v1\n")


def test_one_edited_file_prints_a_few_lines_and_all_green_is_one(project: Project) -> None:
    _chains(project)
    project.run("repro", "--all", "-j", "2").ok()
    total = PIPELINES * CHAIN
    assert project.run("status", "--all").ok().stdout == f"{total} stages in {PIPELINES} pipelines up to date\n"
    assert project.run("verify", "--all").ok().stdout == (
        f"verify passed: {total} stages in {PIPELINES} pipelines up to date\n")

    project.write("p0/src.txt", "v2\n")
    lines = project.run("status", "--all").ok().stdout.splitlines()
    assert lines == [
        "p0 (p0/pivot.yaml, state p0/.pivot)",
        "  s00: stale (p0/pivot.yaml:3)",
        "    - dep changed: p0/src.txt",
        "    fix: pivot repro --all s00",
        "  stale through upstream stages: s01, s02, s03, s04, s05, s06, s07, s08 (+3 more)",
        *[f"p{i} (p{i}/pivot.yaml, state p{i}/.pivot): stale through upstream stages: "
          f"p{i}/s00, p{i}/s01, p{i}/s02, p{i}/s03, p{i}/s04, p{i}/s05, p{i}/s06, p{i}/s07 (+4 more)"
          for i in range(1, PIPELINES)],
        f"{total} stale, 0 up to date ({total} stages in {PIPELINES} pipelines)",
    ]
    verbose = project.run("status", "--all", "-v").ok().stdout
    assert verbose.count(": stale (") == total and verbose.count("fix: pivot repro --all") == total
    failed = project.run("verify", "--all")
    assert failed.code == 1 and "  s00: FAILED (p0/pivot.yaml:3)" in failed.stdout
    assert failed.stdout.splitlines()[-1] == f"verify FAILED: {total} failed ({total} stages in {PIPELINES} pipelines)"


def test_quiet_status_and_verify_print_nothing_and_answer_with_the_exit_code(multi: Project) -> None:
    for args in (("status", "--all", "-q"), ("verify", "--all", "-q")):
        out = multi.run(*args)
        assert (out.code, out.stdout, out.stderr) == (1, "", ""), out
    multi.run("repro", "--all", "-q").ok()
    for args in (("status", "--all", "-q"), ("verify", "--all", "-q")):
        out = multi.run(*args)
        assert (out.code, out.stdout, out.stderr) == (0, "", ""), out
    assert multi.run("status", "--all", "-q", "--json").json()["passed"] is True  # what was asked for explicitly
    errored = multi.run("status", "-q", "no-such-stage", "--all")  # errors are never quiet
    assert errored.code == 2 and "unknown target 'no-such-stage'" in errored.stderr


def test_quiet_repro_prints_the_failures_only(project: Project) -> None:
    project.write("p/pivot.yaml", """
        stages:
          good:
            cmd: echo fine > good.txt
            outs: [good.txt]
          bad:
            cmd: echo the-reason-it-failed && exit 4
            outs: [bad.txt]
        """)
    out = project.run("repro", "-q", "-j", "1", "--keep-going", cwd="p")
    assert out.code == 1 and out.stdout == ""
    assert "the-reason-it-failed" in out.stderr and "'bad' FAILED: command exited with code 4" in out.stderr
    assert "good" not in out.stderr and "Running" not in out.stderr


def test_github_format_keeps_stdout_for_workflow_commands(multi: Project) -> None:
    out = multi.run("verify", "--all", "--format", "github")
    assert out.code == 1
    inside = False
    for line in out.stdout.splitlines():
        assert line.startswith("::") or inside, line
        inside = line.startswith("::group::") or (inside and line != "::endgroup::")
    assert "verify FAILED: 4 failed" in out.stderr and "verify FAILED" not in out.stdout


def test_a_load_error_prints_the_error_alone_in_text_mode(multi: Project) -> None:
    multi.write("train/pivot.yaml", "stages:\n  train: [not, a, mapping\n")
    for cmd in ("status", "verify"):
        out = multi.run(cmd, "--all")
        assert (out.code, out.stdout) == (2, ""), out
        assert out.stderr.startswith("Error: malformed YAML") and "train/pivot.yaml:3" in out.stderr
    assert multi.run("verify", "--all", "--json").json()["passed"] is False  # machine formats still report it
    skipped = multi.run("verify", "--all", "--skip-broken")  # reported as part of the run: it is in the report
    assert skipped.code == 1 and "train/pivot.yaml: failed to load" in skipped.stdout


def test_zero_pipelines_is_an_error_for_verify_and_status(project: Project) -> None:
    project.write("src/code.py", "x = 1\n")
    for cmd in ("verify", "status"):
        out = project.run(cmd, "--all")
        assert out.code == 2 and out.stdout == "", out
        assert "no pipeline file (pivot.yaml, pivot.yml, pipeline.py) in the project" in out.stderr
        assert "pivot list --all -v" in out.stderr
    out = project.run("verify", "--all", "--format", "junit", "--output", "j.xml")
    assert out.code == 2 and "no pipeline file" in project.read("j.xml")  # the CI report says why, too
