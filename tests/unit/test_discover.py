"""Which pipeline.py files are pivot's: read from their source, never run."""

from __future__ import annotations

from pathlib import Path

import pytest

from pivot_ci import discover


@pytest.mark.parametrize(("source", "ours"), [
    ("from pivot_ci import Pipeline\npipeline = Pipeline()\n", True),
    ("import os\nimport pivot_ci\n", True),
    ("import os, pivot_ci as pc\n", True),
    ("try:\n    from pivot_ci.pipeline.api import Pipeline\nexcept ImportError:\n    raise\n", True),
    ("x = 1; import pivot_ci\n", True),  # not at a line start: found by parsing
    ("from pivot_ci import (\n  Pipeline,\n)\ndef broken(:\n", True),  # does not parse: its error is reported
    ('"""Mentions pivot_ci, imports nothing of it."""\nimport sklearn.pipeline\n', False),
    ("from pivot_ci_extras import thing\n", False),
    ("import pivot_cid\n", False),
    ("def run():\n    return 'pivot_ci'\n", False),
    ("class Pipeline:\n    pass\n", False),
    ("def broken(:\n  'pivot_ci'\n", False),
])
def test_a_pipeline_py_is_ours_when_it_imports_pivot_ci(tmp_path: Path, source: str, ours: bool) -> None:
    path = tmp_path / "pipeline.py"
    path.write_text(source)
    assert discover.imports_pivot(path) is ours
