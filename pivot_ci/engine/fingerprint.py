"""Code fingerprints of Python stages, computed by parsing source files and never by importing them.

A fingerprint hashes the normalized AST of a function plus, transitively, every project function, class and
module-level constant it refers to. Code outside the project (stdlib, installed packages, modules not found)
contributes only its dotted name. Module resolution follows the stage's own search paths, so two pipelines
that each import a sibling `helpers.py` see their own file.

The hashed text is the sorted set of entries `<kind>:<file relative to the project>:<name>=<hash of dump>`
(kinds func, class, const, module), `ext:<dotted name>`, `unresolved:<name>` and `root:<file>:<qualname>`.
"""

from __future__ import annotations

import ast
import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import xxhash

from pivot_ci.engine import pysource
from pivot_ci.errors import ConfigError

# Code under these directories is third-party or pivot's own state, never the user's project code.
_EXCLUDED_DIRS = frozenset({".venv", "venv", "site-packages", ".pivot", "node_modules"})

# Internally files are absolute path strings: keys are hashed millions of times on big closures, and
# hashing a str is far cheaper than hashing a Path.
_File = str
_Search = tuple[str, ...]
_Signature = tuple[int, int]


@dataclass(frozen=True, slots=True)
class _Loc:
    """A located module: its file (None for a namespace package) and where its submodules live."""

    file: _File | None
    search: _Search | None


class _Lookup(NamedTuple):
    """`name` (then `attrs`) in the globals of the module in `file`; `quiet`: a miss is expected."""

    file: _File
    name: str
    attrs: tuple[str, ...] = ()
    quiet: bool = False


class _WholeModule(NamedTuple):
    """A project module used as a value (`run(helpers)`): all of it counts."""

    file: _File


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
    nodes: dict[_Search, dict[_Key, _Node]] = field(default_factory=dict)
    defs: dict[str, tuple[str, tuple[pysource.Ref, ...]]] = field(default_factory=dict)


class Fingerprinter:
    """Fingerprints Python stage functions of one project, caching parses and results across calls.

    Edits to files already read are seen (parses are keyed by mtime_ns and size); files that appear or vanish
    after a module was looked up are not, so long-lived callers (watch mode) make a new one per cycle.
    """

    def __init__(self, project_root: Path) -> None:
        self._root = str(project_root.resolve())
        self._files: dict[_File, _FileState] = {}
        self._children: dict[tuple[_Search, str], _Loc | None] = {}
        self._project: dict[_File, bool] = {}
        self._memo: dict[tuple[_File, str, _Search], tuple[str, tuple[tuple[_File, _Signature], ...]]] = {}
        self._resolved: dict[Path, _File] = {}
        self._parts: dict[str, tuple[str, ...]] = {}

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
        self._parts[digest] = tuple(sorted(entries))
        return digest

    def parts(self, digest: str) -> tuple[str, ...] | None:
        """The sorted entries a fingerprint this instance computed was taken over (for `status --explain`)."""
        return self._parts.get(digest)

    def function_with_files(self, file: Path, qualname: str,
                            search_paths: Sequence[Path]) -> tuple[str, tuple[str, ...]]:
        """Fingerprint and the files (and search directories) it was computed from, to memoise it."""
        digest = self.function(file, qualname, search_paths)
        path, search = self._resolve_path(file), self._search(search_paths)
        files = {p for p, _ in self._memo[(path, qualname, search)][1]}
        # a file appearing in a directory could change what an import resolves to
        dirs = {os.path.dirname(p) for p in files} | set(search)
        return digest, tuple(sorted(files | dirs))

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
        if not all(part.isidentifier() for part in parts):
            return None
        if level > 0:
            if importer is None:
                return None
            start = _anchor(self._resolve_path(importer), level)
        else:
            start = _Loc(None, self._search(search_paths))
        target = self._resolve(start, parts, (), "")
        return Path(target.file) if isinstance(target, _WholeModule) else None

    # -- traversal -------------------------------------------------------------------------------------

    def _closure(self, root: _Key, search: _Search) -> tuple[set[str], tuple[tuple[_File, _Signature], ...]]:
        states: dict[_File, _FileState] = {}
        nodes_of: dict[_File, dict[_Key, _Node]] = {}
        entries: set[str] = set()
        seen = {root}
        queue = [root]
        while queue:
            key = queue.pop()
            nodes = nodes_of.get(key.file)
            if nodes is None:
                state = states[key.file] = self._state(key.file)
                nodes = nodes_of[key.file] = state.nodes.setdefault(search, {})
            node = nodes.get(key)
            if node is None:
                node = nodes[key] = self._build(states[key.file], key, search)
            entries.update(node.entries)
            for succ in node.succ:
                if succ not in seen:
                    seen.add(succ)
                    queue.append(succ)
        return entries, tuple((path, state.sig) for path, state in states.items())

    def _build(self, state: _FileState, key: _Key, search: _Search) -> _Node:
        source = state.source
        if isinstance(key, _WholeModule):
            entry = f"module:{state.rel}={_text_digest(pysource.dump([source.tree]))}"
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
            binding = pysource.FromImport(star.module, star.level, key.name)
            match self._import_target(key.file, binding, key.attrs, search):
                case str() as entry:
                    entries.append(entry)
                case _Lookup() as lookup:
                    succ.append(lookup._replace(quiet=True))
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
            # The dump enters the canonical text as its own hash, which keeps that text small when a
            # closure spans hundreds of definitions.
            entry = f"{kind}:{state.rel}:{name}={_text_digest(pysource.dump(defs))}"
            cached = state.defs[name] = (entry, refs)
        return cached

    # -- resolution ------------------------------------------------------------------------------------

    def _import_target(self, importer: _File, binding: pysource.ImportBinding, attrs: tuple[str, ...],
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
        namespace: list[_File] = []
        for base in search:
            package = os.path.join(base, name)
            init = os.path.join(package, "__init__.py")
            if os.path.isfile(init):
                found = _Loc(init, (package,))
                break
            if os.path.isfile(package + ".py"):
                found = _Loc(package + ".py", None)
                break
            if os.path.isdir(package):
                namespace.append(package)
        if found is None and namespace:
            found = _Loc(None, tuple(namespace))
        self._children[key] = found
        return found

    def _is_project(self, file: _File) -> bool:
        known = self._project.get(file)
        if known is None:
            inside = file.startswith(self._root + os.sep)
            parts = file[len(self._root) + 1:].split(os.sep)
            known = self._project[file] = inside and not _EXCLUDED_DIRS.intersection(parts)
        return known

    # -- files -----------------------------------------------------------------------------------------

    def _state(self, path: _File) -> _FileState:
        cached = self._files.get(path)
        if cached is not None and cached.sig == _signature(path):
            return cached
        rel = self._rel(path)
        try:
            stat = os.stat(path)
            sig = (stat.st_mtime_ns, stat.st_size)
            with open(path, "rb") as handle:
                data = handle.read()
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

    def _resolve_path(self, path: Path) -> _File:
        # Resolving costs a syscall per path component, and the same few paths come up for every stage.
        resolved = self._resolved.get(path)
        if resolved is None:
            resolved = self._resolved[path] = str(path.resolve())
        return resolved

    def _search(self, search_paths: Sequence[Path]) -> _Search:
        return tuple(self._resolve_path(path) for path in search_paths)

    def _rel(self, path: _File) -> str:
        if path.startswith(self._root + os.sep):
            return Path(path[len(self._root) + 1:]).as_posix()
        return Path(path).as_posix()

    def _root_key(self, path: _File, state: _FileState, qualname: str) -> _Key:
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


def _anchor(importer: _File, level: int) -> _Loc:
    """The package a relative import with `level` dots starts from."""
    package = os.path.dirname(importer)
    for _ in range(level - 1):
        package = os.path.dirname(package)
    init = os.path.join(package, "__init__.py")
    return _Loc(init if os.path.isfile(init) else None, (package,))


def _signature(path: _File) -> _Signature | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)


def _text_digest(text: str) -> str:
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8", "surrogatepass"))


def _digest(entries: set[str]) -> str:
    return _text_digest("\n".join(sorted(entries)))
