"""The run cache: what a stage's inputs produced, so that the same inputs are never computed twice.

An entry is a JSON file at `<cache>/runs/<key[:2]>/<key[2:]>`. Its key is the hash of the stage's inputs
(`Inputs`: the kind of stage, its command text or code fingerprint, its working directory, its params, every
dependency's path and hash, its declared outputs and metrics with whether each is a directory), and it records
what a successful run of those inputs produced: the hash of every output (the objects themselves are in the
content cache) and the content of every metrics file. Paths are project-relative, so two clones share entries.

An entry is never trusted by its name: `parse` checks its format, that its recorded inputs are exactly the
inputs looked up, and that every hash it names is well formed; a metrics file's content must hash to the
recorded hash. Anything else is a StateError naming the entry, which callers turn into a warning and a run.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypedDict

from pivot_ci.errors import StateError
from pivot_ci.state import fsutil, hashing

FORMAT = 1  # of entries and of the key's input document: a new format never matches an old entry
RUNS_DIR = "runs"
KEY_RE = re.compile(r"^[0-9a-f]{32}\Z")
MAX_METRICS_BYTES = 4 << 20  # metrics are embedded in the entry; a stage with bigger ones records none
_HASH_RE = re.compile(r"^[0-9a-f]{32}(\.dir)?\Z")
_ENTRY_MODE = 0o444
_HINT = "ignored: the stage runs, and the entry its run records replaces this one"

Encoding = Literal["utf-8", "base64"]


class PathHash(TypedDict):
    path: str
    hash: str


class Declared(TypedDict):
    """A declared output or metrics path, and whether it is a directory."""

    path: str
    dir: bool


class Inputs(TypedDict):
    """Everything a run's result may depend on that pivot knows of; its canonical JSON's hash is the key."""

    format: int
    kind: str  # "cmd" | "python"
    cmd: str | None
    code: str | None
    cwd: str  # the pipeline's directory, where the stage runs (project-relative)
    params: dict[str, Any]
    deps: list[PathHash]
    outs: list[Declared]
    metrics: list[Declared]


class Metric(TypedDict):
    path: str
    hash: str
    encoding: Encoding
    content: str


class Entry(TypedDict):
    schema: int
    key: str
    inputs: Inputs
    outs: list[PathHash]
    metrics: list[Metric]
    duration: float  # seconds the run took (reported on a hit; not part of the key)
    created: str  # ISO 8601 UTC


def make_inputs(*, cmd: str | None, code: str | None, cwd: str, params: Mapping[str, Any],
                deps: Mapping[str, str], outs: Iterable[tuple[str, bool]],
                metrics: Iterable[tuple[str, bool]]) -> Inputs:
    """The input document of a stage; lists sorted by path so that declaration order does not matter."""
    return {
        "format": FORMAT, "kind": "cmd" if cmd is not None else "python", "cmd": cmd, "code": code, "cwd": cwd,
        "params": json.loads(canonical(dict(params))),
        "deps": [{"path": p, "hash": deps[p]} for p in sorted(deps)],
        "outs": [{"path": p, "dir": d} for p, d in sorted(outs)],
        "metrics": [{"path": p, "dir": d} for p, d in sorted(metrics)],
    }


def canonical(value: object) -> str:
    """Canonical JSON: sorted keys, no whitespace; tuples become lists."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def key_of(inputs: Inputs) -> str:
    return hashing.hash_bytes(canonical(inputs).encode("utf-8"))


def entry_path(cache_root: Path, key: str) -> Path:
    if not KEY_RE.match(key):
        raise StateError(f"invalid run-cache key {key!r}")
    return cache_root / RUNS_DIR / key[:2] / key[2:]


def rel_name(key: str) -> str:
    """`runs/ab/cdef...`: the entry's place below a cache root or a remote's root."""
    return f"{RUNS_DIR}/{key[:2]}/{key[2:]}"


def metric(path: str, data: bytes) -> Metric:
    """A metrics file's record: its hash and its content (as text when it is UTF-8)."""
    try:
        return {"path": path, "hash": hashing.hash_bytes(data), "encoding": "utf-8", "content": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"path": path, "hash": hashing.hash_bytes(data), "encoding": "base64",
                "content": base64.b64encode(data).decode("ascii")}


def metric_bytes(m: Metric) -> bytes:
    if m["encoding"] == "utf-8":
        return m["content"].encode("utf-8")
    return base64.b64decode(m["content"], validate=True)


def new_entry(inputs: Inputs, outs: Iterable[PathHash], metrics: Iterable[Metric], duration: float) -> Entry:
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    return {"schema": FORMAT, "key": key_of(inputs), "inputs": inputs,
            "outs": sorted(({"path": o["path"], "hash": o["hash"]} for o in outs), key=lambda o: o["path"]),
            "metrics": sorted(metrics, key=lambda m: m["path"]), "duration": round(duration, 3),
            "created": now.isoformat().replace("+00:00", "Z")}


def dumps(entry: Entry) -> bytes:
    return (json.dumps(entry, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def write(cache_root: Path, entry: Entry) -> Path:
    """Store `entry` under its key: a temporary file renamed into place, so readers see all of it or none.

    No fsync: an entry is re-creatable, and a torn one fails `parse` (the stage then simply runs).
    """
    final = entry_path(cache_root, entry["key"])
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = fsutil.temp_path(final)
    try:
        tmp.write_bytes(dumps(entry))
        os.chmod(tmp, _ENTRY_MODE)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


def read(cache_root: Path, key: str, inputs: Inputs, display: str) -> Entry | None:
    """The local entry for `key`, None when there is none; StateError (naming `display`) when unusable."""
    path = entry_path(cache_root, key)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"entry {key} is unreadable: {exc.strerror or exc}", file=display,
                         hint=_HINT) from None
    return parse(data, key, inputs, display)


def parse(data: bytes, key: str, inputs: Inputs | None, where: str) -> Entry:
    """Entry `key` from `data`, validated; with `inputs`, it must record exactly those inputs."""

    def bad(why: str, hint: str = _HINT) -> StateError:
        return StateError(f"entry {key} is corrupt: {why}", file=where, hint=hint)

    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad(f"not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise bad("not a JSON object")
    schema = raw.get("schema")
    if type(schema) is int and schema > FORMAT:
        raise StateError(f"entry {key} has format {schema}, newer than this pivot-ci reads ({FORMAT})",
                         file=where, hint="upgrade pivot-ci to use it; until then the stage runs")
    why = _problem(raw, key)
    if why is not None:
        raise bad(why)
    entry: Entry = raw  # type: ignore[assignment]  # every key and type checked by _problem
    if inputs is not None and canonical(entry["inputs"]) != canonical(inputs):
        raise bad("it records other inputs than its key stands for")
    return entry


def _declared_ok(items: object) -> bool:
    return isinstance(items, list) and all(
        isinstance(i, dict) and set(i) == {"path", "dir"} and isinstance(i["path"], str)
        and isinstance(i["dir"], bool) for i in items)


def _inputs_problem(inputs: object) -> str | None:
    if not (isinstance(inputs, dict) and set(inputs) == set(Inputs.__annotations__)):
        return "`inputs` has the wrong keys"
    if inputs["format"] != FORMAT or inputs["kind"] not in ("cmd", "python"):
        return "`inputs` has an unknown format or kind"
    if not all(inputs[k] is None or isinstance(inputs[k], str) for k in ("cmd", "code")):
        return "`inputs.cmd` / `inputs.code` must be strings or null"
    if not isinstance(inputs["cwd"], str) or not isinstance(inputs["params"], dict):
        return "`inputs.cwd` / `inputs.params` have the wrong type"
    if not (_declared_ok(inputs["outs"]) and _declared_ok(inputs["metrics"])):
        return "`inputs.outs` / `inputs.metrics` are malformed"
    deps = inputs["deps"]
    if not (isinstance(deps, list) and all(isinstance(d, dict) and set(d) == {"path", "hash"}
                                          and isinstance(d["path"], str) and isinstance(d["hash"], str)
                                          for d in deps)):
        return "`inputs.deps` is malformed"
    return None


def _problem(raw: dict[str, Any], key: str) -> str | None:
    """The first thing wrong with `raw` as entry `key`, or None."""
    if set(raw) != set(Entry.__annotations__):
        return f"wrong keys {sorted(raw)}"
    if raw["schema"] != FORMAT or raw["key"] != key:
        return "its schema or key field does not match"
    if type(raw["duration"]) not in (int, float) or not isinstance(raw["created"], str):
        return "`duration` / `created` have the wrong type"
    why = _inputs_problem(raw["inputs"])
    if why is not None:
        return why
    if key_of(raw["inputs"]) != key:
        return "its inputs do not hash to its key"
    declared_outs = {d["path"]: d["dir"] for d in raw["inputs"]["outs"]}
    outs = raw["outs"]
    if not (isinstance(outs, list) and all(isinstance(o, dict) and set(o) == {"path", "hash"}
                                           and isinstance(o["path"], str) for o in outs)):
        return "`outs` is malformed"
    if sorted(o["path"] for o in outs) != sorted(declared_outs):
        return "`outs` does not name exactly the declared outputs"
    for o in outs:
        h = o["hash"]
        if not (isinstance(h, str) and _HASH_RE.match(h)) or hashing.is_tree_hash(h) != declared_outs[o["path"]]:
            return f"output {o['path']!r} has an invalid hash {h!r}"
    return _metrics_problem(raw["metrics"], {d["path"] for d in raw["inputs"]["metrics"]})


def _metrics_problem(metrics: object, declared: set[str]) -> str | None:
    if not (isinstance(metrics, list) and all(isinstance(m, dict) and set(m) == set(Metric.__annotations__)
                                              and isinstance(m["path"], str) for m in metrics)):
        return "`metrics` is malformed"
    if sorted(m["path"] for m in metrics) != sorted(declared):
        return "`metrics` does not name exactly the declared metrics files"
    for m in metrics:
        if m["encoding"] not in ("utf-8", "base64") or not isinstance(m["content"], str):
            return f"metrics file {m['path']!r} has a bad encoding"
        try:
            data = metric_bytes(m)
        except (binascii.Error, ValueError):
            return f"metrics file {m['path']!r} has undecodable content"
        if hashing.hash_bytes(data) != m["hash"]:
            return f"metrics file {m['path']!r}: its content does not match its hash"
    return None
