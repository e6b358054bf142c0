"""The plain graph of the hot path against networkx: same topological order, closures, edges, cycles."""

from __future__ import annotations

import random

import networkx as nx
import pytest

from pivot_ci.dag.digraph import CycleFound, DiGraph


def _random_dag(rng: random.Random, n: int, p: float) -> tuple[list[int], list[tuple[int, int]]]:
    """Nodes in a shuffled insertion order; edges only from a lower to a higher hidden level (acyclic)."""
    nodes = list(range(n))
    rng.shuffle(nodes)
    level = {v: rng.random() for v in nodes}
    edges = [(u, v) for u in nodes for v in nodes if level[u] < level[v] and rng.random() < p]
    rng.shuffle(edges)
    return nodes, edges


def _both(nodes: list[int], edges: list[tuple[int, int]]) -> tuple[DiGraph[int], nx.DiGraph]:
    ours: DiGraph[int] = DiGraph(nodes)
    theirs: nx.DiGraph = nx.DiGraph()
    theirs.add_nodes_from(nodes)
    for u, v in edges:
        ours.add_edge(u, v)
        theirs.add_edge(u, v)
    return ours, theirs


@pytest.mark.parametrize("seed", range(40))
def test_order_closures_and_neighbours_equal_networkx(seed: int) -> None:
    rng = random.Random(seed)
    nodes, edges = _random_dag(rng, rng.randint(1, 60), rng.choice((0.02, 0.1, 0.4)))
    edges += edges[: len(edges) // 4]  # repeated edges change nothing
    ours, theirs = _both(nodes, edges)
    rank = {v: i for i, v in enumerate(nodes)}
    assert ours.topological_order(rank.__getitem__) == list(
        nx.lexicographical_topological_sort(theirs, key=rank.__getitem__))
    coarse = {v: rng.randint(0, 3) for v in nodes}  # ties of the key: broken by node order, as networkx does
    assert ours.topological_order(coarse.__getitem__) == list(
        nx.lexicographical_topological_sort(theirs, key=coarse.__getitem__))
    assert list(ours.edges) == list(theirs.edges)
    for v in nodes:
        assert ours.ancestors(v) == nx.ancestors(theirs, v)
        assert ours.descendants(v) == nx.descendants(theirs, v)
        assert list(ours.predecessors(v)) == list(theirs.predecessors(v))
        assert list(ours.successors(v)) == list(theirs.successors(v))
    back = ours.to_networkx()
    assert list(back.nodes) == list(theirs.nodes) and list(back.edges) == list(theirs.edges)


@pytest.mark.parametrize("seed", range(20))
def test_a_cycle_is_refused_and_rebuilt_for_networkx_the_same(seed: int) -> None:
    rng = random.Random(seed)
    nodes, edges = _random_dag(rng, rng.randint(2, 30), 0.1)
    ring = rng.sample(nodes, rng.randint(1, min(5, len(nodes))))
    edges += [(ring[i], ring[(i + 1) % len(ring)]) for i in range(len(ring))]  # a self-loop when one node
    ours, theirs = _both(nodes, edges)
    with pytest.raises(CycleFound):
        ours.topological_order(lambda v: v)
    assert nx.find_cycle(ours.to_networkx()) == nx.find_cycle(theirs)


def test_nodes_without_edges_and_closures_of_a_chain() -> None:
    g: DiGraph[str] = DiGraph(["c", "b", "a"])
    assert g.topological_order(ord) == ["a", "b", "c"]
    g.add_edge("c", "b")
    g.add_edge("b", "a")
    assert g.topological_order(ord) == ["c", "b", "a"]
    assert g.descendants("c") == {"a", "b"} and g.ancestors("a") == {"b", "c"} and g.ancestors("c") == set()
    assert "a" in g and "z" not in g and len(g) == 3
