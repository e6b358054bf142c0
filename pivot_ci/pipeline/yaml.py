"""pivot.yaml / pivot.yml -> PipelineSpec, keeping line numbers for every message."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from pivot_ci import errors, yamlutil
from pivot_ci.pipeline import build, gates, model, modules, params
from pivot_ci.pipeline.build import FileContext

Loader = yamlutil.Loader
TOP_KEYS = ("pipeline", "root", "vars", "stages")
STAGE_KEYS = ("cmd", "python", "deps", "outs", "metrics", "params", "run_cache", "resources")
VAR_RE = re.compile(r"\$\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}")
PY_TARGET_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)[.:]([A-Za-z_][A-Za-z0-9_]*)\Z")


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _yaml_error(ctx: FileContext, exc: yaml.YAMLError, text: str) -> errors.ConfigError:
    problem, line = yamlutil.problem(exc, text)
    if isinstance(exc, yamlutil.LimitError):
        return ctx.error(f"refused YAML: {problem}", line, hint=yamlutil.LIMIT_HINT)
    return ctx.error(f"malformed YAML: {problem}", line,
                     hint="fix the YAML syntax at that line" if line else "fix the YAML syntax")


def parse_yaml(ctx: FileContext, text: str) -> yaml.Node | None:
    try:
        return yamlutil.compose(text)
    except yaml.YAMLError as exc:
        raise _yaml_error(ctx, exc, text) from None


def read_text(ctx: FileContext, path: Path, what: str) -> str:
    """A UTF-8 file's text; errors name the file and, for bad bytes, the line."""
    ctx.inputs.read(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ctx.error(f"cannot read {what}: {exc.strerror or exc}", None) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ctx.error(f"{what} is not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be decoded",
                        data.count(b"\n", 0, exc.start) + 1, hint="save the file as UTF-8") from None


def mapping_items(ctx: FileContext, node: yaml.Node, where: str) -> list[tuple[str, int, yaml.Node]]:
    """(key, line, value node) of a mapping node; duplicate keys are errors."""
    if not isinstance(node, yaml.MappingNode):
        raise ctx.error(f"{where} must be a mapping", _line(node), hint="write `key: value` lines, indented")
    seen: dict[str, int] = {}
    items = []
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(key, str):
            raise ctx.error(f"{where}: keys must be strings", _line(key_node), hint="quote the key")
        if key in seen:
            raise ctx.error(f"{where}: duplicate key '{key}' (first at line {seen[key]})", _line(key_node),
                            hint="YAML keeps only one of them: rename or remove one")
        seen[key] = _line(key_node)
        items.append((key, _line(key_node), value_node))
    return items


def _value(ctx: FileContext, node: yaml.Node) -> Any:
    try:
        return yamlutil.construct(node)
    except yaml.YAMLError as exc:  # a duplicate key in a flow mapping, a bad value for its tag
        raise _yaml_error(ctx, exc, "") from None


class Interpolator:
    """`${name}` / `${a.b}` from the pipeline's `vars` files."""

    def __init__(self, ctx: FileContext, values: dict[str, Any]) -> None:
        self.ctx = ctx
        self.values = values
        self._budget = yamlutil.MAX_ALIAS_NODES  # interpolation copies values, like aliases: bounded alike

    def lookup(self, name: str, line: int) -> Any:
        cur: Any = self.values
        for part in name.split("."):
            if not isinstance(cur, dict) or part not in cur:
                raise self.ctx.error(f"undefined variable '${{{name}}}'", line,
                                     hint="define it in a file listed under `vars:`")
            cur = cur[part]
        self._budget -= yamlutil.value_size(cur, self._budget + 1)
        if self._budget < 0:
            raise self.ctx.error(f"refused: interpolated values expand to more than {yamlutil.MAX_ALIAS_NODES} "
                                 f"nodes (at '${{{name}}}')", line, hint=yamlutil.LIMIT_HINT)
        return cur

    def apply(self, value: Any, line: int) -> Any:
        if isinstance(value, str):
            whole = VAR_RE.fullmatch(value)
            if whole:
                return self.lookup(whole.group(1), line)
            return VAR_RE.sub(lambda m: str(self.lookup(m.group(1), line)), value)
        if isinstance(value, list):
            return [self.apply(v, line) for v in value]
        if isinstance(value, dict):
            return {k: self.apply(v, line) for k, v in value.items()}
        return value


def python_target(ctx: FileContext, text: object, line: int) -> model.PythonTarget:
    """`module:function` or `module.function`; the file is resolved when fingerprinting."""
    match = PY_TARGET_RE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ctx.error(f"python: {text!r} is not 'module:function'", line,
                        hint="e.g. python: stages:train (stages.py in this directory)")
    module = match.group(1)
    search = [ctx.project.abs(ctx.dir), ctx.project.root]
    if not ctx.inputs.module_found(module, search):
        where = "this directory" if ctx.dir == "." else f"{ctx.dir}/"
        raise ctx.error(f"python: module '{module}' not found (in {where}, the project root or the installed "
                        "packages)", line, hint=modules.did_you_mean(module, search))
    return model.PythonTarget(qualname=match.group(2), module=module, file=None)


def _gate_lines(node: yaml.Node | None) -> dict[tuple[int, str | None], int]:
    """Lines of each metrics entry and of the keys under its `fail_if`, for messages and annotations."""
    if node is None:
        return {}
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    lines: dict[tuple[int, str | None], int] = {}
    for i, item in enumerate(items):
        lines[(i, None)] = _line(item)
        if not isinstance(item, yaml.MappingNode):
            continue
        for key, value in item.value:
            if key.value == "fail_if" and isinstance(value, yaml.MappingNode):
                lines.update({(i, str(k.value)): _line(k) for k, _ in value.value})
    return lines


def _params(ctx: FileContext, where: str, value: object, line: int, source: params.Vars) -> dict[str, Any]:
    if isinstance(value, list):
        value = params.select(ctx, where, value, source, line)
    return build.check_params(ctx, where, value, line)


def stage(ctx: FileContext, name: str, line: int, node: yaml.Node, interp: Interpolator,
          pipeline: str, state_dir: str, source: params.Vars) -> model.StageSpec:
    items = mapping_items(ctx, node, f"stages.{name}")
    build.check_keys(ctx, f"stages.{name}", {k: ln for k, ln, _ in items}, STAGE_KEYS)
    fields = {k: (ln, interp.apply(_value(ctx, v), ln)) for k, ln, v in items}
    has_cmd, has_py = "cmd" in fields, "python" in fields
    if has_cmd == has_py:
        raise ctx.error(f"stages.{name}: a stage needs exactly one of 'cmd' or 'python'"
                        + (", not both" if has_cmd else ", and has neither"), line,
                        hint="`cmd: <shell command>` or `python: module:function`")

    def get(key: str) -> tuple[int, Any]:
        return fields.get(key, (line, None))

    cmd_line, cmd = get("cmd")
    if has_cmd and (not isinstance(cmd, str) or not cmd.strip()):
        raise ctx.error(f"stages.{name}.cmd must be a non-empty string", cmd_line,
                        hint="e.g. cmd: python train.py")
    py_line, py = get("python")
    metric_node = next((v for k, _, v in items if k == "metrics"), None)
    metrics_line, metrics_value = get("metrics")
    metrics, metric_gates = gates.parse(ctx, f"stages.{name}.metrics", metrics_value, metrics_line,
                                        _gate_lines(metric_node))
    params_line, params_value = get("params")
    return model.StageSpec(
        name=name, pipeline=pipeline, pipeline_file=ctx.file, pipeline_dir=ctx.dir, state_dir=state_dir,
        line=line, kind=model.StageKind.CMD if has_cmd else model.StageKind.PYTHON,
        cmd=cmd if has_cmd else None,
        python=python_target(ctx, py, py_line) if has_py else None,
        deps=build.resolve_paths(ctx, f"stages.{name}.deps", *reversed(get("deps"))),
        outs=build.resolve_paths(ctx, f"stages.{name}.outs", *reversed(get("outs")), output=True),
        metrics=metrics, gates=metric_gates,
        params=_params(ctx, f"stages.{name}.params", params_value, params_line, source),
        run_cache=build.check_flag(ctx, f"stages.{name}.run_cache", *reversed(get("run_cache")), default=True,
                                   hint="run_cache: false (never restore this stage from the run cache)"),
        resources=build.check_resources(ctx, f"stages.{name}.resources", *reversed(get("resources"))),
    )


def load(ctx: FileContext, path: Path) -> model.PipelineSpec:
    text = read_text(ctx, path, "pipeline file")
    root = parse_yaml(ctx, text)
    if root is None:
        raise ctx.error("empty pipeline file", 1, hint="add a `stages:` mapping")
    items = mapping_items(ctx, root, "pipeline file")
    build.check_keys(ctx, "pipeline file", {k: ln for k, ln, _ in items}, TOP_KEYS)
    top = {k: (ln, v) for k, ln, v in items}
    name_line, name_node = top.get("pipeline", (1, None))
    name = build.pipeline_name(ctx, _value(ctx, name_node) if name_node else None, name_line)
    root_line, root_node = top.get("root", (1, None))
    state = build.state_dir(ctx, _value(ctx, root_node) if root_node else None, root_line)
    vars_node = top["vars"][1] if "vars" in top else None
    if vars_node is None:
        source = params.Vars(ctx, {}, (), declared=False)
    else:
        source = params.Vars(ctx, *params.read_vars(ctx, _value(ctx, vars_node), _line(vars_node)), declared=True)
    interp = Interpolator(ctx, source.values)
    if "stages" not in top:
        raise ctx.error("no `stages:` mapping", 1, hint="add a `stages:` mapping")
    stages_node = top["stages"][1]
    if isinstance(stages_node, yaml.ScalarNode) and stages_node.value in ("", "~", "null"):
        stage_items: list[tuple[str, int, yaml.Node]] = []
    else:
        stage_items = mapping_items(ctx, stages_node, "stages")
    stages = []
    for sname, sline, snode in stage_items:
        build.check_stage_name(ctx, sname, sline)
        stages.append(stage(ctx, sname, sline, snode, interp, name, state, source))
    return model.PipelineSpec(name=name, file=ctx.file, dir=ctx.dir, state_dir=state, stages=tuple(stages),
                              vars_files=source.files)
