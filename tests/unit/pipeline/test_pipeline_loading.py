"""Loading pipeline files into specs: paths, state dirs, names, vars, lines; merging display names."""

from __future__ import annotations

import pytest

from pivot_ci import errors
from pivot_ci.pipeline import load, merge, model
from pivot_ci.project import Project
from tests.support.factory import write_dedented as _write


def test_yaml_stage_paths_are_project_relative_and_lines_kept(proj: Project) -> None:
    (proj.root / "a/data").mkdir(parents=True)
    (proj.root / "a/mod.py").write_text("def fn():\n    pass\n")
    path = _write(proj.root, "a/pivot.yaml", """
        stages:
          one:
            cmd: run
            deps: [x.txt, ../shared/y.txt, data]
            outs: out/
          two:
            python: mod:fn
        """)
    spec = load.load_file(proj, path)
    one, two = spec.stages
    assert spec.name == "a" and spec.state_dir == "a/.pivot" and spec.file == "a/pivot.yaml"
    assert one.deps == (model.PathSpec("a/x.txt"), model.PathSpec("shared/y.txt"), model.PathSpec("a/data", True))
    assert one.outs == (model.PathSpec("a/out", True),)
    assert (one.line, two.line) == (2, 6)
    assert two.python == model.PythonTarget(qualname="fn", module="mod", file=None)
    assert one.id == model.StageId("a/.pivot", "one")


@pytest.mark.parametrize(("root", "state_dir"), [("/", ".pivot"), ("..", "a/.pivot"), (".", "a/b/.pivot"),
                                                 ("../..", ".pivot"), ("../../c", "c/.pivot")])
def test_root_selects_the_state_dir(proj: Project, root: str, state_dir: str) -> None:
    path = _write(proj.root, "a/b/pivot.yaml", f"root: {root}\nstages: {{s: {{cmd: x}}}}\n")
    assert load.load_file(proj, path).state_dir == state_dir


def test_root_outside_the_project_is_an_error(proj: Project) -> None:
    path = _write(proj.root, "a/pivot.yaml", "root: ../..\nstages: {s: {cmd: x}}\n")
    with pytest.raises(errors.ConfigError, match="outside the project"):
        load.load_file(proj, path)


def test_root_pipeline_is_named_after_the_project_directory(proj: Project) -> None:
    path = _write(proj.root, "pivot.yaml", "stages: {s: {cmd: x}}\n")
    spec = load.load_file(proj, path)
    assert spec.name == proj.root.name and spec.state_dir == ".pivot" and spec.stages[0].deps == ()


def test_vars_interpolate_strings_and_keep_types(proj: Project) -> None:
    _write(proj.root, "p/params.yaml", "train: {lr: 0.1, epochs: 3}\nname: model\n")
    path = _write(proj.root, "p/pivot.yaml", """
        vars: [params.yaml, {extra: x}]
        stages:
          s:
            cmd: train --lr ${train.lr} --out ${name}.bin ${extra}
            outs: ["${name}.bin"]
            params: {lr: "${train.lr}", epochs: "${train.epochs}"}
        """)
    st = load.load_file(proj, path).stages[0]
    assert st.cmd == "train --lr 0.1 --out model.bin x"
    assert st.outs == (model.PathSpec("p/model.bin"),)
    assert st.params == {"lr": 0.1, "epochs": 3}


def test_undefined_variable_names_file_and_line(proj: Project) -> None:
    path = _write(proj.root, "p/pivot.yaml", "stages:\n  s:\n    cmd: echo ${nope}\n")
    with pytest.raises(errors.ConfigError) as exc:
        load.load_file(proj, path)
    assert (exc.value.file, exc.value.line) == ("p/pivot.yaml", 3) and "nope" in exc.value.message


def test_pipeline_py_stages_and_commands(proj: Project) -> None:
    _write(proj.root, "p/helpers.py", "def f(x):\n    return x\n")
    path = _write(proj.root, "p/pipeline.py", """
        from helpers import f

        from pivot_ci import Pipeline

        pipeline = Pipeline("named", root="/")


        @pipeline.stage(deps=["in.txt"], outs="out.txt", params={"k": 1})
        def fit(k):
            return f(k)


        pipeline.stage(name="again")(f)
        pipeline.command("cmd", cmd="echo hi", metrics=["m.json"])
        """)
    spec = load.load_file(proj, path)
    fit, again, cmd = spec.stages
    assert spec.name == "named" and spec.state_dir == ".pivot"
    assert fit.python == model.PythonTarget(qualname="fit", module=None, file="p/pipeline.py")
    assert fit.line == 8 and fit.params == {"k": 1} and fit.outs == (model.PathSpec("p/out.txt"),)
    assert again.python == model.PythonTarget(qualname="f", module="helpers", file="p/helpers.py")
    assert cmd.kind is model.StageKind.CMD and cmd.metrics == (model.PathSpec("p/m.json"),) and cmd.line == 14


def test_two_pipeline_py_files_each_import_their_own_helpers(proj: Project) -> None:
    for name in ("a", "b"):
        _write(proj.root, f"{name}/helpers.py", f"NAME = {name!r}\n")
        _write(proj.root, f"{name}/pipeline.py", """
            import helpers

            from pivot_ci import Pipeline

            pipeline = Pipeline(helpers.NAME)
            """)
    names = [load.load_file(proj, proj.root / f"{n}/pipeline.py").name for n in ("a", "b")]
    assert names == ["a", "b"]


def _spec(name: str, stages: list[str], state_dir: str | None = None) -> model.PipelineSpec:
    sd = state_dir or f"{name}/.pivot"
    return model.PipelineSpec(name, f"{name}/pivot.yaml", name, sd, tuple(
        model.StageSpec(s, name, f"{name}/pivot.yaml", name, sd, i + 2, model.StageKind.CMD, "x", None, (), (), (), {})
        for i, s in enumerate(stages)))


def test_merge_prefixes_every_stage_of_a_pipeline_with_a_taken_name() -> None:
    merged = merge.merge([_spec("a", ["train", "eval"]), _spec("b", ["train", "other"]), _spec("c", ["x"])])
    assert sorted(merged.display.values()) == ["b/other", "b/train", "eval", "train", "x"]


def test_merge_rejects_same_pipeline_name_and_same_identity() -> None:
    with pytest.raises(errors.GraphError, match="two pipelines are named 'a'"):
        merge.merge([_spec("a", ["s"]), _spec("a", ["t"], state_dir="z/.pivot")])
    with pytest.raises(errors.GraphError, match="share the state dir .pivot"):
        merge.merge([_spec("a", ["s"], ".pivot"), _spec("b", ["s"], ".pivot")])
