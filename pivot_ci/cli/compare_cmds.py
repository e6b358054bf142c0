"""`pivot params diff`, `pivot metrics show`, `pivot metrics diff`: what a change does to results (SPEC §12)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from pivot_ci.cli import common, completion, selection
from pivot_ci.cli.common import Invocation

if TYPE_CHECKING:  # the comparison modules are imported when a command runs, not for `pivot --help`
    from pivot_ci.compare.diff import Request
    from pivot_ci.compare.values import Comparison

FORMATS = ("text", "json", "md")
DEFAULT_PRECISION = 5  # report.comparison.DEFAULT_PRECISION


def output_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("-t", "--targets", "targets", multiple=True, metavar="TARGET",
                     shell_complete=completion.complete_targets,
                     help="Only these stages (a stage name, <pipeline>/<stage> or an output path; repeatable).")(f)
    f = click.option("--precision", type=click.IntRange(1, 17), default=DEFAULT_PRECISION,
                     show_default=True, help="Significant digits of numbers (a nonzero value never shows as 0).")(f)
    f = click.option("--format", "fmt", type=click.Choice(FORMATS), default=None, help="Output format [text].")(f)
    return click.option("--json", "as_json", is_flag=True, help="Alias of --format json.")(f)


def diff_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.argument("b_rev", required=False, metavar="[B_REV]")(f)
    f = click.argument("a_rev", required=False, metavar="[A_REV]")(f)
    return click.option("--unchanged", is_flag=True, help="Also show keys whose value did not change.")(f)


def _format(fmt: str | None, as_json: bool) -> str:
    if as_json and fmt not in (None, "json"):
        raise click.UsageError(f"--json contradicts --format {fmt}")
    return "json" if as_json else (fmt or "text")


def _request(old: str | None, new: str | None, *, params: bool, metrics: bool) -> Request:
    from pivot_ci.compare import diff

    return diff.Request(old, new, params=params, metrics=metrics)


def _run(inv: Invocation, targets: tuple[str, ...], request: Request, command: str, fmt: str,
         precision: int, unchanged: bool) -> Comparison:
    from pivot_ci.compare import diff

    ids = selection.order_in(inv.loaded, inv.cwd, targets, upstream=False)
    result = diff.compare(inv.loaded, ids, request)
    if fmt == "json":
        from pivot_ci.report import comparison_json

        click.echo(comparison_json.render(result, command, unchanged=unchanged), nl=False)
        return result
    from pivot_ci.report import comparison

    match fmt:
        case "md":
            body = comparison.markdown(result, f"pivot {command}", precision=precision, unchanged=unchanged)
        case _:
            body = comparison.text(result, f"pivot {command}", precision=precision, unchanged=unchanged)
    click.echo(body, nl=False)
    return result


@click.group()
def params() -> None:
    """Params of the stages: what changed between git revisions and the workspace."""


@params.command("diff")
@diff_options
@output_options
@common.pivot_command(allow_all=True)
def params_diff(inv: Invocation, a_rev: str | None, b_rev: str | None, unchanged: bool, targets: tuple[str, ...],
                precision: int, fmt: str | None, as_json: bool) -> int:
    """Params that differ between A_REV [HEAD] and B_REV [the workspace], per pipeline and stage.

    At a revision, a stage's params are those its lock file recorded (read from git, no code run); in the
    workspace, the declared values.
    """
    request = _request(a_rev or "HEAD", b_rev, params=True, metrics=False)
    _run(inv, targets, request, "params diff", _format(fmt, as_json), precision, unchanged)
    return 0


@click.group()
def metrics() -> None:
    """Metric files of the stages: show them, compare them between git revisions, check their gates."""


@metrics.command("show")
@output_options
@common.pivot_command(allow_all=True)
def metrics_show(inv: Invocation, targets: tuple[str, ...], precision: int, fmt: str | None, as_json: bool) -> int:
    """The metrics in the workspace, per pipeline, stage and file (nested keys joined with dots)."""
    _run(inv, targets, _request(None, None, params=False, metrics=True), "metrics show",
         _format(fmt, as_json), precision, True)
    return 0


@metrics.command("diff")
@diff_options
@click.option("--check", is_flag=True,
              help="Exit 1 when a metric gate (fail_if) fails or data needed for the comparison is unavailable.")
@output_options
@common.pivot_command(allow_all=True)
def metrics_diff(inv: Invocation, a_rev: str | None, b_rev: str | None, unchanged: bool, check: bool,
                 targets: tuple[str, ...], precision: int, fmt: str | None, as_json: bool) -> int:
    """Metrics that differ between A_REV [HEAD] and B_REV [the workspace], and the verdict of their gates.

    At a revision, metric files are read from git (committed files; nothing is run); a file absent there is
    reported as unavailable, never as new.
    """
    request = _request(a_rev or "HEAD", b_rev, params=False, metrics=True)
    result = _run(inv, targets, request, "metrics diff", _format(fmt, as_json), precision, unchanged)
    return 1 if check and not result.passed else 0


COMMANDS = {"params": params, "metrics": metrics}
