"""Static reading of Python source: top-level bindings, and the global names a definition refers to."""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

# Module dunders are set by the import system, never by user code worth fingerprinting.
BUILTINS = frozenset(dir(builtins)) | {
    "__file__", "__name__", "__doc__", "__spec__", "__loader__", "__package__", "__path__",
    "__builtins__", "__annotations__", "__dict__", "__cached__",
}


@dataclass(frozen=True, slots=True)
class ModuleImport:
    """`import a.b` binds `a` to module "a"; `import a.b as c` binds `c` to module "a.b"."""

    module: str


@dataclass(frozen=True, slots=True)
class FromImport:
    """`from <level dots><module> import <name>`."""

    module: str
    level: int
    name: str


ImportBinding = ModuleImport | FromImport
Binding = ast.stmt | ModuleImport | FromImport
# What a definition reads from outside itself: a global name or a function-local import, plus the
# attribute chain read off it (`helpers.clean` -> ("helpers", ("clean",))).
Ref = tuple[str | ModuleImport | FromImport, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class ModuleSource:
    """A parsed module: docstring-free tree, top-level bindings in source order, star-imported modules."""

    tree: ast.Module
    names: dict[str, tuple[Binding, ...]]
    stars: tuple[FromImport, ...]


@dataclass(slots=True)
class _Scope:
    """What one scope binds; filled while its body is scanned, read once the whole walk is done."""

    is_class: bool = False
    names: set[str] = field(default_factory=set)
    imports: dict[str, ImportBinding] = field(default_factory=dict)
    declared_global: set[str] = field(default_factory=set)


def parse(source: bytes, filename: str) -> ModuleSource:
    """Parse `source` (raises SyntaxError/ValueError), strip docstrings and index its top-level bindings."""
    tree = ast.parse(source, filename=filename)
    _strip_docstrings(tree)
    names: dict[str, list[Binding]] = {}
    stars: list[FromImport] = []
    for stmt in _top_level(tree.body):
        match stmt:
            case ast.ImportFrom(names=[ast.alias(name="*")]):
                stars.append(FromImport(stmt.module or "", stmt.level, "*"))
            case ast.Import() | ast.ImportFrom():
                for name, binding in import_bindings(stmt):
                    names.setdefault(name, []).append(binding)
            case _:
                for name in _bound_by(stmt):
                    names.setdefault(name, []).append(stmt)
    return ModuleSource(tree, {name: tuple(found) for name, found in names.items()}, tuple(stars))


def dump(nodes: Sequence[ast.AST]) -> str:
    """Canonical text of nodes: node types and field values only, so positions and formatting do not count."""
    return " || ".join(_dump(node) for node in nodes)


def references(node: ast.AST) -> tuple[Ref, ...]:
    """Global names (and function-local imports) that `node` reads, each once."""
    # One pass records every load with the scopes it can see and every binding into its scope; loads are
    # resolved afterwards, when each scope knows all its names (Python binds a name for the whole scope).
    # A worklist, not recursion: long expressions (`a + b + ...`) nest deeper than the recursion limit.
    loads: list[tuple[str, tuple[str, ...], _Chain]] = []
    todo: list[tuple[ast.AST, _Chain]] = [(node, (_Scope(),))]
    pop, push = todo.pop, todo.append
    while todo:
        current, chain = pop()
        if type(current) is ast.Name:
            if type(current.ctx) is ast.Load:
                loads.append((current.id, (), chain))
            else:
                chain[-1].names.add(current.id)
            continue
        if type(current) is ast.Attribute:
            dotted = _dotted(current)
            if dotted is None:
                push((current.value, chain))
            else:
                loads.append((dotted[0], dotted[1:], chain))
            continue
        kind = type(current)
        if kind in _SPECIAL and _scan_special(current, chain, todo):
            continue
        fields = _CHILD_FIELDS.get(kind)
        if fields is None:
            fields = _CHILD_FIELDS[kind] = tuple(f for f in kind._fields if f not in _SKIPPED_FIELDS)
        for field_name in fields:
            value = getattr(current, field_name, None)
            if isinstance(value, ast.AST):
                push((value, chain))
            elif type(value) is list:
                todo.extend((child, chain) for child in value if isinstance(child, ast.AST))
    refs: dict[Ref, None] = {}
    for name, attrs, chain in loads:
        refs[_resolve_load(name, attrs, chain)] = None
    return tuple(ref for ref in refs if ref[0] != "")


def import_bindings(stmt: ast.Import | ast.ImportFrom) -> Iterator[tuple[str, ImportBinding]]:
    """The names an import statement binds (star imports bind nothing nameable)."""
    if isinstance(stmt, ast.Import):
        for alias in stmt.names:
            if alias.asname:
                yield alias.asname, ModuleImport(alias.name)
            else:
                head = alias.name.partition(".")[0]
                yield head, ModuleImport(head)
        return
    for alias in stmt.names:
        if alias.name != "*":
            yield alias.asname or alias.name, FromImport(stmt.module or "", stmt.level, alias.name)


def _strip_docstrings(tree: ast.Module) -> None:
    # Definitions live only in statement lists, so expressions need not be walked.
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        body = getattr(node, "body", None)
        if (isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            del body[0]
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, name, None)
            if isinstance(children, list):
                stack.extend(children)


def _top_level(body: Iterable[ast.stmt]) -> Iterator[ast.stmt]:
    # Definitions under `if TYPE_CHECKING:`, `try: ... except ImportError:` etc. are still module globals.
    for stmt in body:
        yield stmt
        match stmt:
            case ast.If() | ast.For() | ast.AsyncFor() | ast.While():
                yield from _top_level([*stmt.body, *stmt.orelse])
            case ast.With() | ast.AsyncWith():
                yield from _top_level(stmt.body)
            case ast.Try() | ast.TryStar():
                handlers = [s for handler in stmt.handlers for s in handler.body]
                yield from _top_level([*stmt.body, *handlers, *stmt.orelse, *stmt.finalbody])
            case ast.Match():
                yield from _top_level([s for case in stmt.cases for s in case.body])


def _bound_by(stmt: ast.stmt) -> list[str]:
    match stmt:
        case ast.FunctionDef() | ast.AsyncFunctionDef() | ast.ClassDef():
            return [stmt.name]
        case ast.Assign():
            return [name for target in stmt.targets for name in _target_names(target)]
        case ast.AnnAssign() | ast.AugAssign() | ast.For() | ast.AsyncFor():
            return _target_names(stmt.target)
        case ast.With() | ast.AsyncWith():
            return [n for item in stmt.items if item.optional_vars for n in _target_names(item.optional_vars)]
    return []


def _target_names(target: ast.expr) -> list[str]:
    match target:
        case ast.Name(id=name):
            return [name]
        case ast.Tuple(elts=elts) | ast.List(elts=elts):
            return [name for elt in elts for name in _target_names(elt)]
        case ast.Starred(value=value):
            return _target_names(value)
        case ast.Attribute(value=value) | ast.Subscript(value=value):
            # `CONFIG["lr"] = 0.1` at module level changes what CONFIG holds.
            return _target_names(value)
    return []


class _Mark(str):
    """Structural text of a dump, told apart from string values by its type."""

    __slots__ = ()


_CLOSE, _OPEN_LIST, _CLOSE_LIST = _Mark(")"), _Mark("["), _Mark("]")
# Load/Store/Del follow from where a name stands, so they add nothing to a dump.
_DERIVED_FIELDS = frozenset({"ctx"})
_HEADS: dict[type[ast.AST], tuple[_Mark, tuple[tuple[str, _Mark], ...]]] = {}


def _dump(root: ast.AST) -> str:
    # Like ast.dump(include_attributes=False) but iterative (long `a + b + ...` chains exceed the recursion
    # limit) and leaving out None and [] fields, as ast.dump does from 3.13 on: a field a newer Python adds
    # (type_params in 3.12) then leaves fingerprints of code that does not use it unchanged.
    out: list[str] = []
    stack: list[object] = [root]
    emit, pop, push, push_all = out.append, stack.pop, stack.append, stack.extend
    while stack:
        item = pop()
        if type(item) is _Mark:
            emit(item)
        elif type(item) is ast.Name:
            emit(f"Name(id={item.id!r})")
        elif type(item) is list:
            emit(_OPEN_LIST)
            push(_CLOSE_LIST)
            # AST text is self-delimiting; other items (names in `global a, b`) get a separator.
            push_all([child if isinstance(child, ast.AST) else _Mark(f"{child!r},") for child in reversed(item)])
        elif isinstance(item, ast.AST):
            kind = type(item)
            head = _HEADS.get(kind)
            if head is None:
                names = [name for name in reversed(kind._fields) if name not in _DERIVED_FIELDS]
                head = _HEADS[kind] = (_Mark(f"{kind.__name__}("), tuple((n, _Mark(f" {n}=")) for n in names))
            emit(head[0])
            push(_CLOSE)
            for name, mark in head[1]:
                value = getattr(item, name, None)
                if value is not None and (type(value) is not list or value):
                    push(value)
                    push(mark)
        else:
            emit(repr(item))
    return "".join(out)


_Chain = tuple[_Scope, ...]
# Fields whose nodes are operators or contexts: nothing in them binds or reads a name.
_SKIPPED_FIELDS = frozenset({"ctx", "op", "ops"})
_CHILD_FIELDS: dict[type[ast.AST], tuple[str, ...]] = {}
# Nodes that open a scope or bind a name other than through ast.Name.
_SPECIAL = frozenset({
    ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.ListComp, ast.SetComp, ast.DictComp,
    ast.GeneratorExp, ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal, ast.ExceptHandler, ast.MatchAs,
    ast.MatchStar, ast.MatchMapping,
})


def _scan_special(node: ast.AST, chain: _Chain, todo: list[tuple[ast.AST, _Chain]]) -> bool:
    """Handle a node that opens a scope or binds names; True if it queued its children itself."""
    scope = chain[-1]
    match node:
        case ast.FunctionDef() | ast.AsyncFunctionDef() | ast.Lambda():
            # Decorators, defaults and annotations run in the enclosing scope; the body in its own.
            args = node.args
            params = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
            outer: list[ast.AST | None] = [*args.defaults, *args.kw_defaults]
            outer.extend(param.annotation for param in params if param is not None)
            inner = (*_visible(chain), _Scope(names={param.arg for param in params if param is not None}))
            if isinstance(node, ast.Lambda):
                todo.append((node.body, inner))
            else:
                scope.names.add(node.name)
                outer.extend([*node.decorator_list, node.returns])
                todo.extend((child, inner) for child in node.body)
            todo.extend((child, chain) for child in outer if child is not None)
            return True
        case ast.ClassDef():
            scope.names.add(node.name)
            todo.extend((child, chain) for child in [*node.decorator_list, *node.bases, *node.keywords])
            inner = (*chain, _Scope(is_class=True))
            todo.extend((child, inner) for child in node.body)
            return True
        case ast.ListComp() | ast.SetComp() | ast.DictComp() | ast.GeneratorExp():
            # Only the first iterable is evaluated outside the comprehension's own scope.
            todo.append((node.generators[0].iter, chain))
            inner = (*_visible(chain), _Scope())
            parts: list[ast.AST] = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
            for index, gen in enumerate(node.generators):
                parts.extend([gen.target, *gen.ifs, *([gen.iter] if index else [])])
            todo.extend((child, inner) for child in parts)
            return True
        case ast.Import() | ast.ImportFrom():
            scope.imports.update(import_bindings(node))
            return True
        case ast.Global(names=declared):
            scope.declared_global.update(declared)
        case ast.Nonlocal(names=declared):
            scope.names.update(declared)
        case ast.ExceptHandler(name=str() as name) | ast.MatchAs(name=str() as name):
            scope.names.add(name)
        case ast.MatchStar(name=str() as name) | ast.MatchMapping(rest=str() as name):
            scope.names.add(name)
    return False


def _resolve_load(name: str, attrs: tuple[str, ...], chain: _Chain) -> Ref:
    """A load as a Ref: a global name, a function-local import, or ("", ()) when a local binds it."""
    # The outermost scope of a walk is the module's: what it binds are module globals, not locals.
    for scope in reversed(chain[1:]):
        if name in scope.declared_global:
            break
        binding = scope.imports.get(name)
        if binding is not None:
            # A function-local `import helpers` still makes helpers' code part of the function.
            return (binding, attrs)
        if name in scope.names:
            return ("", ())
    return (name, attrs)


def _dotted(node: ast.Attribute) -> tuple[str, ...] | None:
    attrs: list[str] = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        attrs.append(current.attr)
        current = current.value
    if isinstance(current, ast.Name):
        return (current.id, *reversed(attrs))
    return None


def _visible(chain: _Chain) -> _Chain:
    # Class bodies are not enclosing scopes for the functions and comprehensions inside them.
    return tuple(scope for scope in chain if not scope.is_class)
