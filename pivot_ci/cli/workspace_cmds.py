"""`pivot init`, `commit`, `checkout`, `list` and `dag`."""

from __future__ import annotations

import os
from pathlib import Path

import click

from pivot_ci import project
from pivot_ci.cli import common, selection
from pivot_ci.cli.common import Invocation
from pivot_ci.dag import render
from pivot_ci.engine import checkout as engine_checkout
from pivot_ci.engine import commit as engine_commit
from pivot_ci.engine.access import StateAccess
from pivot_ci.state import cache, statedir


@click.command()
@common.verbosity_options
def init(verbose: int, quiet: bool) -> int:
    """Create .pivot/ (with its .gitignore) in the current directory."""
    here = Path(os.getcwd())
    existed = (here / project.STATE_DIR_NAME).is_dir()
    statedir.ensure(here / project.STATE_DIR_NAME)
    if not quiet:
        what = "Already a pivot project" if existed else "Initialised pivot project"
        click.echo(f"{what} in {here}", err=True)
    return 0


@click.command()
@click.argument("targets", nargs=-1)
@click.option("-f", "--force", is_flag=True, help="Commit the named stages even if up to date.")
@common.pivot_command(allow_all=True)
def commit(inv: Invocation, targets: tuple[str, ...], force: bool) -> int:
    """Record current deps and outputs of stale (or named) stages: cache outputs, write locks."""
    order = selection.order(inv, targets, upstream=False)
    with selection.locked(inv, order, "commit"), StateAccess(inv.loaded.project) as access:
        results = engine_commit.commit_stages(access, inv.loaded.graph, order, force=force and bool(targets))
    for display, spec, problem in results:
        if problem is None:
            inv.console.info(f"committed '{display}'")
        else:
            inv.console.info(click.style(f"cannot commit '{display}' ({spec.location}): {problem.message}", fg="red"))
    failed = sum(1 for *_, problem in results if problem is not None)
    done = len(results) - failed
    inv.console.info(f"{done} committed" + (f", {failed} failed" if failed else ""))
    return 1 if failed else 0


@click.command()
@click.argument("targets", nargs=-1)
@click.option("-f", "--force", is_flag=True, help="Overwrite outputs that differ from the lock file.")
@click.option("--link", type=click.Choice([m.value for m in cache.LinkMode]), default="copy",
              help="How outputs are put in place [copy].")
@common.pivot_command(allow_all=True)
def checkout(inv: Invocation, targets: tuple[str, ...], force: bool, link: str) -> int:
    """Restore outputs recorded in lock files from the cache."""
    order = selection.order(inv, targets, upstream=False)
    with selection.locked(inv, order, "checkout"), StateAccess(inv.loaded.project) as access:
        result = engine_checkout.checkout(access, [inv.loaded.graph.stages[sid] for sid in order], force=force,
                                          mode=cache.LinkMode(link))
    report_checkout(inv, result)
    return 1 if result.skipped else 0


def report_checkout(inv: Invocation, result: engine_checkout.CheckoutResult) -> None:
    """What checkout (and pull) restored and what it left alone, on stderr."""
    for path in result.restored:
        inv.console.debug(f"restored {path}")
    for skip in result.skipped:
        inv.console.warn(f"{skip.path}: {skip.why}")
    inv.console.info(f"{len(result.restored)} outputs restored"
                     + (f", {len(result.skipped)} not restored" if result.skipped else ""))


@click.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
@common.pivot_command(allow_all=True)
def list_(inv: Invocation, as_json: bool) -> int:
    """List stages: display name, pipeline, state dir."""
    rows = render.stage_rows(inv.loaded)
    click.echo(render.rows_json(rows) if as_json else render.rows_text(rows), nl=False)
    return 0


@click.command()
@click.option("--dot", "fmt", flag_value="dot", help="Graphviz DOT.")
@click.option("--mermaid", "fmt", flag_value="mermaid", help="Mermaid flowchart.")
@common.pivot_command(allow_all=True)
def dag(inv: Invocation, fmt: str | None) -> int:
    """Draw the stage graph (text, --dot or --mermaid)."""
    click.echo(render.draw(inv.loaded, fmt or "text"), nl=False)
    return 0


COMMANDS = {c.name: c for c in (init, commit, checkout, list_, dag)}
