"""Errors through the real CLI (SPEC §3.2, §3.4, §4): exit 2, `Error: <what> (<file>:<line>)` plus a hint."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import factory
from tests.support.factory import Outcome, Project

COMMANDS = ("status", "verify", "repro", "commit", "checkout", "list", "dag")
ERROR_LINE = re.compile(r"^Error: (?P<what>.+) \((?P<where>[^()]+)\)$", re.MULTILINE)


def _error(out: Outcome) -> tuple[str, str]:
    """(message, location) of the one `Error:` line; asserts exit 2 and a `Hint:` line."""
    assert out.code == 2, out
    found = ERROR_LINE.findall(out.stderr)
    assert len(found) == 1, out
    assert re.search(r"^Hint: \S", out.stderr, re.MULTILINE), out
    what, where = found[0]
    return what, where


def _hint(out: Outcome) -> str:
    match = re.search(r"^Hint: (.+)$", out.stderr, re.MULTILINE)
    assert match, out
    return match.group(1)


def _no_state_written(p: Project) -> None:
    """Load errors come before any work: no lock, no output, no stage state anywhere."""
    written = [str(f.relative_to(p.root)) for f in p.root.rglob("*")
               if "stages" in f.parts or f.name.endswith(".lock") or f.name in ("out.txt", "x.txt", "a.txt")]
    assert written == []


# --- §3.4 collisions --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Collision:
    """A project whose merged graph is invalid, and what the message must name."""

    build: Callable[[Project], None]
    files: tuple[str, ...]
    names: tuple[str, ...]
    words: str


def _same_pipeline_name(p: Project) -> None:
    p.write("a/pivot.yaml", """
        pipeline: shared
        stages:
          alpha:
            cmd: echo alpha
        """)
    p.write("b/pivot.yaml", """
        pipeline: shared
        stages:
          beta:
            cmd: echo beta
        """)


def _same_identity(p: Project) -> None:
    p.write("a/pivot.yaml", """
        pipeline: left
        root: /
        stages:
          train:
            cmd: echo left
        """)
    p.write("b/pivot.yaml", """
        pipeline: right
        root: ..
        stages:
          train:
            cmd: echo right
        """)


def _same_output(p: Project) -> None:
    p.write("a/pivot.yaml", """
        stages:
          make_left:
            cmd: echo left > ../shared/out.txt
            outs: [../shared/out.txt]
        """)
    p.write("b/pivot.yaml", """
        stages:
          make_right:
            cmd: echo right > ../shared/out.txt
            outs: ../shared/out.txt
        """)


def _nested_output(p: Project) -> None:
    p.write("a/pivot.yaml", """
        stages:
          make_dir:
            cmd: mkdir -p data
            outs: [data/]
        """)
    p.write("b/pivot.yaml", """
        stages:
          make_file:
            cmd: echo x > ../a/data/x.txt
            outs: [../a/data/x.txt]
        """)


def _cycle(p: Project) -> None:
    p.write("a/pivot.yaml", """
        stages:
          first:
            cmd: cat ../b/b.txt > a.txt
            deps: [../b/b.txt]
            outs: [a.txt]
        """)
    p.write("b/pivot.yaml", """
        stages:
          second:
            cmd: cat ../a/a.txt > b.txt
            deps: [../a/a.txt]
            outs: [b.txt]
        """)


COLLISIONS = {
    "same_pipeline_name": Collision(_same_pipeline_name, ("a/pivot.yaml", "b/pivot.yaml"), ("shared",),
                                    "two pipelines are named"),
    "same_identity": Collision(_same_identity, ("a/pivot.yaml:4", "b/pivot.yaml:4"), ("train", ".pivot"),
                               "share the state dir"),
    "same_output": Collision(_same_output, ("a/pivot.yaml:2", "b/pivot.yaml:2"),
                             ("make_left", "make_right", "shared/out.txt"), "is declared by stage"),
    "nested_output": Collision(_nested_output, ("a/pivot.yaml:2", "b/pivot.yaml:2"),
                               ("make_dir", "make_file", "a/data/x.txt", "'a/data'"), "inside output directory"),
    "cycle": Collision(_cycle, ("a/pivot.yaml:2", "b/pivot.yaml:2"), ("first", "second"), "dependency cycle"),
}


def _assert_collision(out: Outcome, case: Collision) -> None:
    what, where = _error(out)
    assert case.words in what, out
    for name in (*case.files, *case.names):
        assert name in what, f"{name!r} not named\n{out}"
    assert where.split(":")[0] in ("a/pivot.yaml", "b/pivot.yaml"), out


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", list(COLLISIONS))
def test_collision_is_a_load_error_for_every_command_with_all(project: Project, case: str, command: str) -> None:
    collision = COLLISIONS[case]
    collision.build(project)
    _assert_collision(project.run(command, "--all"), collision)
    _no_state_written(project)


@pytest.mark.parametrize("command", ["status", "verify"])
@pytest.mark.parametrize("case", list(COLLISIONS))
def test_collision_is_a_load_error_from_inside_either_pipeline(project: Project, case: str, command: str) -> None:
    collision = COLLISIONS[case]
    collision.build(project)
    for cwd in ("a", "b"):
        _assert_collision(project.run(command, cwd=cwd), collision)
    _no_state_written(project)


def test_cycle_message_lists_the_cycle_in_order(project: Project) -> None:
    _cycle(project)
    out = project.run("status", "--all")
    what, _ = _error(out)
    chain = re.findall(r"(\w+) \(([ab]/pivot\.yaml:\d+)\)", what)
    assert len(chain) == 3 and chain[0] == chain[-1], what
    assert {c[0] for c in chain} == {"first", "second"}
    assert "a stage cannot depend" in _hint(out)


def test_cycle_inside_one_pipeline_names_its_stages(project: Project) -> None:
    project.write("p/pivot.yaml", """
        stages:
          up:
            cmd: cat down.txt > up.txt
            deps: [down.txt]
            outs: [up.txt]
          down:
            cmd: cat up.txt > down.txt
            deps: [up.txt]
            outs: [down.txt]
        """)
    what, where = _error(project.run("verify", cwd="p"))
    assert "dependency cycle" in what
    assert "up (p/pivot.yaml:2)" in what and "down (p/pivot.yaml:6)" in what
    assert where in ("p/pivot.yaml:2", "p/pivot.yaml:6")


def test_stages_of_different_state_dirs_may_share_a_name(project: Project) -> None:
    # the control for `same_identity`: the same declared name in two state dirs is fine
    project.write("a/pivot.yaml", "stages:\n  train:\n    cmd: echo a\n")
    project.write("b/pivot.yaml", "stages:\n  train:\n    cmd: echo b\n")
    out = project.run("list", "--all", "--json").ok()
    assert sorted(r["name"] for r in out.json()) == ["b/train", "train"]


# --- pipeline files that fail to load ----------------------------------------------------------------------


def _three(p: Project) -> None:
    """Three independent pipelines: one, two (pivot.yaml) and three (pipeline.py)."""
    p.write("tools/copy.py", factory.COPY_PY)
    for name in ("one", "two"):
        p.write(f"{name}/in.txt", f"{name}\n")
        p.write(f"{name}/pivot.yaml", f"""
            stages:
              make_{name}:
                cmd: python ../tools/copy.py in.txt out.txt
                deps: [in.txt]
                outs: [out.txt]
            """)
    p.write("three/in.txt", "three\n")
    p.write("three/pipeline.py", """
        from pivot_ci import Pipeline

        pipeline = Pipeline("three")
        pipeline.command("make_three", cmd="python ../tools/copy.py in.txt out.txt", deps=["in.txt"],
                         outs=["out.txt"])
        """)


BROKEN = {
    # file, its broken text, the location the error must point at, words of the message
    "bad_yaml": ("two/pivot.yaml", "stages:\n  make_two:\n    cmd: [unclosed\n    outs: out.txt\n",
                 "two/pivot.yaml:4", "malformed YAML"),
    "py_raises": ("three/pipeline.py", "from pivot_ci import Pipeline\n\npipeline = Pipeline('three')\n"
                  "raise RuntimeError('no GPU here')\n", "three/pipeline.py:4", "RuntimeError: no GPU here"),
    "py_missing_module": ("three/pipeline.py", "import pivot_test_module_that_is_not_installed\nimport pivot_ci\n",
                          "three/pipeline.py:1", "module 'pivot_test_module_that_is_not_installed'"),
}


def _break(p: Project, case: str) -> tuple[str, str, str]:
    _three(p)
    file, text, where, words = BROKEN[case]
    (p.root / file).write_text(text)
    return file, where, words


def _healthy(case: str) -> list[str]:
    broken = BROKEN[case][0].split("/")[0]
    return [n for n in ("one", "two", "three") if n != broken]


@pytest.mark.parametrize("command", ["status", "verify", "repro", "list"])
@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_pipeline_fails_all_naming_the_file(project: Project, case: str, command: str) -> None:
    _, where, words = _break(project, case)
    out = project.run(command, "--all")
    what, at = _error(out)
    assert at == where, out
    assert words in what, out
    for name in _healthy(case):
        assert not project.exists(f"{name}/out.txt")


@pytest.mark.parametrize("case", list(BROKEN))
def test_skip_broken_runs_the_others_and_warns(project: Project, case: str) -> None:
    file, where, _ = _break(project, case)
    out = project.run("repro", "--all", "--skip-broken").ok()
    warning = rf"^Warning: pipeline file {re.escape(where)}: .+: skipped \(--skip-broken\)$"
    assert re.search(warning, out.stderr, re.MULTILINE), out
    for name in _healthy(case):
        assert project.read(f"{name}/out.txt") == f"{name}\n"
    status = project.run("status", "--all", "--skip-broken", "--json").ok()
    assert file in status.stderr
    assert {s["name"] for s in project.stage_json(status).values()} == {f"make_{n}" for n in _healthy(case)}
    assert project.run("list", "--all", "--skip-broken").ok().stdout.count("make_") == 2


@pytest.mark.parametrize("case", list(BROKEN))
def test_verify_skip_broken_is_never_green(project: Project, case: str) -> None:
    file, where, words = _break(project, case)
    project.run("repro", "--all", "--skip-broken").ok()
    out = project.run("verify", "--all", "--skip-broken", "--json")
    assert out.code == 1, out
    report = out.json()
    assert report["passed"] is False
    pipes = {p["file"]: p for p in report["pipelines"]}
    assert pipes[file]["passed"] is False
    assert words in pipes[file]["error"] and where in pipes[file]["error"]
    assert all(p["passed"] for f, p in pipes.items() if f != file)
    assert report["summary"]["broken_pipelines"] == 1
    text = project.run("verify", "--all", "--skip-broken")
    assert text.code == 1, text
    assert file in text.stdout and "FAILED" in text.stdout
    assert project.run("status", "--all", "--skip-broken", "--exit-code").code == 1


@pytest.mark.parametrize("case", list(BROKEN))
def test_without_all_a_healthy_pipeline_works_next_to_a_broken_one(project: Project, case: str) -> None:
    _, where, _ = _break(project, case)
    repro = project.run("repro", cwd="one").ok()
    assert f"Warning: pipeline file {where}: " in repro.stderr  # warned about, not fatal
    assert project.read("one/out.txt") == "one\n"
    assert project.run("verify", cwd="one").code == 0
    assert project.run("status", "--exit-code", cwd="one").code == 0
    assert "make_one" in project.run("list", cwd="one").ok().stdout


def test_without_all_a_pipeline_reading_from_a_broken_one_fails(project: Project) -> None:
    _three(project)
    project.write("four/pivot.yaml", """
        stages:
          use_two:
            cmd: python ../tools/copy.py ../two/out.txt out.txt
            deps: [../two/out.txt]
            outs: [out.txt]
        """)
    project.run("repro", "--all").ok()
    project.run("verify", cwd="four").ok()
    file, text, where, words = BROKEN["bad_yaml"]
    (project.root / file).write_text(text)
    # two/out.txt is still on disk, but the stage that made it can no longer be checked: never green
    for command in ("status", "verify", "repro"):
        out = project.run(command, cwd="four")
        what, at = _error(out)
        assert at == where, out
        assert "stage 'use_two' (four/pivot.yaml:2) depends on 'two/out.txt'" in what, out
        assert file in what and words in what, out
    project.run("verify", cwd="one").ok()  # one reads nothing of two's


@pytest.mark.parametrize("case", list(BROKEN))
def test_running_inside_the_broken_pipeline_fails(project: Project, case: str) -> None:
    file, where, words = _break(project, case)
    what, at = _error(project.run("status", cwd=file.split("/")[0]))
    assert at == where and words in what


# --- one pipeline file: syntax, keys, names, paths ---------------------------------------------------------


def _yaml_error(p: Project, text: str, *, cwd: str = "p") -> tuple[str, str, str]:
    """Write p/pivot.yaml, run `status` inside it and `verify --all`: the same error both ways."""
    p.write("p/pivot.yaml", text)
    single = p.run("status", cwd=cwd)
    what, where = _error(single)
    assert _error(p.run("verify", "--all")) == (what, where)
    return what, where, _hint(single)


def test_malformed_yaml_names_the_line(project: Project) -> None:
    what, where, hint = _yaml_error(project, """
        stages:
          build:
            cmd: "echo unterminated
            outs: [out.txt]
        """)
    assert where == "p/pivot.yaml:5"
    assert what.startswith("malformed YAML: ")
    assert "YAML syntax" in hint


def test_malformed_yaml_bad_indentation_names_the_line(project: Project) -> None:
    what, where, _ = _yaml_error(project, """
        stages:
          build:
            cmd: echo hi
           outs: [out.txt]
        """)
    assert where == "p/pivot.yaml:4"
    assert what.startswith("malformed YAML: ")


def test_control_character_names_the_line_in_one_line(project: Project) -> None:
    what, where, _ = _yaml_error(project, """
        stages:
          build:
            cmd: echo hi
            deps: [in\x00.txt]
        """)
    assert where == "p/pivot.yaml:4"
    assert what == "malformed YAML: unacceptable character #x0000: control characters are not allowed"


def test_unknown_top_level_key_suggests_and_lists_valid_keys(project: Project) -> None:
    what, where, hint = _yaml_error(project, """
        pipeline: p
        stagse:
          build:
            cmd: echo hi
        """)
    assert where == "p/pivot.yaml:2"
    assert "unknown key 'stagse'" in what
    assert "did you mean 'stages'" in hint
    assert "pipeline, root, vars, stages" in hint


def test_unknown_stage_key_suggests_and_lists_valid_keys(project: Project) -> None:
    what, where, hint = _yaml_error(project, """
        stages:
          build:
            cmd: echo hi
            dep: [in.txt]
        """)
    assert where == "p/pivot.yaml:4"
    assert what == "stages.build: unknown key 'dep'"
    assert "did you mean 'deps'" in hint
    assert "cmd, python, deps, outs, metrics, params" in hint


def test_bad_stage_name(project: Project) -> None:
    what, where, hint = _yaml_error(project, """
        stages:
          ok:
            cmd: echo ok
          "bad name!":
            cmd: echo bad
        """)
    assert where == "p/pivot.yaml:4"
    assert "'bad name!'" in what
    assert "[A-Za-z0-9_]" in hint


def test_dependency_escaping_the_project(project: Project) -> None:
    what, where, hint = _yaml_error(project, """
        stages:
          build:
            cmd: echo hi
            deps: [in.txt, ../../outside.txt]
        """)
    assert where == "p/pivot.yaml:4"
    assert what == "stages.build.deps[1]: '../../outside.txt' is outside the project root"
    assert "inside the project" in hint


def test_dotdot_inside_the_project_is_fine(project: Project) -> None:
    project.write("shared/in.txt", "x\n")
    project.write("p/pivot.yaml", "stages:\n  build:\n    cmd: echo hi\n    deps: [../shared/in.txt]\n")
    project.run("status", cwd="p").ok()


def test_absolute_path(project: Project, tmp_path: Path) -> None:
    absolute = (tmp_path / "elsewhere.txt").as_posix()
    what, where, _ = _yaml_error(project, f"""
        stages:
          build:
            cmd: echo hi
            outs:
              - out.txt
              - {absolute}
        """)
    assert where == "p/pivot.yaml:4"
    assert what == f"stages.build.outs[1]: '{absolute}' is outside the project root"


def test_root_escaping_the_project(project: Project) -> None:
    what, where, hint = _yaml_error(project, """
        pipeline: p
        root: ../..
        stages:
          build:
            cmd: echo hi
        """)
    assert where == "p/pivot.yaml:2"
    assert "root '../..' is outside the project root" in what
    assert '"/"' in hint


def test_stage_with_both_cmd_and_python(project: Project) -> None:
    what, where, _ = _yaml_error(project, """
        stages:
          ok:
            cmd: echo ok
          build:
            cmd: echo hi
            python: stages:build
        """)
    assert where == "p/pivot.yaml:4"
    assert "stages.build" in what and "exactly one of 'cmd' or 'python'" in what


def test_stage_with_neither_cmd_nor_python(project: Project) -> None:
    what, where, _ = _yaml_error(project, """
        stages:
          build:
            deps: [in.txt]
        """)
    assert where == "p/pivot.yaml:2"
    assert "stages.build" in what and "exactly one of 'cmd' or 'python'" in what


def test_duplicate_stage_keys(project: Project) -> None:
    what, where, _ = _yaml_error(project, """
        stages:
          build:
            cmd: echo one
          build:
            cmd: echo two
        """)
    assert where == "p/pivot.yaml:4"
    assert "duplicate key 'build' (first at line 2)" in what


def test_undefined_variable(project: Project) -> None:
    project.write("p/params.yaml", "lr: 0.1\n")
    what, where, hint = _yaml_error(project, """
        vars: [params.yaml]
        stages:
          build:
            cmd: echo ${lr}
          train:
            cmd: echo ${undefined}
        """)
    assert where == "p/pivot.yaml:6"
    assert "undefined variable '${undefined}'" in what
    assert "vars:" in hint


def test_pipeline_py_without_pipeline_variable(project: Project) -> None:
    project.write("p/pipeline.py", """
        from pivot_ci import Pipeline

        pipe = Pipeline("p")
        """)
    out = project.run("status", cwd="p")
    what, where = _error(out)
    assert where == "p/pipeline.py"
    assert "`pipeline = Pipeline(...)`" in what
    assert "Pipeline(" in _hint(out)
    assert _error(project.run("status", "--all")) == (what, where)


def test_pipeline_py_syntax_error_names_the_line(project: Project) -> None:
    project.write("p/pipeline.py", """
        from pivot_ci import Pipeline

        pipeline = Pipeline("p")
        pipeline.command("build" cmd="echo hi")
        """)
    for out in (project.run("verify", "--all"), project.run("status", cwd="p")):
        what, where = _error(out)
        assert where == "p/pipeline.py:4", out
        assert what.startswith("cannot parse pipeline file: invalid syntax"), out
        assert "syntax" in _hint(out)


def test_pipeline_py_stage_errors_name_the_declaring_line(project: Project) -> None:
    project.write("p/pipeline.py", """
        from pivot_ci import Pipeline

        pipeline = Pipeline("p")
        pipeline.command("ok", cmd="echo ok")
        pipeline.command("build", cmd="echo hi",
                         deps=["../../outside.txt"])
        """)
    what, where = _error(project.run("status", cwd="p"))
    assert where == "p/pipeline.py:5"
    assert "'../../outside.txt' is outside the project root" in what


def test_two_pipeline_files_in_one_directory(project: Project) -> None:
    project.write("p/pivot.yaml", "stages:\n  a:\n    cmd: echo a\n")
    project.write("p/pipeline.py", "from pivot_ci import Pipeline\npipeline = Pipeline('p')\n")
    for out in (project.run("status", cwd="p"), project.run("status", "--all"), project.run("verify", "--all")):
        what, _ = _error(out)
        assert "p/pivot.yaml" in what and "p/pipeline.py" in what, out
        assert "one pipeline file per directory" in _hint(out)


def test_outside_any_project(tmp_path: Path) -> None:
    outside = Project(tmp_path / "not-a-project")
    outside.write("pivot.yaml", "stages:\n  a:\n    cmd: echo a\n")
    for command in ("status", "verify", "repro"):
        out = outside.run(command)
        assert out.code == 2, out
        assert out.stderr.startswith("Error: not inside a pivot project"), out
        assert "pivot init" in _hint(out)
    assert not outside.exists(".pivot")


def test_project_dir_without_pipeline_file_needs_all(project: Project) -> None:
    project.write("sub/pivot.yaml", "stages:\n  a:\n    cmd: echo a\n")
    project.write("docs/readme.txt", "no pipeline here\n")
    for cwd in (".", "docs"):
        out = project.run("status", cwd=cwd)
        assert out.code == 2, out
        assert out.stderr.startswith("Error: no pipeline file"), out
        assert "--all" in _hint(out)
    project.run("status", "--all").ok()


# --- state that cannot be read ----------------------------------------------------------------------------


def test_corrupt_lock_file_is_an_error_and_is_left_alone(project: Project) -> None:
    project.write("p/in.txt", "x\n")
    project.write("p/pivot.yaml", """
        stages:
          build:
            cmd: cp in.txt out.txt
            deps: [in.txt]
            outs: [out.txt]
        """)
    project.run("repro", cwd="p").ok()
    lock = project.root / "p/.pivot/stages/build.lock"
    garbage = b"cmd: [this is not\n  : a lock: file\n"
    lock.write_bytes(garbage)
    runs = [("p", ("status",)), (".", ("status", "--all")), (".", ("verify", "--all", "--json")),
            ("p", ("repro",)), ("p", ("commit",)), ("p", ("checkout",))]
    for cwd, args in runs:
        out = project.run(*args, cwd=cwd)
        what, where = _error(out)
        assert where == "p/.pivot/stages/build.lock:2", out
        assert what.startswith("malformed lock file: "), out
        assert "p/.pivot/stages/build.lock" in _hint(out)
        assert out.stdout == ""
    assert lock.read_bytes() == garbage
    assert project.read("p/out.txt") == "x\n"
