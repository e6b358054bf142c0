"""Declared pipelines and stages as frozen values; a stage's identity is (state_dir, name)."""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

STAGE_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]*")
MAX_STAGE_NAME = 128  # a lock file is <name>.lock, and file names stop at 255 bytes


def _getstate(self: Any) -> tuple[Any, ...]:
    return tuple(getattr(self, name) for name in self.__slots__)


def _setstate(self: Any, state: tuple[Any, ...]) -> None:
    """Unpickling (the parse memo): what dataclasses would do, without its per-object `fields()` call."""
    if not isinstance(state, tuple) or len(state) != len(self.__slots__):
        raise TypeError(f"bad state for {type(self).__name__}")
    for name, value in zip(self.__slots__, state, strict=True):
        object.__setattr__(self, name, value)


class StageId(NamedTuple):
    """Identity of a stage: its state dir (project-relative) and declared name."""

    state_dir: str
    name: str

    def __str__(self) -> str:
        return f"{self.state_dir}:{self.name}"


class StageKind(enum.Enum):
    CMD = "cmd"
    PYTHON = "python"


@dataclasses.dataclass(frozen=True, slots=True)
class PathSpec:
    """A dep, out or metric: project-relative POSIX path, whether it is a directory."""

    path: str
    is_dir: bool = False

    __getstate__ = _getstate
    __setstate__ = _setstate

class GateRule(enum.Enum):
    """What a metric gate forbids: a fall or rise vs the compared revision, or a value beyond a bound."""

    DROP = "drop"    # old - new > bound
    RISE = "rise"    # new - old > bound
    ABOVE = "above"  # new > bound
    BELOW = "below"  # new < bound

    @property
    def relative(self) -> bool:
        return self in (GateRule.DROP, GateRule.RISE)


@dataclasses.dataclass(frozen=True, slots=True)
class MetricGate:
    """`fail_if: {<key>: {<rule>: <bound>}}` of a metrics entry: one rule on one key of one metric file."""

    path: str  # project-relative metric file
    key: str   # flattened key inside it (`eval.accuracy`)
    rule: GateRule
    bound: float
    line: int  # of the key under fail_if (the declaration line in a pipeline.py)

    def __str__(self) -> str:
        return f"{self.key} {self.rule.value} {self.bound:g}"

    __getstate__ = _getstate
    __setstate__ = _setstate

@dataclasses.dataclass(frozen=True, slots=True)
class PythonTarget:
    """Where a Python stage's function lives.

    `module` is the import name used to load it in a worker (None: load `file` under a private
    name, for functions defined in a pipeline.py); `file` is project-relative (None: not project code).
    """

    qualname: str
    module: str | None
    file: str | None

    __getstate__ = _getstate
    __setstate__ = _setstate

@dataclasses.dataclass(frozen=True, slots=True)
class StageSpec:
    name: str
    pipeline: str
    pipeline_file: str
    pipeline_dir: str
    state_dir: str
    line: int
    kind: StageKind
    cmd: str | None
    python: PythonTarget | None
    deps: tuple[PathSpec, ...]
    outs: tuple[PathSpec, ...]
    metrics: tuple[PathSpec, ...]
    params: Mapping[str, Any]
    run_cache: bool = True  # False: never restored from the run cache, no entry recorded (side effects)
    gates: tuple[MetricGate, ...] = ()
    resources: Mapping[str, float] = dataclasses.field(default_factory=dict)  # Dask worker resources
    # (state_dir, name), made once: every command looks it up many times per stage
    id: StageId = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", StageId(self.state_dir, self.name))

    @property
    def location(self) -> str:
        return f"{self.pipeline_file}:{self.line}"

    def all_outputs(self) -> tuple[PathSpec, ...]:
        return self.outs + self.metrics

    __getstate__ = _getstate
    __setstate__ = _setstate

@dataclasses.dataclass(frozen=True, slots=True)
class PipelineSpec:
    name: str
    file: str
    dir: str
    state_dir: str
    stages: tuple[StageSpec, ...]
    vars_files: tuple[str, ...] = ()  # project-relative files read for ${...} (watch mode reloads on them)

    __getstate__ = _getstate
    __setstate__ = _setstate

def valid_stage_name(name: object) -> bool:
    return isinstance(name, str) and len(name) <= MAX_STAGE_NAME and STAGE_NAME_RE.fullmatch(name) is not None


@dataclasses.dataclass(frozen=True, slots=True)
class TrackedSpec:
    """Tracked data (SPEC §10): a path kept out of git, recorded by its pointer file `<path>.pvt`.

    `owner_file` is the pipeline file of the nearest pipeline at or above the pointer (None: the project's).
    """

    path: str  # project-relative data path
    pvt_file: str  # project-relative pointer file
    hash: str
    size: int
    files: int | None
    owner_file: str | None

    @property
    def is_dir(self) -> bool:
        return self.hash.endswith(".dir")

    __getstate__ = _getstate
    __setstate__ = _setstate
