"""Which executor `repro` uses: flags, then PIVOT_DASK_SCHEDULER, then `executor:` in .pivot/config.yaml.

    executor:
      kind: dask                     # or local (the default)
      scheduler: tcp://10.0.0.5:8786 # or scheduler_file: PATH (relative to the project root)
      timeout: 10                    # seconds to connect, to find workers, to get back a lost resource

The same file holds the remotes (remote/config.py); each reader looks at its own key only.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

import yaml

from pivot_ci import yamlutil
from pivot_ci.engine import executors
from pivot_ci.engine.executors import ExecutorChoice, Kind
from pivot_ci.errors import ConfigError
from pivot_ci.project import Project

ENV_SCHEDULER = "PIVOT_DASK_SCHEDULER"
KEYS = ("kind", "scheduler", "scheduler_file", "timeout")
_HINT = "e.g. executor: {kind: dask, scheduler: 'tcp://HOST:8786'}"


@dataclasses.dataclass(frozen=True, slots=True)
class Flags:
    """`repro --executor/--scheduler/--scheduler-file`, None when not given."""

    executor: str | None = None
    scheduler: str | None = None
    scheduler_file: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class _Configured:
    kind: Kind | None = None
    scheduler: str | None = None
    scheduler_file: str | None = None
    timeout: float | None = None
    where: str = ""


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def read(project: Project) -> _Configured:
    """The `executor:` entry of the project config (file:line in every error)."""
    path = project.state_dir / "config.yaml"
    display = project.rel(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return _Configured()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config: {exc}", file=display) from None
    try:
        root = yamlutil.compose(text)  # bounded: no alias bombs
    except yaml.YAMLError as exc:
        problem, line = yamlutil.problem(exc, text)
        raise ConfigError(f"malformed config: {problem}", file=display, line=line,
                          hint=yamlutil.LIMIT_HINT if isinstance(exc, yamlutil.LimitError) else None) from None
    if not isinstance(root, yaml.MappingNode):
        return _Configured()  # remote/config.py reports a config that is not a mapping
    node = next((v for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == "executor"), None)
    if node is None:
        return _Configured()
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError("executor must be a mapping", file=display, line=_line(node), hint=_HINT)
    values: dict[str, tuple[object, int]] = {}
    for key_node, value_node in node.value:
        key, line = str(key_node.value), _line(key_node)
        if key not in KEYS:
            raise ConfigError(f"executor: unknown key {key!r}", file=display, line=line,
                              hint=f"valid keys: {', '.join(KEYS)}")
        if key in values:
            raise ConfigError(f"executor: duplicate key {key!r}", file=display, line=line,
                              hint="YAML keeps only one of them: remove one")
        values[key] = (yamlutil.construct(value_node), _line(value_node))
    return _parse(values, display, project)


def _parse(values: Mapping[str, tuple[object, int]], display: str, project: Project) -> _Configured:
    def text(key: str) -> str | None:
        if key not in values:
            return None
        value, line = values[key]
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"executor.{key} must be a non-empty string", file=display, line=line, hint=_HINT)
        return value.strip()

    kind = None
    if "kind" in values:
        value, line = values["kind"]
        try:
            kind = Kind(value)
        except ValueError:
            raise ConfigError(f"executor.kind: {value!r} is not an executor", file=display, line=line,
                              hint="kind: local or kind: dask") from None
    scheduler, scheduler_file = text("scheduler"), text("scheduler_file")
    if scheduler and scheduler_file:
        raise ConfigError("executor: give `scheduler` or `scheduler_file`, not both", file=display,
                          line=values["scheduler_file"][1])
    timeout = None
    if "timeout" in values:
        value, line = values["timeout"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ConfigError(f"executor.timeout: {value!r} is not a positive number of seconds", file=display,
                              line=line, hint="e.g. timeout: 30")
        timeout = float(value)
    if scheduler_file is not None:
        scheduler_file = str(project.root / scheduler_file)
    first = min(line for _, line in values.values()) if values else 0
    return _Configured(kind, scheduler, scheduler_file, timeout, f"{display}:{first}")


def choose(project: Project, flags: Flags, environ: Mapping[str, str] = os.environ) -> ExecutorChoice:
    """The executor for this run (ConfigError, exit 2, for contradictions and a dask without a scheduler)."""
    if flags.scheduler and flags.scheduler_file:
        raise ConfigError("give --scheduler or --scheduler-file, not both")
    if flags.executor == Kind.LOCAL.value and (flags.scheduler or flags.scheduler_file):
        raise ConfigError("--scheduler and --scheduler-file choose a Dask cluster; they contradict --executor local")
    conf = read(project)
    env = environ.get(ENV_SCHEDULER, "").strip() or None
    if flags.executor is not None:
        kind = Kind(flags.executor)
    elif flags.scheduler or flags.scheduler_file or env:
        kind = Kind.DASK
    else:
        kind = conf.kind or Kind.LOCAL
    if kind is Kind.LOCAL:
        return ExecutorChoice()
    timeout = conf.timeout or executors.DEFAULT_TIMEOUT
    if flags.scheduler or flags.scheduler_file:
        source = "--scheduler" if flags.scheduler else "--scheduler-file"
        file = str(Path(flags.scheduler_file).resolve()) if flags.scheduler_file else None
        return ExecutorChoice(Kind.DASK, flags.scheduler, file, timeout, source)
    if env:
        return ExecutorChoice(Kind.DASK, env, None, timeout, ENV_SCHEDULER)
    if conf.scheduler or conf.scheduler_file:
        return ExecutorChoice(Kind.DASK, conf.scheduler, conf.scheduler_file, timeout, conf.where)
    raise ConfigError("the dask executor needs a scheduler address",
                      hint=f"--scheduler tcp://HOST:8786, --scheduler-file PATH, {ENV_SCHEDULER}, "
                           "or `executor: {scheduler: ...}` in .pivot/config.yaml")
