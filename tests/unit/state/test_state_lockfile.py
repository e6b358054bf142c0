from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pivot_ci.errors import StateError
from pivot_ci.state import lockfile


def _data() -> lockfile.LockData:
    return {
        "schema": lockfile.SCHEMA,
        "stage": "train",
        "cmd": "python train.py\n  --fast",
        "code": None,
        "params": {"lr": 0.1, "model": {"layers": 3, "act": "relu"}},
        "deps": [{"path": "data/b.csv", "hash": "bbb"}, {"path": "data/a.csv", "hash": "aaa"}],
        "outs": [{"path": "model.pkl", "hash": "ccc"}],
        "metrics": [],
    }


def _read_error(tmp_path: Path, text: str) -> StateError:
    path = tmp_path / "train.lock"
    path.write_text(text)
    with pytest.raises(StateError) as info:
        lockfile.read(path, "p/.pivot/stages/train.lock")
    assert info.value.file == "p/.pivot/stages/train.lock"
    assert info.value.hint is not None
    return info.value


def _valid_text() -> str:
    return lockfile.dumps(_data()).decode()


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "stages" / "train.lock"
    lockfile.write(path, _data())
    back = lockfile.read(path, "train.lock")
    expected = _data()
    expected["deps"] = sorted(expected["deps"], key=lambda e: e["path"])
    assert back == expected


def test_missing_file_reads_as_none(tmp_path: Path) -> None:
    assert lockfile.read(tmp_path / "nope.lock", "nope.lock") is None


def test_write_is_sorted_and_deterministic(tmp_path: Path) -> None:
    a = _data()
    b = _data()
    b["deps"] = list(reversed(b["deps"]))
    b["params"] = {"model": {"act": "relu", "layers": 3}, "lr": 0.1}
    assert lockfile.dumps(a) == lockfile.dumps(b)
    text = lockfile.dumps(a).decode()
    top = [line.split(":")[0] for line in text.splitlines() if line and not line[0].isspace()
           and not line.startswith("-")]
    assert top == sorted(top) == ["cmd", "code", "deps", "metrics", "outs", "params", "schema", "stage"]
    assert text.index("data/a.csv") < text.index("data/b.csv")
    assert "{" not in text  # block style throughout
    assert "cmd: |" in text  # multi-line command kept readable


def test_malformed_yaml_reports_line(tmp_path: Path) -> None:
    err = _read_error(tmp_path, "schema: 1\nstage: train\ndeps: [\n  {path: a\n")
    assert err.line is not None and err.line >= 4
    assert "git checkout -- p/.pivot/stages/train.lock" in (err.hint or "")


def test_not_a_mapping(tmp_path: Path) -> None:
    assert "mapping" in _read_error(tmp_path, "- a\n- b\n").message


def test_missing_key(tmp_path: Path) -> None:
    text = "\n".join(line for line in _valid_text().splitlines() if not line.startswith("code:"))
    assert "missing key 'code'" in _read_error(tmp_path, text).message


def test_unexpected_key_is_located(tmp_path: Path) -> None:
    err = _read_error(tmp_path, _valid_text() + "extra: 1\n")
    assert "extra" in err.message
    assert err.line == len(_valid_text().splitlines()) + 1


@pytest.mark.parametrize(("key", "value"), [
    ("schema", "one"), ("schema", True), ("stage", ["train"]), ("cmd", 3), ("params", [1]),
    ("params", {1: "a"}), ("deps", {"path": "a"}), ("outs", [{"path": "a", "hash": 12}]),
    ("metrics", [{"path": "a"}]),
])
def test_wrong_types_are_located(tmp_path: Path, key: str, value: object) -> None:
    raw = dict(_data())
    raw[key] = value
    text = yaml.safe_dump(raw, sort_keys=True)
    err = _read_error(tmp_path, text)
    assert f"`{key}`" in err.message
    key_line = [line.split(":")[0] for line in text.splitlines()].index(key) + 1
    # a bad item of a list is located at the item itself, just below its key
    assert err.line == key_line + (1 if isinstance(value, list) and key in ("outs", "metrics") else 0)


@pytest.mark.parametrize(("path", "why"), [
    ("../victim", "outside the project"), ("/etc/passwd", "absolute"), ("a/../../b", "not a normalised"),
    ("", "empty"), (".", "outside the project"), ("a//b", "not a normalised"),
])
def test_paths_that_leave_the_project_are_located(tmp_path: Path, path: str, why: str) -> None:
    data = _data()
    data["outs"] = [{"path": "model.pkl", "hash": "ccc"}, {"path": path, "hash": "ddd"}]
    text = lockfile.dumps(data).decode()
    err = _read_error(tmp_path, text)
    assert why in err.message and repr(path) in err.message
    assert text.splitlines()[err.line - 1].strip().lstrip("- ") in (f"path: {path}", f"path: '{path}'",
                                                                    "path: ''")


def test_a_bad_hash_is_located(tmp_path: Path) -> None:
    text = _valid_text().replace("hash: ccc", "hash: ../../x")
    err = _read_error(tmp_path, text)
    assert "'../../x' is not a content hash" in err.message
    assert "hash: ../../x" in text.splitlines()[err.line - 1]


def test_an_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    bomb = "".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9 if i else ["x"] * 9) + "]\n" for i in range(9))
    err = _read_error(tmp_path, _valid_text() + bomb)
    assert "alias" in err.message and err.line is not None


def test_written_locks_hold_no_alias(tmp_path: Path) -> None:
    shared = [1, 2, 3]
    data = _data()
    data["params"] = {"a": shared, "b": shared}
    assert "&" not in lockfile.dumps(data).decode()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    text = _valid_text().replace("schema: 1", "schema: 99") + "added_in_99: true\n"
    err = _read_error(tmp_path, text)
    assert "schema 99" in err.message and "upgrade" in (err.hint or "")
    assert err.line == text.splitlines().index("schema: 99") + 1


def test_control_characters_give_a_one_line_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "s.lock"
    path.write_text("schema: 1\nstage: s\ncmd: bad\x00byte\n")
    with pytest.raises(StateError) as exc:
        lockfile.read(path, "p/.pivot/stages/s.lock")
    assert exc.value.line == 3 and "\n" not in exc.value.message
