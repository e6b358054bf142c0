"""`pivot gc` (SPEC §11) against real git history: scopes, dry runs, the grace period, failing closed, remotes."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import gitrepo, remotes, s3server, trackdata
from tests.support.factory import Project, new_project

PIPELINE = """
stages:
  join:
    cmd: cat raw.txt data.csv > out.txt
    deps: [raw.txt, data.csv]
    outs: [out.txt]
"""


def _cache(p: Project) -> set[str]:
    return remotes.object_keys(p.root / ".pivot/cache/files")


def _revision(p: Project, repo: gitrepo.GitRepo, tag: str) -> set[str]:
    """Make the workspace revision `tag`: new raw.txt (git) and data.csv (tracked), reproduced, committed.
    Returns the cache objects it needs (its output and its tracked data)."""
    p.write("raw.txt", f"raw {tag}\n")
    p.write("data.csv", f"data {tag}\n")
    p.run("track", "data.csv", env=repo.env).ok()
    p.run("repro", "--all").ok()
    repo.commit_all(f"revision {tag}").ok()
    return {trackdata.pointer(p, "data.csv.pvt")["hash"], *remotes.locked_outs(p.root).values()}  # type: ignore[misc]


@pytest.fixture
def history(tmp_path: Path) -> tuple[Project, gitrepo.GitRepo, dict[str, set[str]]]:
    """main: A, B (tag v1), D; branch feature (from B): C; the workspace: E (reproduced, not committed)."""
    p = new_project(tmp_path / "proj")
    p.write("pivot.yaml", PIPELINE)
    p.write(".gitignore", "/out.txt\n")
    repo = trackdata.git(p, tmp_path / "home")
    objects = {"A": _revision(p, repo, "A"), "B": _revision(p, repo, "B")}
    repo.git("tag", "-a", "v1", "-m", "v1").ok()
    repo.git("checkout", "-q", "-b", "feature").ok()
    objects["C"] = _revision(p, repo, "C")
    repo.git("checkout", "-q", "main").ok()
    objects["D"] = _revision(p, repo, "D")
    p.write("raw.txt", "raw E\n")
    p.write("data.csv", "data E\n")
    p.run("track", "data.csv", env=repo.env).ok()
    p.run("repro", "--all").ok()
    objects["E"] = {trackdata.pointer(p, "data.csv.pvt")["hash"], *remotes.locked_outs(p.root).values()}  # type: ignore[misc]
    assert len(set().union(*objects.values())) == 10 and _cache(p) == set().union(*objects.values())
    return p, repo, objects


def test_each_scope_keeps_exactly_the_objects_of_its_revisions(
        history: tuple[Project, gitrepo.GitRepo, dict[str, set[str]]]) -> None:
    p, repo, objects = history
    everything = _cache(p)
    scopes = {
        (): "E",
        ("--rev", "HEAD"): "DE",
        ("--rev", "HEAD~2", "--rev", "feature"): "ACE",
        ("--all-tags",): "BE",
        ("--all-branches",): "CDE",
        ("--all-commits",): "ABCDE",
    }
    for args, revisions in scopes.items():
        out = p.run("gc", "--dry-run", "--json", "--grace", "0", *args, env=repo.env).ok()
        doc = out.json()
        wanted = set().union(*(objects[r] for r in revisions))
        assert set(doc["cache"]["removed"]["keys"]) == everything - wanted, (args, out.stderr)
        assert doc["dry_run"] is True and doc["cache"]["objects"] == 10
        assert _cache(p) == everything  # a dry run removes nothing
    # default grace: everything was just written, so nothing goes
    plan = p.run("gc", "--dry-run", "--json", env=repo.env).ok().json()
    assert plan["cache"]["removed"]["objects"] == 0 and plan["cache"]["kept"]["grace period"]["objects"] == 8
    assert "would remove 0 objects" in p.run("gc", "-n", env=repo.env).ok().stderr

    out = p.run("gc", "--grace", "0", "--all-branches", env=repo.env).ok()
    assert "cache: removed 4 objects" in out.stderr, out.stderr
    assert _cache(p) == objects["C"] | objects["D"] | objects["E"]
    p.run("verify", "--all").ok()
    repo.git("stash", "-q").ok()
    repo.git("checkout", "-q", "feature").ok()  # what a kept revision needs can be checked out
    p.run("checkout", "--all", "--force").ok()
    assert p.read("out.txt") == "raw C\ndata C\n" and p.read("data.csv") == "data C\n"
    p.run("verify", "--all").ok()


def test_gc_fails_closed_and_removes_nothing(history: tuple[Project, gitrepo.GitRepo, dict[str, set[str]]]) -> None:
    p, repo, objects = history
    everything = _cache(p)
    lock = p.read(".pivot/stages/join.lock")
    # a damaged lock file at a revision in scope
    repo.git("stash", "-q").ok()
    repo.git("checkout", "-q", "feature").ok()
    p.write(".pivot/stages/join.lock", "schema: 1\nouts: [\n")
    repo.commit_all("broken lock").ok()
    broken = repo.head()
    repo.git("checkout", "-q", "main").ok()
    repo.git("stash", "pop", "-q").ok()
    assert p.read(".pivot/stages/join.lock") == lock
    out = p.run("gc", "--grace", "0", "--all-commits", env=repo.env)
    assert out.code == 2 and f"({broken[:12]}:.pivot/stages/join.lock:" in out.stderr, str(out)
    assert "removes nothing when one cannot be read" in out.stderr
    out = p.run("gc", "--grace", "0", "--rev", "no-such-branch", env=repo.env)
    assert out.code == 2 and "revision 'no-such-branch' is not a commit" in out.stderr
    # the workspace: a damaged lock file, a damaged manifest, a pipeline file that does not load
    p.write(".pivot/stages/join.lock", "outs: {\n")
    out = p.run("gc", "--grace", "0", env=repo.env)
    assert out.code == 2 and "(.pivot/stages/join.lock:" in out.stderr
    p.write(".pivot/stages/join.lock", lock)
    p.write("extra/pivot.yaml", "stages: [\n")
    assert p.run("gc", "--grace", "0", env=repo.env).code == 2
    assert _cache(p) == everything


def test_the_grace_period_and_a_concurrent_repro(tmp_path: Path) -> None:
    p = new_project(tmp_path / "proj")
    p.write("in.txt", "1\n")
    p.write("wait.py", """
        import os, time
        deadline = time.monotonic() + 60
        while not os.path.exists("go") and time.monotonic() < deadline:  # the test says when
            time.sleep(0.02)
        open("out.txt", "w").write(open("in.txt").read())
        """)
    p.write("pivot.yaml", """
        stages:
          slow:
            cmd: python wait.py
            deps: [in.txt]
            outs: [out.txt]
        """)
    p.write("go", "")
    p.run("repro", "--all").ok()
    (p.root / "go").unlink()
    first = set(remotes.locked_outs(p.root).values())
    p.write("in.txt", "2\n")
    proc = p.popen("repro", "--all")
    gc = None
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("Running 'slow'"), line
        # repro holds the state dir: gc waits for it, then keeps what the new lock file names
        gc = p.popen("gc", "--grace", "0")
        assert gc.stderr is not None
        waiting = gc.stderr.readline()
        assert waiting.startswith("Waiting for another pivot process"), waiting
        p.write("go", "")
        assert proc.wait(timeout=60) == 0
        assert gc.wait(timeout=60) == 0, gc.stderr.read()
    finally:
        for child in (proc, gc):
            if child is not None and child.poll() is None:
                child.kill()
            if child is not None:
                child.wait()
    second = set(remotes.locked_outs(p.root).values())
    assert _cache(p) == second and second.isdisjoint(first)
    p.run("verify", "--all").ok()
    # an object nothing names any more is kept while younger than the grace period
    p.write("in.txt", "3\n")
    p.run("repro", "--all").ok()
    kept = p.run("gc", "--json").ok().json()["cache"]
    assert kept["removed"]["objects"] == 0 and kept["kept"]["grace period"]["objects"] == 1
    entries = p.root / ".pivot/cache/runs"
    # one run-cache entry per run; the first run's went with its output in the concurrent gc above
    assert len(list(entries.glob("*/*"))) == 2
    plan = p.run("gc", "--grace", "0s", "-n", "--json").ok().json()["cache"]
    assert plan["run_cache"] == {"kept": 1, "removed": 1}  # entries go with the objects their outputs name
    out = p.run("gc", "--grace", "0s").ok()
    assert "removed 1 object " in out.stderr and "run cache: keeping 1 entry, removed 1" in out.stderr
    assert len(list(entries.glob("*/*"))) == 1
    bad = p.run("gc", "--grace", "soon")
    assert bad.code == 2 and "expected a duration" in bad.stderr


def _remote_history(p: Project, repo: gitrepo.GitRepo) -> None:
    """Push what the branch heads C (feature) and D (main) need, then come back to the workspace E."""
    repo.git("stash", "-q").ok()
    for name in ("feature", "main"):
        repo.git("checkout", "-q", name).ok()
        p.run("checkout", "--all", "--force").ok()
        p.run("push", "--all").ok()
    repo.git("stash", "pop", "-q").ok()
    p.run("checkout", "--all", "--force").ok()
    p.run("verify", "--all").ok()


def _remote_gc(p: Project, repo: gitrepo.GitRepo, objects: dict[str, set[str]],
               listed: Callable[[], set[str]]) -> None:
    pushed = listed()
    assert pushed == objects["C"] | objects["D"], pushed
    refused = p.run("gc", "--grace", "0", "--remote", "origin", env=repo.env)
    assert refused.code == 2 and "--yes" in refused.stderr
    dry = p.run("gc", "--grace", "0", "--remote", "origin", "-n", "--json", env=repo.env).ok().json()
    assert set(dry["remote"]["removed"]["keys"]) == objects["C"] | objects["D"]  # the workspace is E
    assert listed() == pushed
    p.run("gc", "--grace", "0", "--remote", "origin", "--yes", "--all-branches", env=repo.env).ok()
    assert listed() == pushed  # C and D are branch heads: kept
    out = p.run("gc", "--grace", "0", "--remote", "origin", "--yes", "--rev", "feature", env=repo.env).ok()
    assert re.search(r"remote 'origin': removed 2 objects", out.stderr), out.stderr
    assert listed() == objects["C"]


def test_gc_remote_with_a_directory_remote(history: tuple[Project, gitrepo.GitRepo, dict[str, set[str]]],
                                           tmp_path: Path) -> None:
    p, repo, objects = history
    remote = tmp_path / "remote"
    p.run("remote", "add", "origin", str(remote), "--default").ok()
    _remote_history(p, repo)
    _remote_gc(p, repo, objects, lambda: remotes.object_keys(remote / "files"))


@pytest.mark.usefixtures("s3_env")
def test_gc_remote_with_s3(history: tuple[Project, gitrepo.GitRepo, dict[str, set[str]]],
                           s3_server: s3server.MotoServer) -> None:
    p, repo, objects = history
    bucket = s3_server.new_bucket()
    p.run("remote", "add", "origin", f"s3://{bucket}/team", "--endpoint-url", s3_server.endpoint,
          "--region", "us-east-1", "--default").ok()
    _remote_history(p, repo)

    def listed() -> set[str]:
        pages = s3_server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="team/files/")
        return {i["Key"].split("/")[-2] + i["Key"].split("/")[-1] for page in pages for i in page.get("Contents", ())}

    _remote_gc(p, repo, objects, listed)
