"""Watch mode's filter: which changed paths matter, to which stages, and which are noise."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pivot_ci import project as project_mod
from pivot_ci.dag import load as dag_load
from pivot_ci.dag.load import Loaded
from pivot_ci.engine import status, watchset
from pivot_ci.engine.access import StateAccess
from pivot_ci.pipeline import model
from tests.support import factory
from tests.support.factory import Project


def _watchset(p: Project, *, all_pipelines: bool, cwd: str = ".") -> tuple[Loaded, watchset.WatchSet]:
    loaded = dag_load.load(project_mod.find_root(p.root), p.root / cwd, all_pipelines=all_pipelines)
    order = loaded.in_order(loaded.scope)
    with StateAccess(loaded.project) as access:
        return loaded, watchset.build(loaded, order, access.code_files)


def _names(loaded: Loaded, hit: watchset.Hit | None) -> set[str]:
    assert hit is not None
    return {loaded.graph.display(sid) for sid in hit.stages}


@pytest.fixture
def multi_all(multi: Project) -> Iterator[tuple[Loaded, watchset.WatchSet]]:
    multi.write(".pivotignore", "attic/\n")
    yield _watchset(multi, all_pipelines=True)


@pytest.mark.parametrize("rel", [
    ".pivot/cache/ab/cdef", "prep/.pivot/stages/clean.lock", "train/.pivot", ".git/index",
    "train/__pycache__/helpers.cpython-311.pyc", "prep/.raw.txt.swp", "prep/.raw.txt.swx", "prep/raw.txt~",
    "prep/.#raw.txt", "prep/#raw.txt#", "prep/4913", "train/helpers.py.___jb_tmp___",
])
def test_pivot_state_tool_dirs_and_editor_files_are_noise(rel: str) -> None:
    assert watchset.is_noise(rel)


@pytest.mark.parametrize("rel", ["prep/raw.txt", "train/helpers.py", "pivot.yaml", "data/4913.csv", "a/swp"])
def test_ordinary_files_are_not_noise(rel: str) -> None:
    assert not watchset.is_noise(rel)


def test_deps_and_code_touch_their_stages(multi_all: tuple[Loaded, watchset.WatchSet]) -> None:
    loaded, ws = multi_all
    assert _names(loaded, ws.classify("prep/raw.txt")) == {"clean"}
    assert _names(loaded, ws.classify("tools/copy.py")) == {"clean"}  # tune/report runs it undeclared
    assert _names(loaded, ws.classify("train/helpers.py")) == {"train"}
    assert _names(loaded, ws.classify("train/stages.py")) == {"train"}
    assert _names(loaded, ws.classify("tune/helpers.py")) == {"tune/train"}
    # a new module on a stage's import path may change what an import resolves to
    assert _names(loaded, ws.classify("train/new_module.py")) == {"train"}
    hit = ws.classify("prep/raw.txt")
    assert hit is not None and not hit.reload


def test_outputs_are_ignored(multi_all: tuple[Loaded, watchset.WatchSet]) -> None:
    _, ws = multi_all
    for rel in ("prep/clean.txt", "train/model.txt", "tune/result.txt", "tune/report.txt"):
        assert ws.classify(rel) is None, rel


def test_outputs_inside_an_output_directory_are_ignored(project: Project) -> None:
    project.write("p/in.txt", "x")
    project.write("p/pivot.yaml", """
        stages:
          split:
            cmd: mkdir -p parts && cp in.txt parts/a
            deps: [in.txt]
            outs: [parts/]
        """)
    _, ws = _watchset(project, all_pipelines=True)
    assert ws.classify("p/parts/a") is None and ws.classify("p/parts/sub/b") is None
    assert ws.classify("p/in.txt") is not None


def test_pipeline_files_anywhere_reload_with_all(multi_all: tuple[Loaded, watchset.WatchSet]) -> None:
    _, ws = multi_all
    for rel in ("prep/pivot.yaml", "tune/pipeline.py", "brand/new/pivot.yml", "pivot.yaml", ".pivotignore"):
        hit = ws.classify(rel)
        assert hit is not None and hit.reload, rel
    # outside discovery: skipped directories, .pivotignore, other names
    for rel in ("node_modules/x/pivot.yaml", "venv/pivot.yaml", "attic/old/pivot.yaml", "brand/new/notes.yaml"):
        assert ws.classify(rel) is None, rel


def test_renaming_a_directory_holding_a_pipeline_or_a_dep_matters(multi_all: tuple[Loaded, watchset.WatchSet]) -> None:
    loaded, ws = multi_all
    hit = ws.classify("prep")
    assert hit is not None and hit.reload and _names(loaded, hit) == {"clean"}


def test_without_all_only_the_current_pipeline_and_its_producers_reload(multi: Project) -> None:
    loaded, ws = _watchset(multi, all_pipelines=False, cwd="train")
    for rel in ("train/pivot.yaml", "prep/pivot.yaml"):
        hit = ws.classify(rel)
        assert hit is not None and hit.reload, rel
    assert ws.classify("tune/pipeline.py") is None  # downstream of train: not pulled in
    assert ws.classify("brand/new/pivot.yaml") is None
    assert _names(loaded, ws.classify("prep/raw.txt")) == {"clean"}
    assert ws.classify("tune/helpers.py") is None


def test_vars_files_reload(project: Project) -> None:
    project.write("p/params.yaml", "lr: 0.1\n")
    project.write("p/pivot.yaml", """
        vars: [params.yaml]
        stages:
          s:
            cmd: echo ${lr} > o.txt
            outs: [o.txt]
        """)
    _, ws = _watchset(project, all_pipelines=False, cwd="p")
    hit = ws.classify("p/params.yaml")
    assert hit is not None and hit.reload


def _statuses(loaded: Loaded, stale: set[str]) -> dict[model.StageId, status.StageStatus]:
    out = {}
    for sid in loaded.graph.order:
        reasons = (status.Reason(status.ReasonKind.NO_LOCK),) if loaded.graph.display(sid) in stale else ()
        out[sid] = status.StageStatus(sid, loaded.graph.display(sid), loaded.graph.stages[sid], reasons,
                                      (), (), (), True)
    return out


def test_to_run_is_the_touched_stale_stages_downstream_and_what_they_need(multi: Project) -> None:
    loaded = dag_load.load(project_mod.find_root(multi.root), multi.root, all_pipelines=True)
    g, order = loaded.graph, list(loaded.graph.order)
    by_name = {g.display(sid): sid for sid in order}

    def run(stale: set[str], touched: set[str]) -> list[str]:
        ids = watchset.to_run(g, order, _statuses(loaded, stale), {by_name[t] for t in touched})
        return [g.display(sid) for sid in ids]

    assert run({"train", "tune/train", "tune/report"}, {"train"}) == ["train", "tune/train", "tune/report"]
    # a stage stale from before (it failed) waits for a change of its own...
    assert run({"tune/report"}, {"train"}) == ["tune/report"]
    assert run({"clean"}, set()) == []
    # ...but is built first when a stale stage downstream of it is touched
    assert run({"clean", "train"}, {"train"}) == ["clean", "train"]


def test_changed_stages_are_new_or_declared_differently(tmp_path: Path) -> None:
    p = factory.multi(tmp_path / "proj")
    old = dag_load.load(project_mod.find_root(p.root), p.root, all_pipelines=True).graph
    p.write("prep/pivot.yaml", p.read("prep/pivot.yaml").replace("+clean", "+cleaner"))
    p.write("new/pivot.yaml", "stages:\n  fresh:\n    cmd: echo hi\n")
    new = dag_load.load(project_mod.find_root(p.root), p.root, all_pipelines=True).graph
    assert {new.display(sid) for sid in watchset.changed_stages(old, new)} == {"clean", "fresh"}
