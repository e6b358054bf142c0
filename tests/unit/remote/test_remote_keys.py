"""Object keys from a remote are validated before they become paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from pivot_ci.errors import RemoteError
from pivot_ci.remote import base, local, s3

SPEC = base.RemoteSpec("origin", "s3://bucket/prefix")
GOOD = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("key", [GOOD, GOOD + ".dir", "abc"])
def test_valid_keys(key: str) -> None:
    assert base.check_key(SPEC, key) == key
    assert base.rel_name(key) == f"files/{key[:2]}/{key[2:]}"


@pytest.mark.parametrize("key", ["", "../x", "ab/cd", GOOD.upper(), GOOD + ".DIR", GOOD + "/..", "..", ".dir",
                                 GOOD + ".dir.dir", "/etc/passwd", "ab\x00cd", "zz" + GOOD])
def test_invalid_keys_are_refused_naming_the_remote(key: str) -> None:
    with pytest.raises(RemoteError) as exc:
        base.check_key(SPEC, key)
    assert "remote 'origin' (s3://bucket/prefix)" in str(exc.value)
    assert exc.value.exit_code == 1


@pytest.mark.parametrize("name", [f"files/{GOOD[:2]}/../../escape", f"files/{GOOD[:2]}/{GOOD[2:]}/x",
                                  f"other/{GOOD[:2]}/{GOOD[2:]}", f"files/{GOOD[:3]}/{GOOD[3:]}",
                                  f"files/{GOOD[:2]}/..", "files/../" + GOOD])
def test_listed_names_must_be_exactly_files_2hex_rest(name: str) -> None:
    with pytest.raises(RemoteError, match="refused object key"):
        base.key_of_listed(SPEC, name)


def test_listed_name_gives_its_key() -> None:
    assert base.key_of_listed(SPEC, f"files/{GOOD[:2]}/{GOOD[2:]}.dir") == GOOD + ".dir"


def test_local_remote_never_joins_an_invalid_key(tmp_path: Path) -> None:
    remote = local.LocalRemote(base.RemoteSpec("here", str(tmp_path)), tmp_path)
    (tmp_path / "secret").write_text("x")
    with pytest.raises(RemoteError):
        remote.download("../secret", tmp_path / "out")
    with pytest.raises(RemoteError):
        remote.upload("../../x", tmp_path / "secret")
    assert not (tmp_path / "out").exists()


def test_local_url_forms(tmp_path: Path) -> None:
    assert local.url_path("file:///srv/r", tmp_path) == Path("/srv/r")
    assert local.url_path("/srv/r", tmp_path) == Path("/srv/r")
    assert local.url_path("../r", tmp_path) == tmp_path / "../r"


def test_s3_url_split() -> None:
    assert s3.split_url("s3://bucket") == ("bucket", "")
    assert s3.split_url("s3://bucket/a/b/") == ("bucket", "a/b/")


RUNS = base.Namespace.RUNS


def test_run_cache_keys_live_under_their_own_namespace() -> None:
    assert base.check_key(SPEC, GOOD, RUNS) == GOOD
    assert base.rel_name(GOOD, RUNS) == f"runs/{GOOD[:2]}/{GOOD[2:]}"
    assert base.key_of_listed(SPEC, f"runs/{GOOD[:2]}/{GOOD[2:]}", RUNS) == GOOD


@pytest.mark.parametrize("key", [GOOD + ".dir", "abc", GOOD + "0", "../" + GOOD, GOOD.upper(), ""])
def test_run_cache_keys_are_exactly_an_inputs_hash(key: str) -> None:
    with pytest.raises(RemoteError, match="refused run-cache key"):
        base.check_key(SPEC, key, RUNS)


@pytest.mark.parametrize("name", [f"files/{GOOD[:2]}/{GOOD[2:]}", f"runs/{GOOD[:2]}/../../{GOOD[2:]}",
                                  f"runs/{GOOD[:2]}/{GOOD[2:]}.dir", f"runs/{GOOD[:3]}/{GOOD[3:]}"])
def test_listed_run_cache_names_must_be_exactly_runs_2hex_rest(name: str) -> None:
    with pytest.raises(RemoteError, match="refused run-cache key"):
        base.key_of_listed(SPEC, name, RUNS)


def test_local_remote_keeps_entries_apart_from_objects(tmp_path: Path) -> None:
    remote = local.LocalRemote(base.RemoteSpec("here", str(tmp_path / "r")), tmp_path)
    (tmp_path / "entry").write_text("{}")
    remote.prepare_upload()
    remote.upload(GOOD, tmp_path / "entry", RUNS)
    assert (tmp_path / "r/runs" / GOOD[:2] / GOOD[2:]).is_file()
    assert remote.has_many([GOOD], 1, RUNS) == {GOOD} and remote.has_many([GOOD], 1) == set()
    assert remote.download(GOOD, tmp_path / "back", RUNS) and not remote.download(GOOD, tmp_path / "none")
    with pytest.raises(RemoteError):
        remote.download(GOOD + ".dir", tmp_path / "out", RUNS)


def test_local_remote_lists_and_deletes_objects_and_refuses_foreign_names(tmp_path: Path) -> None:
    root = tmp_path / "remote"
    remote = local.LocalRemote(base.RemoteSpec("here", str(root)), tmp_path)
    assert remote.list_objects(1) == {}  # not created yet: holds nothing
    src = tmp_path / "obj"
    src.write_text("12345")
    remote.upload(GOOD, src)
    remote.upload(GOOD[:-1] + "0.dir", src)
    (root / "files" / GOOD[:2] / f".{GOOD[2:]}.99.tmp").write_text("an upload in progress")
    listed = remote.list_objects(1)
    assert set(listed) == {GOOD, GOOD[:-1] + "0.dir"} and listed[GOOD].size == 5
    remote.delete([GOOD[:-1] + "0.dir", GOOD, GOOD], 1)  # an absent key is not an error
    assert remote.list_objects(1) == {}
    (root / "files" / "zz").mkdir()
    (root / "files" / "zz" / "notakey").write_text("x")
    with pytest.raises(RemoteError, match="refused object key"):
        remote.list_objects(1)
