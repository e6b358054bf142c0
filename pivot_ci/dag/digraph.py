"""A plain directed graph (ordered adjacency dicts) for the hot path: networkx costs more to import than a
no-change `status` takes to run, and the engine needs only edges, neighbours, closures and one stable order.

Neighbours and edges come out in insertion order, as networkx's DiGraph gives them, so callers that iterate
see the same order as before; `to_networkx` rebuilds the same graph (same node and edge order) where an
algorithm of networkx is worth its import (naming a dependency cycle).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    import networkx as nx

N = TypeVar("N", bound=Hashable)


class CycleFound(Exception):
    """The graph has a cycle: `topological_order` cannot order it."""


class DiGraph(Generic[N]):
    """Nodes in insertion order; successors and predecessors as insertion-ordered sets (dict keys)."""

    __slots__ = ("_succ", "_pred")

    def __init__(self, nodes: Iterable[N] = ()) -> None:
        self._succ: dict[N, dict[N, None]] = {}
        self._pred: dict[N, dict[N, None]] = {}
        for n in nodes:
            self.add_node(n)

    def add_node(self, n: N) -> None:
        if n not in self._succ:
            self._succ[n] = {}
            self._pred[n] = {}

    def add_edge(self, u: N, v: N) -> None:
        self.add_node(u)
        self.add_node(v)
        self._succ[u][v] = None
        self._pred[v][u] = None

    @property
    def nodes(self) -> Iterator[N]:
        return iter(self._succ)

    @property
    def edges(self) -> Iterator[tuple[N, N]]:
        """Every edge, grouped by source in node order (networkx's order)."""
        return ((u, v) for u, vs in self._succ.items() for v in vs)

    def __contains__(self, n: object) -> bool:
        return n in self._succ

    def __len__(self) -> int:
        return len(self._succ)

    def successors(self, n: N) -> Iterator[N]:
        return iter(self._succ[n])

    def predecessors(self, n: N) -> Iterator[N]:
        return iter(self._pred[n])

    def descendants(self, n: N) -> set[N]:
        """Every node reachable from `n`, not `n` itself (networkx's `descendants`)."""
        return _reach(self._succ, n)

    def ancestors(self, n: N) -> set[N]:
        """Every node from which `n` is reachable."""
        return _reach(self._pred, n)

    def topological_order(self, key: Callable[[N], int]) -> list[N]:
        """Kahn's algorithm taking the ready node of smallest (`key`, node order) first: the order of
        networkx's `lexicographical_topological_sort(g, key=key)`. Raises CycleFound."""
        index = {n: i for i, n in enumerate(self._succ)}  # ties of `key` go by node order, as in networkx
        indegree = {n: len(p) for n, p in self._pred.items()}
        ready = [(key(n), index[n], n) for n, d in indegree.items() if d == 0]
        heapq.heapify(ready)
        out: list[N] = []
        while ready:
            n = heapq.heappop(ready)[2]
            out.append(n)
            for child in self._succ[n]:
                indegree[child] -= 1
                if indegree[child] == 0:
                    heapq.heappush(ready, (key(child), index[child], child))
        if len(out) != len(self._succ):
            raise CycleFound()
        return out

    def to_networkx(self) -> nx.DiGraph:
        """The same graph as a networkx DiGraph, nodes and edges added in the same order."""
        import networkx as nx

        g: nx.DiGraph = nx.DiGraph()
        g.add_nodes_from(self._succ)
        g.add_edges_from(self.edges)
        return g


def _reach(adj: dict[N, dict[N, None]], start: N) -> set[N]:
    seen: set[N] = set()
    todo = list(adj[start])
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(adj[n])
    seen.discard(start)
    return seen
