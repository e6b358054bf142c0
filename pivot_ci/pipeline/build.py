"""Turn declarations into StageSpec values: resolve paths, state dir and names, with locations."""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pivot_ci import errors, project
from pivot_ci.pipeline import model
from pivot_ci.pipeline.inputs import Inputs
from pivot_ci.project import Project


@dataclasses.dataclass(frozen=True, slots=True)
class FileContext:
    """The pipeline file being loaded: where messages point and paths resolve from."""

    project: Project
    file: str
    dir: str
    inputs: Inputs = dataclasses.field(default_factory=Inputs, compare=False)  # what the parse read and asked

    def error(self, message: str, line: int | None, hint: str | None = None) -> errors.ConfigError:
        return errors.ConfigError(message, file=self.file, line=line, hint=hint)


_PATHS_HINT = "e.g. deps: [data.csv, ../shared/vocab.txt, images/]"
# Never outputs: restoring or deleting them would roll back git, or rewrite what pivot reads to know the project.
NOT_OUTPUTS = frozenset({"pivot.yaml", "pivot.yml", "pipeline.py", ".pivotignore"})
NOT_OUTPUT_DIRS = frozenset({".git", project.STATE_DIR_NAME})


def pipeline_name(ctx: FileContext, declared: object, line: int | None) -> str:
    if declared is None:
        return ctx.project.root.name if ctx.dir == "." else ctx.dir
    if not isinstance(declared, str) or not declared.strip():
        raise ctx.error(f"pipeline name must be a non-empty string, got {declared!r}", line,
                        hint="e.g. pipeline: prep (or leave it out: the directory's path is the default)")
    return declared


def state_dir(ctx: FileContext, root: object, line: int | None) -> str:
    """`<root>/.pivot` as a project-relative path; root None = the pipeline file's directory."""
    if root is None:
        base: str | None = ctx.dir
    elif not isinstance(root, str):
        raise ctx.error(f"root must be a path string, got {root!r}", line,
                        hint='a directory relative to this file, or "/" for the shared project state dir')
    elif root.strip() == "/":
        base = "."
    else:
        base = project.join_rel(ctx.dir, root)
    if base is None:
        raise ctx.error(f"root {root!r} is outside the project root", line,
                        hint='use "/" for the shared project state dir')
    return project.STATE_DIR_NAME if base == "." else f"{base}/{project.STATE_DIR_NAME}"


def check_keys(ctx: FileContext, where: str, keys: Mapping[str, int], valid: Sequence[str]) -> None:
    """Unknown keys name the file, the line and the valid keys."""
    for key, line in keys.items():
        if key not in valid:
            close = difflib.get_close_matches(str(key), valid, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ctx.error(f"{where}: unknown key '{key}'", line,
                            hint=f"{hint}valid keys: {', '.join(valid)}")


def _output_problem(rel: str) -> str | None:
    parts = rel.split("/")
    bad_dir = next((p for p in parts if p in NOT_OUTPUT_DIRS), None)
    if bad_dir == project.STATE_DIR_NAME:
        return f"is inside a {project.STATE_DIR_NAME}/ state dir"
    if bad_dir is not None:
        return f"is inside {bad_dir}/"
    if parts[-1] in NOT_OUTPUTS:
        return f"is a {parts[-1]}: pivot reads it to know the project"
    return None


def resolve_paths(ctx: FileContext, where: str, values: object, line: int | None, *,
                  output: bool = False) -> tuple[model.PathSpec, ...]:
    """Paths relative to the pipeline file's directory -> project-relative PathSpecs (`output`: outs, metrics)."""
    if values is None:
        return ()
    items = [values] if isinstance(values, str) else values
    if not isinstance(items, list | tuple):
        raise ctx.error(f"{where} must be a path or a list of paths, got {type(values).__name__}", line,
                        hint=_PATHS_HINT)
    out: list[model.PathSpec] = []
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            raise ctx.error(f"{where}[{i}] must be a non-empty path string, got {item!r}", line,
                            hint=_PATHS_HINT)
        if "\0" in item:
            raise ctx.error(f"{where}[{i}]: {item!r} holds a NUL byte", line, hint=_PATHS_HINT)
        rel = project.join_rel(ctx.dir, item)
        if rel is None or rel == ".":
            raise ctx.error(f"{where}[{i}]: '{item}' is outside the project root" if rel is None
                            else f"{where}[{i}]: '{item}' names the project root itself", line,
                            hint="paths must stay inside the project (.. is allowed only while it does)")
        if rel.split("/")[0] == project.STATE_DIR_NAME or f"/{project.STATE_DIR_NAME}/" in f"/{rel}/":
            raise ctx.error(f"{where}[{i}]: '{item}' is inside a {project.STATE_DIR_NAME}/ state dir", line,
                            hint=f"{project.STATE_DIR_NAME}/ holds pivot's own state: name workspace files")
        why = _output_problem(rel) if output else None
        if why is not None:
            raise ctx.error(f"{where}[{i}]: '{item}' cannot be an output: it {why}", line,
                            hint="outputs are restored and deleted by pivot: .git/, pipeline files, lock files "
                                 "and .pivotignore never are")
        is_dir = item.endswith("/") or ctx.inputs.isdir(ctx.project.abs_str(rel))
        out.append(model.PathSpec(rel, is_dir))
    return tuple(out)


def check_params(ctx: FileContext, where: str, params: object, line: int | None) -> dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise ctx.error(f"{where} must be a mapping of names to values", line,
                        hint="e.g. params: {lr: 0.1}, or keys of the vars files: params: [train.lr]")
    for key in params:
        if not isinstance(key, str) or not key.isidentifier():
            raise ctx.error(f"{where}: parameter name {key!r} is not a valid identifier", line,
                            hint="params arrive as keyword arguments: use names like `learning_rate`")
    try:
        json.dumps(params, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        why = ".nan and .inf are not JSON values" if "Out of range float" in str(exc) else str(exc)
        raise ctx.error(f"{where}: values must be JSON values ({why})", line,
                        hint="use strings, numbers (not .nan or .inf), booleans, null, lists and mappings") from None
    return dict(params)


def check_flag(ctx: FileContext, where: str, value: object, line: int | None, *, default: bool, hint: str) -> bool:
    """A yes/no setting: a bool, or `default` when not given."""
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ctx.error(f"{where} must be true or false, got {value!r}", line, hint=hint)
    return value


_RESOURCES_HINT = "Dask worker resources, e.g. resources: {GPU: 1, MEMORY: 8e9}"


def check_resources(ctx: FileContext, where: str, resources: object, line: int | None) -> dict[str, float]:
    """`{NAME: amount}` with positive amounts (`8e9` is read as a number even where YAML says string)."""
    if resources is None:
        return {}
    if not isinstance(resources, Mapping):
        raise ctx.error(f"{where} must be a mapping of resource names to amounts", line, hint=_RESOURCES_HINT)
    out: dict[str, float] = {}
    for name, amount in resources.items():
        if not isinstance(name, str) or not name.strip() or any(c in name for c in "=, \t"):
            raise ctx.error(f"{where}: resource name {name!r} is not a name", line,
                            hint=f"names are what a worker offers with `dask worker --resources NAME=N`; "
                                 f"{_RESOURCES_HINT}")
        try:
            value = float(amount) if isinstance(amount, int | float | str) and not isinstance(amount, bool) \
                else float("nan")
        except ValueError:
            value = float("nan")
        if not value > 0 or value == float("inf"):
            raise ctx.error(f"{where}.{name}: {amount!r} is not a positive number", line, hint=_RESOURCES_HINT)
        out[name] = value
    return out


def check_stage_name(ctx: FileContext, name: object, line: int | None) -> str:
    if isinstance(name, str) and len(name) > model.MAX_STAGE_NAME and model.valid_stage_name(name[:1]):
        raise ctx.error(f"stage name '{name[:40]}...' is {len(name)} characters long", line,
                        hint=f"stage names are at most {model.MAX_STAGE_NAME} characters (they name lock files)")
    if not model.valid_stage_name(name):
        raise ctx.error(f"invalid stage name {name!r}", line,
                        hint="stage names match [A-Za-z0-9_][A-Za-z0-9_.@-]*")
    assert isinstance(name, str)
    return name
