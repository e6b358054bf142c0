"""Property-based fuzzing of everything pivot parses from a project: pipeline files, vars files, lock files,
the remote config, and paths. Every input either loads or fails with a PivotError that names its file and
line, within a time and memory bound, and nothing is written outside the scratch project.

Quick by default; PIVOT_FUZZ_EXAMPLES=5000 for a long run.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import resource
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pivot_ci import errors
from pivot_ci.pipeline import build
from pivot_ci.pipeline import load as pipeline_load
from pivot_ci.project import Project
from pivot_ci.remote import config
from pivot_ci.state import lockfile

EXAMPLES = int(os.environ.get("PIVOT_FUZZ_EXAMPLES", "60"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
TIME_BOUND_S = 10  # generous: the bombs this guards against took minutes
MEMORY_BOUND_KB = 300 * 1024

# -- strategies -------------------------------------------------------------------------------------------

PATH_PARTS = st.sampled_from(["a", "b.txt", "..", ".", "", ".git", ".pivot", "pivot.yaml", "pipeline.py",
                              ".pivotignore", " sp ", "dir/", "~", "ü", "x\ny", "\0", "/abs", "${v}", "*"])
PATHS = st.lists(PATH_PARTS, min_size=1, max_size=5).map("/".join) | st.text(max_size=12)
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10) | PATHS
           | st.sampled_from(["${v}", "${v.w}", "${missing}", "stages:train", "mod.fn", ".nan", "1e400"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=6) | st.sampled_from(["v", "w", "lr"]), inner, max_size=4),
                      max_leaves=20)
STAGE_KEYS = st.sampled_from(["cmd", "python", "deps", "outs", "metrics", "params", "run_cache", "bogus"])
PATH_LISTS = st.lists(PATHS, max_size=3) | PATHS | VALUES
PARAMS = st.dictionaries(st.sampled_from(["lr", "x", "bad key", "1a"]) | st.text(max_size=4), VALUES, max_size=3)
STAGE = st.fixed_dictionaries(  # mostly well-formed, so that inputs get past the first checks
    {"cmd": st.sampled_from(["echo hi", "python x.py ${v}", "", "${w}"]) | VALUES},
    optional={"deps": PATH_LISTS, "outs": PATH_LISTS, "metrics": PATH_LISTS, "params": PARAMS | VALUES,
              "python": st.sampled_from(["stages:train", "m.f", "bad", "x:y\n"]), "run_cache": VALUES,
              "bogus": VALUES}) | st.dictionaries(STAGE_KEYS, VALUES, max_size=4)
STAGE_NAMES = st.sampled_from(["s", "train", "a.b@c-d", "s\n", "x" * 200, "", "bad name", "-x"]) | st.text(max_size=8)
DOCS = st.fixed_dictionaries(
    {"stages": st.dictionaries(STAGE_NAMES, STAGE, max_size=3)},
    optional={"pipeline": st.sampled_from(["p", "", "a/b"]) | VALUES,
              "root": st.sampled_from(["/", "..", "../..", "sub", "/abs"]) | VALUES,
              "vars": st.just(["vars.yaml"]) | st.just(["../vars.yaml", {"v": 1}]) | VALUES, "extra": VALUES})
VARS_DOCS = st.dictionaries(st.sampled_from(["v", "w", "lr"]) | st.text(max_size=4), VALUES, max_size=4) | VALUES

# Text-level hazards that a serialiser never produces: anchors and aliases (and bombs), duplicate keys,
# merge keys, tags, tabs, broken syntax, bad bytes.
HAZARDS = st.sampled_from([
    "", "a: &a [x, x]\nb: [*a, *a, *a]\n", "l0: &l0 [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 9)),
    "k: 1\nk: 2\n", "m: {a: 1, a: 2}\n", "base: &b {x: 1}\nc: {<<: *b, x: 2}\n", "t: !!python/object:os.system x\n",
    "\tbad: tab\n", "x: [unclosed\n", "x: " + "[" * 120 + "]" * 120 + "\n", "r: &r [*r]\n", "y: \x00\n",
    "deep:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 150)), "- just\n- a list\n", "'unterminated\n",
])


def _yaml(doc: Any) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


# Whole pipeline files that reach deep: aliases in params, merge keys, bombs where values are allowed.
PIPELINES = st.sampled_from([
    "stages:\n  s:\n    cmd: echo\n    params: &p {a: [1, 2]}\n  t:\n    cmd: echo\n    params: *p\n",
    "stages:\n  s: &s {cmd: echo, outs: [o.txt]}\n  t:\n    <<: *s\n    outs: [t.txt]\n",
    "stages:\n  s:\n    cmd: echo\n    params:\n" + "".join(
        f"      l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9 if i else ["x"] * 9) + "]\n" for i in range(9)),
    "vars: [vars.yaml]\nstages:\n  s:\n    cmd: echo ${v}\n    params: {a: '${v}', b: '${w}'}\n"
    "    outs: ['${v}']\n",
    "stages:\n  s:\n    cmd: echo\n    outs: [a, a]\n  t:\n    cmd: echo\n    outs: [a/b]\n",
])


def _mix(text: str, hazard: str, where: int) -> str:
    """`hazard` (top-level YAML) inserted before a top-level line of `text` (or at its end)."""
    lines = text.splitlines(keepends=True)
    tops = [i for i, line in enumerate(lines) if line[:1] not in (" ", "-")] + [len(lines)]
    cut = tops[where % len(tops)]
    return "".join(lines[:cut]) + hazard + "".join(lines[cut:])


# Raw text, mostly YAML punctuation and words, sometimes anything.
RAW = st.lists(st.sampled_from(list(":-[]{}&*!|>'\"#\n ,?\t%@`~") + ["stages", "cmd", "outs", "a", "1", "  "])
               | st.characters(), max_size=60).map("".join)


def _texts(docs: st.SearchStrategy[Any], hazards: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    mixed = st.builds(lambda doc, hazard, where: _mix(_yaml(doc), hazard, where), docs, hazards, st.integers(0, 9))
    return st.one_of(mixed, mixed, mixed, RAW)


# -- bounds -----------------------------------------------------------------------------------------------


class _TooSlow(Exception):
    pass


@contextlib.contextmanager
def _bounded() -> Iterator[None]:
    """Fail an example that runs longer than TIME_BOUND_S or grows the process by MEMORY_BOUND_KB."""
    def alarm(signum: int, frame: FrameType | None) -> None:
        raise _TooSlow(f"took more than {TIME_BOUND_S}s")

    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, TIME_BOUND_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start_rss
    assert grown < MEMORY_BOUND_KB, f"the example grew the process by {grown} kB"


def _located(exc: errors.PivotError, files: tuple[str, ...]) -> None:
    assert exc.file in files, (exc.file, exc)
    assert exc.line is not None and exc.line >= 1, exc
    assert "\n" not in exc.message.strip() or exc.message.count("\n") < 3, exc


def _snapshot(top: Path, skip: Path) -> dict[str, bytes | None]:
    return {str(p): p.read_bytes() if p.is_file() else None for p in sorted(top.rglob("*"))
            if p != skip and skip not in p.parents}


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Project]:
    """A scratch project at tmp/scratch/proj; nothing may change in tmp/ outside it."""
    root = tmp_path / "scratch/proj"
    (root / ".pivot").mkdir(parents=True)
    (root / "p").mkdir()
    (tmp_path / "beside.txt").write_text("untouched\n")
    (tmp_path / "scratch/vars.yaml").write_text("v: outside\n")
    before = _snapshot(tmp_path, root)
    yield Project(root)
    assert _snapshot(tmp_path, root) == before


# -- properties -------------------------------------------------------------------------------------------


def _check_spec(proj: Project, spec: Any) -> None:
    """Everything a loaded pipeline names is a normalised path inside the project; outputs are allowed ones."""
    for stage in spec.stages:
        for group, paths in (("deps", stage.deps), ("outs", stage.outs), ("metrics", stage.metrics)):
            for ps in paths:
                path = ps.path
                assert path == posixpath.normpath(path) and not path.startswith(("/", "../")) and path != "..", path
                assert "\0" not in path
                if group != "deps":
                    parts = path.split("/")
                    assert ".git" not in parts and ".pivot" not in parts and parts[-1] not in build.NOT_OUTPUTS


@SETTINGS
@given(text=_texts(DOCS, st.just("") | st.just("") | HAZARDS) | PIPELINES,
       vars_text=_texts(VARS_DOCS, HAZARDS))
def test_pipeline_and_vars_files(scratch: Project, text: str, vars_text: str) -> None:
    (scratch.root / "p/pivot.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    (scratch.root / "p/vars.yaml").write_text(vars_text, encoding="utf-8", errors="surrogatepass")
    with _bounded():
        try:
            spec = pipeline_load.load_file(scratch, scratch.root / "p/pivot.yaml")
        except errors.PivotError as exc:
            _located(exc, ("p/pivot.yaml", "p/vars.yaml"))
            event(f"error: {exc.message[:30]}")
            return
    event(f"loaded: {len(spec.stages)} stages")
    _check_spec(scratch, spec)


LOCK_FIELDS = st.fixed_dictionaries({
    "schema": st.sampled_from([1, 1, 2, 0, "1", None]), "stage": st.sampled_from(["s", 3, None]),
    "cmd": st.sampled_from(["echo", None, 5]), "code": st.sampled_from([None, "abc", []]),
    "params": VALUES, "deps": st.lists(st.fixed_dictionaries({"path": PATHS, "hash": st.text(max_size=40)})),
    "outs": st.lists(st.fixed_dictionaries({"path": PATHS, "hash": st.sampled_from(["0" * 32, "a" * 32 + ".dir",
                                                                                    "../x", "", "G" * 32])})),
    "metrics": st.lists(VALUES, max_size=2)})


@SETTINGS
@given(doc=LOCK_FIELDS, hazard=HAZARDS, where=st.integers(0, 12), drop=st.sampled_from([None, "code", "outs"]))
def test_lock_files(scratch: Project, doc: dict[str, Any], hazard: str, where: int, drop: str | None) -> None:
    if drop is not None:
        doc.pop(drop)
    path = scratch.root / "p/.pivot/stages/s.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_mix(_yaml(doc), hazard, where))
    with _bounded():
        try:
            data = lockfile.read(path, "p/.pivot/stages/s.lock")
        except errors.StateError as exc:
            _located(exc, ("p/.pivot/stages/s.lock",))
            return
    assert data is not None
    for group in ("deps", "outs", "metrics"):
        for entry in data[group]:  # type: ignore[literal-required]
            assert lockfile.path_problem(entry["path"]) is None and lockfile.HASH_RE.fullmatch(entry["hash"])


CONFIG = st.fixed_dictionaries({}, optional={
    "default": st.sampled_from(["origin", "nope", 3, None]),
    "remotes": st.dictionaries(st.sampled_from(["origin", "o\n", "x y", ""]) | st.text(max_size=5),
                               st.dictionaries(st.sampled_from(["url", "region", "secret_access_key", "bogus"]),
                                               st.sampled_from(["", " ", "/tmp/r", "s3://", "s3://b/p", "ftp://x"])
                                               | VALUES, max_size=3) | VALUES, max_size=3)})


@SETTINGS
@given(doc=CONFIG, hazard=HAZARDS, where=st.integers(0, 6), raw=st.binary(max_size=40) | st.just(b""))
def test_remote_config(scratch: Project, doc: dict[str, Any], hazard: str, where: int, raw: bytes,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIVOT_CONFIG", str(scratch.root / "p/no-user-config.yaml"))
    (scratch.root / ".pivot/config.yaml").write_bytes(_mix(_yaml(doc), hazard, where).encode() + raw)
    with _bounded():
        try:
            specs, default = config.remotes(scratch)
        except errors.ConfigError as exc:
            _located(exc, (".pivot/config.yaml",))
            return
    for spec in specs:
        assert config.NAME_RE.fullmatch(spec.name) and spec.url.strip()


@SETTINGS
@given(paths=st.lists(PATHS, min_size=1, max_size=4), output=st.booleans(),
       base=st.sampled_from([".", "p", "p/q"]))
def test_paths(scratch: Project, paths: list[str], output: bool, base: str) -> None:
    ctx = build.FileContext(project=scratch, file=f"{base}/pivot.yaml", dir=base)
    with _bounded():
        try:
            specs = build.resolve_paths(ctx, "stages.s.outs", paths, 7, output=output)
        except errors.ConfigError as exc:
            assert exc.file == f"{base}/pivot.yaml" and exc.line == 7
            return
    for spec in specs:
        path = spec.path
        assert path == posixpath.normpath(path) and not path.startswith(("/", "../")) and path not in (".", "..")
        parts = path.split("/")
        assert ".pivot" not in parts
        if output:
            assert ".git" not in parts and parts[-1] not in build.NOT_OUTPUTS
