"""Params named by key from vars files (both pipeline kinds) and metric gates, with located errors."""

from __future__ import annotations

import pytest

from pivot_ci import errors
from pivot_ci.pipeline import load, model
from pivot_ci.project import Project
from tests.support.factory import write_dedented as _write


def _error(proj: Project, rel: str, text: str) -> errors.PivotError:
    path = _write(proj.root, rel, text)
    with pytest.raises(errors.PivotError) as info:
        load.load_file(proj, path)
    assert info.value.file == rel and info.value.hint, info.value
    return info.value


def test_yaml_list_form_takes_keys_and_sections_from_the_vars_files(proj: Project) -> None:
    _write(proj.root, "p/conf/params.yaml", "prep: {min_words: 3, lang: en}\ntrain: {lr: 0.1, layers: [8, 4]}\n")
    path = _write(proj.root, "p/pivot.yaml", """
        vars: [conf/params.yaml, {seed: 7}]
        stages:
          clean:
            cmd: run
            params: [prep.min_words, seed]
          fit:
            cmd: run
            params: [train]
        """)
    spec = load.load_file(proj, path)
    clean, fit = spec.stages
    assert clean.params == {"min_words": 3, "seed": 7}
    assert fit.params == {"train": {"lr": 0.1, "layers": [8, 4]}}
    assert spec.vars_files == ("p/conf/params.yaml",)


def test_params_yaml_is_the_default_vars_file_of_the_list_form(proj: Project) -> None:
    _write(proj.root, "p/params.yaml", "train: {lr: 0.5}\n")
    spec = load.load_file(proj, _write(proj.root, "p/pivot.yaml", "stages: {s: {cmd: x, params: [train.lr]}}\n"))
    assert spec.stages[0].params == {"lr": 0.5} and spec.vars_files == ("p/params.yaml",)
    # without the list form, params.yaml is not read at all (a broken one is no error)
    _write(proj.root, "q/params.yaml", "{{ not yaml\n")
    other = load.load_file(proj, _write(proj.root, "q/pivot.yaml", "stages: {s: {cmd: x, params: {a: 1}}}\n"))
    assert other.vars_files == () and other.stages[0].params == {"a": 1}


def test_pipeline_py_list_form_reads_vars_or_params_yaml(proj: Project) -> None:
    _write(proj.root, "a/conf.yaml", "train: {lr: 0.2, epochs: 3}\n")
    a = load.load_file(proj, _write(proj.root, "a/pipeline.py", """
        from pivot_ci import Pipeline

        pipeline = Pipeline("a", vars=["conf.yaml"])


        @pipeline.stage(params=["train.lr", "train.epochs"], metrics=[
            "m.json", {"path": "eval.json", "fail_if": {"acc": {"drop": 0.01, "below": 0.5}}}])
        def fit(lr, epochs):
            pass


        pipeline.command("cmd", cmd="echo", params={"k": 1})
        """))
    fit, cmd = a.stages
    assert fit.params == {"lr": 0.2, "epochs": 3} and cmd.params == {"k": 1}
    assert a.vars_files == ("a/conf.yaml",)
    assert fit.metrics == (model.PathSpec("a/m.json"), model.PathSpec("a/eval.json"))
    assert fit.gates == (model.MetricGate("a/eval.json", "acc", model.GateRule.DROP, 0.01, fit.line),
                         model.MetricGate("a/eval.json", "acc", model.GateRule.BELOW, 0.5, fit.line))
    _write(proj.root, "b/params.yaml", "lr: 0.3\n")
    b = load.load_file(proj, _write(proj.root, "b/pipeline.py", """
        from pivot_ci import Pipeline

        pipeline = Pipeline("b")
        pipeline.command("c", cmd="echo", params=["lr"])
        """))
    assert b.stages[0].params == {"lr": 0.3} and b.vars_files == ("b/params.yaml",)


def test_yaml_gates_keep_the_line_of_each_key(proj: Project) -> None:
    path = _write(proj.root, "e/pivot.yaml", """
        stages:
          evaluate:
            cmd: run
            metrics:
              - plain.json
              - path: eval/metrics.json
                fail_if:
                  accuracy: {drop: 0.01}
                  loss: {rise: 0.05}
                  latency_ms: {above: 200, below: 1}
        """)
    st = load.load_file(proj, path).stages[0]
    assert st.metrics == (model.PathSpec("e/plain.json"), model.PathSpec("e/eval/metrics.json"))
    assert [(g.key, g.rule.value, g.bound, g.line) for g in st.gates] == [
        ("accuracy", "drop", 0.01, 8), ("loss", "rise", 0.05, 9), ("latency_ms", "above", 200.0, 10),
        ("latency_ms", "below", 1.0, 10)]
    assert all(g.path == "e/eval/metrics.json" for g in st.gates)


@pytest.mark.parametrize(("text", "line", "words"), [
    ("vars: [{a: {b: 1}}]\nstages: {s: {cmd: x, params: [a.c]}}\n", 2, "'a.c' is not defined in the vars files"),
    ("vars: [{a: {lr: 1}, b: {lr: 2}}]\nstages:\n  s:\n    cmd: x\n    params: [a.lr, b.lr]\n", 5,
     "'a.lr' and 'b.lr' would both be passed as 'lr'"),
    ("vars: [{a: {b-c: 1}}]\nstages: {s: {cmd: x, params: [a.b-c]}}\n", 2, "is not a valid identifier"),
    ("stages: {s: {cmd: x, params: [lr]}}\n", 1, "declares no `vars` and has no params.yaml"),
    ("stages: {s: {cmd: x, params: ['a..b']}}\n", 1, "must be a key of the vars files"),
    ("stages:\n  s:\n    cmd: x\n    metrics:\n      - {path: m.json, fail_if: {acc: {dorp: 1}}}\n", 5,
     "unknown rule 'dorp'"),
    ("stages:\n  s:\n    cmd: x\n    metrics:\n      - path: m.json\n        fail_if:\n          acc: {drop: high}\n",
     7, "must be a finite number"),
    ("stages:\n  s:\n    cmd: x\n    metrics: [{path: m.json, fail_if: {acc: {drop: -1}}}]\n", 4,
     "must not be negative"),
    ("stages:\n  s:\n    cmd: x\n    metrics:\n      - {path: m.json, fail: {}}\n", 5, "unknown key 'fail'"),
    ("stages:\n  s:\n    cmd: x\n    metrics: [{fail_if: {acc: {drop: 1}}}]\n", 4, "needs `path`"),
    ("stages:\n  s:\n    cmd: x\n    metrics: [{path: d/, fail_if: {acc: {drop: 1}}}]\n", 4, "is a directory"),
    ("stages:\n  s:\n    cmd: x\n    metrics: [{path: m.json, fail_if: {acc: 1}}]\n", 4,
     "must be a mapping of rules to numbers"),
    ("stages:\n  s:\n    cmd: x\n    metrics: [{path: m.json, fail_if: [acc]}]\n", 4,
     "must be a mapping of metric keys"),
])
def test_list_params_and_gate_errors_are_located(proj: Project, text: str, line: int, words: str) -> None:
    err = _error(proj, "p/pivot.yaml", text)
    assert isinstance(err, errors.ConfigError) and words in err.message, err
    assert err.line == line, err


def test_did_you_mean_for_a_misspelt_key(proj: Project) -> None:
    err = _error(proj, "p/pivot.yaml", "vars: [{train: {lr: 1}}]\nstages: {s: {cmd: x, params: [trian.lr]}}\n")
    assert err.hint is not None and "did you mean 'train.lr'" in err.hint


def test_pipeline_py_errors_point_at_the_declaration(proj: Project) -> None:
    err = _error(proj, "p/pipeline.py", """
        from pivot_ci import Pipeline

        pipeline = Pipeline("p", vars={"a": 1})
        pipeline.command("c", cmd="echo", params=["b"])
        """)
    assert "'b' is not defined in the vars files" in err.message and err.line == 4
    err = _error(proj, "q/pipeline.py", """
        from pivot_ci import Pipeline

        pipeline = Pipeline("q", vars=["missing.yaml"])
        """)
    assert "cannot read missing.yaml" in err.message and err.line == 3


def test_params_named_by_key_are_bounded_like_interpolation(proj: Project) -> None:
    _write(proj.root, "p/params.yaml", "big: [" + ", ".join(["0"] * 60_000) + "]\n")
    stages = "".join(f"  s{i}:\n    cmd: x\n    params: [big]\n" for i in range(2))
    err = _error(proj, "p/pivot.yaml", "stages:\n" + stages)
    assert "refused: params named by key expand to more than 100000 nodes (at 'big')" in err.message
    assert err.line == 7
