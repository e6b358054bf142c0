"""`pivot track` and `pivot untrack`: raw data kept out of git (SPEC §10)."""

from __future__ import annotations

import os

import click

from pivot_ci.cli import common, selection
from pivot_ci.cli.common import Console, Invocation, human_bytes

# Module level: click and light modules only (`pivot track --help`); the engine comes when a command runs.


def project_wide(verbose: int, quiet: bool, *, skip_broken: bool) -> Invocation:
    """Every pipeline and pointer of the project, whatever the working directory (track, untrack, gc, fsck)."""
    from pathlib import Path

    from pivot_ci import project
    from pivot_ci.dag import load as dag_load

    console = Console(-1 if quiet else verbose)
    cwd = Path(os.getcwd())
    proj = project.find_root(cwd)
    loaded = dag_load.load(proj, cwd, all_pipelines=True, skip_broken=skip_broken)
    for b in loaded.broken:
        console.warn(b.warning(True))
    return Invocation(loaded, cwd, console, skip_broken)


def _what(files: int | None, size: int) -> str:
    return f"{files} file{'' if files == 1 else 's'}, {human_bytes(size)}" if files is not None else human_bytes(size)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("-f", "--force", is_flag=True,
              help="Replace pointer files of data inside PATH, and a PATH.pvt that cannot be read.")
@common.verbosity_options
def track(paths: tuple[str, ...], force: bool, verbose: int, quiet: bool) -> int:
    """Track raw data kept out of git: store PATH in the cache, write PATH.pvt and a .gitignore line."""
    from pivot_ci.engine import track as engine_track
    from pivot_ci.engine import tracked
    from pivot_ci.engine.access import StateAccess

    inv = project_wide(verbose, quiet, skip_broken=True)
    rels = list(dict.fromkeys(engine_track.resolve(inv.loaded.project, inv.cwd, p) for p in paths))
    state_dir = tracked.project_state_dir(inv.loaded.project)
    with selection.locked_dirs(inv, [state_dir], "track"), StateAccess(inv.loaded.project) as access:
        done = engine_track.track(access, inv.loaded, rels, force=force)
    to_add: list[str] = []
    for t in done:
        for pvt in t.replaced:
            inv.console.info(f"removed {pvt} (now part of {t.path})")
        verb = "tracked" if t.changed else "unchanged:"
        inv.console.info(f"{verb} {t.path} ({_what(t.files, t.size)}) -> {t.pvt_file}")
        gitignore = f"{os.path.dirname(t.path) or '.'}/.gitignore"
        if t.ignored_line:
            inv.console.info(f"added /{os.path.basename(t.path)} to {gitignore}")
        if t.changed or t.ignored_line or t.replaced:
            to_add += [t.pvt_file] + ([gitignore] if t.ignored_line else [])
    if to_add:
        inv.console.info(f"To record it in git: git add {' '.join(dict.fromkeys(to_add))}")
    return 0


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@common.verbosity_options
def untrack(paths: tuple[str, ...], verbose: int, quiet: bool) -> int:
    """Stop tracking PATH: remove PATH.pvt and its .gitignore line (the data and the cache are kept)."""
    from pivot_ci.engine import track as engine_track

    inv = project_wide(verbose, quiet, skip_broken=True)
    rels = list(dict.fromkeys(inv.loaded.project.rel(os.path.abspath(inv.cwd / p)) for p in paths))
    for u in engine_track.untrack(inv.loaded, rels):
        inv.console.info(f"untracked {u.path}: removed {u.pvt_file}"
                         + (f" and its line in {os.path.dirname(u.path) or '.'}/.gitignore" if u.ignored_line else ""))
    return 0


COMMANDS = {c.name: c for c in (track, untrack)}
