"""`pivot status` and `pivot verify`: one result value, rendered in every format asked for."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from pivot_ci import errors
from pivot_ci.cli import common, completion

# Module level: click and light modules only (`pivot status --help` imports this module). The engine, the
# report formats and the remote layer are imported by the functions that use them, when they run.
if TYPE_CHECKING:
    from pathlib import Path

    from pivot_ci.cli.common import ReportInvocation
    from pivot_ci.cli.remote_support import RemoteAsk
    from pivot_ci.compare.values import Comparison
    from pivot_ci.engine import check, staged
    from pivot_ci.engine.access import StateAccess
    from pivot_ci.pipeline import model

FORMATS = ("text", "json", "junit", "github", "md")


@dataclasses.dataclass(frozen=True, slots=True)
class ReportOptions:
    fmt: str
    output: Path | None
    extra: tuple[tuple[str, Path], ...]
    junit_strict: bool
    explain: bool = False
    repo_prefix: str = ""
    verbose: bool = False  # text: list every stage, not only those that are not up to date
    quiet: bool = False  # text: nothing on stdout, the exit code says it all


def _as_path(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    """--output as a Path (pathlib is imported when a command runs, not for `--help`)."""
    from pathlib import Path

    return None if value is None else Path(value)


def _parse_report(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[tuple[str, Path], ...]:
    from pathlib import Path

    out = []
    for value in values:
        fmt, sep, path = value.partition(":")
        if not sep or fmt not in FORMATS or not path:
            raise click.BadParameter(f"{value!r}: expected FORMAT:PATH with FORMAT one of {', '.join(FORMATS)}")
        out.append((fmt, Path(path)))
    return tuple(out)


def report_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
                     help="Report format on stdout (or --output) [text].")(f)
    f = click.option("--json", "as_json", is_flag=True, help="Alias of --format json.")(f)
    f = click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, callback=_as_path,
                     help="Write the report to this file instead of stdout (a summary still goes to stderr).")(f)
    f = click.option("--report", "extra", multiple=True, callback=_parse_report, metavar="FORMAT:PATH",
                     help="Also write a report in FORMAT to PATH (repeatable), e.g. --report junit:pivot.xml.")(f)
    return click.option("--junit-strict", is_flag=True,
                        help="JUnit without testcase file/line attributes (validates against junit-10.xsd).")(f)


def _options(inv: ReportInvocation, fmt: str | None, as_json: bool, output: Path | None,
             extra: tuple[tuple[str, Path], ...], junit_strict: bool, explain: bool = False) -> ReportOptions:
    if as_json and fmt not in (None, "json"):
        raise click.UsageError(f"--json contradicts --format {fmt}")
    return ReportOptions("json" if as_json else (fmt or "text"), output, extra, junit_strict, explain,
                         _repo_prefix(inv.project.root), verbose=inv.console.verbosity > 0,
                         quiet=inv.console.verbosity < 0)


def _repo_prefix(project_root: Path) -> str:
    """The project root relative to $GITHUB_WORKSPACE (the repository), when it lies below it."""
    from pathlib import Path

    workspace = os.environ.get("GITHUB_WORKSPACE")
    if not workspace:
        return ""
    try:
        rel = project_root.resolve().relative_to(Path(workspace).resolve())
    except ValueError:
        return ""
    return rel.as_posix()


def _render(report: check.CheckReport, fmt: str, opts: ReportOptions, comparison: Comparison | None) -> str:
    """The report in `fmt`; only the chosen format's module is imported."""
    match fmt:
        case "json":
            from pivot_ci.report import json_report

            return json_report.render(report, comparison)
        case "junit":
            from pivot_ci.report import junit

            return junit.render(report, strict=opts.junit_strict, comparison=comparison)
        case "github":
            from pivot_ci.report import github

            return github.render(report, opts.repo_prefix, comparison)
        case "md":
            from pivot_ci.report import github

            return github.summary_markdown(report, comparison)
        case _:
            from pivot_ci.report import text

            return text.render(report, explain=opts.explain, verbose=opts.verbose, comparison=comparison)


def _emit(inv: ReportInvocation, report: check.CheckReport, opts: ReportOptions, *, failed_load: bool = False,
          comparison: Comparison | None = None) -> None:
    """Every requested report file first (atomically), then stdout; the GitHub summary when asked for.

    A text report of a project that failed to load is not printed: the error, on stderr, says it alone.
    """
    from pivot_ci.state import fsutil

    for fmt, path in opts.extra:
        fsutil.atomic_write(path, _render(report, fmt, opts, comparison).encode())
    body = _render(report, opts.fmt, opts, comparison)
    if opts.output is not None:
        fsutil.atomic_write(opts.output, body.encode())
    wants_github = opts.fmt == "github" or any(fmt == "github" for fmt, _ in opts.extra)
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if wants_github and summary_file:
        from pivot_ci.report import github

        with open(summary_file, "a", encoding="utf-8") as f:
            f.write(github.summary_markdown(report, comparison))
    text_out = opts.fmt == "text" and opts.output is None
    if opts.output is None and not (text_out and (opts.quiet or failed_load)):
        click.echo(body, nl=False)
    if not text_out and not failed_load:  # the text report carries these itself
        for note in report.notes:
            inv.console.info(note)
    written = [str(p) for p in ([opts.output] if opts.output else []) + [p for _, p in opts.extra]]
    if written or (opts.fmt == "github" and not failed_load):  # github: stdout holds workflow commands only
        from pivot_ci.report import text

        summary = text.summary(report, comparison)
        inv.console.info(f"{summary}; report written to {', '.join(written)}" if written else summary)


def _no_pipelines(inv: ReportInvocation) -> errors.PivotError | None:
    """With --all, a project without a single pipeline file: an error, or a misconfigured CI step goes green."""
    loaded = inv.loaded
    if loaded is None or not loaded.all_pipelines or loaded.graph.merged.pipelines or loaded.broken:
        return None
    from pivot_ci import discover

    return errors.DiscoveryError(
        f"no pipeline file ({', '.join(discover.PIPELINE_FILE_NAMES)}) in the project {loaded.project.root}",
        hint=("there is nothing to check: write a pipeline file, or run pivot in the project you meant "
              "(`pivot -C DIR`); `pivot list --all -v` lists the files discovery skipped and why"))


def _with_notes(inv: ReportInvocation, report: check.CheckReport) -> check.CheckReport:
    """The fresh-clone advice, when outputs are missing from workspace and cache (it depends on the remotes)."""
    from pivot_ci.engine import check

    assert inv.loaded is not None
    if not any(s.failure is check.Failure.MISSING_OUTPUT for s in report.stages):
        return report
    from pivot_ci.remote import config

    try:
        specs, default = config.remotes(inv.loaded.project)
    except errors.PivotError:  # a broken config.yaml is reported by the commands that use it
        specs, default = [], None
    note = check.missing_note(report, default, bool(specs))
    return dataclasses.replace(report, notes=report.notes + ((note,) if note else ()))


def _git_state(inv: ReportInvocation, access: StateAccess, ids: set[model.StageId]) -> staged.GitState:
    """Which lock files of the selected stages git has not staged, and whether pre-commit stashed changes."""
    from pivot_ci.engine import staged
    from pivot_ci.state import gitread

    assert inv.loaded is not None
    locks = [access.lock_display(inv.loaded.graph.stages[sid]) for sid in ids]
    with gitread.GitRepo.open(inv.loaded.project.root, "verify --staged") as repo:
        unstaged = repo.unstaged(locks)
    return staged.GitState(frozenset(unstaged), os.environ.get("PRE_COMMIT") == "1", repo.prefix)


def _check(inv: ReportInvocation, command: check.Command, targets: tuple[str, ...],
           opts: ReportOptions, ask: RemoteAsk | None = None, compare_to: str | None = None,
           git_staged: bool = False) -> tuple[check.CheckReport, Comparison | None]:
    """Build and emit the report; a load error still yields the report files, then ends the command."""
    from pivot_ci.cli import selection
    from pivot_ci.engine import check
    from pivot_ci.engine.access import StateAccess

    error = inv.load_error if inv.loaded is None else _no_pipelines(inv)
    if error is not None:
        _emit(inv, check.error_report(command, inv.strict or inv.loaded is not None, error), opts, failed_load=True)
        raise error
    assert inv.loaded is not None
    picked = selection.pick(inv.loaded, inv.cwd, targets)
    order = picked.order
    comparison = None
    if compare_to is not None:  # first: a revision that does not exist ends the command before any work
        from pivot_ci.compare import diff

        comparison = diff.compare(inv.loaded, order, diff.Request(compare_to, None, params=True, metrics=True))
    ids = set(order)
    with StateAccess(inv.loaded.project) as access:
        remote = None
        if ask is not None:  # the remote layer only when a remote is asked
            from pivot_ci.cli import remote_support

            remote = remote_support.remote_state(inv.loaded, access, ids, ask, picked.tracked)
        report = _with_notes(inv, check.check(inv.loaded, access, command, ids, remote, picked.tracked))
        if git_staged:
            from pivot_ci.engine import staged

            report = staged.apply(report, inv.loaded, access, _git_state(inv, access, ids))
        if opts.explain:
            from pivot_ci.engine import explain

            report = explain.apply(report, access)
    for warning in report.warnings:
        if warning not in inv.loaded.warnings:  # those were shown when the project was loaded
            inv.console.warn(warning)
    broken = inv.strict and bool(inv.loaded.broken)
    _emit(inv, report, opts, failed_load=broken, comparison=comparison)
    if broken:
        raise inv.loaded.broken[0].error
    return report, comparison


def _ask(name: str | None, *, allow_missing: bool) -> RemoteAsk:
    from pivot_ci.cli.remote_support import RemoteAsk

    return RemoteAsk(name, allow_missing)


@click.command()
@completion.targets_argument
@click.option("--explain", is_flag=True,
              help="Show what changed: the functions of a Python stage's code, the files of a directory, "
                   "old and new hashes.")
@click.option("--exit-code", is_flag=True, help="Exit 1 if anything is stale (implied by -q).")
@click.option("--remote", "remote_name", is_flag=False, flag_value="", default=None, metavar="[NAME]",
              help="Also show whether each stage's outputs are on the remote (NAME, or the default remote).")
@report_options
@common.pivot_command(allow_all=True, reports=True)
def status(inv: ReportInvocation, targets: tuple[str, ...], explain: bool, exit_code: bool, remote_name: str | None,
           fmt: str | None, as_json: bool, output: Path | None, extra: tuple[tuple[str, Path], ...],
           junit_strict: bool) -> int:
    """Show which stages are up to date or stale, and why."""
    from pivot_ci.engine import check

    opts = _options(inv, fmt, as_json, output, extra, junit_strict, explain)
    ask = None if remote_name is None else _ask(remote_name or None, allow_missing=False)
    report, _ = _check(inv, check.Command.STATUS, targets, opts, ask)
    stale = (any(s.status.stale for s in report.stages) or not all(p.error is None for p in report.pipelines)
             or not all(t.passed for t in report.all_tracked))
    return 1 if (exit_code or opts.quiet) and stale else 0  # -q: the exit code is the answer, as `git diff -q`


@click.command()
@completion.targets_argument
@click.option("--allow-missing", is_flag=True,
              help="Outputs missing here count as available when the remote has them (checked, not downloaded).")
@click.option("-r", "--remote", "remote_name", default=None, metavar="NAME",
              help="The remote --allow-missing asks [the default remote].")
@click.option("--compare-to", "compare_to", default=None, metavar="REV",
              help="Also compare params and metrics with git revision REV and check the metric gates: a failing "
                   "gate (or data unavailable at REV) fails verify.")
@click.option("--staged", "git_staged", is_flag=True,
              help="For git pre-commit hooks: also fail when a lock file pivot wrote is not staged "
                   "(the commit would lack it), naming the `git add` that fixes it.")
@report_options
@common.pivot_command(allow_all=True, reports=True)
def verify(inv: ReportInvocation, targets: tuple[str, ...], allow_missing: bool, remote_name: str | None,
           compare_to: str | None, git_staged: bool, fmt: str | None, as_json: bool, output: Path | None,
           extra: tuple[tuple[str, Path], ...], junit_strict: bool) -> int:
    """CI gate: every stage up to date and every output available (exit 1 otherwise)."""
    if remote_name is not None and not allow_missing:
        raise click.UsageError("-r/--remote is used by --allow-missing only")
    from pivot_ci.engine import check

    ask = _ask(remote_name, allow_missing=True) if allow_missing else None
    opts = _options(inv, fmt, as_json, output, extra, junit_strict)
    report, comparison = _check(inv, check.Command.VERIFY, targets, opts, ask, compare_to, git_staged)
    return 0 if report.passed and (comparison is None or comparison.passed) else 1


COMMANDS = {c.name: c for c in (status, verify)}
