"""`pivot status` and `pivot verify`: one result value, rendered in the chosen format."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from pivot_ci.cli import common, selection
from pivot_ci.cli.common import Invocation
from pivot_ci.engine import check
from pivot_ci.engine.access import StateAccess
from pivot_ci.report import json_report, text
from pivot_ci.state import fsutil

FORMATS = ("text", "json")


def report_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
                     help="Report format [text].")(f)
    f = click.option("--json", "as_json", is_flag=True, help="Alias of --format json.")(f)
    return click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help="Write the report to this file (a short summary still goes to stderr).")(f)


def _emit(inv: Invocation, report: check.CheckReport, fmt: str | None, as_json: bool, output: Path | None,
          explain: bool = False) -> None:
    fmt = "json" if as_json else (fmt or "text")
    body = json_report.render(report) if fmt == "json" else text.render(report, explain=explain)
    if output is None:
        click.echo(body, nl=False)
    else:
        fsutil.atomic_write(output, body.encode())
        inv.console.info(f"{text.summary(report)}; report written to {output}")


def _run(inv: Invocation, command: check.Command, targets: tuple[str, ...]) -> check.CheckReport:
    ids = set(selection.order(inv, targets))
    with StateAccess(inv.loaded.project) as access:
        return check.check(inv.loaded, access, command, ids)


@click.command()
@click.argument("targets", nargs=-1)
@click.option("--explain", is_flag=True, help="Show old and new hashes of what changed.")
@click.option("--exit-code", is_flag=True, help="Exit 1 if anything is stale.")
@report_options
@common.pivot_command(allow_all=True)
def status(inv: Invocation, targets: tuple[str, ...], explain: bool, exit_code: bool, fmt: str | None,
           as_json: bool, output: Path | None) -> int:
    """Show which stages are up to date or stale, and why."""
    report = _run(inv, check.Command.STATUS, targets)
    _emit(inv, report, fmt, as_json, output, explain)
    stale = any(s.status.stale for s in report.stages) or not all(p.error is None for p in report.pipelines)
    return 1 if exit_code and stale else 0


@click.command()
@click.argument("targets", nargs=-1)
@report_options
@common.pivot_command(allow_all=True)
def verify(inv: Invocation, targets: tuple[str, ...], fmt: str | None, as_json: bool,
           output: Path | None) -> int:
    """CI gate: every stage up to date and every output available (exit 1 otherwise)."""
    report = _run(inv, check.Command.VERIFY, targets)
    _emit(inv, report, fmt, as_json, output)
    return 0 if report.passed else 1


COMMANDS = {c.name: c for c in (status, verify)}
