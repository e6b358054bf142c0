"""The `resources:` stage key (Dask worker resources) in pivot.yaml and pipeline.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from pivot_ci import errors
from pivot_ci.pipeline import load
from pivot_ci.project import Project
from tests.support.factory import write_dedented


def _write(proj: Project, rel: str, text: str) -> Path:
    return write_dedented(proj.root, rel, text)


def test_resources_are_numbers_in_both_kinds_of_pipeline_file(proj: Project) -> None:
    yaml_file = _write(proj, "a/pivot.yaml", """
        vars: [{gpus: 2}]
        stages:
          train:
            cmd: python train.py
            resources: {GPU: "${gpus}", MEMORY: 8e9, slots: 0.5}
          plain:
            cmd: echo
        """)
    stages = {s.name: s for s in load.load_file(proj, yaml_file).stages}
    assert dict(stages["train"].resources) == {"GPU": 2.0, "MEMORY": 8e9, "slots": 0.5}
    assert dict(stages["plain"].resources) == {}
    py_file = _write(proj, "b/pipeline.py", """
        from pivot_ci import Pipeline

        pipeline = Pipeline("b")

        @pipeline.stage(outs=["m.txt"], resources={"GPU": 1})
        def fit():
            pass

        pipeline.command("score", cmd="echo", resources={"MEMORY": 4e9})
        """)
    stages = {s.name: s for s in load.load_file(proj, py_file).stages}
    assert dict(stages["fit"].resources) == {"GPU": 1.0} and dict(stages["score"].resources) == {"MEMORY": 4e9}


@pytest.mark.parametrize(("value", "words"), [
    ("[GPU]", "must be a mapping of resource names to amounts"),
    ("{GPU: 0}", "stages.a.resources.GPU: 0 is not a positive number"),
    ("{GPU: -1}", "is not a positive number"),
    ("{GPU: lots}", "'lots' is not a positive number"),
    ("{GPU: true}", "True is not a positive number"),
    ("{GPU: .inf}", "is not a positive number"),
    ("{'G P U': 1}", "resource name 'G P U' is not a name"),
])
def test_bad_resources_name_file_line_and_an_example(proj: Project, value: str, words: str) -> None:
    path = _write(proj, "p/pivot.yaml", f"stages:\n  a:\n    cmd: echo\n    resources: {value}\n")
    with pytest.raises(errors.ConfigError) as info:
        load.load_file(proj, path)
    assert words in info.value.message and info.value.location == "p/pivot.yaml:4"
    assert info.value.hint and "resources: {GPU: 1" in info.value.hint
