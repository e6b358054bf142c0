"""The import direction of docs/architecture.md, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "pivot_ci"
FOUNDATION = {"pivot_ci.errors", "pivot_ci.project", "pivot_ci.yamlutil"}
ALLOWED: dict[str, set[str]] = {
    "state": {"state"},
    "discover": set(),
    # pointer files are declarations read where pipelines are; the parse memo is written as state is
    "pipeline": {"pipeline", "state.pointer", "state.confine", "state.fsutil"},
    "dag": {"discover", "pipeline", "dag"},
    "engine": {"discover", "pipeline", "dag", "engine", "state"},
    "compare": {"compare", "discover", "pipeline", "dag.load", "dag.graph", "state"},
    "report": {"report", "engine.check", "engine.status", "compare.values", "pipeline.model"},
    "remote": {"remote", "state"},
}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(path: Path, modules: dict[str, Path] | None = None) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pivot_ci"):
            names = {f"{node.module}.{a.name}" for a in node.names}
            if modules is None or not names <= set(modules):  # `from pkg import mod` imports mod, not pkg's names
                found.add(node.module)
            found.update(names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("pivot_ci"))
    return found


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        out[name] = path
    return out


def _is_allowed(importer: str, imported: str, modules: dict[str, Path]) -> bool:
    if imported not in modules or imported == "pivot_ci":  # names, and the package itself
        return True
    if imported in FOUNDATION:
        return importer not in FOUNDATION or imported == "pivot_ci.errors"
    layer = _layer(importer)
    if importer in FOUNDATION:
        return False
    if layer == "cli" or importer in ("pivot_ci.__main__",):
        return True
    if importer == "pivot_ci":
        return imported.startswith("pivot_ci.pipeline")
    rel = imported.removeprefix("pivot_ci.")
    return any(rel == a or rel.startswith(a + ".") for a in ALLOWED.get(layer, set()))


def test_layers_import_only_downwards() -> None:
    modules = _modules()
    bad = [f"{importer} imports {imported}"
           for importer, path in sorted(modules.items())
           for imported in sorted(_imports(path, modules))
           if not _is_allowed(importer, imported, modules)]
    assert bad == []


def test_nothing_imports_the_cli() -> None:
    modules = _modules()
    users = [m for m, p in modules.items() if _layer(m) != "cli" and m != "pivot_ci.__main__"
             and any(i.startswith("pivot_ci.cli") for i in _imports(p))]
    assert users == []
