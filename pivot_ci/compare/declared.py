"""Which stages a pipeline file at another revision declares, learnt without running it: a pivot.yaml is
read as YAML, a pipeline.py is parsed. None means "cannot tell", which never makes a stage count as new."""

from __future__ import annotations

import ast

import yaml

from pivot_ci import yamlutil


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def python_stage_names(data: bytes) -> frozenset[str] | None:
    """The stages a pipeline.py declares, when every `.stage(...)` decorator and `.command(...)` call names
    its stage literally (the function's name, `name="..."`, the first argument); None when any does not."""
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError):
        return None
    names: set[str] = set()
    decorators: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for dec in node.decorator_list:
                if isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute) and dec.func.attr == "stage":
                    decorators.add(id(dec))
                    named = next((k for k in dec.keywords if k.arg == "name"), None)
                    if named is None and any(k.arg is None for k in dec.keywords):
                        return None  # **options may hold a name
                    name = node.name if named is None else _literal(named.value)
                    if name is None:
                        return None
                    names.add(name)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or id(node) in decorators:
            continue
        if isinstance(node.func, ast.Call) and isinstance(node.func.func, ast.Attribute) \
                and node.func.func.attr == "stage":
            return None  # pipeline.stage(...)(function): not worth resolving
        if isinstance(node.func, ast.Attribute) and node.func.attr == "command":
            named = next((k for k in node.keywords if k.arg == "name"), None)
            name = _literal(node.args[0] if node.args else (named.value if named else None))
            if name is None:
                return None
            names.add(name)
    return frozenset(names)


def yaml_stage_names(data: bytes) -> frozenset[str] | None:
    try:
        node = yamlutil.compose(data.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        return None
    if not isinstance(node, yaml.MappingNode):
        return None
    for key, value in node.value:
        if key.value == "stages":
            if not isinstance(value, yaml.MappingNode):
                return frozenset()
            return frozenset(str(k.value) for k, _ in value.value)
    return None
