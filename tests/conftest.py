"""Shared fixtures: real projects on disk, driven through the real CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import factory, s3server
from tests.support.dask_cluster import Cluster


@pytest.fixture
def project(tmp_path: Path) -> factory.Project:
    """An empty project (a `.pivot/` directory) in a temporary directory."""
    return factory.new_project(tmp_path / "proj")


@pytest.fixture
def multi(tmp_path: Path) -> factory.Project:
    """The three-pipeline project of `factory.multi`."""
    return factory.multi(tmp_path / "proj")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[s3server.MotoServer]:
    """One moto S3 server per test process (xdist worker), on a free port of 127.0.0.1."""
    server = s3server.MotoServer().start()
    yield server
    server.close()


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy AWS credentials for the CLI subprocesses; the per-user config file in a private directory."""
    for key, value in s3server.DUMMY_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("PIVOT_CONFIG", raising=False)


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[Cluster]:
    """One Dask scheduler and two workers ("plain", 2 threads; "gpu", 1 thread, GPU=1) per test process.

    Tests using it also carry `xdist_group("dask")`; where pytest-xdist honours it (not with pytest 9.2 + xdist
    3.8, whose loadgroup ignores the mark) a run starts one cluster, else one per xdist worker that needs it.
    """
    cluster = Cluster().start()
    yield cluster
    cluster.close()
