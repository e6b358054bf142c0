"""YAML shared by pipeline files, vars files, lock files and config: the fastest loader/dumper, bounded loads
(no alias bombs, no runaway nesting), duplicate keys refused, one-line error messages.

Everything pivot reads as YAML goes through `load` (or `compose` + `construct`): a file from an untrusted pull
request must not be able to make `status` use gigabytes or minutes. Aliases are fine, and so are merge keys
(`<<: *defaults`), as long as all aliases together add at most MAX_ALIAS_NODES nodes to the document.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import yaml

Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

MAX_ALIAS_NODES = 100_000  # nodes that aliases may add to a document, all aliases together
MAX_DEPTH = 100  # nesting of collections, aliases expanded
_MERGE_TAG = "tag:yaml.org,2002:merge"
LIMIT_HINT = ("pivot refuses YAML whose aliases or ${...} references expand to more than "
              f"{MAX_ALIAS_NODES} values or nest deeper than {MAX_DEPTH} levels: write the values out")


class LimitError(yaml.MarkedYAMLError):
    """A document that is too expensive to use: an alias bomb, a recursive alias, runaway nesting."""


class _Loader(Loader):  # type: ignore[misc, valid-type]
    """The safe loader, refusing duplicate keys in every mapping (block or flow)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue  # `<<: *base`: merged keys may be overridden, that is the point
                key = self.construct_object(key_node, deep=False) if isinstance(key_node, yaml.ScalarNode) else None
                line = int(key_node.start_mark.line) + 1
                try:
                    first = seen.get(key)
                except TypeError:
                    continue  # an unhashable key: the constructor reports it
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first at line {first})", key_node.start_mark)
                seen[key] = line
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


def _children(node: yaml.Node) -> Iterator[tuple[yaml.Node, yaml.Node]]:
    """(child, the node whose line an error about it names) in document order. An alias node is its target, so
    an alias is located by its key in a mapping, by its sequence in a sequence."""
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield item, node
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield key, key
            yield value, key


def _limit(problem: str, at: yaml.Node) -> LimitError:
    return LimitError(None, None, problem, at.start_mark)


def check(root: yaml.Node) -> None:
    """LimitError unless `root`, its aliases expanded, is acyclic, at most MAX_DEPTH deep and at most
    MAX_ALIAS_NODES nodes bigger than the document itself. One pass over the node graph, no expansion.

    In document order the first reference to a node is its anchor, any later one an alias: an alias adds the
    whole expanded size of its target, an anchor only what aliases inside it add.
    """
    size: dict[int, int] = {}  # expanded node count of finished nodes
    extra: dict[int, int] = {}  # what aliases add inside a finished node
    depth: dict[int, int] = {}  # expanded depth of finished nodes
    open_ids: set[int] = set()
    # frames: node, its children iterator, [size, extra, depth] so far
    stack: list[tuple[yaml.Node, Iterator[tuple[yaml.Node, yaml.Node]], list[int]]] = []

    def enter(node: yaml.Node) -> None:
        if len(stack) >= MAX_DEPTH:
            raise _limit(f"collections nested more than {MAX_DEPTH} levels deep", node)
        open_ids.add(id(node))
        stack.append((node, _children(node), [1, 0, 1]))

    enter(root)
    while stack:
        node, children, acc = stack[-1]
        step = next(children, None)
        if step is None:
            stack.pop()
            open_ids.discard(id(node))
            size[id(node)], extra[id(node)], depth[id(node)] = acc
            if stack:
                parent = stack[-1][2]
                parent[0] += acc[0]
                parent[1] += acc[1]
                parent[2] = max(parent[2], acc[2] + 1)
            continue
        child, where = step
        if id(child) in open_ids:
            raise _limit("recursive alias: a node that contains itself", where)
        if id(child) not in size:
            if isinstance(child, yaml.ScalarNode):
                size[id(child)], extra[id(child)], depth[id(child)] = 1, 0, 0
                acc[0] += 1
                continue
            enter(child)
            continue
        # an alias: the whole expansion of its target counts
        acc[0] += size[id(child)]
        acc[1] += size[id(child)]
        acc[2] = max(acc[2], depth[id(child)] + 1)
        if sum(frame[2][1] for frame in stack) > MAX_ALIAS_NODES:
            raise _limit(f"aliases expand to more than {MAX_ALIAS_NODES} nodes (an alias bomb?)", where)
        if len(stack) + depth[id(child)] > MAX_DEPTH:
            raise _limit(f"collections nested more than {MAX_DEPTH} levels deep (through aliases)", where)


def value_size(value: Any, limit: int) -> int:
    """How many values `value` holds, counting nested lists and dicts (keys included); stops past `limit`."""
    count, todo = 0, [value]
    while todo and count <= limit:
        cur = todo.pop()
        count += 1
        if isinstance(cur, dict):
            todo.extend(cur)
            todo.extend(cur.values())
        elif isinstance(cur, list | tuple):
            todo.extend(cur)
    return count


def compose(text: str) -> yaml.Node | None:
    """The node tree of `text`, checked by `check`; yaml.YAMLError (LimitError included) when unusable."""
    try:
        node = yaml.compose(text, Loader=Loader)
    except RecursionError:
        raise LimitError(None, None, f"collections nested more than {MAX_DEPTH} levels deep", None) from None
    if node is not None:
        check(node)
    return node


def construct(node: yaml.Node) -> Any:
    """The Python value of a checked node; duplicate keys raise a ConstructorError at the duplicate."""
    return _Loader("").construct_document(node)


def load(text: str) -> Any:
    """`yaml.safe_load`, bounded and refusing duplicate keys."""
    node = compose(text)
    return None if node is None else construct(node)


def line_of(text: str, where: Sequence[str | int]) -> int | None:
    """The line of the value at key path `where` (("outs", 2, "path")) in `text`, or of the deepest part of it
    that exists; None when `text` is not YAML. For error paths only: it parses `text` again."""
    try:
        node = yaml.compose(text, Loader=Loader)
    except (yaml.YAMLError, RecursionError):
        return None
    if node is None:
        return None
    line = int(node.start_mark.line) + 1
    for part in where:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            found = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None)
            if found is None:
                break
            line, node = int(found[0].start_mark.line) + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = int(node.start_mark.line) + 1
        else:
            break
    return line


def problem(exc: yaml.YAMLError, text: str) -> tuple[str, int | None]:
    """A one-line description of a YAML error and the line it is at (str(exc) spans several lines)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        return exc.problem or exc.context or "invalid YAML", None if mark is None else int(mark.line) + 1
    if isinstance(exc, yaml.reader.ReaderError):
        # libyaml reports a byte offset, the pure-Python reader a character offset
        if Loader is yaml.SafeLoader:
            line = text.count("\n", 0, exc.position) + 1
        else:
            line = text.encode("utf-8").count(b"\n", 0, exc.position) + 1
        what = f"unacceptable character #x{exc.character:04x}" if isinstance(exc.character, int) else "bad input"
        return f"{what}: {exc.reason}", line
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__, None
