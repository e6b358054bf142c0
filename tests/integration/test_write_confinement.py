"""Write confinement: whatever a project holds — hostile locks, manifests, symbolic and hard links, remotes —
no command changes a byte outside it.

Each scenario starts from a copy of one reproduced, pushed project (outer/proj, its directory remote outer/remote
and a directory beside it, outer/outside, holding files an attacker would like changed), makes it hostile, and
runs commands; after each, everything under outer/ but the project and the remote must be byte for byte as
before (and nothing may appear there). To cover a new writing command, add it to WRITING (it then runs in every
scenario) or to the scenarios it concerns.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from pivot_ci.state import hashing
from tests.support.factory import Project, new_project

# Commands that write, run in every scenario (in this order); `track`/`untrack` where tracked data is concerned.
WRITING: tuple[tuple[str, ...], ...] = (
    ("status", "--all"),
    ("repro", "--all"),
    ("commit", "--all", "--force", "s"),
    ("checkout", "--all", "--force"),
    ("pull", "--all", "--force", "--link", "hardlink"),
    ("push", "--all"),
    ("fsck",),
    ("gc", "--grace", "0"),
)


@dataclasses.dataclass(frozen=True)
class Env:
    project: Project
    outside: Path  # what must never change
    remote: Path  # the project's directory remote: push may write there, and only there

    def lock(self) -> Path:
        return self.project.root / "p/.pivot/stages/s.lock"

    def edit_lock(self, change: Callable[[dict[str, object]], None]) -> None:
        data = yaml.safe_load(self.lock().read_text())
        change(data)
        self.lock().write_text(yaml.safe_dump(data))


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    setup: Callable[[Env], None]
    extra: tuple[tuple[str, ...], ...] = ()  # commands beyond WRITING that this scenario concerns


def _outs(env: Env, path: str, h: str | None = None) -> None:
    def change(data: dict[str, object]) -> None:
        outs = data["outs"]
        assert isinstance(outs, list)
        outs[0]["path"] = path
        if h is not None:
            outs[0]["hash"] = h
    env.edit_lock(change)


def _symlinked_output_dir(env: Env) -> None:
    shutil.rmtree(env.project.root / "p/d")
    os.symlink("../../outside/dir", env.project.root / "p/d")


def _symlinked_output_parent(env: Env) -> None:
    shutil.rmtree(env.project.root / "p/sub")
    os.symlink("../../outside/dir", env.project.root / "p/sub")


def _new_input(env: Env) -> None:
    """Make the stage stale for real (no run-cache hit): it runs, and its outputs are stored anew."""
    env.project.write("p/in.txt", "changed\n")


def _symlinked_state_dir(env: Env) -> None:
    shutil.move(env.project.root / "p/.pivot", env.outside / "state")
    os.symlink("../../outside/state", env.project.root / "p/.pivot")


def _links_in_state_dir(env: Env) -> None:
    state = env.project.root / "p/.pivot"
    (state / "state.db").unlink()
    os.symlink(env.outside / "victim.db", state / "state.db")
    (state / "tmp").mkdir(exist_ok=True)
    (state / "tmp/lock").unlink(missing_ok=True)
    os.symlink(env.outside / "victim.txt", state / "tmp/lock")


def _symlinked_cache(env: Env) -> None:
    _new_input(env)
    cache = env.project.root / ".pivot/cache"
    shutil.move(cache, env.outside / "cache")
    os.symlink("../../outside/cache", cache)


def _symlinked_object_dir(env: Env) -> None:
    _new_input(env)
    files = env.project.root / ".pivot/cache/files"
    for prefix in (f"{i:02x}" for i in range(256)):  # wherever a new object would go
        if (files / prefix).exists():
            shutil.rmtree(files / prefix)
        os.symlink(env.outside / "dir", files / prefix)


def _hostile_manifest(env: Env) -> None:
    data = hashing.manifest_bytes([("../../../outside/planted.txt", "0" * 32)])
    tree = hashing.hash_bytes(data) + hashing.DIR_SUFFIX
    obj = env.project.root / ".pivot/cache/files" / tree[:2] / tree[2:]
    obj.parent.mkdir(exist_ok=True)
    obj.write_bytes(data)
    def change(data: dict[str, object]) -> None:
        outs = data["outs"]
        assert isinstance(outs, list)
        next(o for o in outs if o["path"] == "p/d")["hash"] = tree
    env.edit_lock(change)
    shutil.rmtree(env.project.root / "p/d")


def _hostile_remote(env: Env) -> None:
    """The remote's object directories lead outside, and its objects are links to files outside."""
    shutil.rmtree(env.project.root / ".pivot/cache")  # so that fetch and pull take everything from the remote
    for sub in (env.remote / "files").iterdir():
        for obj in sub.iterdir():
            obj.unlink()
            os.symlink(env.outside / "victim.txt", obj)
    first = next((env.remote / "files").iterdir())
    shutil.rmtree(first)
    os.symlink(env.outside / "dir", first)


def _hardlinked_output(env: Env) -> None:
    _new_input(env)
    out = env.project.root / "p/out.txt"
    out.unlink()
    os.link(env.outside / "victim.txt", out)


def _tracked_dir_symlinked_out(env: Env) -> None:
    """Tracked data whose directory is then replaced by a link out: restoring it must not write there."""
    env.project.write("p/raw/a.txt", "raw\n")
    env.project.run("track", "p/raw").ok()
    shutil.rmtree(env.project.root / "p/raw")
    os.symlink("../../outside/dir", env.project.root / "p/raw")


def _track_through_link_out(env: Env) -> None:
    """A directory under a link out: tracking it may read it, never write beside it."""
    os.symlink("../../outside/dir", env.project.root / "p/ext")


SCENARIOS = (
    Scenario("lock path leaving the project", lambda env: _outs(env, "../outside/victim.txt")),
    Scenario("lock path absolute", lambda env: _outs(env, str(env.outside / "victim.txt"))),
    Scenario("lock path not declared", lambda env: _outs(env, "p/undeclared.txt")),
    Scenario("output dir a symlink out", _symlinked_output_dir),
    Scenario("output's directory a symlink out", _symlinked_output_parent),
    Scenario("state dir a symlink out", _symlinked_state_dir),
    Scenario("state db and lock symlinks out", _links_in_state_dir),
    Scenario("cache a symlink out", _symlinked_cache),
    Scenario("cache object dirs symlinks out", _symlinked_object_dir),
    Scenario("manifest naming paths out", _hostile_manifest),
    Scenario("remote with links out", _hostile_remote, extra=(("fetch", "--all"),)),
    Scenario("output hard-linked to a file outside", _hardlinked_output),
    Scenario("tracked dir a symlink out", _tracked_dir_symlinked_out,
             extra=(("fetch", "--all"), ("track", "p/raw"), ("untrack", "p/raw"))),
    Scenario("track through a symlink out", _track_through_link_out,
             extra=(("track", "p/ext"), ("track", "p/ext/keep.txt"), ("untrack", "p/ext"))),
)


def _snapshot(outer: Path, skip: tuple[Path, ...]) -> dict[str, tuple[str, bytes]]:
    found: dict[str, tuple[str, bytes]] = {}
    todo = [outer]
    while todo:
        for entry in os.scandir(todo.pop()):
            path = Path(entry.path)
            if path in skip:
                continue
            st = entry.stat(follow_symlinks=False)
            if entry.is_symlink():
                found[entry.path] = ("link", os.readlink(path).encode())
            elif entry.is_dir(follow_symlinks=False):
                found[entry.path] = ("dir", b"")
                todo.append(path)
            else:
                found[entry.path] = (f"file {st.st_mode:o}", path.read_bytes())
    return found


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """outer/: a reproduced and pushed project, its remote, and the directory beside it with victims."""
    outer = tmp_path_factory.mktemp("confinement") / "outer"
    p = new_project(outer / "proj")
    p.write("p/pivot.yaml", """
        stages:
          s:
            cmd: cp in.txt out.txt && mkdir -p d sub && cp in.txt d/a.txt && cp in.txt d/b.txt && cp in.txt sub/f
            deps: [in.txt]
            outs: [out.txt, d/, sub/f]
        """)
    p.write("p/in.txt", "data\n")
    p.run("repro", "--all").ok()
    p.run("remote", "add", "origin", "../remote").ok()
    p.run("push", "--all").ok()
    outside = outer / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "dir/keep.txt").write_text("keep\n")
    (outside / "victim.txt").write_text("victim\n")
    with sqlite3.connect(outside / "victim.db") as conn:
        conn.execute("CREATE TABLE precious (x)")
    return outer


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_no_command_writes_outside_the_project(template: Path, tmp_path: Path, scenario: Scenario) -> None:
    outer = tmp_path / "outer"
    shutil.copytree(template, outer, symlinks=True)
    env = Env(Project(outer / "proj"), outer / "outside", outer / "remote")
    scenario.setup(env)
    skip = (env.project.root, env.remote)
    for args in WRITING + scenario.extra:
        before = _snapshot(outer, skip)
        out = env.project.run(*args)
        assert out.code != 3 and "Traceback" not in out.stderr, out
        assert _snapshot(outer, skip) == before, f"{scenario.name}: `pivot {' '.join(args)}` wrote outside\n{out}"
