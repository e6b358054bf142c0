"""Run-cache entries: what the key covers, and that nothing but a well-formed entry of exactly these inputs is read."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pivot_ci.errors import StateError
from pivot_ci.state import hashing, runcache

H1, H2 = "0" * 32, "1" * 32
BASE: dict[str, Any] = {
    "cmd": "python train.py", "code": None, "cwd": "models",
    "params": {"lr": 0.1, "layers": [1, 2]},
    "deps": {"models/train.py": H1, "data/raw": H2 + ".dir"},
    "outs": [("models/model.pkl", False), ("models/features", True)],
    "metrics": [("models/metrics.json", False)],
}


def _inputs(**changes: Any) -> runcache.Inputs:
    return runcache.make_inputs(**{**BASE, **changes})


def _entry(inputs: runcache.Inputs | None = None) -> runcache.Entry:
    inputs = inputs or _inputs()
    metric = runcache.metric("models/metrics.json", b'{"loss": 0.2}\n')
    return runcache.new_entry(inputs, [{"path": "models/model.pkl", "hash": H1},
                                       {"path": "models/features", "hash": H2 + ".dir"}], [metric], 1.5)


def test_declaration_order_does_not_change_the_key() -> None:
    reordered = _inputs(deps=dict(reversed(BASE["deps"].items())), outs=list(reversed(BASE["outs"])),
                        params={"layers": (1, 2), "lr": 0.1})
    assert runcache.key_of(reordered) == runcache.key_of(_inputs())
    assert runcache.KEY_RE.match(runcache.key_of(_inputs()))


@pytest.mark.parametrize("change", [
    {"cmd": "python train.py --fast"},
    {"cmd": None, "code": "ab" * 16},  # a Python stage: another kind
    {"cwd": "other"},
    {"params": {"lr": 0.2, "layers": [1, 2]}},
    {"params": {"lr": "0.1", "layers": [1, 2]}},  # a string is not the number
    {"params": {"lr": 0.1, "layers": [1, 2], "seed": 1}},
    {"deps": {"models/train.py": H2, "data/raw": H2 + ".dir"}},
    {"deps": {"models/train2.py": H1, "data/raw": H2 + ".dir"}},
    {"deps": {"models/train.py": H1}},
    {"outs": [("models/model.pkl", False), ("models/features", False)]},  # a file, not a directory
    {"outs": [("models/model2.pkl", False), ("models/features", True)]},
    {"metrics": []},
    {"metrics": [("models/metrics.yaml", False)]},
])
def test_every_input_that_matters_is_in_the_key(change: dict[str, Any]) -> None:
    assert runcache.key_of(_inputs(**change)) != runcache.key_of(_inputs())


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    entry = _entry()
    path = runcache.write(tmp_path, entry)
    assert path == tmp_path / "runs" / entry["key"][:2] / entry["key"][2:]
    assert os.stat(path).st_mode & 0o222 == 0
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    assert runcache.read(tmp_path, entry["key"], _inputs(), "x") == entry
    assert runcache.read(tmp_path, "f" * 32, _inputs(), "x") is None
    assert runcache.metric_bytes(entry["metrics"][0]) == b'{"loss": 0.2}\n'
    again = dict(entry, duration=9.0)
    runcache.write(tmp_path, again)  # a later run of the same inputs replaces it (atomic, over a read-only file)
    assert runcache.read(tmp_path, entry["key"], _inputs(), "x") == again


def test_binary_metrics_are_kept_as_base64() -> None:
    data = b"\xff\x00metrics"
    m = runcache.metric("m.bin", data)
    assert m["encoding"] == "base64" and runcache.metric_bytes(m) == data and m["hash"] == hashing.hash_bytes(data)


def _bad(edit: Any) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(runcache.dumps(_entry()))
    edit(raw)
    return raw


def _key() -> str:
    return runcache.key_of(_inputs())


@pytest.mark.parametrize(("data", "why"), [
    (b"", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (json.dumps(_bad(lambda r: r.pop("duration"))).encode(), "wrong keys"),
    (json.dumps(_bad(lambda r: r.update(key="f" * 32))).encode(), "key field"),
    (json.dumps(_bad(lambda r: r["inputs"]["params"].update(lr=0.3))).encode(), "do not hash to its key"),
    (json.dumps(_bad(lambda r: r["outs"][0].update(hash="../../etc/passwd"))).encode(), "invalid hash"),
    (json.dumps(_bad(lambda r: r["outs"][0].update(hash=H1))).encode(), "invalid hash"),  # a dir needs .dir
    (json.dumps(_bad(lambda r: r["outs"].pop())).encode(), "exactly the declared outputs"),
    (json.dumps(_bad(lambda r: r["outs"][0].update(path=7))).encode(), "`outs` is malformed"),
    (json.dumps(_bad(lambda r: r["metrics"][0].update(content="{}"))).encode(), "does not match its hash"),
    (json.dumps(_bad(lambda r: r["metrics"][0].update(encoding="base64", content="!!"))).encode(), "undecodable"),
    (json.dumps(_bad(lambda r: r["metrics"][0].update(encoding="rot13"))).encode(), "bad encoding"),
    (json.dumps(_bad(lambda r: r["inputs"].update(cwd=None))).encode(), "wrong type"),
], ids=lambda v: v if isinstance(v, str) else "entry")  # the entries hold a timestamp: never in a test id, or
# two xdist workers collecting a second apart see different tests
def test_a_damaged_entry_is_refused_naming_it(data: bytes, why: str) -> None:
    with pytest.raises(StateError, match=why) as exc:
        runcache.parse(data, _key(), _inputs(), ".pivot/cache/runs/ab/cd")
    assert exc.value.file == ".pivot/cache/runs/ab/cd"


def test_an_entry_under_another_key_or_for_other_inputs_is_refused(tmp_path: Path) -> None:
    other = _inputs(cmd="python other.py")
    data = runcache.dumps(_entry(other))
    with pytest.raises(StateError, match="key field"):
        runcache.parse(data, _key(), _inputs(), "x")  # copied under another entry's name
    with pytest.raises(StateError, match="other inputs"):
        runcache.parse(data, runcache.key_of(other), _inputs(), "x")  # a hash collision would end here


def test_a_newer_format_is_named_as_such() -> None:
    data = json.dumps({"schema": runcache.FORMAT + 1, "anything": "else"}).encode()
    with pytest.raises(StateError, match="newer than this pivot-ci reads") as exc:
        runcache.parse(data, _key(), _inputs(), "x")
    assert exc.value.hint is not None and "upgrade pivot-ci" in exc.value.hint
