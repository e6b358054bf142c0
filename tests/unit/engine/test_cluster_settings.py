"""Choosing the executor: flags, then PIVOT_DASK_SCHEDULER, then `executor:` in .pivot/config.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from pivot_ci import errors
from pivot_ci.engine.cluster import settings
from pivot_ci.engine.cluster.settings import Flags
from pivot_ci.engine.executors import ExecutorChoice, Kind
from pivot_ci.project import Project
from pivot_ci.remote import config as remote_config


@pytest.fixture
def proj(tmp_path: Path) -> Project:
    (tmp_path / ".pivot").mkdir()
    return Project(tmp_path)


def _config(proj: Project, text: str) -> None:
    (proj.state_dir / "config.yaml").write_text(text)


def test_local_unless_something_asks_for_the_cluster(proj: Project) -> None:
    assert settings.choose(proj, Flags(), {}) == ExecutorChoice()
    _config(proj, "remotes: {}\n")
    assert settings.choose(proj, Flags(), {"PIVOT_DASK_SCHEDULER": " "}).kind is Kind.LOCAL


def test_flags_beat_the_environment_which_beats_the_config(proj: Project) -> None:
    _config(proj, "default: o\nremotes: {o: {url: /srv/r}}\nexecutor:\n  kind: dask\n  scheduler: tcp://conf:1\n"
                  "  timeout: 3\n")
    env = {"PIVOT_DASK_SCHEDULER": "tcp://env:1"}
    assert settings.choose(proj, Flags(), {}) == ExecutorChoice(Kind.DASK, "tcp://conf:1", None, 3.0,
                                                                ".pivot/config.yaml:4")
    assert settings.choose(proj, Flags(), env) == ExecutorChoice(Kind.DASK, "tcp://env:1", None, 3.0,
                                                                 "PIVOT_DASK_SCHEDULER")
    flagged = settings.choose(proj, Flags(scheduler="tcp://flag:1"), env)
    assert (flagged.scheduler, flagged.source, flagged.timeout) == ("tcp://flag:1", "--scheduler", 3.0)
    assert settings.choose(proj, Flags(executor="local"), env).kind is Kind.LOCAL
    by_file = settings.choose(proj, Flags(scheduler_file="s.json"), env)
    assert by_file.scheduler is None and by_file.scheduler_file == str(Path("s.json").resolve())
    remotes, default = remote_config.remotes(proj)  # the remotes' reader ignores the executor key
    assert [r.name for r in remotes] == ["o"] and default == "o"


def test_a_relative_scheduler_file_in_the_config_is_relative_to_the_project_root(proj: Project) -> None:
    _config(proj, "executor: {kind: dask, scheduler_file: cluster/scheduler.json}\n")
    assert settings.choose(proj, Flags(), {}).scheduler_file == str(proj.root / "cluster/scheduler.json")


@pytest.mark.parametrize(("flags", "env", "words"), [
    (Flags(executor="dask"), {}, "the dask executor needs a scheduler address"),
    (Flags(scheduler="a:1", scheduler_file="f"), {}, "not both"),
    (Flags(executor="local", scheduler="a:1"), {}, "contradict --executor local"),
])
def test_contradictions_and_missing_addresses_are_usage_errors(proj: Project, flags: Flags, env: dict[str, str],
                                                               words: str) -> None:
    with pytest.raises(errors.ConfigError) as info:
        settings.choose(proj, flags, env)
    assert words in info.value.message and info.value.exit_code == 2


@pytest.mark.parametrize(("text", "line", "words"), [
    ("executor: dask\n", 1, "executor must be a mapping"),
    ("executor:\n  kind: dask\n  schedular: tcp://a:1\n", 3, "unknown key 'schedular'"),
    ("executor:\n  kind: slurm\n", 2, "'slurm' is not an executor"),
    ("executor:\n  scheduler: 8786\n", 2, "executor.scheduler must be a non-empty string"),
    ("executor:\n  scheduler: a:1\n  scheduler_file: f\n", 3, "not both"),
    ("executor:\n  timeout: -1\n", 2, "is not a positive number of seconds"),
    ("executor:\n  kind: dask\n  kind: local\n", 3, "duplicate key 'kind'"),
    ("executor: {scheduler: &a [*a]}\n", 1, "malformed config"),
    ("executor: {kind: dask\n", 2, "malformed config"),
])
def test_config_errors_name_file_and_line(proj: Project, text: str, line: int, words: str) -> None:
    _config(proj, text)
    with pytest.raises(errors.ConfigError) as info:
        settings.choose(proj, Flags(), {})
    assert words in info.value.message and info.value.location == f".pivot/config.yaml:{line}"
