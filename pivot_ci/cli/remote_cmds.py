"""`pivot push`, `fetch`, `pull` and `pivot remote add|list|remove|default`."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from pivot_ci.cli import common, completion, selection, workspace_cmds
from pivot_ci.cli.common import Invocation, human_bytes

# Module level: click and light modules only (`pivot push --help`); the remote layer comes when a command runs.
if TYPE_CHECKING:
    from pathlib import Path

    from pivot_ci import project
    from pivot_ci.engine.access import StateAccess
    from pivot_ci.pipeline import model
    from pivot_ci.remote import runs as remote_runs
    from pivot_ci.remote import sync

_MISSING_WHY = {
    "push": "not in the local cache: nothing to push (run `pivot repro` or `pivot pull` first)",
    "fetch": "not on the remote (push it from a machine that has it)",
}


def transfer_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("-n", "--dry-run", is_flag=True, help="Show what would be transferred; transfer nothing.")(f)
    f = click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
                     help="Parallel transfers [4 per CPU, at most 32].")(f)
    return click.option("-r", "--remote", "remote_name", default=None, metavar="NAME",
                        help="The remote to use [the default remote].")(f)


def _sync(inv: Invocation, verb: str, targets: tuple[str, ...], remote_name: str | None, jobs: int | None,
          dry_run: bool, run_cache: bool = False) -> tuple[sync.SyncResult, selection.Picked]:
    """Run push or fetch for the selected stages and tracked data; returns the result and the selection.

    `run_cache` (push): also push the run-cache entries of the selected stages' locks, after their objects.
    """
    from pivot_ci.cli.remote_support import ProgressLine, opened, stage_refs
    from pivot_ci.engine.access import StateAccess
    from pivot_ci.remote import runs as remote_runs
    from pivot_ci.remote import sync

    picked = selection.pick(inv.loaded, inv.cwd, targets, upstream=False)
    order = picked.order
    jobs = jobs or common.transfer_jobs()
    entries = None
    with StateAccess(inv.loaded.project) as access, opened(inv.loaded, remote_name, jobs, f"pivot {verb}") as remote:
        refs = stage_refs(inv.loaded, access, order) + [sync.OutRef(t.pvt_file, t.path, t.hash) for t in picked.tracked]
        progress = ProgressLine(inv.console, "pushing" if verb == "push" else "fetching")
        run = sync.push if verb == "push" else sync.fetch
        try:
            result = run(access.cache, remote, refs, jobs=jobs, dry_run=dry_run, progress=progress)
        finally:
            progress.clear()
        inv.console.debug(f"remote '{remote.spec.name}' ({remote.spec.url}): {len(refs)} outputs selected")
        if run_cache:
            incomplete = {ref.stage for ref in result.missing} | {ref.stage for ref, _ in result.corrupt}
            keys = [key for sid in order if inv.loaded.graph.display(sid) not in incomplete
                    for key in [_entry_key(access, inv.loaded.graph.stages[sid])] if key is not None]
            entries = remote_runs.push(access.cache.root, remote, keys, jobs=jobs, dry_run=dry_run)
    _report(inv, verb, result, entries)
    return result, picked


def _entry_key(access: StateAccess, st: model.StageSpec) -> str | None:
    from pivot_ci.engine import runs

    lock = access.read_lock(st)
    return None if lock is None or not runs.cacheable(st) else runs.entry_for_lock(access, st, lock)


def _report(inv: Invocation, verb: str, result: sync.SyncResult, entries: remote_runs.EntrySync | None) -> None:
    for ref in result.missing:
        inv.console.warn(f"{ref.stage}: {ref.path} is {_MISSING_WHY[verb]}")
    for ref, why in result.corrupt:
        inv.console.warn(f"{ref.stage}: {ref.path} not pushed: {why} (named by {ref.lock}); "
                         "run `pivot repro` to recreate it")
    done = {"push": "pushed", "fetch": "fetched"}[verb]
    head = f"would {verb}" if result.dry_run else done
    size = "" if result.nbytes is None else f", {human_bytes(result.nbytes)}"
    where = "on the remote" if verb == "push" else "in the cache"
    line = f"{head} {result.transferred} objects{size}; {result.present} already {where}"
    if result.missing:
        line += f"; {len(result.missing)} outputs missing"
    if result.corrupt:
        line += f"; {len(result.corrupt)} outputs corrupt in the cache"
    if entries is not None and entries.transferred + entries.present:
        line += (f"; run cache: {'would push' if entries.dry_run else 'pushed'} {entries.transferred} "
                 f"{'entry' if entries.transferred == 1 else 'entries'}, {entries.present} already there")
    inv.console.info(line)


@click.command()
@completion.targets_argument
@transfer_options
@click.option("--no-run-cache", is_flag=True, help="Push outputs only, not the stages' run-cache entries.")
@common.pivot_command(allow_all=True)
def push(inv: Invocation, targets: tuple[str, ...], remote_name: str | None, jobs: int | None,
         dry_run: bool, no_run_cache: bool) -> int:
    """Upload the cached outputs of the selected stages' lock files (and their run-cache entries), and tracked
    data, to a remote."""
    result, _ = _sync(inv, "push", targets, remote_name, jobs, dry_run, run_cache=not no_run_cache)
    return 1 if result.missing or result.corrupt else 0


@click.command()
@completion.targets_argument
@transfer_options
@common.pivot_command(allow_all=True)
def fetch(inv: Invocation, targets: tuple[str, ...], remote_name: str | None, jobs: int | None,
          dry_run: bool) -> int:
    """Download the selected stages' outputs and tracked data into the cache (verified by hash); the workspace is
    untouched."""
    result, _ = _sync(inv, "fetch", targets, remote_name, jobs, dry_run)
    return 1 if result.missing else 0


@click.command()
@completion.targets_argument
@transfer_options
@click.option("-f", "--force", is_flag=True, help="Overwrite outputs that differ from the lock file.")
@click.option("--link", type=click.Choice(common.LINK_MODES), default="copy",
              help="How outputs are put in place [copy].")
@common.pivot_command(allow_all=True)
def pull(inv: Invocation, targets: tuple[str, ...], remote_name: str | None, jobs: int | None, dry_run: bool,
         force: bool, link: str) -> int:
    """fetch, then checkout: the selected stages' outputs from the remote into the workspace."""
    from pivot_ci.engine import checkout as engine_checkout
    from pivot_ci.engine.access import StateAccess
    from pivot_ci.state import cache

    result, picked = _sync(inv, "fetch", targets, remote_name, jobs, dry_run)
    if dry_run:
        return 1 if result.missing else 0
    stages = [inv.loaded.graph.stages[sid] for sid in picked.order]
    with selection.locked_dirs(inv, selection.state_dirs(inv.loaded, picked), "pull"), \
            StateAccess(inv.loaded.project) as access:
        restored = engine_checkout.checkout(access, stages, force=force, mode=cache.LinkMode(link),
                                            tracked_data=picked.tracked)
    workspace_cmds.report_checkout(inv, restored)
    return 1 if result.missing or restored.skipped else 0


@click.group(name="remote")
def remote_group() -> None:
    """Manage remotes (stored in <project>/.pivot/config.yaml; credentials in the per-user file)."""


def _project() -> project.Project:
    from pathlib import Path

    from pivot_ci import project

    return project.find_root(Path(os.getcwd()))


def _url(raw: str, root: Path) -> str:
    """A relative directory path given on the command line is taken from the working directory and stored
    relative to the project root, so the config means the same wherever it is read."""
    if "://" in raw or os.path.isabs(os.path.expanduser(raw)):
        return raw
    return os.path.relpath(os.path.abspath(raw), root)


@remote_group.command(name="add")
@click.argument("name")
@click.argument("url")
@click.option("-d", "--default", "make_default", is_flag=True, help="Make it the default remote.")
@click.option("-f", "--force", is_flag=True, help="Replace a remote of that name.")
@click.option("--endpoint-url", default=None, help="S3-compatible endpoint, e.g. http://127.0.0.1:9000.")
@click.option("--region", default=None, help="S3 region.")
@click.option("--profile", default=None, help="AWS profile (credentials from ~/.aws or the per-user file).")
def remote_add(name: str, url: str, make_default: bool, force: bool, endpoint_url: str | None,
               region: str | None, profile: str | None) -> int:
    """Add remote NAME at URL: a directory, file:///path or s3://bucket/prefix."""
    from pivot_ci.remote import config

    proj = _project()
    config.check_url(url)  # before a relative path is resolved: "" would name the working directory
    settings = {"url": _url(url, proj.root), "endpoint_url": endpoint_url or "", "region": region or "",
                "profile": profile or ""}
    config.add(proj, name, settings, make_default=make_default, force=force)
    click.echo(f"remote '{name}' -> {settings['url']} ({proj.rel(config.project_file(proj))})", err=True)
    return 0


@remote_group.command(name="list")
def remote_list() -> int:
    """List remotes: name, URL, and which one is the default."""
    from pivot_ci.remote import config

    specs, default = config.remotes(_project())
    for spec in specs:
        extra = "".join(f"  {k}={v}" for k, v in (("endpoint_url", spec.endpoint_url), ("region", spec.region),
                                                   ("profile", spec.profile)) if v)
        click.echo(f"{spec.name}\t{spec.url}{'  (default)' if spec.name == default else ''}{extra}")
    return 0


@remote_group.command(name="remove")
@click.argument("name")
def remote_remove(name: str) -> int:
    """Remove remote NAME from the project config (the remote's data is untouched)."""
    from pivot_ci.remote import config

    config.remove(_project(), name)
    return 0


@remote_group.command(name="default")
@click.argument("name")
def remote_default(name: str) -> int:
    """Make NAME the default remote."""
    from pivot_ci.remote import config

    config.set_default(_project(), name)
    return 0


COMMANDS = {"push": push, "fetch": fetch, "pull": pull, "remote": remote_group}
