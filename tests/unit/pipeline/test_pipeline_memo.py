"""The parse memo of pivot.yaml files: reused only while every input is unchanged, never trusted when damaged."""

from __future__ import annotations

import copyreg
import os
import pickle
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pivot_ci.pipeline import load, memo, model
from pivot_ci.project import Project

OLD_NS = time.time_ns() - 60 * 1_000_000_000  # well outside the racy window


def _age(*paths: Path) -> None:
    for p in paths:
        os.utime(p, ns=(OLD_NS, OLD_NS))


@pytest.fixture
def proj(tmp_path: Path) -> Project:
    (tmp_path / ".pivot").mkdir()
    p = Project(tmp_path)
    files = {
        "a/pivot.yaml": """
            vars: [vars.yaml]
            stages:
              one:
                cmd: run ${n}
                deps: [data, x.txt]
                outs: [out]
                params: [lr]
              two:
                python: mod:fn
                deps: [out]
            """,
        "a/vars.yaml": "n: 3\nlr: 0.1\n",
        "a/mod.py": "def fn():\n    pass\n",
        "b/pivot.yaml": "stages: {s: {cmd: x, params: [k]}}\n",  # params.yaml by default
        "b/params.yaml": "k: 1\n",
    }
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    (tmp_path / "a/data").mkdir()
    _age(*(tmp_path / rel for rel in files))
    return p


def _pipelines(proj: Project) -> list[Path]:
    return [proj.root / "a/pivot.yaml", proj.root / "b/pivot.yaml"]


def _load_all(proj: Project) -> tuple[list[model.PipelineSpec], set[str]]:
    """(specs, the files whose spec came from the memo); the memo is written back as `dag.load` does."""
    m = memo.PipelineMemo(proj)
    hits = {str(p) for p in _pipelines(proj) if m.get(p) is not None}
    m = memo.PipelineMemo(proj)  # get() above counted as use: start again for the real load
    specs = [load.load_file(proj, p, m) for p in _pipelines(proj)]
    m.save()
    return specs, {proj.rel(h) for h in hits}


def _fresh(proj: Project) -> list[model.PipelineSpec]:
    return [load.load_file(proj, p) for p in _pipelines(proj)]


def test_a_memoised_spec_equals_a_fresh_parse(proj: Project) -> None:
    first, hits = _load_all(proj)
    assert hits == set() and (proj.state_dir / memo.MEMO).is_file()
    again, hits = _load_all(proj)
    assert hits == {"a/pivot.yaml", "b/pivot.yaml"}
    assert again == first == _fresh(proj)
    st = again[0].stages[0]
    assert st.deps == (model.PathSpec("a/data", True), model.PathSpec("a/x.txt")) and st.params == {"lr": 0.1}


def _same_size_same_mtime(path: Path, text: str) -> None:
    """An edit a (size, mtime) signature misses: only ctime (and content) tell."""
    assert len(text) == path.stat().st_size
    path.write_text(text)
    _age(path)


def _mkdir(path: Path) -> None:
    path.mkdir()


CHANGES: dict[str, tuple[Callable[[Project], None], str]] = {
    "pipeline file": (lambda p: (p.root / "a/pivot.yaml").write_text(
        (p.root / "a/pivot.yaml").read_text().replace("run ${n}", "go ${n}")), "a/pivot.yaml"),
    "pipeline file, same size and mtime": (lambda p: _same_size_same_mtime(
        p.root / "a/pivot.yaml", (p.root / "a/pivot.yaml").read_text().replace("run ${n}", "ran ${n}")),
                                           "a/pivot.yaml"),
    "vars file": (lambda p: _same_size_same_mtime(p.root / "a/vars.yaml", "n: 4\nlr: 0.1\n"), "a/vars.yaml"),
    "default params file": (lambda p: _same_size_same_mtime(p.root / "b/params.yaml", "k: 2\n"), "b/params.yaml"),
    "a dep becomes a directory": (lambda p: _mkdir(p.root / "a/x.txt"), "a/x.txt"),
    "an out becomes a directory": (lambda p: _mkdir(p.root / "a/out"), "a/out"),
}


@pytest.mark.parametrize("case", list(CHANGES))
def test_every_input_change_invalidates_its_entry_only(proj: Project, case: str) -> None:
    _load_all(proj)
    change, what = CHANGES[case]
    change(proj)
    specs, hits = _load_all(proj)
    changed = "b/pivot.yaml" if what.startswith("b/") else "a/pivot.yaml"
    assert hits == {"a/pivot.yaml", "b/pivot.yaml"} - {changed}, case
    assert specs == _fresh(proj)


def test_a_module_that_disappears_is_the_load_error_again(proj: Project) -> None:
    _load_all(proj)
    (proj.root / "a/mod.py").unlink()
    m = memo.PipelineMemo(proj)
    assert m.get(proj.root / "a/pivot.yaml") is None
    with pytest.raises(Exception, match="module 'mod' not found"):
        load.load_file(proj, proj.root / "a/pivot.yaml", m)


def test_racy_files_are_not_memoised(proj: Project) -> None:
    (proj.root / "a/vars.yaml").write_text("n: 5\nlr: 0.1\n")  # modified just now
    _load_all(proj)
    _, hits = _load_all(proj)
    assert hits == {"b/pivot.yaml"}


@pytest.mark.parametrize("content", [b"", b"not a pickle", pickle.dumps({"x": 1})[:-3],
                                     pickle.dumps((("other", "header"), {})),
                                     pickle.dumps((0, {"a": ((), (), "not a spec")}))])
def test_a_damaged_or_foreign_memo_is_ignored_and_rebuilt(proj: Project, content: bytes) -> None:
    path = proj.state_dir / memo.MEMO
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    specs, hits = _load_all(proj)
    assert hits == set() and specs == _fresh(proj)
    assert _load_all(proj)[1] == {"a/pivot.yaml", "b/pivot.yaml"}


class _ShortState(pickle.Pickler):
    """Pickles every StageSpec with a state that lacks most of its fields."""

    def reducer_override(self, obj: object) -> object:
        if isinstance(obj, model.StageSpec):
            return copyreg.__newobj__, (model.StageSpec,), ("only-a-name",)  # type: ignore[attr-defined]
        return NotImplemented


def test_a_spec_of_the_wrong_shape_is_refused(proj: Project) -> None:
    _load_all(proj)
    path = proj.state_dir / memo.MEMO
    with open(path, "rb") as f:
        data = memo._Unpickler(f).load()
    with open(path, "wb") as f:
        _ShortState(f, protocol=pickle.HIGHEST_PROTOCOL).dump(data)
    specs, hits = _load_all(proj)
    assert hits == set() and specs == _fresh(proj)


def test_a_memo_never_runs_code(proj: Project) -> None:
    """A memo committed to a repository is data: a pickle naming anything but the model's values is refused."""
    _load_all(proj)
    marker = proj.root / "pwned"
    evil = pickle.dumps(type("Evil", (), {"__reduce__": lambda self: (os.mkdir, (str(marker),))})())
    (proj.state_dir / memo.MEMO).write_bytes(evil)
    specs, hits = _load_all(proj)
    assert not marker.exists() and hits == set() and specs == _fresh(proj)


def test_an_entry_with_tampered_probes_or_files_is_not_used(proj: Project) -> None:
    _load_all(proj)
    path = proj.state_dir / memo.MEMO
    header, entries = pickle.loads(path.read_bytes())
    key = str(proj.root / "a/pivot.yaml")
    files, probes, spec = entries[key]
    entries[key] = (files, (*probes, ("unknown-probe", 1)), spec)
    other = str(proj.root / "b/pivot.yaml")
    entries[other] = ((), entries[other][1], entries[other][2])  # no signature of the file itself
    path.write_bytes(pickle.dumps((header, entries)))
    assert _load_all(proj)[1] == set()


def test_a_no_change_load_imports_neither_yaml_nor_networkx(proj: Project) -> None:
    from pivot_ci.state import pointer

    pvt = proj.root / "a/data.csv.pvt"  # tracked data too: its pointer file is memoised like pipeline files
    pointer.write(pvt, {"schema": 1, "path": "data.csv", "hash": "0" * 32, "size": 3})
    _age(pvt)
    code0 = ("from pathlib import Path; from pivot_ci.dag import load; "
             f"load.load(load.Project(Path({str(proj.root)!r})), Path({str(proj.root)!r}), all_pipelines=True)")
    subprocess.run([sys.executable, "-c", code0], capture_output=True, text=True, check=True)  # writes the memo
    code = ("import sys; from pathlib import Path; from pivot_ci.dag import load; "
            f"load.load(load.Project(Path({str(proj.root)!r})), Path({str(proj.root)!r}), all_pipelines=True); "
            "print(sorted(m for m in ('yaml', 'networkx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_pointer_files_are_memoised_by_their_signature(proj: Project) -> None:
    from pivot_ci.pipeline import tracked
    from pivot_ci.state import pointer

    pvt = proj.root / "a/data.csv.pvt"
    pointer.write(pvt, {"schema": 1, "path": "data.csv", "hash": "0" * 32, "size": 3})
    _age(pvt)

    def load_pointer() -> tuple[model.TrackedSpec, bool]:
        m = memo.PipelineMemo(proj)
        hit = m.get_tracked(pvt) is not None
        m = memo.PipelineMemo(proj)
        spec = tracked.load_one(proj, pvt, "a/pivot.yaml", m)
        m.save()
        return spec, hit

    first, hit = load_pointer()
    assert not hit and first == model.TrackedSpec("a/data.csv", "a/data.csv.pvt", "0" * 32, 3, None, "a/pivot.yaml")
    again, hit = load_pointer()
    assert hit and again == first  # the owner is the caller's, not the memo's
    _same_size_same_mtime(pvt, pvt.read_text().replace("0" * 32, "1" * 32))
    changed, hit = load_pointer()
    assert not hit and changed.hash == "1" * 32
    assert tracked.load_one(proj, pvt, None, memo.PipelineMemo(proj)).owner_file is None
