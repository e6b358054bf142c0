"""Tracked data through remotes: the CI flow from a fresh `git clone` (SPEC §10), with a directory remote and an
S3 server, and push/fetch/pull/checkout selecting tracked data like stages."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import gitrepo, remotes, s3server, trackdata
from tests.support.factory import Project


def _committed(tmp_path: Path, remote_args: list[str]) -> tuple[Project, gitrepo.GitRepo]:
    """A project whose raw data is tracked, reproduced, pushed and committed (data and cache not in git)."""
    p = trackdata.data_project(tmp_path / "proj")
    repo = trackdata.git(p, tmp_path / "home")
    p.run("track", "data/raw.csv", "data/images", env=repo.env).ok()
    p.run("remote", "add", "origin", *remote_args, "--default").ok()
    p.run("repro", "--all").ok()
    pushed = p.run("push", "--all").ok()
    # raw.csv, 12 images and their manifest, count.txt (first.txt is a copy of an image: the same object)
    assert "pushed 15 objects" in pushed.stderr, pushed.stderr
    repo.commit_all("raw data tracked").ok()
    committed = repo.git("ls-files").ok().output.split()
    assert "data/raw.csv.pvt" in committed and "data/images.pvt" in committed and "data/.gitignore" in committed
    assert "data/raw.csv" not in committed and not any(f.startswith("data/images/") for f in committed)
    return p, repo


def _fresh_clone_flow(p: Project, repo: gitrepo.GitRepo, tmp_path: Path) -> None:
    dest = tmp_path / "clone"
    gitrepo.run(["git", "clone", "-q", str(p.root), str(dest)], tmp_path, repo.env).ok()
    clone = Project(dest)
    assert not clone.exists("data/raw.csv") and not clone.exists("data/images") and not clone.exists("p/count.txt")
    # CI: the locks agree with the pointers and everything is on the remote, nothing downloaded but manifests
    verify = clone.run("verify", "--all", "--allow-missing", "--json")
    assert verify.code == 0, str(verify)
    assert {t["path"]: t["status"] for t in verify.json()["tracked"]} == {"data/images": "ok", "data/raw.csv": "ok"}
    assert "not produced" not in verify.stderr and not clone.exists("data/raw.csv")
    plain = clone.run("verify", "--all")
    assert plain.code == 1 and "fix: pivot pull --all data/raw.csv" in plain.stdout
    # a colleague: pull restores data and outputs, and nothing is left to run
    pulled = clone.run("pull", "--all").ok()
    assert "4 outputs restored" in pulled.stderr
    assert clone.read("data/raw.csv") == p.read("data/raw.csv")
    assert clone.read("data/images/b/11.txt") == "image 11\n" and clone.read("p/count.txt") == "3 rows, 12 images\n"
    repro = clone.run("repro", "--all").ok()
    assert "Running" not in repro.stderr and "2 up to date" in repro.stderr
    clone.run("verify", "--all").ok()
    status = gitrepo.run(["git", "status", "--porcelain"], dest, repo.env).ok().output
    assert status == "", status  # the data is git-ignored in the clone too


def test_fresh_clone_verifies_pulls_and_has_nothing_to_run_with_a_directory_remote(tmp_path: Path) -> None:
    p, repo = _committed(tmp_path, [str(tmp_path / "remote")])
    _fresh_clone_flow(p, repo, tmp_path)


@pytest.mark.usefixtures("s3_env")
def test_fresh_clone_verifies_pulls_and_has_nothing_to_run_with_s3(tmp_path: Path,
                                                                  s3_server: s3server.MotoServer) -> None:
    bucket = s3_server.new_bucket()
    p, repo = _committed(tmp_path, [f"s3://{bucket}/team", "--endpoint-url", s3_server.endpoint,
                                    "--region", "us-east-1"])
    _fresh_clone_flow(p, repo, tmp_path)


def test_targets_and_pipelines_carry_their_tracked_data(tmp_path: Path) -> None:
    p = trackdata.data_project(tmp_path / "proj")
    p.write("p/own/raw.txt", "owned\n")
    p.write("p/extra.txt.pvt", "")  # replaced below: a pointer the pipeline owns
    (p.root / "p/extra.txt.pvt").unlink()
    p.write("p/extra.txt", "extra\n")
    p.run("track", "data/raw.csv", "data/images", "p/extra.txt").ok()
    remote = tmp_path / "remote"
    p.run("remote", "add", "origin", str(remote), "--default").ok()
    raw = str(trackdata.pointer(p, "data/raw.csv.pvt")["hash"])
    extra = str(trackdata.pointer(p, "p/extra.txt.pvt")["hash"])
    p.run("push", "--all", "data/raw.csv").ok()  # a tracked path as a target: that object only
    assert remotes.object_keys(remote / "files") == {raw}
    p.run("push", "first", cwd="p").ok()  # a stage: its outputs (none yet) and the tracked data it reads
    keys = remotes.object_keys(remote / "files")
    images = str(trackdata.pointer(p, "data/images.pvt")["hash"])
    assert images in keys and extra not in keys
    p.run("push", cwd="p").ok()  # the pipeline: its own pointers too
    assert extra in remotes.object_keys(remote / "files")

    # checkout restores tracked data, and a modified copy only with --force
    (p.root / "data/raw.csv").unlink()
    p.write("data/images/a/0.txt", "edited\n")
    out = p.run("checkout", "--all")
    assert out.code == 1 and "data/images: modified in the workspace; not overwritten" in out.stderr
    assert p.read("data/raw.csv") == "a,b\n1,2\n3,4\n"
    p.run("checkout", "../data/images", "--force", cwd="p").ok()  # the pipeline reads it: a target there
    assert p.read("data/images/a/0.txt") == "image 0\n"
