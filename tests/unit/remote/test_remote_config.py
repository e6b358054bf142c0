"""Remotes in .pivot/config.yaml, merged with the per-user file."""

from __future__ import annotations

from pathlib import Path

import pytest

from pivot_ci.errors import ConfigError
from pivot_ci.project import Project
from pivot_ci.remote import config


@pytest.fixture
def proj(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    (tmp_path / "p/.pivot").mkdir(parents=True)
    monkeypatch.setenv("PIVOT_CONFIG", str(tmp_path / "user.yaml"))
    return Project(tmp_path / "p")


def test_first_remote_becomes_the_default(proj: Project) -> None:
    config.add(proj, "a", {"url": "/srv/a"}, make_default=False, force=False)
    config.add(proj, "b", {"url": "s3://b/p", "endpoint_url": "http://x", "region": ""}, make_default=False,
               force=False)
    specs, default = config.remotes(proj)
    assert [s.name for s in specs] == ["a", "b"] and default == "a"
    assert config.resolve(proj, None).name == "a"
    assert config.resolve(proj, "b").endpoint_url == "http://x"
    assert config.resolve(proj, "b").region is None
    config.set_default(proj, "b")
    assert config.resolve(proj, None).name == "b"
    config.remove(proj, "b")
    assert config.remotes(proj)[1] is None and config.resolve(proj, None).name == "a"  # the only one


def test_no_remote_is_a_config_error(proj: Project) -> None:
    with pytest.raises(ConfigError, match="--allow-missing needs a remote, and none is configured"):
        config.resolve(proj, None, purpose="--allow-missing")
    with pytest.raises(ConfigError, match="no remote named 'x'"):
        config.resolve(proj, "x")


def test_several_remotes_and_no_default(proj: Project) -> None:
    (proj.state_dir / "config.yaml").write_text("remotes:\n  a: {url: /a}\n  b: {url: /b}\n")
    with pytest.raises(ConfigError, match="several are configured"):
        config.resolve(proj, None)


def test_user_file_adds_credentials_and_overrides(proj: Project, tmp_path: Path) -> None:
    config.add(proj, "s3", {"url": "s3://b/p", "endpoint_url": "http://team"}, make_default=True, force=False)
    (tmp_path / "user.yaml").write_text(
        "remotes:\n  s3: {access_key_id: AK, secret_access_key: SK, endpoint_url: 'http://mine'}\n")
    spec = config.resolve(proj, None)
    assert (spec.access_key_id, spec.secret_access_key, spec.endpoint_url) == ("AK", "SK", "http://mine")
    assert "SK" not in repr(spec)
    assert "AK" not in (proj.state_dir / "config.yaml").read_text()


def test_user_file_location_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PIVOT_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config.user_file() == tmp_path / "xdg/pivot-ci/config.yaml"


@pytest.mark.parametrize(("text", "message"), [
    ("remotes:\n  a: {url: /a, secret_access_key: x}\n", "credentials do not belong in the project config"),
    ("remotes:\n  a: {url: /a, colour: red}\n", "unknown setting 'colour'"),
    ("remotes:\n  a: {region: x}\n", "missing `url`"),
    ("remotes: [1, 2]\n", "expected a mapping"),
    ("remotes:\n  a: {url: /a}\ndefault: b\n", "default remote 'b' is not configured"),
    ("remotes: {a: {url: [1]}}\n", "expected a string"),
    ("remotes: {a: {url: /a}\n", "malformed config"),
])
def test_bad_project_config(proj: Project, text: str, message: str) -> None:
    (proj.state_dir / "config.yaml").write_text(text)
    with pytest.raises(ConfigError, match=message) as exc:
        config.remotes(proj)
    assert exc.value.file == ".pivot/config.yaml"


@pytest.mark.parametrize(("name", "url", "message"), [
    ("bad name", "/a", "invalid remote name"),
    ("a", "gs://x", "unsupported remote URL scheme"),
    ("a", "s3://", "names a bucket"),
    ("a", "file://relative", "absolute path"),
])
def test_add_validates(proj: Project, name: str, url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config.add(proj, name, {"url": url}, make_default=False, force=False)


def test_add_keeps_other_keys_and_refuses_duplicates(proj: Project) -> None:
    (proj.state_dir / "config.yaml").write_text("something_else: 1\n")
    config.add(proj, "a", {"url": "/a"}, make_default=False, force=False)
    with pytest.raises(ConfigError, match="already exists"):
        config.add(proj, "a", {"url": "/b"}, make_default=False, force=False)
    config.add(proj, "a", {"url": "/b"}, make_default=False, force=True)
    text = (proj.state_dir / "config.yaml").read_text()
    assert "something_else: 1" in text and "url: /b" in text
