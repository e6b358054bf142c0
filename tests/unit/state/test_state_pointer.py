from __future__ import annotations

from pathlib import Path

import pytest

from pivot_ci.errors import StateError
from pivot_ci.state import pointer

HASH = "0123456789abcdef0123456789abcdef"


def test_round_trip_sorted_and_atomic(tmp_path: Path) -> None:
    data: pointer.PointerData = {"schema": 1, "path": "images", "hash": HASH + ".dir", "size": 4096, "files": 3}
    path = tmp_path / "images.pvt"
    pointer.write(path, data)
    text = path.read_text()
    assert text == f"files: 3\nhash: {HASH}.dir\npath: images\nschema: 1\nsize: 4096\n"
    assert pointer.read(path, "images.pvt") == data
    assert [p.name for p in tmp_path.iterdir()] == ["images.pvt"]  # no temporary file left


def test_absent_reads_as_none_and_paths_resolve_beside_the_pointer(tmp_path: Path) -> None:
    assert pointer.read(tmp_path / "nope.pvt", "nope.pvt") is None
    data: pointer.PointerData = {"schema": 1, "path": "raw.csv", "hash": HASH, "size": 1}
    assert pointer.data_path("data/raw.csv.pvt", data) == "data/raw.csv"
    assert pointer.data_path("top.pvt", {**data, "path": "sub/top"}) == "sub/top"  # type: ignore[typeddict-item]
    assert pointer.pointer_of("data/raw.csv") == "data/raw.csv.pvt"


VALID = f"hash: {HASH}\npath: raw.csv\nschema: 1\nsize: 12\n"


@pytest.mark.parametrize(("text", "message", "line"), [
    ("hash: [\n", "malformed pointer file: ", 2),
    ("- a\n", "expected a mapping", 1),
    (VALID + "extra: 1\n", "unexpected key 'extra'", 5),
    (VALID.replace("size: 12\n", ""), "missing key 'size'", 1),
    (VALID.replace("schema: 1", "schema: 0"), "`schema` must be a positive integer", 3),
    (VALID.replace("schema: 1", "schema: 7"), "schema 7, newer than this pivot-ci reads (1)", 3),
    (VALID.replace("path: raw.csv", "path: ../up.csv"), "must stay inside the pointer's directory", 2),
    (VALID.replace("path: raw.csv", "path: /abs.csv"), "must be a relative POSIX path", 2),
    (VALID.replace("path: raw.csv", "path: .git/config"), "may not reach into .git or .pivot", 2),
    (VALID.replace("path: raw.csv", "path: ''"), "`path` must be a non-empty string", 2),
    (VALID.replace(HASH, "XYZ"), "`hash` must be a content hash", 1),
    (VALID.replace("size: 12", "size: true"), "`size` must be a non-negative integer", 4),
    (VALID.replace(HASH, HASH + ".dir"), "a directory's pointer needs `files`", 1),
    (VALID + "files: 3\n", "`files` is only for a directory", 5),
])
def test_every_malformed_pointer_names_file_line_and_fix(tmp_path: Path, text: str, message: str,
                                                        line: int) -> None:
    path = tmp_path / "raw.csv.pvt"
    path.write_text(text)
    with pytest.raises(StateError) as info:
        pointer.read(path, "data/raw.csv.pvt")
    err = info.value
    assert message in err.message
    assert err.file == "data/raw.csv.pvt" and err.line == line
    assert err.hint is not None and "pivot track" in err.hint
