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


@dataclass(frozen=True, slots=True)
class _Scope:
    names: frozenset[str]
    imports: dict[str, ImportBinding] = field(default_factory=dict)
    is_class: bool = False


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
    """Canonical text of nodes: positions, comments and formatting are not part of it."""
    return " || ".join(ast.dump(node, annotate_fields=True, include_attributes=False) for node in nodes)


def references(node: ast.AST) -> tuple[Ref, ...]:
    """Global names (and function-local imports) that `node` reads, in first-use order, without repeats."""
    refs: dict[Ref, None] = {}
    # A worklist, not recursion: long expressions (`a + b + ...`) nest deeper than the recursion limit.
    todo: _Todo = [(node, ())]
    while todo:
        current, scopes = todo.pop()
        if current is not None:
            _scan(current, scopes, refs, todo)
    return tuple(refs)


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
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                del body[0]


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


_Todo = list[tuple[ast.AST | None, tuple[_Scope, ...]]]


def _scan(node: ast.AST, scopes: tuple[_Scope, ...], refs: dict[Ref, None], todo: _Todo) -> None:
    """Record the references `node` makes itself; queue its children with the scopes they see."""
    match node:
        case ast.Name(id=name, ctx=ast.Load()):
            _ref(name, (), scopes, refs)
        case ast.Attribute():
            chain = _chain(node)
            if chain is None:
                todo.append((node.value, scopes))
            else:
                _ref(chain[0], chain[1:], scopes, refs)
        case ast.FunctionDef() | ast.AsyncFunctionDef():
            # Decorators, defaults and annotations run in the enclosing scope; the body in its own.
            outer = [*node.decorator_list, *_signature_exprs(node.args), node.returns]
            todo.extend((child, scopes) for child in outer)
            inner = _enter(scopes, node.args, node.body)
            todo.extend((child, inner) for child in node.body)
        case ast.Lambda():
            todo.extend((child, scopes) for child in _signature_exprs(node.args))
            todo.append((node.body, _enter(scopes, node.args, [node.body])))
        case ast.ClassDef():
            outer = [*node.decorator_list, *node.bases, *(kw.value for kw in node.keywords)]
            todo.extend((child, scopes) for child in outer)
            names, imports = _bindings(node.body)
            inner = (*scopes, _Scope(names, imports, is_class=True))
            todo.extend((child, inner) for child in node.body)
        case ast.ListComp() | ast.SetComp() | ast.DictComp() | ast.GeneratorExp():
            # Only the first iterable is evaluated outside the comprehension's own scope.
            todo.append((node.generators[0].iter, scopes))
            bound = frozenset(name for gen in node.generators for name in _target_names(gen.target))
            inner = (*_visible(scopes), _Scope(bound))
            parts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
            for index, gen in enumerate(node.generators):
                parts.extend([gen.target, *gen.ifs, *([gen.iter] if index else [])])
            todo.extend((child, inner) for child in parts)
        case _:
            todo.extend((child, scopes) for child in ast.iter_child_nodes(node))


def _ref(name: str, attrs: tuple[str, ...], scopes: tuple[_Scope, ...], refs: dict[Ref, None]) -> None:
    for scope in reversed(scopes):
        binding = scope.imports.get(name)
        if binding is not None:
            # A function-local `import helpers` still makes helpers' code part of the function.
            refs[(binding, attrs)] = None
            return
        if name in scope.names:
            return
    refs[(name, attrs)] = None


def _chain(node: ast.Attribute) -> tuple[str, ...] | None:
    attrs: list[str] = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        attrs.append(current.attr)
        current = current.value
    if isinstance(current, ast.Name):
        return (current.id, *reversed(attrs))
    return None


def _visible(scopes: tuple[_Scope, ...]) -> tuple[_Scope, ...]:
    # Class bodies are not enclosing scopes for the functions and comprehensions inside them.
    return tuple(scope for scope in scopes if not scope.is_class)


def _enter(scopes: tuple[_Scope, ...], args: ast.arguments, body: Sequence[ast.AST]) -> tuple[_Scope, ...]:
    params = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    names, imports = _bindings(body)
    return (*_visible(scopes), _Scope(names | {arg.arg for arg in params if arg is not None}, imports))


def _signature_exprs(args: ast.arguments) -> list[ast.expr | None]:
    params = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    annotations = [arg.annotation for arg in params if arg is not None]
    return [*args.defaults, *args.kw_defaults, *annotations]


def _bindings(body: Iterable[ast.AST]) -> tuple[frozenset[str], dict[str, ImportBinding]]:
    """Names a scope binds itself (not in nested scopes), minus those it declares `global`."""
    names: set[str] = set()
    declared_global: set[str] = set()
    imports: dict[str, ImportBinding] = {}
    stack = list(body)
    while stack:
        node = stack.pop()
        match node:
            case ast.Name(id=name, ctx=ast.Store() | ast.Del()):
                names.add(name)
            case ast.FunctionDef() | ast.AsyncFunctionDef() | ast.ClassDef():
                names.add(node.name)
                continue
            case ast.Lambda() | ast.ListComp() | ast.SetComp() | ast.DictComp() | ast.GeneratorExp():
                continue
            case ast.Import() | ast.ImportFrom():
                imports.update(import_bindings(node))
            case ast.Global(names=declared):
                declared_global.update(declared)
            case ast.Nonlocal(names=declared):
                names.update(declared)
            case ast.ExceptHandler(name=str() as name) | ast.MatchAs(name=str() as name):
                names.add(name)
            case ast.MatchStar(name=str() as name) | ast.MatchMapping(rest=str() as name):
                names.add(name)
        stack.extend(ast.iter_child_nodes(node))
    for name in declared_global:
        imports.pop(name, None)
    return frozenset(names - declared_global), imports
