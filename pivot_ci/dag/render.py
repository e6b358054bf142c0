"""Stage listings and graph drawings (text, DOT, Mermaid) as strings."""

from __future__ import annotations

import json

from pivot_ci.dag.load import Loaded


def stage_rows(loaded: Loaded) -> list[dict[str, str]]:
    g = loaded.graph
    return [{"name": g.display(sid), "stage": sid.name, "pipeline": g.stages[sid].pipeline,
             "state_dir": sid.state_dir, "file": g.stages[sid].location}
            for sid in loaded.in_order(loaded.scope)]


def rows_text(rows: list[dict[str, str]]) -> str:
    if not rows:
        return ""
    cols = ("name", "pipeline", "state_dir", "file")
    width = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
    lines = ["  ".join(c.upper().ljust(width[c]) for c in cols)]
    lines += ["  ".join(r[c].ljust(width[c]) for c in cols).rstrip() for r in rows]
    return "\n".join(lines) + "\n"


def rows_json(rows: list[dict[str, str]]) -> str:
    return json.dumps(rows, indent=2) + "\n"


def draw(loaded: Loaded, fmt: str) -> str:
    g = loaded.graph
    ids = loaded.in_order(loaded.scope)
    edges = [(u, v) for u, v in g.graph.edges if u in loaded.scope and v in loaded.scope]
    name = g.display
    if fmt == "dot":
        lines = ["digraph pivot {"] + [f'  "{name(s)}";' for s in ids]
        lines += [f'  "{name(u)}" -> "{name(v)}";' for u, v in edges] + ["}"]
    elif fmt == "mermaid":
        index = {s: f"s{i}" for i, s in enumerate(ids)}
        lines = ["flowchart TD"] + [f'  {index[s]}["{name(s)}"]' for s in ids]
        lines += [f"  {index[u]} --> {index[v]}" for u, v in edges]
    else:
        lines = []
        for s in ids:
            ups = sorted(name(u) for u in g.graph.predecessors(s) if u in loaded.scope)
            lines.append(f"{name(s)}" + (f"  <- {', '.join(ups)}" if ups else ""))
    return "\n".join(lines) + "\n"
