"""push / fetch / pull / verify --allow-missing against a real S3-compatible server (moto) on 127.0.0.1."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support import remotes, s3server
from tests.support.factory import Project

pytestmark = pytest.mark.usefixtures("s3_env")
PREFIX = "team/proj"


def _keys(server: s3server.MotoServer, bucket: str) -> set[str]:
    """Object keys under the remote's files/ (as hashes)."""
    out: set[str] = set()
    for page in server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{PREFIX}/files/"):
        out.update(item["Key"].split("/")[-2] + item["Key"].split("/")[-1] for item in page.get("Contents", ()))
    return out


def _cache_keys(p: Project) -> set[str]:
    return remotes.object_keys(p.root / ".pivot/cache/files")


def _setup(p: Project, server: s3server.MotoServer, files: int = 20) -> str:
    remotes.add_dir_pipeline(p, files)
    p.run("repro", "--all").ok()
    bucket = server.new_bucket()
    p.run("remote", "add", "s3", f"s3://{bucket}/{PREFIX}", "--endpoint-url", server.endpoint,
          "--region", "us-east-1").ok()
    return bucket


def test_push_all_and_pull_into_a_fresh_clone(multi: Project, s3_server: s3server.MotoServer, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = _setup(multi, s3_server)
    # credentials from the per-user file, not the environment
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    user = tmp_path / "xdg/pivot-ci/config.yaml"
    user.parent.mkdir(parents=True)
    user.write_text("remotes:\n  s3: {access_key_id: testing, secret_access_key: testing}\n")
    n = len(_cache_keys(multi))
    out = multi.run("push", "--all", "-j", "4").ok()
    assert f"pushed {n} objects" in out.stderr
    assert _keys(s3_server, bucket) == _cache_keys(multi)
    assert f"pushed 0 objects, 0 B; {n} already on the remote" in multi.run("push", "--all").ok().stderr

    clone = remotes.fresh_clone(multi, tmp_path / "clone")
    assert "fetched" in clone.run("pull", "--all").ok().stderr
    for path in remotes.locked_outs(multi.root):
        assert (clone.root / path).exists(), path
    clone.run("verify", "--all").ok()
    user.unlink()
    denied = clone.run("fetch", "--all", "--dry-run")  # cached already: nothing to ask
    assert denied.code == 0


def test_targeted_and_single_pipeline_push(multi: Project, s3_server: s3server.MotoServer, tmp_path: Path) -> None:
    bucket = _setup(multi, s3_server)
    outs = remotes.locked_outs(multi.root)
    multi.run("push", "--all", "train").ok()
    assert _keys(s3_server, bucket) == {outs["train/model.txt"]}
    multi.run("push", cwd="tune").ok()  # tune's stages and the stages they need from other pipelines
    assert _keys(s3_server, bucket) == {outs[p] for p in ("prep/clean.txt", "train/model.txt", "tune/result.txt")}
    clone = remotes.fresh_clone(multi, tmp_path / "clone")
    clone.run("pull", cwd="tune").ok()
    assert clone.read("tune/report.txt") == multi.read("tune/report.txt")
    assert not clone.exists("data/out")


def test_verify_allow_missing_on_a_fresh_clone(multi: Project, s3_server: s3server.MotoServer, tmp_path: Path) -> None:
    _setup(multi, s3_server)
    multi.run("push", "--all", "clean", "tune/train", "gen").ok()
    clone = remotes.fresh_clone(multi, tmp_path / "clone")
    out = clone.run("verify", "--all", "--allow-missing", "--json")
    assert out.code == 1
    stages = clone.stage_json(out)
    assert stages["train"]["failure"] == "pivot.NotPushed" and stages["gen"]["status"] == "passed"
    multi.run("push", "--all").ok()
    clone.run("verify", "--all", "--allow-missing").ok()
    assert _cache_keys(clone) == set()  # nothing was downloaded
    text = clone.run("status", "--all", "--remote").ok().stdout
    assert "gen: stale (data/pivot.yaml:2)  [pushed]" in text  # repro would rebuild it; pull would not


def test_a_corrupted_remote_object_is_refused(multi: Project, s3_server: s3server.MotoServer, tmp_path: Path) -> None:
    bucket = _setup(multi, s3_server)
    multi.run("push", "--all").ok()
    h = remotes.locked_outs(multi.root)["prep/clean.txt"]
    s3_server.client().put_object(Bucket=bucket, Key=f"{PREFIX}/files/{h[:2]}/{h[2:]}", Body=b"evil\n")
    clone = remotes.fresh_clone(multi, tmp_path / "clone")
    out = clone.run("fetch", "--all")
    assert out.code == 1 and f"refused object {h}" in out.stderr and f"s3://{bucket}/{PREFIX}" in out.stderr
    assert h not in _cache_keys(clone)
    assert [p for p in (clone.root / ".pivot/cache").rglob("*") if ".tmp" in p.name] == []


def test_a_listing_with_dotdot_keys_is_refused(multi: Project, s3_server: s3server.MotoServer, tmp_path: Path) -> None:
    bucket = _setup(multi, s3_server, files=600)  # enough keys that existence is checked by listing
    multi.run("push", "--all").ok()
    some = next(iter(_keys(s3_server, bucket)))
    s3_server.client().put_object(Bucket=bucket, Key=f"{PREFIX}/files/{some[:2]}/../../../escape", Body=b"x")
    for args in (("push", "--all"), ("status", "--all", "--remote"), ("verify", "--all", "--allow-missing")):
        out = multi.run(*args)
        assert out.code == 1, str(out)
        assert "refused object key in listing" in out.stderr and "../../../escape" in out.stderr
    assert not (tmp_path / "escape").exists() and not (multi.root / ".pivot/escape").exists()


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_server_stopped_mid_push_exits_1_and_a_rerun_after_restart_completes(multi: Project, tmp_path: Path) -> None:
    server = s3server.MotoServer().start()
    try:
        bucket = _setup(multi, server, files=800)
        push = multi.popen("push", "--all", "-j", "1")
        try:
            _wait_for(lambda: len(_keys(server, bucket)) >= 30, 60, "the push to start uploading")
            server.stop()
            _, stderr = push.communicate(timeout=120)
        finally:
            if push.poll() is None:
                push.kill()
                push.wait(timeout=30)
        assert push.returncode == 1, stderr
        assert f"remote 's3' (s3://{bucket}/{PREFIX})" in stderr and "Traceback" not in stderr
        assert "Hint:" in stderr

        server.start()  # same port; moto starts empty
        server.new_bucket(bucket)
        out = multi.run("push", "--all").ok()
        assert f"pushed {len(_cache_keys(multi))} objects" in out.stderr
        assert _keys(server, bucket) == _cache_keys(multi)
        clone = remotes.fresh_clone(multi, tmp_path / "clone")
        clone.run("verify", "--all", "--allow-missing").ok()
        clone.run("pull", "--all", "train").ok()
    finally:
        server.close()


def test_a_dead_endpoint_exits_1_with_name_url_and_cause(multi: Project, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # still retried, with a shorter wait
    multi.run("repro", "--all").ok()
    port = s3server.free_port()  # nothing listens there
    multi.run("remote", "add", "gone", "s3://bucket/x", "--endpoint-url", f"http://127.0.0.1:{port}").ok()
    clone = remotes.fresh_clone(multi, tmp_path / "clone")
    start = time.monotonic()
    for p, args in ((multi, ("push", "--all")), (clone, ("pull", "--all")),
                    (clone, ("verify", "--all", "--allow-missing"))):
        out = p.run(*args, timeout=120)
        assert out.code == 1, str(out)
        assert "remote 'gone' (s3://bucket/x)" in out.stderr and f"127.0.0.1:{port}" in out.stderr
        assert "Traceback" not in out.stderr and "Internal error" not in out.stderr
    assert time.monotonic() - start < 110


def test_a_missing_bucket_is_named(multi: Project, s3_server: s3server.MotoServer) -> None:
    multi.run("repro", "--all").ok()
    multi.run("remote", "add", "nob", "s3://no-such-bucket-here/x", "--endpoint-url", s3_server.endpoint).ok()
    out = multi.run("push", "--all")
    assert out.code == 1 and "remote 'nob'" in out.stderr and "no-such-bucket-here" in out.stderr
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
