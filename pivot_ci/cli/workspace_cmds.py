"""`pivot init`, `commit`, `checkout`, `list` and `dag`."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from pivot_ci import errors
from pivot_ci.cli import common, completion, selection
from pivot_ci.cli.common import Invocation

# Module level: click and light modules only (`pivot init --help`); the engine comes when a command runs.
if TYPE_CHECKING:
    from pivot_ci import project
    from pivot_ci.engine import checkout as engine_checkout


@click.command()
@common.verbosity_options
def init(verbose: int, quiet: bool) -> int:
    """Create .pivot/ (with its .gitignore) in the current directory."""
    from pathlib import Path

    from pivot_ci import project
    from pivot_ci.state import statedir

    here = Path(os.getcwd())
    existed = (here / project.STATE_DIR_NAME).is_dir()
    statedir.ensure(here / project.STATE_DIR_NAME)
    if not quiet:
        what = "Already a pivot project" if existed else "Initialised pivot project"
        click.echo(f"{what} in {here}", err=True)
        click.echo(_next_steps(project.Project(here)), err=True, nl=False)
    return 0


def _next_steps(proj: project.Project) -> str:
    from pivot_ci import discover

    try:
        found = discover.find_all(proj)
    except errors.PivotError:  # the commands that load the project will say what is wrong
        found = []
    if found:
        files = ", ".join(proj.rel(f) for f in found[:3]) + (", ..." if len(found) > 3 else "")
        return (f"Pipeline files found: {files}. Next:\n"
                "  pivot status --all       what is stale, and why\n"
                "  pivot repro --all        run it, writing the lock files to commit\n")
    return ("Next:\n"
            "  1. write a pipeline file: pivot.yaml (stages with cmd: or python:, deps, outs) or a pipeline.py\n"
            "     that imports pivot_ci, in this directory or any below it (README, 'Quickstart')\n"
            "  2. pivot repro --all        run the stages; each records a lock file in a .pivot/stages/\n"
            "  3. commit the pipeline files and lock files; `pivot verify --all` checks them in CI and\n"
            "     git hooks (README, 'Use in CI')\n")


@click.command()
@completion.targets_argument
@click.option("-f", "--force", is_flag=True,
              help="Also record stages whose command, code or params changed without a run since; with "
                   "TARGETS, record them even when up to date.")
@common.pivot_command(allow_all=True)
def commit(inv: Invocation, targets: tuple[str, ...], force: bool) -> int:
    """Record what really happened: stages run with `repro --no-commit`, and deps or outputs changed by hand.

    Hashes their current deps and outputs, caches the outputs and writes their lock files. A stage whose
    command, code or params changed and that has not run since is refused (it would claim outputs that
    were never produced that way), unless --force.
    """
    from pivot_ci.engine import commit as engine_commit
    from pivot_ci.engine.access import StateAccess

    order = selection.order(inv, targets, upstream=False)
    with selection.locked(inv, order, "commit"), StateAccess(inv.loaded.project) as access:
        results = engine_commit.commit_stages(access, inv.loaded.graph, order, named=bool(targets), force=force)
    scope = "--all " if inv.loaded.all_pipelines else ""
    for done in results:
        if done.problem is None:
            inv.console.info(f"committed '{done.display}'")
        elif done.refused:
            inv.console.error(click.style(f"not committed '{done.display}' ({done.spec.location}): "
                                          f"{done.problem.message}", fg="red"))
            inv.console.error(f"  run it: pivot repro {scope}{done.display}; or record it as it is: "
                              f"pivot commit {scope}--force {done.display}")
        else:
            inv.console.error(click.style(f"cannot commit '{done.display}' ({done.spec.location}): "
                                          f"{done.problem.message}", fg="red"))
    failed = sum(1 for done in results if done.problem is not None)
    committed = len(results) - failed
    inv.console.info(f"{committed} committed" + (f", {failed} not committed" if failed else "")
                     if results else "nothing to commit")
    return 1 if failed else 0


@click.command()
@completion.targets_argument
@click.option("-f", "--force", is_flag=True, help="Overwrite outputs that differ from the lock file.")
@click.option("--link", type=click.Choice(common.LINK_MODES), default="copy",
              help="How outputs are put in place [copy].")
@common.pivot_command(allow_all=True)
def checkout(inv: Invocation, targets: tuple[str, ...], force: bool, link: str) -> int:
    """Restore outputs recorded in lock files, and tracked data, from the cache."""
    from pivot_ci.engine import checkout as engine_checkout
    from pivot_ci.engine.access import StateAccess
    from pivot_ci.state import cache

    picked = selection.pick(inv.loaded, inv.cwd, targets, upstream=False)
    order = picked.order
    with selection.locked_dirs(inv, selection.state_dirs(inv.loaded, picked), "checkout"), \
            StateAccess(inv.loaded.project) as access:
        result = engine_checkout.checkout(access, [inv.loaded.graph.stages[sid] for sid in order], force=force,
                                          mode=cache.LinkMode(link), tracked_data=picked.tracked)
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
    from pivot_ci.dag import render

    rows = render.stage_rows(inv.loaded)
    click.echo(render.rows_json(rows) if as_json else render.rows_text(rows), nl=False)
    return 0


@click.command()
@click.option("--dot", "fmt", flag_value="dot", help="Graphviz DOT.")
@click.option("--mermaid", "fmt", flag_value="mermaid", help="Mermaid flowchart.")
@common.pivot_command(allow_all=True)
def dag(inv: Invocation, fmt: str | None) -> int:
    """Draw the stage graph (text, --dot or --mermaid)."""
    from pivot_ci.dag import render

    click.echo(render.draw(inv.loaded, fmt or "text"), nl=False)
    return 0


COMMANDS = {c.name: c for c in (init, commit, checkout, list_, dag)}
