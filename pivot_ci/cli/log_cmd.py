"""`pivot log [TARGETS]`: the output of the stages' last runs, kept in `<state dir>/logs/<stage>.log`."""

from __future__ import annotations

import sys

import click

from pivot_ci.cli import common, selection
from pivot_ci.cli.common import Invocation


def _last_lines(data: bytes, n: int) -> bytes:
    lines = data.splitlines(keepends=True)
    return b"".join(lines[-n:]) if n > 0 else b""


@click.command(name="log")
@click.argument("targets", nargs=-1)
@click.option("-n", "--tail", "tail", type=click.IntRange(min=0), default=None, metavar="N",
              help="Only the last N lines of each log.")
@click.option("--path", "paths_only", is_flag=True, help="Print the logs' paths, not their content.")
@common.pivot_command(allow_all=True)
def log(inv: Invocation, targets: tuple[str, ...], tail: int | None, paths_only: bool) -> int:
    """Show what the stages printed in their last run (or the one running now).

    TARGETS are stage names as `pivot list` shows them, <pipeline>/<stage>, or output paths; none: every
    stage of the pipeline here (or of the project, with --all) that has a log. Exit 1 if a named stage
    has no log (it has not run here yet).
    """
    from pivot_ci.state import stagelog

    project, graph = inv.loaded.project, inv.loaded.graph
    found: list[tuple[str, str, bytes]] = []  # display name, path, content
    missing: list[str] = []
    for sid in selection.order(inv, targets, upstream=False):
        st = graph.stages[sid]
        data = stagelog.read(stagelog.log_path(project.abs(st.state_dir), st.name))
        if data is None:
            missing.append(graph.display(sid))
        else:
            found.append((graph.display(sid), stagelog.display_path(project, st.state_dir, st.name), data))
    if targets:
        for name in missing:
            inv.console.error(f"'{name}' has no log: it has not run in this workspace since pivot keeps logs")
    elif not found:
        inv.console.info("No stage has a log yet: logs are written when `pivot repro` runs a stage.")
    out = sys.stdout.buffer
    for i, (name, path, data) in enumerate(found):
        if paths_only:
            out.write(f"{path}\n".encode())
            continue
        if len(found) > 1:
            out.write(f"{chr(10) if i else ''}==> {name} ({path}) <==\n".encode())
        out.write(data if tail is None else _last_lines(data, tail))
        if data and not data.endswith(b"\n"):
            out.write(b"\n")
    out.flush()
    return 1 if targets and missing else 0


COMMANDS = {"log": log}
