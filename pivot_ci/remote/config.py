"""Remotes in <project>/.pivot/config.yaml (committed), merged with the per-user file (credentials).

Project file (`pivot remote add` writes it):

    default: origin
    remotes:
      origin: {url: s3://bucket/prefix, endpoint_url: http://127.0.0.1:9000, region: eu-west-1}

User file, `$PIVOT_CONFIG` or `${XDG_CONFIG_HOME:-~/.config}/pivot-ci/config.yaml`, never in the repository:

    remotes:
      origin: {access_key_id: ..., secret_access_key: ..., profile: ..., endpoint_url: ...}
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pivot_ci.errors import ConfigError
from pivot_ci.project import Project
from pivot_ci.remote.base import RemoteSpec
from pivot_ci.state import fsutil

NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")
PROJECT_KEYS = ("url", "endpoint_url", "region", "profile")
SECRET_KEYS = ("access_key_id", "secret_access_key", "session_token")
USER_KEYS = ("endpoint_url", "region", "profile", *SECRET_KEYS)
_ADD_HINT = "add one: pivot remote add NAME URL --default"


def project_file(project: Project) -> Path:
    return project.state_dir / "config.yaml"


def user_file() -> Path:
    """The per-user settings file: outside every repository, so credentials are never committed."""
    explicit = os.environ.get("PIVOT_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "pivot-ci" / "config.yaml"


def _line_of(text: str, where: tuple[str | int, ...]) -> int | None:
    from pivot_ci import yamlutil

    return yamlutil.line_of(text, where)


def _load(path: Path, display: str) -> tuple[dict[str, Any], str]:
    """The config at `path` ({} when absent) and its text (for the lines of later errors). yaml is imported
    only when there is a config to read: a project without one (a no-change `status`) never needs it."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}, ""
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror or exc}", file=display) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config is not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be decoded",
                          file=display, line=data.count(b"\n", 0, exc.start) + 1,
                          hint="save the file as UTF-8") from None
    import yaml

    from pivot_ci import yamlutil

    try:
        raw = yamlutil.load(text)
    except yaml.YAMLError as exc:
        problem, line = yamlutil.problem(exc, text)
        raise ConfigError(f"malformed config: {problem}", file=display, line=line,
                          hint=yamlutil.LIMIT_HINT if isinstance(exc, yamlutil.LimitError) else None) from None
    if raw is None:
        return {}, text
    if not isinstance(raw, dict) or not isinstance(raw.get("remotes", {}), dict | None):
        where = ("remotes",) if isinstance(raw, dict) else ()
        raise ConfigError("malformed config: expected a mapping with a `remotes` mapping", file=display,
                          line=_line_of(text, where))
    return raw, text


def _read(path: Path, display: str) -> dict[str, Any]:
    return _load(path, display)[0]


def _entries(raw: dict[str, Any], allowed: tuple[str, ...], display: str,
             text: str = "") -> dict[str, dict[str, str]]:
    def error(message: str, *where: str, hint: str | None = None) -> ConfigError:
        return ConfigError(message, file=display, line=_line_of(text, ("remotes", *where)) if text else None,
                           hint=hint)

    out: dict[str, dict[str, str]] = {}
    for name, entry in (raw.get("remotes") or {}).items():
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise error(f"remotes: invalid remote name {name!r}", hint="letters, digits, '_', '-', '.'")
        if not isinstance(entry, dict):
            raise error(f"remotes.{name}: expected a mapping of settings", name)
        for key, value in entry.items():
            if key in SECRET_KEYS and key not in allowed:
                raise error(f"remotes.{name}.{key}: credentials do not belong in the project config", name, key,
                            hint=f"move them to {user_file()} (never committed)")
            if key not in allowed:
                raise error(f"remotes.{name}: unknown setting {key!r}", name, key,
                            hint=f"settings: {', '.join(allowed)}")
            if not isinstance(value, str):
                raise error(f"remotes.{name}.{key}: expected a string", name, key)
            if key == "url" and not value.strip():
                raise error(f"remotes.{name}.url is empty", name, key,
                            hint="a directory, file:///path or s3://bucket/prefix")
        out[name] = {str(k): v for k, v in entry.items()}
    return out


def _project(project: Project) -> tuple[dict[str, Any], dict[str, dict[str, str]], str]:
    display = project.rel(project_file(project))
    raw, text = _load(project_file(project), display)
    remotes = _entries(raw, PROJECT_KEYS, display, text)
    for name, entry in remotes.items():
        if "url" not in entry:
            raise ConfigError(f"remotes.{name}: missing `url`", file=display,
                              line=_line_of(text, ("remotes", name)))
    return raw, remotes, display


def remotes(project: Project) -> tuple[list[RemoteSpec], str | None]:
    """Every configured remote (project settings, then the user's on top) and the default's name."""
    raw, entries, display = _project(project)
    user_raw, user_text = _load(user_file(), str(user_file()))
    user = _entries(user_raw, USER_KEYS, str(user_file()), user_text)
    specs = [RemoteSpec(name=name, **{**entry, **user.get(name, {})}) for name, entry in sorted(entries.items())]
    default = raw.get("default")
    if default is not None and (not isinstance(default, str) or default not in entries):
        raise ConfigError(f"default remote {default!r} is not configured", file=display,
                          line=_line_of(project_file(project).read_text(encoding="utf-8"), ("default",)),
                          hint="pivot remote default NAME")
    return specs, default


def resolve(project: Project, name: str | None, *, purpose: str = "this command") -> RemoteSpec:
    """The remote called `name`, else the default one, else the only one; ConfigError (exit 2) otherwise."""
    specs, default = remotes(project)
    by_name = {s.name: s for s in specs}
    if name is not None:
        if name not in by_name:
            known = ", ".join(by_name) or "none"
            raise ConfigError(f"no remote named {name!r} (configured: {known})", hint=_ADD_HINT)
        return by_name[name]
    if default is not None:
        return by_name[default]
    if len(specs) == 1:
        return specs[0]
    if not specs:
        raise ConfigError(f"{purpose} needs a remote, and none is configured", hint=_ADD_HINT)
    raise ConfigError(f"{purpose} needs a remote: several are configured and none is the default",
                      hint="choose one with -r NAME, or set one: pivot remote default NAME")


def check_url(url: str) -> None:
    if not url.strip():
        raise ConfigError("the remote URL is empty", hint="a directory, file:///path or s3://bucket/prefix")
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme == "s3":
        if not url[len("s3://"):].split("/", 1)[0]:
            raise ConfigError(f"{url!r}: an S3 URL names a bucket: s3://BUCKET[/PREFIX]")
    elif scheme == "file":
        if not url[len("file://"):].startswith("/"):
            raise ConfigError(f"{url!r}: a file:// URL holds an absolute path (file:///srv/remote)")
    elif scheme:
        raise ConfigError(f"{url!r}: unsupported remote URL scheme {scheme!r}",
                          hint="use a directory path, file:///path or s3://bucket/prefix")


def _write(project: Project, raw: dict[str, Any]) -> None:
    import yaml

    from pivot_ci import yamlutil

    text = yaml.dump(raw, Dumper=yamlutil.Dumper, sort_keys=True, default_flow_style=False)
    fsutil.atomic_write(project_file(project), text.encode("utf-8"))


def add(project: Project, name: str, settings: dict[str, str], *, make_default: bool, force: bool) -> None:
    """Add (or with `force`, replace) remote `name`; `settings` holds `url` and optional PROJECT_KEYS."""
    if not NAME_RE.fullmatch(name):
        raise ConfigError(f"invalid remote name {name!r}", hint="letters, digits, '_', '-', '.'")
    check_url(settings["url"])
    raw, entries, _ = _project(project)
    if name in entries and not force:
        raise ConfigError(f"remote {name!r} already exists ({entries[name]['url']})",
                          hint="use --force to replace it, or `pivot remote remove` it first")
    raw.setdefault("remotes", {})[name] = {k: v for k, v in settings.items() if k in PROJECT_KEYS and v}
    if make_default or not entries:
        raw["default"] = name
    _write(project, raw)


def remove(project: Project, name: str) -> None:
    raw, entries, _ = _project(project)
    if name not in entries:
        raise ConfigError(f"no remote named {name!r}", hint="pivot remote list")
    del raw["remotes"][name]
    if raw.get("default") == name:
        del raw["default"]
    _write(project, raw)


def set_default(project: Project, name: str) -> None:
    raw, entries, _ = _project(project)
    if name not in entries:
        raise ConfigError(f"no remote named {name!r}", hint="pivot remote list")
    raw["default"] = name
    _write(project, raw)
