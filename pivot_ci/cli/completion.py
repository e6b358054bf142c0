"""Shell completion: `pivot completion bash|zsh|fish` prints the script; TARGETS complete to stage names.

Commands and options come from click. Stage names come from the project, without loading it when nothing
changed: the names of the last load are kept in `<project>/.pivot/tmp/completion.json`, keyed by the
pipeline files found (path, size, mtime) and the scope asked for (`--all`, or the pipeline of the working
directory). A key that no longer matches (a pipeline file added, edited, removed) loads the project once.
A `pipeline.py` that builds stage names from other files is seen again when it changes itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from pathlib import Path

    from click.shell_completion import CompletionItem

    from pivot_ci.project import Project

SHELLS = ("bash", "zsh", "fish")
CACHE = "tmp/completion.json"


def _cwd(ctx: click.Context) -> Path:
    """The directory the command line would run in: -C before and after the command counts."""
    from pathlib import Path

    here = Path(os.getcwd())
    chain = []
    c: click.Context | None = ctx
    while c is not None:
        chain.append(c)
        c = c.parent
    for c in reversed(chain):
        directory = c.params.get("directory")
        if isinstance(directory, str):
            here = here / directory
    return here


def stage_names(cwd: Path, all_pipelines: bool) -> list[str]:
    """The names TARGETS accept (display names and <pipeline>/<stage>), from the cache when it still holds."""
    import json

    from pivot_ci import discover, project

    proj = project.find_root(cwd)
    files = discover.find_all(proj)
    current = None if all_pipelines else discover.find_current(proj, cwd)
    key = {"all": all_pipelines, "current": None if current is None else proj.rel(current),
           "files": {proj.rel(f): _signature(f) for f in files}}
    path = proj.state_dir / CACHE
    try:
        cached = json.loads(path.read_bytes())
        if cached["key"] == key:
            return [str(n) for n in cached["names"]]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    names = _load_names(proj, cwd, all_pipelines)
    from pivot_ci.errors import PivotError
    from pivot_ci.state import confine, fsutil

    try:
        confine.Fence(proj.root).state_dir(proj.state_dir)  # no write through a link out of the project
        fsutil.replace_quickly(path, json.dumps({"key": key, "names": names}).encode())
    except (OSError, PivotError):
        pass  # not cached: the next completion loads the project again
    return names


def _signature(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _load_names(proj: Project, cwd: Path, all_pipelines: bool) -> list[str]:
    from pivot_ci.dag import load as dag_load

    loaded = dag_load.load(proj, cwd, all_pipelines=all_pipelines, skip_broken=True)
    g = loaded.graph
    names: dict[str, None] = {}
    for sid in loaded.in_order(loaded.scope):
        names[g.display(sid)] = None
    for sid in loaded.in_order(loaded.scope):
        names[f"{g.stages[sid].pipeline}/{sid.name}"] = None
    return list(names)


def complete_targets(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Stage names starting with `incomplete`; else files (a target may be an output path). Never fails."""
    from click.shell_completion import CompletionItem

    try:
        names = stage_names(_cwd(ctx), bool(ctx.params.get("all_pipelines")))
    except Exception:  # completion must never print a traceback into the user's shell
        names = []
    found = [CompletionItem(n) for n in names if n.startswith(incomplete)]
    return found or [CompletionItem(incomplete, type="file")]


def targets_argument(f: Callable[..., Any]) -> Callable[..., Any]:
    """The TARGETS argument of every command that selects stages, completed to stage names."""
    return click.argument("targets", nargs=-1, shell_complete=complete_targets)(f)


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> int:
    """Print the shell completion script for SHELL (commands, options, stage names).

    \b
    bash:  eval "$(pivot completion bash)"      # in ~/.bashrc (bash 4.4 or later)
    zsh:   eval "$(pivot completion zsh)"       # in ~/.zshrc
    fish:  pivot completion fish > ~/.config/fish/completions/pivot.fish
    """
    from click.shell_completion import get_completion_class

    from pivot_ci.cli import cli

    cls = get_completion_class(shell)
    assert cls is not None
    click.echo(cls(cli, {}, "pivot", "_PIVOT_COMPLETE").source())
    return 0


COMMANDS = {"completion": completion}
