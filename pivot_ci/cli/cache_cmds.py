"""`pivot gc` and `pivot fsck`: a cache (and remote) that stays small and healthy (SPEC §11)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import click

from pivot_ci.cli import common, selection
from pivot_ci.cli.common import human_bytes
from pivot_ci.cli.data_cmds import project_wide

# Module level: click and light modules only (`pivot gc --help`); the engine comes when a command runs.
if TYPE_CHECKING:
    from pivot_ci.engine import fsck as engine_fsck
    from pivot_ci.engine import gc as engine_gc
    from pivot_ci.remote import base
    from pivot_ci.state import cache as cache_mod


class RemoteStore:
    """A remote as gc's plan sees it."""

    def __init__(self, remote: base.Remote, cache: cache_mod.Cache, jobs: int) -> None:
        self.name = remote.spec.name
        self._remote, self._cache, self._jobs = remote, cache, jobs

    def listing(self) -> dict[str, tuple[int, float]]:
        return {k: (o.size, o.mtime) for k, o in self._remote.list_objects(self._jobs).items()}

    def fetch_manifests(self, hashes: Iterable[str]) -> None:
        from pivot_ci.remote import sync

        sync.fetch_manifests(self._cache, self._remote, hashes, self._jobs)

    def delete(self, keys: Sequence[str]) -> None:
        self._remote.delete(keys, self._jobs)


def _grace(ctx: click.Context, param: click.Parameter, value: str) -> float:
    from pivot_ci.engine import gc as engine_gc

    try:
        return engine_gc.parse_duration(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected a duration such as 90s, 30m, 1h, 2d, 1w or 0") from None


def _plan_dict(p: engine_gc.Plan, total: engine_gc.Tally) -> dict[str, Any]:
    return {
        "objects": total.objects, "bytes": total.bytes,
        "kept": {reason: {"objects": t.objects, "bytes": t.bytes} for reason, t in p.kept.items()},
        "removed": {"objects": p.removed.objects, "bytes": p.removed.bytes, "keys": [k for k, _ in p.remove]},
        "unknown_directories": [{"hash": n.hash, "path": n.path, "file": n.where} for n in p.unknown_trees],
    }


def _total(p: engine_gc.Plan) -> engine_gc.Tally:
    from pivot_ci.engine import gc as engine_gc

    kept = list(p.kept.values())
    return engine_gc.Tally(sum(t.objects for t in kept) + p.removed.objects,
                           sum(t.bytes for t in kept) + p.removed.bytes)


def _objects(t: engine_gc.Tally) -> str:
    return f"{t.objects:,} object{'' if t.objects == 1 else 's'} ({human_bytes(t.bytes)})"


def _say_plan(console: common.Console, where: str, p: engine_gc.Plan, dry_run: bool) -> None:
    from pivot_ci.engine import gc as engine_gc

    kept = ", ".join(f"{reason} {t.objects:,} ({human_bytes(t.bytes)})" for reason, t in p.kept.items())
    kept_all = engine_gc.Tally(sum(t.objects for t in p.kept.values()), sum(t.bytes for t in p.kept.values()))
    console.info(f"{where}: keeping {_objects(kept_all)}" + (f": {kept}" if kept else ""))
    for n in p.unknown_trees:
        console.warn(f"{n.path} ({n.where}): its directory manifest {n.hash} is not here, so its files are unknown "
                     "and only the grace period keeps them")
    verb = "would remove" if dry_run else "removed"
    for key, size in p.remove:
        console.debug(f"{verb} {key} ({human_bytes(size)})")
    console.info(f"{where}: {verb} {_objects(p.removed)}")


@click.command()
@click.option("--rev", "revs", multiple=True, metavar="REV",
              help="Also keep what this git revision needs (repeatable).")
@click.option("--all-branches", is_flag=True, help="Also keep what the head of every branch needs.")
@click.option("--all-tags", is_flag=True, help="Also keep what every tagged commit needs.")
@click.option("--all-commits", is_flag=True, help="Also keep what every commit reachable from a ref needs.")
@click.option("--grace", "grace_seconds", default="1h", callback=_grace, metavar="DURATION", show_default=True,
              help="Keep objects younger than this, so a run in progress is never robbed (s, m, h, d, w).")
@click.option("-n", "--dry-run", is_flag=True, help="Show the plan; remove nothing.")
@click.option("--json", "as_json", is_flag=True, help="The plan (and what was removed) as JSON on stdout.")
@click.option("-r", "--remote", "remote_name", default=None, metavar="NAME",
              help="Also remove unused objects from this remote (needs --yes).")
@click.option("-y", "--yes", is_flag=True, help="Confirm removing objects from the remote.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Parallel remote requests.")
@common.verbosity_options
def gc(revs: tuple[str, ...], all_branches: bool, all_tags: bool, all_commits: bool, grace_seconds: float,
       dry_run: bool, as_json: bool, remote_name: str | None, yes: bool, jobs: int | None, verbose: int,
       quiet: bool) -> int:
    """Remove cache objects that no lock or pointer file of the workspace (or of the revisions named) needs."""
    from pivot_ci.engine import gc as engine_gc
    from pivot_ci.engine import roots
    from pivot_ci.engine.access import StateAccess
    from pivot_ci.state import gitread

    if remote_name is not None and not yes and not dry_run:
        raise click.UsageError("gc --remote removes objects everyone using that remote shares: add --yes "
                               "(look first with --dry-run)")
    opts = engine_gc.GcOptions(revs, all_branches, all_tags, all_commits, grace_seconds)
    inv = project_wide(verbose, quiet, skip_broken=False)  # a pipeline or pointer file that does not load: stop
    loaded = inv.loaded
    jobs = jobs or common.transfer_jobs()
    with contextlib.ExitStack() as stack:
        repo = None
        if opts.uses_git:
            repo = stack.enter_context(gitread.GitRepo.open(loaded.project.root, "gc with a revision scope"))
        access = stack.enter_context(StateAccess(loaded.project))
        if not dry_run:  # no repro writes a lock file between the plan and the deletion
            stack.enter_context(selection.locked_dirs(inv, roots.state_dirs(loaded), "gc"))
        remote = None
        if remote_name:  # the remote layer only when a remote is named
            from pivot_ci.cli.remote_support import opened

            remote = stack.enter_context(opened(loaded, remote_name, jobs, "gc --remote"))
        ctx = engine_gc.RootContext(loaded, access, repo, engine_gc.commits(repo, opts) if repo else ())
        found = engine_gc.collect_roots(ctx)
        keep, unknown = engine_gc.keep_map(access.cache, found)
        local = engine_gc.plan(engine_gc.cache_objects(access.cache), keep, unknown, grace_seconds)
        entries = engine_gc.entry_plan(access.cache, local)
        store = None if remote is None else RemoteStore(remote, access.cache, jobs)
        far = None if store is None else engine_gc.remote_plan(ctx, found, store, grace_seconds)
        # everything read and planned: only now is anything removed
        if not dry_run:
            engine_gc.remove_local(access.cache, local)
            engine_gc.remove_entries(access.cache, entries.remove)
            if store is not None and far is not None:
                store.delete([k for k, _ in far.remove])
    if as_json:
        doc = {"dry_run": dry_run, "grace_seconds": grace_seconds, "revisions": list(ctx.commits),
               "cache": {**_plan_dict(local, _total(local)),
                         "run_cache": {"kept": entries.kept, "removed": len(entries.remove)}},
               "remote": None if far is None or store is None else {"name": store.name, **_plan_dict(far, _total(far))}}
        click.echo(json.dumps(doc, indent=2))
    if ctx.commits:
        inv.console.info(f"read the lock and pointer files of {len(ctx.commits)} commit"
                         f"{'' if len(ctx.commits) == 1 else 's'}")
    _say_plan(inv.console, "cache", local, dry_run)
    if entries.kept or entries.remove:
        noun = "entry" if entries.kept == 1 else "entries"
        inv.console.info(f"run cache: keeping {entries.kept:,} {noun}, "
                         f"{'would remove' if dry_run else 'removed'} {len(entries.remove):,}")
    if far is not None and store is not None:
        _say_plan(inv.console, f"remote '{store.name}'", far, dry_run)
    if dry_run:
        inv.console.info(f"dry run (grace period {engine_gc.human_grace(grace_seconds)}): nothing removed")
    return 0


def _fsck_dict(result: engine_fsck.FsckResult) -> dict[str, Any]:
    return {
        "ok": result.ok, "checked": result.checked, "bytes": result.nbytes, "remote": result.remote,
        "problems": [{"key": p.key, "kind": p.kind.value, "moved_to": p.moved_to, "fixes": list(p.fixes),
                      "needed_by": [{"file": n.where, "path": n.path, "stage": n.stage, "kind": n.kind.value}
                                    for n in p.needed_by]}
                     for p in result.problems],
    }


def _say_fsck(console: common.Console, result: engine_fsck.FsckResult) -> None:
    from pivot_ci.engine import fsck as engine_fsck

    for p in result.problems:
        where = f" on remote '{result.remote}'" if p.kind is engine_fsck.ProblemKind.NOT_ON_REMOTE else ""
        head = f"{p.kind.value} object {p.key}{where}"
        if p.moved_to:
            head += f": content does not match its name, moved to {p.moved_to}"
        console.info(head)
        for n in p.needed_by:
            console.info(f"  needed by {n.where} ({n.path})")
        if not p.needed_by:
            console.info("  needed by no lock or pointer file")
        for fix in p.fixes:
            console.info(f"  fix: {fix}")
    counts: dict[str, int] = {}
    for p in result.problems:
        counts[p.kind.value] = counts.get(p.kind.value, 0) + 1
    found = ", ".join(f"{n} {kind}" for kind, n in counts.items()) or "no problems"
    console.info(f"checked {result.checked:,} objects ({human_bytes(result.nbytes)}): {found}")


@click.command()
@click.option("-r", "--remote", "remote_name", is_flag=False, flag_value="", default=None, metavar="[NAME]",
              help="Also check that the remote (NAME, or the default) holds every object the workspace needs.")
@click.option("--json", "as_json", is_flag=True, help="The findings as JSON on stdout.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Parallel remote requests.")
@common.verbosity_options
def fsck(remote_name: str | None, as_json: bool, jobs: int | None, verbose: int, quiet: bool) -> int:
    """Re-hash every cache object, move bad ones to .pivot/cache/bad/, and name what needs bad or missing ones."""
    from pivot_ci.engine import fsck as engine_fsck
    from pivot_ci.engine.access import StateAccess

    inv = project_wide(verbose, quiet, skip_broken=False)
    jobs = jobs or common.transfer_jobs()
    with StateAccess(inv.loaded.project) as access:
        if remote_name is None:
            result = engine_fsck.check(access, inv.loaded)
        else:
            from pivot_ci.cli.remote_support import opened

            with opened(inv.loaded, remote_name or None, jobs, "fsck --remote") as remote:
                result = engine_fsck.check(access, inv.loaded, lambda keys: remote.has_many(list(keys), jobs),
                                           remote.spec.name)
    if as_json:
        click.echo(json.dumps(_fsck_dict(result), indent=2))
    _say_fsck(inv.console, result)
    return 0 if result.ok else 1


COMMANDS = {c.name: c for c in (gc, fsck)}
