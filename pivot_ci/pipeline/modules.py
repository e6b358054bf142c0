"""Where the module of a `python: module:function` stage lives, found without importing anything.

A misspelt module is a load error with a did-you-mean, like a misspelt function, instead of a stage that
looks stale ("code changed") and then fails at run time with a traceback.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path


def _child(dirs: Sequence[str], name: str) -> tuple[bool, list[str]]:
    """(found, directories of its submodules) for module `name` in `dirs`, the way the import system looks."""
    namespace = []
    for base in dirs:
        package = os.path.join(base, name)
        if os.path.isfile(os.path.join(package, "__init__.py")):
            return True, [package]
        if os.path.isfile(package + ".py"):
            return True, []
        if os.path.isdir(package):
            namespace.append(package)
    return bool(namespace), namespace


def in_project(module: str, search: Sequence[Path]) -> bool:
    """Whether dotted `module` is a file or package on `search` (the pipeline's directory, the project root)."""
    dirs = [str(p) for p in search]
    for part in module.split("."):
        found, dirs = _child(dirs, part)
        if not found:
            return False
    return True


def installed(module: str) -> bool:
    """Whether the top-level package of `module` is importable here (found, not imported)."""
    import importlib.util  # only a module missing from the project pays for the lookup

    try:
        return importlib.util.find_spec(module.split(".")[0]) is not None
    except (ImportError, ValueError):
        return False


def candidates(module: str, search: Sequence[Path]) -> list[str]:
    """Module names next to where `module` was looked for: its siblings on `search` (or in its package)."""
    parts = module.split(".")
    dirs = [str(p) for p in search]
    for part in parts[:-1]:
        found, inner = _child(dirs, part)
        if not found:
            break
        dirs = inner
    names: set[str] = set()
    for base in dirs:
        try:
            entries = os.listdir(base)
        except OSError:
            continue
        for entry in entries:
            stem, ext = os.path.splitext(entry)
            if ext == ".py" and stem.isidentifier():
                names.add(stem)
            elif not ext and entry.isidentifier() and os.path.isfile(os.path.join(base, entry, "__init__.py")):
                names.add(entry)
    prefix = ".".join(parts[:-1])
    return sorted(f"{prefix}.{n}" if prefix else n for n in names)


def did_you_mean(module: str, search: Sequence[Path]) -> str:
    found = candidates(module, search)
    close = difflib.get_close_matches(module, found, n=1)
    listing = f"modules there: {', '.join(found)}" if found else "there are no Python modules there"
    return f"did you mean '{close[0]}'? {listing}" if close else listing
