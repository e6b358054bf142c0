"""What the pipeline-loading unit tests share: an empty project (its root state dir made)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pivot_ci.project import Project


@pytest.fixture
def proj(tmp_path: Path) -> Project:
    (tmp_path / ".pivot").mkdir()
    return Project(tmp_path)
