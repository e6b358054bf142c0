"""Parsed pivot.yaml files and pointer files (`*.pvt`), memoised by everything their parse depended on
(pipeline/inputs.py): a command on an unchanged project neither reads nor parses them, and does not import yaml.

One file per project, `.pivot/tmp/pipelines.pickle`: a header (format, pivot-ci and Python versions, the
signatures of the parser's own modules) and, per pipeline file (absolute path), the signatures of the files its
parse read (itself, its vars files), the probes it asked (is a path a directory, where a module lives) with
their answers, and the PipelineSpec. An entry is reused only when every signature and every answer is the same.

Only a memo: one that is missing, unreadable, damaged, of another version or of a foreign shape is ignored and
rebuilt, never trusted and never an error. It is read by an unpickler that builds nothing but the model's
values and plain data (a memo committed to a repository cannot run code), and since signatures hold inode and
ctime_ns, a memo from another checkout matches nothing. A file modified within the last 2 s (the racy window of
coarse mtimes) is not memoised. pipeline.py files are never memoised: they are executed every time, since what
their code reads (files, the environment) cannot be known.
"""

from __future__ import annotations

import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any, TypeVar

from pivot_ci import errors
from pivot_ci.pipeline import model
from pivot_ci.pipeline.inputs import Inputs, Probe, Sig, probe_holds, signature
from pivot_ci.project import Project
from pivot_ci.state import confine, fsutil

MEMO = "tmp/pipelines.pickle"  # under the project's state dir
FORMAT = 2
RACY_NS = 2_000_000_000
_HERE = os.path.dirname(os.path.abspath(__file__))
# the modules whose code decides what a pivot.yaml parses to: an edited parser (an editable install) is a new key
_PARSER = [os.path.join(_HERE, f"{m}.py") for m in ("yaml", "build", "params", "gates", "model", "modules",
                                                  "inputs", "memo")] + [os.path.join(os.path.dirname(_HERE),
                                                                                     "yamlutil.py")]
_ALLOWED = frozenset({("pivot_ci.pipeline.model", name) for name in (
    "PipelineSpec", "StageSpec", "StageId", "PathSpec", "PythonTarget", "MetricGate", "StageKind", "GateRule",
    "TrackedSpec")}
    | {("datetime", name) for name in ("date", "datetime", "time", "timedelta", "timezone")})

Value = model.PipelineSpec | model.TrackedSpec  # a pointer's TrackedSpec is kept without its owner_file
V = TypeVar("V", model.PipelineSpec, model.TrackedSpec)
Entry = tuple[tuple[tuple[str, Sig | None], ...], tuple[Probe, ...], Value]


def _header() -> tuple[object, ...]:
    from pivot_ci import __version__

    return FORMAT, __version__, sys.version, tuple(signature(p) for p in _PARSER)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not a pipeline value")
        return super().find_class(module, name)


class PipelineMemo:
    """The memo of one project, read once; `save` writes it back if this run changed it."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.path = project.state_dir / MEMO
        self._old: dict[str, Entry] = self._read()
        self._new: dict[str, Entry] = {}
        self._changed = False

    def _read(self) -> dict[str, Entry]:
        try:
            with open(self.path, "rb") as f:
                data = _Unpickler(f).load()
        except Exception:  # noqa: BLE001 - any damage means: no memo
            return {}
        if not isinstance(data, tuple) or len(data) != 2 or data[0] != _header() or not isinstance(data[1], dict):
            return {}
        return data[1]

    def get(self, path: Path) -> model.PipelineSpec | None:
        """The memoised spec of pipeline file `path`, if nothing its parse depended on changed."""
        return self._get(path, model.PipelineSpec)

    def get_tracked(self, path: Path) -> model.TrackedSpec | None:
        """The memoised tracked data of pointer file `path` (owner_file None), if the file is unchanged."""
        return self._get(path, model.TrackedSpec)

    def _get(self, path: Path, kind: type[V]) -> V | None:
        key = os.path.abspath(path)
        entry = self._old.get(key)
        if entry is None:
            return None
        spec: object = None
        try:
            files, probes, spec = entry
            ok = (any(f == key for f, _ in files) and all(signature(f) == sig for f, sig in files)
                  and all(probe_holds(p) for p in probes))
        except (TypeError, ValueError):  # a foreign shape
            ok = False
        if not ok or not isinstance(spec, kind):
            self._changed = True
            return None
        self._new[key] = entry
        return spec

    def put(self, path: Path, inputs: Inputs, spec: Value) -> None:
        """Remember `spec`, parsed from `path` with `inputs`, unless a file it read is racy (or gone)."""
        now = time.time_ns()
        if any(sig is None or now - sig[1] <= RACY_NS for sig in inputs.files.values()):
            return
        self._new[os.path.abspath(path)] = (tuple(inputs.files.items()), tuple(inputs.probes), spec)
        self._changed = True

    def save(self) -> None:
        """Write the entries used or made by this run (files no longer loaded drop out); failures ignored."""
        if not self._changed and self._new.keys() == self._old.keys():
            return
        try:
            data = pickle.dumps((_header(), self._new), protocol=pickle.HIGHEST_PROTOCOL)
            confine.Fence(self.project.root).state_dir(self.project.state_dir)
            fsutil.replace_quickly(self.path, data)
        except (OSError, errors.PivotError, pickle.PicklingError):
            pass  # not memoised: the next run parses again
