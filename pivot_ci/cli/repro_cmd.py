"""`pivot repro`: run stale stages of the selection in one merged graph."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from pivot_ci import errors
from pivot_ci.cli import common, completion, selection
from pivot_ci.cli.common import Invocation

# Module level: click and light modules only (`pivot repro --help`); the engine, the live output and the
# executors come when a command runs.
if TYPE_CHECKING:
    from pivot_ci.cli import live
    from pivot_ci.engine import repro as engine_repro
    from pivot_ci.engine.repro import ReproOptions, ReproResult, StageRun
    from pivot_ci.project import Project

# the summary line: `3 ran, 5 restored, 192 up to date`, always in this order (engine.repro.Outcome's names)
COUNTED = {"RAN": "ran", "RESTORED": "restored", "UNCHANGED": "unchanged", "UP_TO_DATE": "up to date",
           "WOULD_RUN": "would run", "FAILED": "failed", "BLOCKED": "blocked", "CANCELLED": "cancelled",
           "NOT_RUN": "not run"}

_LOGGED = ("RAN", "FAILED", "CANCELLED")  # a stage that ran (or started to: no outcome yet) has a log


class _JsonEvents:
    """`--json`: one JSON object per line on stdout, stage output included (`stage_output`, one per line)."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._lock = threading.Lock()

    def _stage(self, run: StageRun) -> dict[str, object]:
        return {"stage": run.spec.name, "display_name": run.display, "pipeline": run.spec.pipeline,
                "state_dir": run.spec.state_dir}

    def begin(self, total: int) -> None:
        pass

    def emit(self, event: dict[str, object]) -> None:
        with self._lock:
            click.echo(json.dumps(event))

    def event(self, run: StageRun) -> None:
        from pivot_ci.cli import live
        from pivot_ci.engine import repro as engine_repro

        restored = run.restored
        event = {"event": "stage_started" if run.outcome is None else "stage_finished", **self._stage(run),
                 "outcome": None if run.outcome is None else run.outcome.name.lower(),
                 "reasons": [str(r) for r in run.reasons], "duration": round(run.duration, 3),
                 "error": run.error, "output": run.output,
                 "restored_from": None if restored is None else ("local" if restored.remote is None else "remote"),
                 "remote": None if restored is None else restored.remote,
                 "warnings": list(run.warnings), "command": engine_repro.echo(run.spec),
                 "log": (live.log_display(self.project, run.spec)
                         if run.outcome is None or run.outcome.name in _LOGGED else None),
                 "worker": run.worker}
        self.emit(event)

    def sink(self, run: StageRun) -> live.LineSink:
        from pivot_ci.cli import live

        stage = {"event": "stage_output", **self._stage(run)}

        def lines(text: list[str]) -> None:
            with self._lock:
                for line in text:
                    click.echo(json.dumps({**stage, "line": line}))
        return live.LineSink(lines)

    def end(self, summary: str | None) -> None:
        pass

    def interrupted(self) -> None:
        pass


def _summary(result: ReproResult) -> str:
    counts = {outcome: 0 for outcome in COUNTED}
    for run in result.runs:
        if run.outcome is not None:
            counts[run.outcome.name] += 1
    text = ", ".join(f"{n} {COUNTED[o]}" for o, n in counts.items() if n) or "nothing to do"
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
           listener: engine_repro.Listener, finished: Callable[[ReproResult], None]) -> int:
    from pivot_ci.engine import watch  # only watch mode pays for importing watchfiles

    hooks = watch.Hooks(
        select=lambda loaded: selection.order_in(loaded, inv.cwd, targets, upstream=extent.upstream,
                                                 downstream=extent.downstream),
        hold=lambda ids: selection.locked(inv, ids, "repro"),
        stage=listener, finished=finished,
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
    from pivot_ci.cli import live
    from pivot_ci.engine import executors, tracked
    from pivot_ci.engine import repro as engine_repro
    from pivot_ci.engine.access import StateAccess
    from pivot_ci.engine.cluster import settings
    from pivot_ci.state import stagelog

    choice = settings.choose(inv.loaded.project, settings.Flags(executor, scheduler, scheduler_file))
    if choice.kind is executors.Kind.LOCAL:
        jobs = jobs or common.jobs_default()  # on a cluster, None: its worker threads
    with contextlib.ExitStack() as stack:
        remote_runs = None
        if pull:
            from pivot_ci.cli import remote_support  # only --pull pays for the remote modules

            puller = remote_support.PullRuns(inv.loaded, remote_name, common.transfer_jobs())
            stack.callback(puller.close)
            remote_runs = puller.engine_view()
        project = inv.loaded.project
        shown: _JsonEvents | live.Live
        if json_events:
            shown = _JsonEvents(project)
        else:
            shown = live.Live(project, inv.console.verbosity, tty=live.status_line_wanted() and not watch_mode,
                              heartbeat=live.heartbeat_from_env())
            stack.callback(shown.interrupted)  # a status line never outlives the run
        opts = engine_repro.ReproOptions(jobs=jobs, force=force, keep_going=keep_going, dry_run=dry_run,
                                         no_commit=no_commit, run_cache=not no_run_cache, remote_runs=remote_runs,
                                         executor=choice, output=shown.sink, log_limit=stagelog.limit_from_env())

        def finished(result: ReproResult) -> None:
            shown.end(_summary(result))
        if watch_mode:
            return _watch(inv, targets, extent, opts, debounce, shown.event, finished)
        order = selection.order(inv, targets, upstream=extent.upstream, downstream=extent.downstream)
        shown.begin(len(order))
        with selection.locked(inv, order, "repro"), StateAccess(project) as access:
            for warning in tracked.warnings(access, tracked.of_stages(inv.loaded, order)):
                inv.console.warn(warning)
            result = engine_repro.run(access, inv.loaded.graph, order, opts, shown.event)
        finished(result)
    return 0 if result.ok else 1


COMMANDS = {"repro": repro}
