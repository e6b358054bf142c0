"""`pivot repro`: run stale stages of the selection in one merged graph."""

from __future__ import annotations

import contextlib
import dataclasses
import json

import click

from pivot_ci import errors
from pivot_ci.cli import common, completion, selection
from pivot_ci.cli.common import Invocation
from pivot_ci.engine import repro as engine_repro
from pivot_ci.engine.access import StateAccess
from pivot_ci.engine.repro import Outcome, ReproOptions, ReproResult, StageRun

_MARK = {Outcome.RAN: "ok", Outcome.RESTORED: "restored", Outcome.FAILED: "FAILED", Outcome.BLOCKED: "blocked",
         Outcome.CANCELLED: "cancelled", Outcome.UNCHANGED: "unchanged", Outcome.UP_TO_DATE: "up to date",
         Outcome.WOULD_RUN: "would run", Outcome.NOT_RUN: "not run"}
# the summary line: `3 ran, 5 restored, 192 up to date`, always in this order
_COUNTED = {Outcome.RAN: "ran", Outcome.RESTORED: "restored", Outcome.UNCHANGED: "unchanged",
            Outcome.UP_TO_DATE: "up to date", Outcome.WOULD_RUN: "would run", Outcome.FAILED: "failed",
            Outcome.BLOCKED: "blocked", Outcome.CANCELLED: "cancelled", Outcome.NOT_RUN: "not run"}


def _where(run: StageRun) -> str:
    return f" on {run.worker}" if run.worker else ""


def _text_listener(inv: Invocation) -> engine_repro.Listener:
    def show(run: StageRun) -> None:
        st = run.spec
        reasons = "; ".join(str(r) for r in run.reasons)
        for warning in run.warnings:
            inv.console.warn(warning)
        if run.outcome is Outcome.RESTORED and run.restored is not None:
            ran = run.restored.recorded_duration
            inv.console.info(f"'{run.display}' restored from {run.restored}"
                             + (f" (its run took {ran:.2f}s)" if ran >= 0.01 else ""))
        elif run.outcome is None:
            inv.console.info(f"Running '{run.display}' ({st.location})" + (f": {reasons}" if reasons else ""))
        elif run.outcome is Outcome.WOULD_RUN:
            click.echo(f"would run '{run.display}' ({st.location}): {reasons or 'forced'}")
        elif run.outcome is Outcome.UP_TO_DATE:
            inv.console.debug(f"'{run.display}' is up to date")
        elif run.outcome in (Outcome.FAILED, Outcome.BLOCKED, Outcome.CANCELLED):
            if run.output:
                inv.console.error(run.output.rstrip())
            inv.console.error(click.style(f"'{run.display}' {_MARK[run.outcome]}{_where(run)}: {run.error}",
                                          fg="red"))
        else:
            if run.output and inv.console.verbosity > 0:
                inv.console.info(run.output.rstrip())
            took = f" in {run.duration:.2f}s" if run.outcome is Outcome.RAN else ""
            inv.console.info(f"'{run.display}' {_MARK[run.outcome]}{took}{_where(run)}")
    return show


def _json_listener(run: StageRun) -> None:
    event = {"event": "stage_started" if run.outcome is None else "stage_finished",
             "stage": run.spec.name, "display_name": run.display, "pipeline": run.spec.pipeline,
             "state_dir": run.spec.state_dir,
             "outcome": None if run.outcome is None else run.outcome.name.lower(),
             "reasons": [str(r) for r in run.reasons], "duration": round(run.duration, 3),
             "error": run.error, "output": run.output,
             "restored_from": None if run.restored is None else ("local" if run.restored.remote is None else "remote"),
             "remote": None if run.restored is None else run.restored.remote,
             "warnings": list(run.warnings), "worker": run.worker}
    click.echo(json.dumps(event))


def _summary(result: ReproResult) -> str:
    counts = {outcome: 0 for outcome in _COUNTED}
    for run in result.runs:
        if run.outcome is not None:
            counts[run.outcome] += 1
    text = ", ".join(f"{n} {_COUNTED[o]}" for o, n in counts.items() if n) or "nothing to do"
    where: dict[str, int] = {}  # on a cluster: how many stages each worker ran
    for run in result.runs:
        if run.worker:
            where[run.worker] = where.get(run.worker, 0) + 1
    if where:
        text += "; ran on " + ", ".join(f"{w} ({n})" for w, n in sorted(where.items()))
    return text


def _show_error(exc: errors.PivotError) -> None:
    click.echo(f"Error: {exc}", err=True)
    if exc.hint:
        click.echo(f"Hint: {exc.hint}", err=True)


@dataclasses.dataclass(frozen=True, slots=True)
class Extent:
    """Which stages around the targets a run takes in."""

    upstream: bool = True
    downstream: bool = False


def _watch(inv: Invocation, targets: tuple[str, ...], extent: Extent, opts: ReproOptions, debounce: int,
           listener: engine_repro.Listener) -> int:
    from pivot_ci.engine import watch  # only watch mode pays for importing watchfiles

    hooks = watch.Hooks(
        select=lambda loaded: selection.order_in(loaded, inv.cwd, targets, upstream=extent.upstream,
                                                 downstream=extent.downstream),
        hold=lambda ids: selection.locked(inv, ids, "repro"),
        stage=listener, finished=lambda result: inv.console.info(_summary(result)),
        say=inv.console.info, warn=inv.console.warn, error=_show_error)
    watch.watch(inv.loaded, inv.cwd, watch.WatchOptions(opts, debounce, inv.skip_broken), hooks)


@click.command()
@completion.targets_argument
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Stages run at once [CPU count; on a Dask cluster: its worker threads].")
@click.option("-f", "--force", is_flag=True, help="Run the selected stages even if up to date.")
@click.option("-k", "--keep-going", is_flag=True, help="Keep running stages not downstream of a failure.")
@click.option("-n", "--dry-run", is_flag=True, help="Show what would run; change nothing.")
@click.option("-s", "--single-item", is_flag=True,
              help="Run only the named stages, not the stages they depend on.")
@click.option("--downstream", is_flag=True,
              help="Run the named stages and every stage that depends on them (not the ones they depend on).")
@click.option("--no-commit", is_flag=True, help="Run, but write no lock files and cache nothing.")
@click.option("--json", "json_events", is_flag=True, help="JSON Lines events on stdout.")
@click.option("-w", "--watch", "watch_mode", is_flag=True,
              help="Run, then re-run what each change to deps, code, params or pipeline files makes stale.")
@click.option("--debounce", type=click.IntRange(min=0), default=300, show_default=True, metavar="MS",
              help="With --watch: group changes arriving within this many milliseconds.")
@click.option("--no-run-cache", is_flag=True,
              help="Run every stale stage, even when the same inputs ran before (entries are still recorded).")
@click.option("--pull", is_flag=True, help="Also look stale stages up in a remote's run cache and fetch hits.")
@click.option("-r", "--remote", "remote_name", default=None, metavar="NAME",
              help="With --pull: the remote to ask [the default remote].")
@click.option("--executor", type=click.Choice(["local", "dask"]), default=None,
              help="Where stages run: this machine, or a Dask cluster [local, or `executor:` in .pivot/config.yaml].")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="The Dask scheduler, e.g. tcp://HOST:8786 (implies --executor dask; env PIVOT_DASK_SCHEDULER).")
@click.option("--scheduler-file", type=click.Path(dir_okay=False), default=None,
              help="The Dask scheduler's JSON file, written by `dask scheduler --scheduler-file` (implies dask).")
@common.pivot_command(allow_all=True)
def repro(inv: Invocation, targets: tuple[str, ...], jobs: int | None, force: bool, keep_going: bool,
          dry_run: bool, single_item: bool, downstream: bool, no_commit: bool, json_events: bool,
          watch_mode: bool, debounce: int, no_run_cache: bool, pull: bool, remote_name: str | None,
          executor: str | None, scheduler: str | None, scheduler_file: str | None) -> int:
    """Run stale stages in dependency order (exit 1 if any stage failed).

    TARGETS are stage names as `pivot list` shows them, <pipeline>/<stage>, output paths, or glob patterns
    of stage names ('train/*', '*eval*'). By default the targets run with the stages they depend on.
    A stale stage whose inputs ran before is restored from the run cache instead of run.
    """
    if remote_name is not None and not pull:
        raise click.UsageError("-r/--remote names the remote of --pull: add --pull")
    if pull and (no_run_cache or no_commit):
        raise click.UsageError(f"--pull fetches run-cache hits; it cannot be combined with "
                               f"{'--no-run-cache' if no_run_cache else '--no-commit'}")
    if watch_mode and dry_run:
        raise click.UsageError("--watch runs stages; it cannot be combined with --dry-run")
    if (single_item or downstream) and not targets:
        raise click.UsageError(f"{'--single-item' if single_item else '--downstream'} needs TARGETS")
    if single_item and downstream:
        raise click.UsageError("--single-item and --downstream contradict each other")
    extent = Extent(upstream=not (single_item or downstream), downstream=downstream)
    from pivot_ci.engine import executors
    from pivot_ci.engine.cluster import settings

    choice = settings.choose(inv.loaded.project, settings.Flags(executor, scheduler, scheduler_file))
    if choice.kind is executors.Kind.LOCAL:
        jobs = jobs or common.jobs_default()  # on a cluster, None: its worker threads
    with contextlib.ExitStack() as stack:
        remote_runs = None
        if pull:
            from pivot_ci.cli import remote_support  # only --pull pays for the remote modules

            puller = remote_support.PullRuns(inv.loaded, remote_name, remote_support.default_jobs())
            stack.callback(puller.close)
            remote_runs = puller.engine_view()
        opts = ReproOptions(jobs=jobs, force=force, keep_going=keep_going, dry_run=dry_run, no_commit=no_commit,
                            run_cache=not no_run_cache, remote_runs=remote_runs, executor=choice)
        listener = _json_listener if json_events else _text_listener(inv)
        if watch_mode:
            return _watch(inv, targets, extent, opts, debounce, listener)
        order = selection.order(inv, targets, upstream=extent.upstream, downstream=extent.downstream)
        with selection.locked(inv, order, "repro"), StateAccess(inv.loaded.project) as access:
            result = engine_repro.run(access, inv.loaded.graph, order, opts, listener)
    inv.console.info(_summary(result))
    return 0 if result.ok else 1


COMMANDS = {"repro": repro}
