"""Shared fixtures: real projects on disk, driven through the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import factory


@pytest.fixture
def project(tmp_path: Path) -> factory.Project:
    """An empty project (a `.pivot/` directory) in a temporary directory."""
    return factory.new_project(tmp_path / "proj")


@pytest.fixture
def multi(tmp_path: Path) -> factory.Project:
    """The three-pipeline project of `factory.multi`."""
    return factory.multi(tmp_path / "proj")
