"""Code fingerprints of Python stages, computed by parsing source files and never by importing them.

A fingerprint hashes the normalized AST of a function plus, transitively, every project function, class and
module-level constant it refers to. Code outside the project (stdlib, installed packages, modules not found)
contributes only its dotted name. Module resolution follows the stage's own search paths, so two pipelines
that each import a sibling `helpers.py` see their own file.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import xxhash

from pivot_ci.engine import pysource
from pivot_ci.errors import ConfigError

# Code under these directories is third-party or pivot's own state, never the user's project code.
_EXCLUDED_DIRS = frozenset({".venv", "venv", "site-packages", ".pivot", "node_modules"})

_Search = tuple[Path, ...]
_Signature = tuple[int, int]


@dataclass(frozen=True, slots=True)
class _Loc:
    """A located module: its file (None for a namespace package) and where its submodules live."""

    file: Path | None
    search: _Search | None


@dataclass(frozen=True, slots=True)
class _Lookup:
    """`name` (then `attrs`) in the globals of the module in `file`; `quiet`: a miss is expected."""

    file: Path
    name: str
    attrs: tuple[str, ...] = ()
    quiet: bool = False


@dataclass(frozen=True, slots=True)
class _WholeModule:
    """A project module used as a value (`run(helpers)`): all of it counts."""

    file: Path


_Key = _Lookup | _WholeModule


@dataclass(frozen=True, slots=True)
class _Node:
    """What one key contributes: canonical entries, and the keys it refers to."""

    entries: tuple[str, ...]
    succ: tuple[_Key, ...]


@dataclass(slots=True)
class _FileState:
    """One parse of a file, valid while its (mtime_ns, size) holds, with what was derived from it."""

    sig: _Signature
    rel: str
    source: pysource.ModuleSource
    nodes: dict[tuple[_Key, _Search], _Node] = field(default_factory=dict)
    defs: dict[str, tuple[str, tuple[pysource.Ref, ...]]] = field(default_factory=dict)


class Fingerprinter:
    """Fingerprints Python stage functions of one project; caches parses and results across calls."""

    def __init__(self, project_root: Path) -> None:
        self._root = project_root.resolve()
        self._files: dict[Path, _FileState] = {}
        self._children: dict[tuple[_Search, str], _Loc | None] = {}
        self._project: dict[Path, bool] = {}
        self._memo: dict[tuple[Path, str, _Search], tuple[str, tuple[tuple[Path, _Signature], ...]]] = {}
        self._resolved: dict[Path, Path] = {}

    def function(self, file: Path, qualname: str, search_paths: Sequence[Path]) -> str:
        """Fingerprint of function `qualname` (e.g. "train" or "Model.fit") defined in `file`."""
        path, search = self._resolve_path(file), self._search(search_paths)
        memo = self._memo.get((path, qualname, search))
        if memo is not None and all(_signature(p) == sig for p, sig in memo[1]):
            return memo[0]
        state = self._state(path)
        entries, deps = self._closure(self._root_key(path, state, qualname), search)
        entries.add(f"root:{state.rel}:{qualname}")
        digest = _digest(entries)
        self._memo[(path, qualname, search)] = (digest, deps)
        return digest

    def module_function(self, module: str, func: str, search_paths: Sequence[Path]) -> str:
        """Fingerprint of `module:func` as a pivot.yaml `python:` stage names it (module may be dotted)."""
        target = self.resolve_module(module, search_paths)
        if target is None:
            return _digest({f"ext:{module}.{func}"})
        return self.function(target, func, search_paths)

    def resolve_module(self, module: str, search_paths: Sequence[Path], *, importer: Path | None = None,
                       level: int = 0) -> Path | None:
        """File of a module if it is project code on search_paths (or relative to importer), else None."""
        parts = tuple(module.split(".")) if module else ()
        if not all(parts):
            return None
        if level > 0:
            if importer is None:
                return None
            start = _anchor(self._resolve_path(importer), level)
        else:
            start = _Loc(None, self._search(search_paths))
        target = self._resolve(start, parts, (), "")
        return target.file if isinstance(target, _WholeModule) else None

    # -- traversal -------------------------------------------------------------------------------------

    def _closure(self, root: _Key, search: _Search) -> tuple[set[str], tuple[tuple[Path, _Signature], ...]]:
        states: dict[Path, _FileState] = {}
        entries: set[str] = set()
        seen = {root}
        queue = [root]
        while queue:
            key = queue.pop()
            state = states.get(key.file)
            if state is None:
                state = states[key.file] = self._state(key.file)
            node = state.nodes.get((key, search))
            if node is None:
                node = state.nodes[(key, search)] = self._build(state, key, search)
            entries.update(node.entries)
            for succ in node.succ:
                if succ not in seen:
                    seen.add(succ)
                    queue.append(succ)
        return entries, tuple((path, state.sig) for path, state in states.items())

    def _build(self, state: _FileState, key: _Key, search: _Search) -> _Node:
        source = state.source
        if isinstance(key, _WholeModule):
            entry = f"module:{state.rel}={pysource.dump([source.tree])}"
            return _Node((entry,), tuple(_Lookup(key.file, name) for name in source.names))
        bindings = source.names.get(key.name, ())
        if not bindings:
            return self._via_stars(state, key, search)
        entries: list[str] = []
        targets: list[_Key | str] = []
        defs = [binding for binding in bindings if isinstance(binding, ast.stmt)]
        if defs:
            entry, refs = self._definition(state, key.name, defs)
            entries.append(entry)
            for what, attrs in refs:
                if isinstance(what, str):
                    if what not in source.names and what in pysource.BUILTINS:
                        continue
                    targets.append(_Lookup(key.file, what, attrs))
                else:
                    targets.append(self._import_target(key.file, what, attrs, search))
        for binding in bindings:
            if not isinstance(binding, ast.stmt):
                targets.append(self._import_target(key.file, binding, key.attrs, search))
        entries.extend(target for target in targets if isinstance(target, str))
        return _Node(tuple(entries), tuple(target for target in targets if not isinstance(target, str)))

    def _via_stars(self, state: _FileState, key: _Lookup, search: _Search) -> _Node:
        # Best effort: a name no star-imported project module defines is taken to come from the others.
        if not state.source.stars:
            return _Node(() if key.quiet else (f"unresolved:{key.name}",), ())
        entries: list[str] = []
        succ: list[_Key] = []
        for star in state.source.stars:
            binding = dataclasses.replace(star, name=key.name)
            match self._import_target(key.file, binding, key.attrs, search):
                case str() as entry:
                    entries.append(entry)
                case _Lookup() as lookup:
                    succ.append(dataclasses.replace(lookup, quiet=True))
                case _WholeModule() as module:
                    succ.append(module)
        return _Node(tuple(entries), tuple(succ))

    def _definition(self, state: _FileState, name: str,
                    defs: list[ast.stmt]) -> tuple[str, tuple[pysource.Ref, ...]]:
        cached = state.defs.get(name)
        if cached is None:
            kind = "class" if isinstance(defs[0], ast.ClassDef) else "const"
            if isinstance(defs[0], ast.FunctionDef | ast.AsyncFunctionDef):
                kind = "func"
            refs = tuple(dict.fromkeys(ref for stmt in defs for ref in pysource.references(stmt)))
            cached = state.defs[name] = (f"{kind}:{state.rel}:{name}={pysource.dump(defs)}", refs)
        return cached

    # -- resolution ------------------------------------------------------------------------------------

    def _import_target(self, importer: Path, binding: pysource.ImportBinding, attrs: tuple[str, ...],
                       search: _Search) -> _Key | str:
        match binding:
            case pysource.ModuleImport(module=module):
                return self._resolve(_Loc(None, search), tuple(module.split(".")), attrs, "")
            case pysource.FromImport(module=module, level=level, name=name):
                start = _anchor(importer, level) if level else _Loc(None, search)
                parts = tuple(module.split(".")) if module else ()
                return self._resolve(start, parts, (name, *attrs), "." * level)

    def _resolve(self, start: _Loc, parts: tuple[str, ...], attrs: tuple[str, ...],
                 prefix: str) -> _Key | str:
        """The deepest project module along parts + attrs, and what is looked up in it; else an ext entry."""
        full = parts + attrs
        best, depth = start.file, 0
        loc: _Loc | None = start
        for index, part in enumerate(full):
            if loc is None or loc.search is None:
                break
            loc = self._child(loc.search, part)
            if loc is not None and loc.file is not None:
                best, depth = loc.file, index + 1
        if best is None or depth < len(parts) or not self._is_project(best):
            return f"ext:{prefix}{'.'.join(full)}"
        if depth == len(full):
            return _WholeModule(best)
        return _Lookup(best, full[depth], full[depth + 1:])

    def _child(self, search: _Search, name: str) -> _Loc | None:
        """Locate module `name` on `search` the way the import system does (package, module, namespace)."""
        key = (search, name)
        if key in self._children:
            return self._children[key]
        found: _Loc | None = None
        namespace: list[Path] = []
        for base in search:
            package = base / name
            if (package / "__init__.py").is_file():
                found = _Loc(package / "__init__.py", (package,))
                break
            if (base / f"{name}.py").is_file():
                found = _Loc(base / f"{name}.py", None)
                break
            if package.is_dir():
                namespace.append(package)
        if found is None and namespace:
            found = _Loc(None, tuple(namespace))
        self._children[key] = found
        return found

    def _is_project(self, file: Path) -> bool:
        known = self._project.get(file)
        if known is None:
            try:
                parts = file.relative_to(self._root).parts
            except ValueError:
                parts = (".venv",)
            known = self._project[file] = not _EXCLUDED_DIRS.intersection(parts)
        return known

    # -- files -----------------------------------------------------------------------------------------

    def _state(self, path: Path) -> _FileState:
        cached = self._files.get(path)
        if cached is not None and cached.sig == _signature(path):
            return cached
        rel = self._rel(path)
        try:
            stat = path.stat()
            sig = (stat.st_mtime_ns, stat.st_size)
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {rel}: {exc.strerror}", file=rel,
                              hint="the stage's module must be a readable file") from exc
        try:
            source = pysource.parse(data, rel)
        except RecursionError as exc:
            raise ConfigError(f"cannot parse {rel}: code is nested too deeply", file=rel,
                              hint="split very long expressions or elif chains into smaller pieces") from exc
        except SyntaxError as exc:
            raise ConfigError(f"cannot parse {rel}: {exc.msg}", file=rel, line=exc.lineno,
                              hint="fix the syntax error; pivot parses stage code to fingerprint it") from exc
        except ValueError as exc:  # null bytes, undecodable source
            raise ConfigError(f"cannot parse {rel}: {exc}", file=rel,
                              hint="stage code must be UTF-8 (or declare its encoding)") from exc
        state = self._files[path] = _FileState(sig, rel, source)
        return state

    def _resolve_path(self, path: Path) -> Path:
        # Resolving costs a syscall per path component, and the same few paths come up for every stage.
        resolved = self._resolved.get(path)
        if resolved is None:
            resolved = self._resolved[path] = path.resolve()
        return resolved

    def _search(self, search_paths: Sequence[Path]) -> _Search:
        return tuple(self._resolve_path(path) for path in search_paths)

    def _rel(self, path: Path) -> str:
        try:
            return path.relative_to(self._root).as_posix()
        except ValueError:
            return path.as_posix()

    def _root_key(self, path: Path, state: _FileState, qualname: str) -> _Key:
        parts = tuple(part for part in qualname.split(".") if part != "<locals>")
        bindings = state.source.names.get(parts[0], ()) if parts and all(parts) else ()
        defs = [binding for binding in bindings if isinstance(binding, ast.stmt)]
        if defs:
            _check_members(state.rel, qualname, defs[-1], parts[1:])
            return _Lookup(path, parts[0])
        if bindings or (parts and all(parts) and state.source.stars):
            return _Lookup(path, parts[0], parts[1:])
        functions = sorted(name for name, found in state.source.names.items()
                           if any(isinstance(b, ast.FunctionDef | ast.AsyncFunctionDef) for b in found))
        raise ConfigError(f"{state.rel}: no function {qualname!r}", file=state.rel,
                          hint=_did_you_mean(qualname, functions, f"functions in {state.rel}"))


def _check_members(rel: str, qualname: str, node: ast.stmt, members: tuple[str, ...]) -> None:
    """Raise unless `members` name nested classes/functions inside `node` (for "Model.fit")."""
    scopes = ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
    owner = getattr(node, "name", "?")
    for member in members:
        body = node.body if isinstance(node, scopes) else []
        inner = {stmt.name: stmt for stmt in body if isinstance(stmt, scopes)}
        if member not in inner:
            hint = _did_you_mean(member, sorted(inner), f"members of {owner}")
            raise ConfigError(f"{rel}: {owner!r} has no member {member!r} (looking for {qualname!r})",
                              file=rel, line=node.lineno, hint=hint)
        node, owner = inner[member], f"{owner}.{member}"


def _did_you_mean(name: str, candidates: list[str], what: str) -> str:
    if not candidates:
        return f"there are no {what}"
    close = difflib.get_close_matches(name, candidates, n=1)
    listing = f"{what}: {', '.join(candidates)}"
    return f"did you mean {close[0]!r}? {listing}" if close else listing


def _anchor(importer: Path, level: int) -> _Loc:
    """The package a relative import with `level` dots starts from."""
    package = importer.parent
    for _ in range(level - 1):
        package = package.parent
    init = package / "__init__.py"
    return _Loc(init if init.is_file() else None, (package,))


def _signature(path: Path) -> _Signature | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)


def _digest(entries: set[str]) -> str:
    text = "\n".join(sorted(entries))
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8", "surrogatepass"))
