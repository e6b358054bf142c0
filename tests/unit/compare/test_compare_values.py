"""The pieces of a comparison: metric files, old stage names from source, gate verdicts, number display."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from pivot_ci import errors
from pivot_ci.compare import declared, evaluate, metricfile
from pivot_ci.compare.sides import SideData
from pivot_ci.compare.values import Kind, Row, Side
from pivot_ci.pipeline import load
from pivot_ci.pipeline.model import GateRule, MetricGate
from pivot_ci.project import Project
from pivot_ci.report import comparison
from pivot_ci.state import lockfile, statedb
from pivot_ci.state.gitread import GitRepo
from tests.support import gitrepo


def test_metric_files_of_every_format_flatten_to_dotted_keys() -> None:
    doc = {"eval": {"accuracy": 0.9, "per_class": [0.5, {"f1": 0.7}]}, "ok": True, "note": None}
    flat = {"eval.accuracy": 0.9, "eval.per_class.0": 0.5, "eval.per_class.1.f1": 0.7, "ok": True, "note": None}
    assert metricfile.parse("m.json", b'{"eval": {"accuracy": 0.9, "per_class": [0.5, {"f1": 0.7}]},'
                                      b' "ok": true, "note": null}') == flat
    assert metricfile.parse("m.yaml", b"eval:\n  accuracy: 0.9\n  per_class: [0.5, {f1: 0.7}]\nok: true\nnote:\n") \
        == flat
    assert metricfile.parse("m.toml", b'ok = true\n[eval]\naccuracy = 0.9\nper_class = [0.5, {f1 = 0.7}]\n') == \
        {k: v for k, v in flat.items() if k != "note"}
    assert metricfile.parse("metrics", b"when: 2024-01-02\n") == {"when": "2024-01-02"}  # YAML date -> text
    assert metricfile.parse("empty.yaml", b"") == {}
    assert metricfile.flatten(doc, lists=False)["eval.per_class"] == [0.5, {"f1": 0.7}]
    assert sorted(["a.10", "a.2", "a.b", "a.1"], key=metricfile.natural_key) == ["a.1", "a.2", "a.10", "a.b"]


@pytest.mark.parametrize(("name", "data", "line", "words"), [
    ("m.json", b'{\n  "a": 1,\n}\n', 3, "malformed JSON"),
    ("m.toml", b"a = 1\nb = \n", 2, "malformed TOML"),
    ("m.yaml", b"a: 1\n b: [\n", 2, "malformed YAML"),
    ("m.json", b"[1, 2]", 1, "must hold a mapping"),
    ("m.json", b'{"a": 1}\n\xff', 2, "not UTF-8"),
])
def test_unreadable_metric_files_name_file_and_line(name: str, data: bytes, line: int, words: str) -> None:
    with pytest.raises(errors.ConfigError) as info:
        metricfile.parse(f"d/{name}", data)
    assert words in info.value.message and info.value.file == f"d/{name}" and info.value.line == line


def test_stage_names_of_an_old_pipeline_py_come_from_literals_only() -> None:
    source = b'''
from pivot_ci import Pipeline
pipeline = Pipeline("p")

@pipeline.stage(deps=["a"])
def train(): ...

@pipeline.stage(name="evaluate")
def _eval(): ...

pipeline.command("report", cmd="x")
pipeline.command(name="plot", cmd="y")
'''
    assert declared.python_stage_names(source) == {"train", "evaluate", "report", "plot"}
    assert declared.python_stage_names(b"x = 1\n") == frozenset()
    for dynamic in (b'for n in ["a"]:\n    pipeline.command(n, cmd="x")\n',
                    b'@pipeline.stage(name=f"s{1}")\ndef f(): ...\n',
                    b'@pipeline.stage(**opts)\ndef f(): ...\n',
                    b'pipeline.stage(deps=[])(f)\n',
                    b"def broken(:\n"):
        assert declared.python_stage_names(dynamic) is None, dynamic
    assert declared.yaml_stage_names(b"stages:\n  a: {cmd: x}\n  b: {cmd: y}\n") == {"a", "b"}
    assert declared.yaml_stage_names(b"stages: [\n") is None
    assert declared.yaml_stage_names(b"vars: []\n") is None


def _gate(rule: GateRule, bound: float, old: dict[str, Any] | None, new: dict[str, Any] | None,
          new_stage: bool = False, old_gap: str = "") -> tuple[bool, str]:
    g = MetricGate("m.json", "acc", rule, bound, 3)
    before = evaluate.Observed(Side("main", "0" * 40), old, old_gap)
    after = evaluate.Observed(Side("workspace", None), new, "metric file m.json is missing")
    result = evaluate.gate(g, before, after, new_stage)
    return result.passed, result.message


def test_gate_verdicts() -> None:
    assert _gate(GateRule.DROP, 0.01, {"acc": 0.90}, {"acc": 0.89}) == (True, "fell by 0.01 (0.9 -> 0.89), within 0.01")
    assert _gate(GateRule.DROP, 0.01, {"acc": 0.90}, {"acc": 0.88})[0] is False
    assert _gate(GateRule.DROP, 0, {"acc": 0.90}, {"acc": 0.95}) == (True, "rose by 0.05 (0.9 -> 0.95)")
    assert _gate(GateRule.RISE, 0.05, {"acc": 1}, {"acc": 1}) == (True, "unchanged (1 -> 1)")
    assert _gate(GateRule.ABOVE, 200, None, {"acc": 201}) == (False, "201 > 200")
    assert _gate(GateRule.BELOW, 0.5, None, {"acc": 0.5}) == (True, "0.5 >= 0.5")
    assert _gate(GateRule.DROP, 0.01, None, {"acc": 0.5}, old_gap="not in git at main") == (
        False, "cannot check: not in git at main")
    assert _gate(GateRule.DROP, 0.01, {}, {"acc": 0.5}, new_stage=True) == (
        True, "no baseline: the stage is new since main")
    assert _gate(GateRule.DROP, 0.01, {}, {"acc": 0.5}) == (True, "no baseline: 'acc' is new since main")
    assert _gate(GateRule.ABOVE, 1, {}, None) == (False, "cannot check: metric file m.json is missing")
    assert _gate(GateRule.ABOVE, 1, {}, {"loss": 1}) == (False, "'acc' is not in m.json in the workspace")
    assert _gate(GateRule.ABOVE, 1, {}, {"acc": "high"})[0] is False
    assert _gate(GateRule.BELOW, 1, {}, {"acc": math.nan}) == (
        False, "'acc' is nan in the workspace, not a finite number")
    assert _gate(GateRule.RISE, 1, {"acc": True}, {"acc": 1})[0] is False  # a bool is no number


@pytest.mark.parametrize(("old", "new", "precision", "cells"), [
    (0.1, 0.100000001, 2, ("0.1", "0.1", "+1e-09")),
    (3, 5, 5, ("3", "5", "+2")),
    (0.000012345678, 0.000012345679, 3, ("1.23e-05", "1.23e-05", "+1e-12")),
    (1234567.0, 1234568.0, 3, ("1.23e+06", "1.23e+06", "+1")),
    ("adam", "sgd", 5, ("adam", "sgd", "changed")),
    (True, False, 5, ("true", "false", "changed")),
    ([1, 2], None, 5, ("[1, 2]", "null", "changed")),
    (math.inf, 1.0, 5, ("inf", "1", "-inf")),
])
def test_cells_use_significant_digits_and_never_show_nonzero_as_zero(old: Any, new: Any, precision: int,
                                                                     cells: tuple[str, str, str]) -> None:
    row = Row("k", old, new, Kind.CHANGED)
    assert comparison.cells(row, precision) == cells
    assert comparison.cells(Row("k", None, 0.5, Kind.ADDED), 5) == ("-", "0.5", "added")
    assert comparison.cells(Row("k", 0.5, None, Kind.REMOVED), 5) == ("0.5", "-", "removed")


def test_markdown_cells_cannot_break_a_table() -> None:
    assert comparison.md_cell("a|b\nc<br>&") == "a\\|b<br>c&lt;br&gt;&amp;"
    assert comparison.md_cell("x\r\ny\x1b[31m") == "x<br>y"


def test_an_alias_bomb_in_a_metric_file_is_refused_not_expanded() -> None:
    lines = [b"a0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"]
    lines += [b"a%d: &a%d [%s]" % (i, i, b", ".join([b"*a%d" % (i - 1)] * 10)) for i in range(1, 9)]
    with pytest.raises(errors.ConfigError) as info:
        metricfile.parse("eval/m.yaml", b"\n".join(lines) + b"\n")
    assert info.value.message.startswith("refused YAML: aliases expand to more than") and info.value.line


def _repo_with_lock(tmp_path: Path) -> tuple[gitrepo.GitRepo, Project, lockfile.LockData]:
    """A git repository holding a project whose stage `s` has a lock file (params lr=0.1), not yet committed."""
    repo = gitrepo.init(tmp_path / "p", gitrepo.base_env(tmp_path / "home"))
    (repo.root / ".pivot").mkdir()
    lock = lockfile.LockData(schema=1, stage="s", cmd="x", code=None, params={"lr": 0.1}, deps=[], outs=[],
                             metrics=[])
    lockfile.write(repo.root / ".pivot/stages/s.lock", lock)
    return repo, Project(repo.root), lock


def test_locks_read_from_git_are_remembered_by_blob_id(tmp_path: Path) -> None:
    repo, project, lock = _repo_with_lock(tmp_path)
    repo.commit_all("one").ok()
    stage = load.load_file(project, _yaml(repo.root / "pivot.yaml", "stages: {s: {cmd: x}}\n")).stages[0]
    with GitRepo.open(repo.root, "test") as git, statedb.StateDB.open(project.state_dir) as memo:
        side = Side("HEAD", git.resolve("HEAD"))
        assert SideData(project, git, side, [stage], metrics=False, memo=memo).params(stage) == {"lr": 0.1}
        oid = git.blobs(side.commit or "", [".pivot/stages/s.lock"])[".pivot/stages/s.lock"]
        assert oid is not None and memo.memo_get("gitlock:.pivot/stages/s.lock", oid[0]) is not None
    with GitRepo.open(repo.root, "test") as git, statedb.StateDB.open(project.state_dir) as memo:
        again = SideData(project, git, side, [stage], metrics=False, memo=memo)
        assert again.params(stage) == {"lr": 0.1} and again.lock(stage) == lock


def test_files_the_memo_knows_by_blob_id_are_not_read_again(tmp_path: Path) -> None:
    """A second comparison reads only blob ids (one ls-tree): a remembered value stands for the file; a file
    whose blob changed is read and parsed anew."""
    repo, project, lock = _repo_with_lock(tmp_path)
    (repo.root / "m.json").write_text('{"acc": 0.5}')
    repo.commit_all("one").ok()
    stage = load.load_file(project, _yaml(repo.root / "pivot.yaml",
                                          "stages: {s: {cmd: x, metrics: [m.json]}}\n")).stages[0]
    paths = [".pivot/stages/s.lock", "m.json"]
    with GitRepo.open(repo.root, "test") as git, statedb.StateDB.open(project.state_dir) as memo:
        side = Side("HEAD", git.resolve("HEAD"))
        first = SideData(project, git, side, [stage], metrics=True, memo=memo)
        assert first.metric("m.json") == {"acc": 0.5} and first.params(stage) == {"lr": 0.1}
        oids = {p: blob[0] for p, blob in git.blobs(side.commit or "", paths).items() if blob is not None}
        # what only a read of the memo could answer: the files themselves still say lr 0.1 and acc 0.5
        memo.memo_put("gitmetric:m.json", oids["m.json"], '{"acc": 0.75}')
        memo.memo_put("gitlock:.pivot/stages/s.lock", oids[paths[0]], json.dumps({**lock, "params": {"lr": 9}}))
        again = SideData(project, git, side, [stage], metrics=True, memo=memo)
        assert again.metric("m.json") == {"acc": 0.75} and again.params(stage) == {"lr": 9}
    (repo.root / "m.json").write_text('{"acc": 0.6}')
    repo.commit_all("two").ok()
    with GitRepo.open(repo.root, "test") as git, statedb.StateDB.open(project.state_dir) as memo:
        side = Side("HEAD", git.resolve("HEAD"))
        changed = SideData(project, git, side, [stage], metrics=True, memo=memo)
        assert changed.metric("m.json") == {"acc": 0.6} and changed.params(stage) == {"lr": 9}
        assert changed.metric_gap("absent.json") == "" and changed.metric("absent.json") is None
        assert "is not in git" in changed.metric_gap("absent.json")


def _yaml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_the_cli_default_precision_is_the_renderers() -> None:
    from pivot_ci.cli import compare_cmds  # keeps the comparison modules out of `pivot --help`

    assert compare_cmds.DEFAULT_PRECISION == comparison.DEFAULT_PRECISION
