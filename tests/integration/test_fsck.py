"""`pivot fsck` (SPEC §11): bad objects moved aside (never deleted), missing ones named with the lock and
pointer files that need them and the command that repairs them; `--remote` against both remote kinds."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import remotes, s3server, trackdata
from tests.support.factory import Project


@pytest.fixture
def built(tmp_path: Path) -> Project:
    """Tracked data, two stages reading it, a directory output; everything reproduced and cached."""
    p = trackdata.data_project(tmp_path / "proj", images=4)
    remotes.add_dir_pipeline(p, 6, where="gendir")
    p.run("track", "data/raw.csv", "data/images").ok()
    p.run("repro", "--all").ok()
    assert "checked 14 objects" in p.run("fsck").ok().stderr
    return p


def _obj(p: Project, key: str) -> Path:
    return trackdata.cache_object(p, key)


def test_fsck_moves_bad_objects_aside_and_names_who_needs_what(built: Project) -> None:
    p = built
    outs = remotes.locked_outs(p.root)
    count, first, tree = outs["p/count.txt"], outs["p/first.txt"], outs["gendir/out"]
    flipped = _obj(p, count)
    data = bytearray(flipped.read_bytes())
    data[0] ^= 0x01
    flipped.chmod(0o644)
    flipped.write_bytes(bytes(data))
    _obj(p, first).unlink()  # p/first.txt is a copy of data/images/a/0.txt: one object, two files need it
    _obj(p, tree).unlink()  # a directory output's manifest

    out = p.run("fsck")
    assert out.code == 1, str(out)
    err = out.stderr
    assert f"bad object {count}: content does not match its name, moved to .pivot/cache/bad/{count}" in err
    assert (p.root / ".pivot/cache/bad" / count).read_bytes() == bytes(data)  # the evidence stays
    assert not flipped.exists()
    block = err[err.index(f"bad object {count}"):]
    assert "  needed by p/.pivot/stages/count.lock (p/count.txt)\n  fix: pivot commit --all --force count" in block
    block = err[err.index(f"missing object {first}"):]
    assert "needed by p/.pivot/stages/first.lock (p/first.txt)" in block
    assert "needed by data/images.pvt (data/images)" in block
    assert "fix: pivot commit --all --force first" in block and "fix: pivot track data/images" in block
    block = err[err.index(f"missing object {tree}"):]
    assert block.startswith(f"missing object {tree}\n  needed by gendir/.pivot/stages/gen.lock (gendir/out)")
    assert err.rstrip().endswith("1 bad, 2 missing")

    doc = p.run("fsck", "--json").json()  # the bad object is gone now: it is missing, and that is all
    assert doc["ok"] is False and {(x["key"], x["kind"]) for x in doc["problems"]} == {
        (count, "missing"), (first, "missing"), (tree, "missing")}

    for fix in (["commit", "--all", "--force", "count"], ["commit", "--all", "--force", "first"],
                ["commit", "--all", "--force", "gen"]):
        p.run(*fix).ok()
    assert "no problems" in p.run("fsck").ok().stderr
    # gone from the workspace too: fetch it, or reproduce it
    (p.root / "p/count.txt").unlink()
    _obj(p, count).unlink()
    out = p.run("fsck")
    assert out.code == 1 and "fix: pivot fetch --all count\n  fix: pivot repro --all --force count" in out.stderr


def _fsck_remote(p: Project, drop: object) -> None:
    p.run("push", "--all").ok()
    p.run("fsck", "--remote").ok()
    count = remotes.locked_outs(p.root)["p/count.txt"]
    assert callable(drop)
    drop(count)
    out = p.run("fsck", "-r", "origin", "--json")
    assert out.code == 1
    problem = {x["key"]: x for x in out.json()["problems"]}[count]
    assert problem["kind"] == "not on remote" and problem["fixes"] == ["pivot push --all count -r origin"]
    assert problem["needed_by"] == [{"file": "p/.pivot/stages/count.lock", "path": "p/count.txt", "stage": "count",
                                     "kind": "output"}]
    assert f"not on remote object {count} on remote 'origin'" in out.stderr
    p.run("push", "--all", "count").ok()
    p.run("fsck", "--remote", "origin").ok()


def test_fsck_remote_with_a_directory_remote(built: Project, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    built.run("remote", "add", "origin", str(remote)).ok()
    _fsck_remote(built, lambda key: (remote / "files" / key[:2] / key[2:]).unlink())


@pytest.mark.usefixtures("s3_env")
def test_fsck_remote_with_s3(built: Project, s3_server: s3server.MotoServer) -> None:
    bucket = s3_server.new_bucket()
    built.run("remote", "add", "origin", f"s3://{bucket}/team", "--endpoint-url", s3_server.endpoint,
              "--region", "us-east-1").ok()
    _fsck_remote(built, lambda key: s3_server.client().delete_object(Bucket=bucket,
                                                                    Key=f"team/files/{key[:2]}/{key[2:]}"))
