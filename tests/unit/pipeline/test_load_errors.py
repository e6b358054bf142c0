"""Loading one pipeline file: every config error is located (file, line) and carries a hint."""

from __future__ import annotations

import textwrap

import pytest

from pivot_ci import errors
from pivot_ci.pipeline import load
from pivot_ci.project import Project


def _load_error(proj: Project, rel: str, text: str) -> errors.PivotError:
    path = proj.root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    with pytest.raises(errors.PivotError) as info:
        load.load_file(proj, path)
    err = info.value
    assert err.file == rel
    assert err.hint, f"no hint for: {err}"
    return err


@pytest.mark.parametrize(("text", "line", "words"), [
    ("stages:\n  a:\n    cmd: echo\n    params: {bad-name: 1}\n", 4, "parameter name 'bad-name'"),
    ("stages:\n  a:\n    cmd: echo\n    params: 3\n", 4, "must be a mapping of names to values"),
    ("stages:\n  a:\n    cmd: echo\n    params: [1, 2]\n", 4, "params[0] must be a key of the vars files"),
    ("stages:\n  a:\n    cmd: echo\n    outs: [.pivot/stages/a.lock]\n", 4, "inside a .pivot/ state dir"),
    ("stages:\n  a:\n    cmd: echo\n    deps: {x: 1}\n", 4, "must be a path or a list of paths"),
    ("stages:\n  a:\n    cmd: echo\n    deps: [ok.txt, 3]\n", 4, "deps[1] must be a non-empty path string"),
    ("stages:\n  a:\n    cmd: echo\n    outs: [..]\n", 4, "'..' names the project root itself"),
    ("stages:\n  a:\n    cmd: echo\n    outs: [../..]\n", 4, "'../..' is outside the project root"),
    ("stages:\n  a:\n    cmd: ''\n", 3, "stages.a.cmd must be a non-empty string"),
    ("stages:\n  a:\n    python: not a target\n", 3, "is not 'module:function'"),
    ("stages:\n  a: just a string\n", 2, "stages.a must be a mapping"),
    ("stages: [a, b]\n", 1, "stages must be a mapping"),
    ("pipeline: [x]\nstages: {}\n", 1, "pipeline name must be a non-empty string"),
    ("root: 3\nstages: {}\n", 1, "root must be a path string"),
    ("vars: [missing.yaml]\nstages: {}\n", 1, "vars: cannot read missing.yaml"),
    ("vars: 3\nstages: {}\n", 1, "vars must be a list of files"),
    ("pipeline: p\n", 1, "no `stages:` mapping"),
    ("", 1, "empty pipeline file"),
    ("stages:\n  a:\n    cmd: echo\n\tdeps: []\n", 4, "malformed YAML"),
    ("stages:\n  a:\n    cmd: 'caf\u00e9'\n    deps: [a\x00]\n", 4, "unacceptable character #x0000"),
    ("stages:\n  -x:\n    cmd: echo\n", 2, "invalid stage name '-x'"),
])
def test_yaml_errors_are_located(proj: Project, text: str, line: int, words: str) -> None:
    err = _load_error(proj, "p/pivot.yaml", text)
    assert isinstance(err, errors.ConfigError)
    assert words in err.message
    assert err.line == line


def test_non_utf8_pipeline_file_names_the_line(proj: Project) -> None:
    (proj.root / "p").mkdir()
    (proj.root / "p/pivot.yaml").write_bytes(b"stages:\n  a:\n    cmd: echo \xff\n")
    with pytest.raises(errors.ConfigError) as info:
        load.load_file(proj, proj.root / "p/pivot.yaml")
    assert str(info.value) == "pipeline file is not UTF-8 text: byte 0xff cannot be decoded (p/pivot.yaml:3)"


def test_malformed_vars_file_points_at_its_own_line(proj: Project) -> None:
    (proj.root / "p").mkdir()
    (proj.root / "p/params.yaml").write_text("a: [1\nb: 2\n")
    path = proj.root / "p/pivot.yaml"
    path.write_text("stages: {}\nvars: [params.yaml]\n")
    with pytest.raises(errors.ConfigError) as info:
        load.load_file(proj, path)
    err = info.value
    assert (err.file, err.line) == ("p/params.yaml", 2)
    assert err.message.startswith("vars file params.yaml (listed at p/pivot.yaml:2): malformed YAML: ")
    assert "\n" not in err.message


def test_vars_file_that_is_not_a_mapping(proj: Project) -> None:
    (proj.root / "p").mkdir()
    (proj.root / "p/params.yaml").write_text("- 1\n- 2\n")
    err = _load_error(proj, "p/pivot.yaml", "stages: {}\nvars: [params.yaml]\n")
    assert err.message == "vars: params.yaml must hold a mapping" and err.line == 2


def test_variable_inside_a_list_is_located_at_its_key(proj: Project) -> None:
    (proj.root / "p").mkdir()
    (proj.root / "p/params.yaml").write_text("data: {dir: raw}\n")
    err = _load_error(proj, "p/pivot.yaml", """
        vars: [params.yaml]
        stages:
          a:
            cmd: echo ${data.dir}
            deps:
              - ${data.dir}/one.csv
              - ${data.file}
        """)
    assert err.message == "undefined variable '${data.file}'" and err.line == 5


@pytest.mark.parametrize(("text", "line", "words"), [
    ("from pivot_ci import Pipeline\npipeline = Pipeline('p')\npipeline.command('a', cmd='x')\n"
     "pipeline.command('a', cmd='y')\n", 4, "stage 'a' is declared twice (first at line 3)"),
    ("from pivot_ci import Pipeline\npipeline = Pipeline('p')\npipeline.command('bad name', cmd='x')\n",
     3, "invalid stage name 'bad name'"),
    ("from pivot_ci import Pipeline\npipeline = Pipeline('p', root='../..')\n", None, "is outside the project root"),
    ("from pivot_ci import Pipeline\npipeline = Pipeline('p')\npipeline.command('a', cmd='x', params={'a b': 1})\n",
     3, "parameter name 'a b'"),
    ("pipeline = 42\n", None, "must define a module-level `pipeline = Pipeline(...)`"),
    ("import sys\n\nsys.exit(3)\n", 3, "SystemExit: 3"),
    ("x = (\n", 1, "cannot parse pipeline file"),
])
def test_pipeline_py_errors_are_located(proj: Project, text: str, line: int | None, words: str) -> None:
    err = _load_error(proj, "p/pipeline.py", text)
    assert words in err.message
    assert err.line == line


def test_pipeline_py_missing_module_hint_says_how_to_install(proj: Project) -> None:
    err = _load_error(proj, "p/pipeline.py", "import os\n\nimport pivot_no_such_module_xyz\n")
    assert isinstance(err, errors.DiscoveryError)
    assert err.line == 3
    assert "module 'pivot_no_such_module_xyz' is not installed" in err.message
    assert err.hint is not None and "additional_dependencies" in err.hint


def test_pipeline_py_nested_stage_function(proj: Project) -> None:
    err = _load_error(proj, "p/pipeline.py", """
        from pivot_ci import Pipeline

        pipeline = Pipeline("p")


        def make():
            @pipeline.stage(outs=["x.txt"])
            def inner() -> None:
                pass


        make()
        """)
    assert "must be defined at module level" in err.message


def test_misspelt_python_module_is_a_load_error_with_did_you_mean(proj: Project) -> None:
    (proj.root / "p/lib/models").mkdir(parents=True)
    for rel in ("p/stages.py", "p/features.py", "p/lib/__init__.py", "p/lib/models/__init__.py",
                "p/lib/models/forest.py", "shared.py"):
        (proj.root / rel).write_text("def train():\n    pass\n")
    err = _load_error(proj, "p/pivot.yaml", "stages:\n  a:\n    deps: [x]\n    python: stagse:train\n")
    assert err.line == 4
    assert err.message == "python: module 'stagse' not found (in p/, the project root or the installed packages)"
    assert err.hint is not None and err.hint.startswith("did you mean 'stages'? modules there: ")
    assert "features" in err.hint and "shared" in err.hint and "lib" in err.hint
    err = _load_error(proj, "p/pivot.yaml", "stages:\n  a:\n    python: lib.models.forrest:train\n")
    assert err.hint is not None and err.hint.startswith("did you mean 'lib.models.forest'?")
    for ok in ("stages:train", "lib.models.forest:train", "shared.train", "json:dumps"):  # json: installed
        path = proj.root / "p/pivot.yaml"
        path.write_text(f"stages:\n  a:\n    python: {ok}\n")
        assert load.load_file(proj, path).stages[0].python is not None
