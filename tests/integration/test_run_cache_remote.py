"""The run cache shared through remotes: `push` sends entries, `repro --pull` computes only what nobody has."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import remotes, runcache, s3server
from tests.support.factory import Project

LOCAL_CACHE = ".pivot/cache"


def _set_lr(p: Project, old: str, new: str) -> None:
    p.write("train/pivot.yaml", p.read("train/pivot.yaml").replace(f"lr: {old}", f"lr: {new}"))


def _add_remote(p: Project, kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if kind == "dir":
        p.run("remote", "add", "origin", str(tmp_path / "remote")).ok()
        return
    request.getfixturevalue("s3_env")
    server: s3server.MotoServer = request.getfixturevalue("s3_server")
    p.run("remote", "add", "origin", f"s3://{server.new_bucket()}/team", "--endpoint-url", server.endpoint,
          "--region", "us-east-1").ok()


@pytest.mark.parametrize("kind", ["dir", "s3"])
def test_clone_b_computes_only_what_clone_a_never_ran(multi: Project, tmp_path: Path, kind: str,
                                                       request: pytest.FixtureRequest) -> None:
    a = multi
    _add_remote(a, kind, tmp_path, request)
    a.run("repro", "--all").ok()
    a.run("push", "--all").ok()
    _set_lr(a, "0.5", "0.7")
    a.run("repro", "--all").ok()
    pushed = a.run("push", "--all").ok().stderr
    assert "run cache: pushed 3 entries, 1 already there" in pushed

    b = remotes.fresh_clone(a, tmp_path / "b")  # A's sources and locks (lr 0.7), no cache, no outputs
    restored = runcache.finished(b.run("repro", "--all", "--pull", "--json").ok().stdout)
    assert {e["outcome"] for e in restored.values()} == {"restored"}
    assert {(e["restored_from"], e["remote"]) for e in restored.values()} == {("remote", "origin")}
    for path in ("prep/clean.txt", "train/model.txt", "tune/report.txt"):
        assert b.read(path) == a.read(path), path
    b.run("verify", "--all").ok()

    _set_lr(b, "0.7", "0.5")  # A ran this before: B's own run cache lacks it, the remote has it
    assert runcache.outcomes(b.run("repro", "--all", "--pull", "--json").ok().stdout) == {
        "clean": "up_to_date", "train": "restored", "tune/train": "restored", "tune/report": "restored"}
    assert b.read("train/model.txt") == "raw data\n+clean lr=1.0\n"

    _set_lr(b, "0.5", "0.9")  # nobody ran this: B computes it
    text = b.run("repro", "--all", "--pull").ok().stderr
    assert "'train' ok" in text and "3 ran, 1 up to date" in text
    b.run("push", "--all").ok()
    _set_lr(a, "0.7", "0.9")  # ... and now A gets B's result
    assert "3 restored" in a.run("repro", "--all", "--pull").ok().stderr
    assert a.read("tune/report.txt") == b.read("tune/report.txt")


@pytest.fixture
def pushed(multi: Project, tmp_path: Path) -> Project:
    multi.run("remote", "add", "origin", str(tmp_path / "remote")).ok()
    multi.run("repro", "--all").ok()
    multi.run("push", "--all").ok()
    return multi


def test_corrupt_entry_and_corrupt_object_on_the_remote_are_skipped(pushed: Project, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    assert len(runcache.entry_files(remote)) == 4
    entry = runcache.entry_file(remote, "prep/clean.txt")
    model = json.loads(runcache.entry_file(remote, "train/model.txt").read_text())
    runcache.overwrite(entry, b'{"schema": 1, "key": "nope"}')
    h = model["outs"][0]["hash"]
    runcache.overwrite(remote / "files" / h[:2] / h[2:], b"tampered\n")

    b = remotes.fresh_clone(pushed, tmp_path / "b")
    events = runcache.finished(b.run("repro", "--all", "--pull", "--json").ok().stdout)
    # each bad thing costs one run; what comes after it is restored again (the runs reproduce the same outputs)
    assert {n: e["outcome"] for n, e in events.items()} == {
        "clean": "ran", "train": "ran", "tune/train": "restored", "tune/report": "restored"}
    entry_warning = " ".join(events["clean"]["warnings"])
    assert runcache.rel_key(entry) in entry_warning and "remote 'origin'" in entry_warning
    assert "corrupt" in entry_warning and "delete it from the remote" in entry_warning
    object_warning = " ".join(events["train"]["warnings"])
    assert f"refused object {h}" in object_warning and "failed verification" in object_warning
    b.run("verify", "--all").ok()
    assert b.read("train/model.txt") == pushed.read("train/model.txt")


def test_pull_options_and_an_unreachable_remote(pushed: Project, tmp_path: Path) -> None:
    b = remotes.fresh_clone(pushed, tmp_path / "b")
    assert b.run("repro", "--all", "-r", "origin").code == 2
    assert b.run("repro", "--all", "--pull", "--no-run-cache").code == 2
    assert "no remote named 'nope'" in b.run("repro", "--all", "--pull", "-r", "nope").stderr
    (tmp_path / "not-a-dir").write_text("x")
    b.run("remote", "add", "broken", str(tmp_path / "not-a-dir")).ok()
    out = b.run("repro", "--all", "--pull", "-r", "broken").ok()
    assert out.stderr.count("not asking it again in this run") == 1 and "4 ran" in out.stderr

    # push: entries go after the objects, only with them, and only when asked
    c = remotes.fresh_clone(pushed, tmp_path / "c")
    c.run("remote", "add", "empty", str(tmp_path / "empty"), "--force").ok()
    assert "run cache: would push" not in c.run("push", "--all", "-r", "empty", "-n").stderr  # no entries here yet
    c.run("repro", "--all", "--pull").ok()
    assert "run cache: would push 4 entries" in c.run("push", "--all", "-r", "empty", "-n").ok().stderr
    c.run("push", "--all", "-r", "empty", "--no-run-cache").ok()
    assert runcache.entry_files(tmp_path / "empty") == []
    c.run("push", "--all", "-r", "empty", "train").ok()
    assert [json.loads(p.read_text())["outs"][0]["path"] for p in runcache.entry_files(tmp_path / "empty")] == [
        "train/model.txt"]
