"""The `Pipeline` object a pipeline.py builds: it only records declarations."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
PathArg = str | Sequence[str] | None
# a metric file, or {"path": ..., "fail_if": {key: {"drop"|"rise"|"above"|"below": number}}}
MetricArg = str | Mapping[str, Any] | Sequence[str | Mapping[str, Any]] | None
# values by name, or keys of the pipeline's vars files: ["train.lr", "prep"]
ParamsArg = Mapping[str, Any] | Sequence[str] | None


@dataclasses.dataclass(frozen=True, slots=True)
class Declared:
    """One stage as declared, before paths are resolved against the project."""

    name: str
    line: int
    cmd: str | None
    func: Callable[..., Any] | None
    deps: tuple[str, ...]
    outs: tuple[str, ...]
    metrics: tuple[str | Mapping[str, Any], ...]
    params: Mapping[str, Any] | tuple[str, ...]
    run_cache: bool = True
    resources: Mapping[str, Any] | None = None


def _paths(value: PathArg) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _entries(value: MetricArg) -> tuple[str | Mapping[str, Any], ...]:
    if value is None:
        return ()
    if isinstance(value, str | Mapping):
        return (value,)
    return tuple(value)


def _params(value: ParamsArg) -> Mapping[str, Any] | tuple[str, ...]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    return (value,) if isinstance(value, str) else tuple(value)


class Pipeline:
    """A pipeline declared in Python: `pipeline = Pipeline("train")` in a pipeline.py.

    `vars`: files (relative to the pipeline.py) or mappings whose keys `params=["train.lr"]` names; default:
    params.yaml beside the pipeline.py.
    """

    def __init__(self, name: str | None = None, root: str | None = None, vars: MetricArg = None) -> None:
        self.name = name
        self.root = root
        self.vars = None if vars is None else _entries(vars)  # files or mappings, as `vars:` in YAML
        self.line = sys._getframe(1).f_lineno
        self.declared: list[Declared] = []

    def stage(self, *, name: str | None = None, deps: PathArg = None, outs: PathArg = None,
              metrics: MetricArg = None, params: ParamsArg = None,
              run_cache: bool = True, resources: Mapping[str, Any] | None = None) -> Callable[[F], F]:
        """Register the decorated function as a Python stage (params arrive as keyword arguments).

        `run_cache=False`: always run it when stale, never restore it from the run cache (side effects,
        deliberate randomness). `resources`: Dask worker resources, e.g. {"GPU": 1}.
        """
        line = sys._getframe(1).f_lineno

        def register(func: F) -> F:
            self.declared.append(Declared(
                name=name or func.__name__, line=line, cmd=None, func=func, deps=_paths(deps),
                outs=_paths(outs), metrics=_entries(metrics), params=_params(params), run_cache=run_cache,
                resources=resources,
            ))
            return func

        return register

    def command(self, name: str, *, cmd: str, deps: PathArg = None, outs: PathArg = None,
                metrics: MetricArg = None, params: ParamsArg = None, run_cache: bool = True,
                resources: Mapping[str, Any] | None = None) -> None:
        """Register a shell-command stage, run in this pipeline file's directory."""
        self.declared.append(Declared(
            name=name, line=sys._getframe(1).f_lineno, cmd=cmd, func=None, deps=_paths(deps),
            outs=_paths(outs), metrics=_entries(metrics), params=_params(params), run_cache=run_cache,
            resources=resources,
        ))
