"""push / fetch / pull / verify --allow-missing against a directory remote, through the real CLI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import factory, remotes
from tests.support.factory import Project


@pytest.fixture
def proj(multi: Project, tmp_path: Path) -> Project:
    """The three-pipeline project plus a directory-output pipeline, built, with a directory remote."""
    remotes.add_dir_pipeline(multi, 20)
    multi.run("repro", "--all").ok()
    multi.run("remote", "add", "origin", str(tmp_path / "remote")).ok()
    return multi


def _remote_keys(tmp_path: Path) -> set[str]:
    return remotes.object_keys(tmp_path / "remote" / "files")


def _all_keys(p: Project) -> set[str]:
    return remotes.object_keys(p.root / ".pivot/cache/files")


def test_push_all_then_pull_into_a_fresh_clone(proj: Project, tmp_path: Path) -> None:
    n = len(_all_keys(proj))  # 20 files, their manifest, 3 distinct file outputs (report == result)
    assert n == 24
    out = proj.run("push", "--all").ok()
    assert f"pushed {n} objects" in out.stderr and "0 already on the remote" in out.stderr
    assert _remote_keys(tmp_path) == _all_keys(proj)
    again = proj.run("push", "--all").ok()
    assert f"pushed 0 objects, 0 B; {n} already on the remote" in again.stderr

    clone = remotes.fresh_clone(proj, tmp_path / "clone")
    assert not clone.exists("data/out") and not clone.exists("tune/report.txt")
    pulled = clone.run("pull", "--all").ok()
    assert f"fetched {n} objects" in pulled.stderr and "5 outputs restored" in pulled.stderr
    for path in remotes.locked_outs(proj.root):
        src, dst = proj.root / path, clone.root / path
        if src.is_dir():
            texts = [sorted(f.read_text() for f in d.rglob("*.txt")) for d in (src, dst)]
            assert texts[0] == texts[1]
        else:
            assert src.read_text() == dst.read_text()
    clone.run("verify", "--all").ok()


def test_targeted_push_moves_only_that_stages_objects(proj: Project, tmp_path: Path) -> None:
    proj.run("push", "--all", "clean").ok()
    assert _remote_keys(tmp_path) == {remotes.locked_outs(proj.root)["prep/clean.txt"]}
    out = proj.run("push", "--all", "data/out").ok()  # an output path as target: the producing stage
    assert "pushed 21 objects" in out.stderr
    assert len(_remote_keys(tmp_path)) == 22


def test_single_pipeline_push_takes_its_stages_and_their_producers(proj: Project, tmp_path: Path) -> None:
    proj.run("push", cwd="train").ok()
    outs = remotes.locked_outs(proj.root)
    assert _remote_keys(tmp_path) == {outs["prep/clean.txt"], outs["train/model.txt"]}
    clone = remotes.fresh_clone(proj, tmp_path / "clone")
    clone.run("pull", cwd="train").ok()
    assert clone.read("train/model.txt") == proj.read("train/model.txt")
    assert not clone.exists("tune/result.txt")


def test_fetch_fills_the_cache_only_and_dry_run_moves_nothing(proj: Project, tmp_path: Path) -> None:
    assert "would push 24 objects" in proj.run("push", "--all", "-n").ok().stderr
    assert _remote_keys(tmp_path) == set()
    proj.run("push", "--all", "-j", "3").ok()
    clone = remotes.fresh_clone(proj, tmp_path / "clone")
    assert "would fetch 24 objects" in clone.run("fetch", "--all", "--dry-run").ok().stderr
    assert _all_keys(clone) == set()
    clone.run("fetch", "--all").ok()
    assert _all_keys(clone) == _all_keys(proj) and not clone.exists("train/model.txt")
    clone.run("checkout", "--all").ok()
    clone.run("verify", "--all").ok()


def test_verify_allow_missing_on_a_fresh_clone(proj: Project, tmp_path: Path) -> None:
    proj.run("push", "--all").ok()
    clone = remotes.fresh_clone(proj, tmp_path / "clone")
    assert clone.run("verify", "--all").code == 1
    out = clone.run("verify", "--all", "--allow-missing", "--json")
    assert out.code == 0, str(out)
    assert _all_keys(clone) == set()  # checked, not downloaded
    assert all(s["pushed"] for s in clone.stage_json(out).values())
    passed = clone.run("verify", "--all", "--allow-missing").stdout
    assert passed == "verify passed: 5 stages in 4 pipelines up to date\n"
    assert "outputs on the remote only: train/model.txt" in clone.run("verify", "--all", "--allow-missing", "-v").stdout


def test_verify_allow_missing_fails_naming_the_unpushed_stage(proj: Project, tmp_path: Path) -> None:
    proj.run("push", "--all", "clean", "tune/train", "tune/report", "gen").ok()
    clone = remotes.fresh_clone(proj, tmp_path / "clone")
    out = clone.run("verify", "--all", "--allow-missing", "--json")
    assert out.code == 1
    stages = clone.stage_json(out)
    assert stages["train"]["failure"] == "pivot.NotPushed"
    assert stages["train"]["missing_files"] == ["train/model.txt"]
    assert stages["train"]["fix"].startswith("pivot push --all train")
    assert stages["clean"]["status"] == "passed" and stages["gen"]["status"] == "passed"
    junit = clone.run("verify", "--all", "--allow-missing", "--format", "junit")
    assert 'type="pivot.NotPushed"' in junit.stdout and junit.code == 1


def test_allow_missing_without_a_remote_is_a_usage_error(multi: Project) -> None:
    multi.run("repro", "--all").ok()
    out = multi.run("verify", "--all", "--allow-missing")
    assert out.code == 2 and "--allow-missing needs a remote" in out.stderr and "pivot remote add" in out.stderr


def test_status_remote_shows_what_is_pushed(proj: Project) -> None:
    proj.run("push", "--all", "clean").ok()
    text = proj.run("status", "--all", "--remote", "-v").ok().stdout
    assert "clean: up to date  [pushed]" in text and "train: up to date  [not pushed]" in text
    quiet = proj.run("status", "--all", "--remote").ok().stdout  # without -v: only what is not pushed
    assert "train: up to date  [not pushed]" in quiet and "clean:" not in quiet
    stages = proj.stage_json(proj.run("status", "--all", "--remote", "origin", "--json").ok())
    assert stages["clean"]["pushed"] is True and stages["gen"]["pushed"] is False
    assert proj.stage_json(proj.run("status", "--all", "--json").ok())["clean"]["pushed"] is None


def test_a_corrupted_remote_object_is_refused(proj: Project, tmp_path: Path) -> None:
    proj.run("push", "--all").ok()
    h = remotes.locked_outs(proj.root)["train/model.txt"]
    obj = tmp_path / "remote/files" / h[:2] / h[2:]
    os.chmod(obj, 0o644)
    obj.write_text("tampered\n")
    clone = remotes.fresh_clone(proj, tmp_path / "clone")
    out = clone.run("pull", "--all")
    assert out.code == 1 and "Traceback" not in out.stderr
    assert f"refused object {h}" in out.stderr and "remote 'origin'" in out.stderr
    assert h not in _all_keys(clone)
    leftovers = [p for p in (clone.root / ".pivot/cache").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_a_corrupted_directory_manifest_is_refused(proj: Project, tmp_path: Path) -> None:
    proj.run("push", "--all").ok()
    h = remotes.locked_outs(proj.root)["data/out"]
    obj = tmp_path / "remote/files" / h[:2] / h[2:]
    os.chmod(obj, 0o644)
    obj.write_text('[["../../escape.txt", "00"]]')
    clone = remotes.fresh_clone(proj, tmp_path / "clone")
    out = clone.run("fetch", "--all", "gen")
    assert out.code == 1 and f"refused object {h}" in out.stderr
    assert _all_keys(clone) == set() and not (tmp_path / "escape.txt").exists()


def test_a_dead_remote_exits_1_naming_it(proj: Project, tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where the remote directory should be\n")
    proj.run("remote", "add", "dead", str(tmp_path / "blocker" / "remote")).ok()
    clone = remotes.fresh_clone(proj, tmp_path / "clone")  # fetch and pull need something from the remote
    for p, cmd in ((proj, "push"), (clone, "fetch"), (clone, "pull")):
        out = p.run(cmd, "--all", "-r", "dead")
        assert out.code == 1, str(out)
        assert f"remote 'dead' ({tmp_path / 'blocker' / 'remote'})" in out.stderr
        assert "Traceback" not in out.stderr and "Internal error" not in out.stderr
    out = clone.run("verify", "--all", "--allow-missing", "-r", "dead")
    assert out.code == 1 and "remote 'dead'" in out.stderr


def test_a_push_that_fails_midway_keeps_what_moved_and_a_rerun_finishes(proj: Project, tmp_path: Path) -> None:
    outs = remotes.locked_outs(proj.root)
    manifest = proj.root / ".pivot/cache/files" / outs["data/out"][:2] / outs["data/out"][2:]
    import json

    files = [fh for _, fh in json.loads(manifest.read_text())]
    blocked = files[len(files) // 2][:2]  # the remote cannot take objects under this prefix
    (tmp_path / "remote/files").mkdir(parents=True)
    (tmp_path / "remote/files" / blocked).write_text("not a directory\n")
    out = proj.run("push", "--all", "-j", "1")
    assert out.code == 1 and "remote 'origin'" in out.stderr and "cannot upload object" in out.stderr
    moved = _remote_keys(tmp_path)
    assert moved and outs["data/out"] not in moved  # a manifest is never pushed before its files
    for key in moved:
        assert remotes.content_ok(tmp_path / "remote/files" / key[:2] / key[2:], key)
    (tmp_path / "remote/files" / blocked).unlink()
    again = proj.run("push", "--all").ok()
    assert f"{len(moved)} already on the remote" in again.stderr
    assert _remote_keys(tmp_path) == _all_keys(proj)


def test_remote_config_commands(project: Project, tmp_path: Path) -> None:
    project.run("remote", "add", "a", "s3://bucket/pre", "--endpoint-url", "http://127.0.0.1:1").ok()
    project.run("remote", "add", "b", "file:///srv/remote").ok()
    listing = project.run("remote", "list").ok().stdout
    assert "a\ts3://bucket/pre  (default)  endpoint_url=http://127.0.0.1:1" in listing
    assert "b\tfile:///srv/remote\n" in listing
    project.run("remote", "default", "b").ok()
    assert "b\tfile:///srv/remote  (default)" in project.run("remote", "list").ok().stdout
    dup = project.run("remote", "add", "b", "/x")
    assert dup.code == 2 and "already exists" in dup.stderr
    project.run("remote", "add", "b", "/x", "--force").ok()
    project.run("remote", "remove", "a").ok()
    assert "a\t" not in project.run("remote", "list").ok().stdout
    bad = project.run("remote", "add", "c", "gs://x")
    assert bad.code == 2 and "unsupported remote URL scheme" in bad.stderr
    assert project.run("remote", "remove", "nope").code == 2


def test_credentials_in_the_project_config_are_refused(project: Project) -> None:
    project.write(".pivot/config.yaml", """
        remotes:
          origin: {url: "s3://b/p", secret_access_key: "oops"}
        """)
    out = project.run("remote", "list")
    assert out.code == 2 and "credentials do not belong in the project config" in out.stderr


def test_a_relative_remote_path_is_stored_relative_to_the_project_root(multi: Project) -> None:
    multi.run("remote", "add", "near", "../../shared-remote", cwd="train").ok()
    assert "url: ../shared-remote" in multi.read(".pivot/config.yaml")
    multi.run("repro", "--all").ok()
    multi.run("push", "--all").ok()
    assert (multi.root.parent / "shared-remote/files").is_dir()


def test_factory_projects_have_no_remote_by_default(project: Project) -> None:
    assert not project.exists(".pivot/config.yaml")
    assert factory.PIVOT
