"""pipeline.py -> PipelineSpec: execute the file under a private module name, isolated imports."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import sys
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType

import xxhash

from pivot_ci import errors
from pivot_ci.pipeline import api, build, gates, guard, model, params
from pivot_ci.pipeline.build import FileContext
from pivot_ci.project import Project

PRIVATE_PREFIX = "_pivot_pipeline_"
_NOT_OURS = "; if it is not a pivot pipeline, list its directory in .pivotignore (at the project root)"
_LOAD_HINT = ("run `python {file}` to see the full traceback; with --all, --skip-broken warns about a "
              "pipeline file that fails to load instead of failing" + _NOT_OURS)


def private_module_name(path: Path) -> str:
    """A module name unique to one pipeline file, so two pipeline.py never share a module."""
    return PRIVATE_PREFIX + xxhash.xxh64_hexdigest(str(path.resolve()).encode())


_NOT_PROJECT: dict[str, ModuleType] = {}  # modules already seen not to be project code (the scan is hot)


def _is_project_module(name: str, module: ModuleType, root: str) -> bool:
    if _NOT_PROJECT.get(name) is module:
        return False
    file = getattr(module, "__file__", None)
    found = (isinstance(file, str) and file.startswith(root) and not name.startswith("pivot_ci")
             and "site-packages" not in file and "/.venv/" not in file and "/venv/" not in file)
    if not found:
        _NOT_PROJECT[name] = module
    return found


@contextlib.contextmanager
def isolated_imports(project_root: Path, first: Path) -> Iterator[None]:
    """Import with `first` at the head of sys.path and no project module cached by another pipeline.

    Project modules (files under the project root) imported before are stashed and put back after;
    the ones imported meanwhile are dropped from sys.modules (objects that use them keep them alive).
    """
    root = str(project_root) + "/"
    stashed = {n: m for n, m in list(sys.modules.items()) if _is_project_module(n, m, root)}
    for n in stashed:
        del sys.modules[n]
    sys.path.insert(0, str(first))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(first))
        for n, m in list(sys.modules.items()):
            if n.startswith(PRIVATE_PREFIX) or _is_project_module(n, m, root):
                del sys.modules[n]
        sys.modules.update(stashed)


def exec_file(path: Path, project_root: Path) -> ModuleType:
    """Execute a pipeline.py as a fresh private module (raises what the file raises)."""
    name = private_module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with isolated_imports(project_root, path.parent), guard.executing():
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


def _failure(ctx: FileContext, path: Path, exc: BaseException) -> errors.PivotError:
    if isinstance(exc, SyntaxError):
        return ctx.error(f"cannot parse pipeline file: {exc.msg}", exc.lineno,
                         hint="fix the Python syntax at that line" + _NOT_OURS)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
    line = frames[-1].lineno if frames else None
    if isinstance(exc, guard.ProcessEnd):
        return errors.DiscoveryError(
            f"cannot load pipeline file: it called {exc.call}, which would end pivot", file=ctx.file, line=line,
            hint="a pipeline file only declares stages: remove the call (a stage may exit, a pipeline file not)")
    if isinstance(exc, ModuleNotFoundError):
        return errors.DiscoveryError(
            f"cannot load pipeline file: module '{exc.name}' is not installed", file=ctx.file, line=line,
            hint=(f"install '{exc.name}' in this environment; in a pre-commit hook add it to "
                  "`additional_dependencies`, or use a `repo: local` hook with `language: system` "
                  "(see README, 'Use in CI')" + _NOT_OURS))
    return errors.DiscoveryError(f"cannot load pipeline file: {type(exc).__name__}: {exc}",
                                 file=ctx.file, line=line, hint=_LOAD_HINT.format(file=ctx.file))


@functools.lru_cache(maxsize=1024)
def _source_in(root: Path, filename: str) -> str | None:
    """The project-relative file of a function's code, None when not in the project (once per file and run:
    every stage of a pipeline.py asks for the same file)."""
    src = Path(filename).resolve() if os.path.isfile(filename) else None
    return Project(root).rel(src) if src is not None and src.is_relative_to(root) else None


def _project_file(ctx: FileContext, filename: str) -> str | None:
    return _source_in(ctx.project.root, filename)


def _target(ctx: FileContext, func: object, private: str) -> model.PythonTarget:
    if not callable(func):
        raise ctx.error(f"stage function {func!r} is not callable", None,
                        hint="decorate a function with @pipeline.stage(...)")
    qualname = getattr(func, "__qualname__", None)
    if not isinstance(qualname, str) or "<locals>" in qualname or "<lambda>" in qualname:
        raise ctx.error(f"stage function {qualname!r} must be defined at module level", None,
                        hint="lambdas and nested functions cannot be run in a worker")
    module = getattr(func, "__module__", None)
    code = getattr(func, "__code__", None)  # cheaper than inspect.getsourcefile, called for every stage
    file = _project_file(ctx, code.co_filename) if code is not None else None
    return model.PythonTarget(qualname=qualname, module=None if module == private else module, file=file)


def load(ctx: FileContext, path: Path) -> model.PipelineSpec:
    try:
        module = exec_file(path, ctx.project.root)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # any failure of user code (even sys.exit) is a load error
        raise _failure(ctx, path, exc) from None
    pipe = getattr(module, "pipeline", None)
    if not isinstance(pipe, api.Pipeline):
        raise ctx.error("pipeline.py must define a module-level `pipeline = Pipeline(...)`", None,
                        hint="from pivot_ci import Pipeline; pipeline = Pipeline('name')")
    name = build.pipeline_name(ctx, pipe.name, None)
    state = build.state_dir(ctx, pipe.root, None)
    stages: list[model.StageSpec] = []
    seen: dict[str, int] = {}
    source = _vars(ctx, pipe)
    for d in pipe.declared:
        build.check_stage_name(ctx, d.name, d.line)
        if d.name in seen:
            raise ctx.error(f"stage '{d.name}' is declared twice (first at line {seen[d.name]})", d.line,
                            hint="stage names must be unique within a pipeline: rename one (name=...)")
        seen[d.name] = d.line
        where = f"stage {d.name}"
        if d.func is None and (not isinstance(d.cmd, str) or not d.cmd.strip()):
            raise ctx.error(f"{where}: cmd must be a non-empty string, got {d.cmd!r}", d.line,
                            hint='pipeline.command("name", cmd="python train.py", ...)')
        metrics, metric_gates = gates.parse(ctx, f"{where} metrics", list(d.metrics), d.line)
        values = params.select(ctx, f"{where} params", d.params, source, d.line) if isinstance(d.params, tuple) \
            else d.params
        stages.append(model.StageSpec(
            name=d.name, pipeline=name, pipeline_file=ctx.file, pipeline_dir=ctx.dir, state_dir=state,
            line=d.line, kind=model.StageKind.CMD if d.cmd is not None else model.StageKind.PYTHON,
            cmd=d.cmd, python=None if d.func is None else _target(ctx, d.func, module.__name__),
            deps=build.resolve_paths(ctx, f"{where} deps", list(d.deps), d.line),
            outs=build.resolve_paths(ctx, f"{where} outs", list(d.outs), d.line, output=True),
            metrics=metrics, gates=metric_gates,
            params=build.check_params(ctx, f"{where} params", values, d.line),
            run_cache=build.check_flag(ctx, f"{where} run_cache", d.run_cache, d.line, default=True,
                                       hint="run_cache=False (never restore this stage from the run cache)"),
            resources=build.check_resources(ctx, f"{where} resources", d.resources, d.line),
        ))
    return model.PipelineSpec(name=name, file=ctx.file, dir=ctx.dir, state_dir=state, stages=tuple(stages),
                              vars_files=source.files)


def _vars(ctx: FileContext, pipe: api.Pipeline) -> params.Vars:
    """`Pipeline(vars=[...])`, read only when a stage names params by key (params.yaml when not given)."""
    if pipe.vars is None:
        return params.Vars(ctx, {}, (), declared=False)
    values, files = params.read_vars(ctx, [dict(v) if isinstance(v, Mapping) else v for v in pipe.vars],
                                    pipe.line)
    return params.Vars(ctx, values, files, declared=True)
