"""What every command shares: `pivot_command` does discovery once, output goes through here."""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from pivot_ci import errors

if TYPE_CHECKING:  # every command module imports this one: the pipeline and graph layers come when a command runs
    from pathlib import Path  # (pathlib and the project layer too: `<command> --help` needs neither)

    from pivot_ci import project
    from pivot_ci.dag.load import Loaded

# state.cache.LinkMode's values, for --link without importing the cache for `--help` (a unit test holds them equal)
LINK_MODES = ("copy", "hardlink", "symlink", "reflink")


@dataclasses.dataclass(frozen=True, slots=True)
class Console:
    """Where messages go: stderr for logs and progress; stdout is the command's own output."""

    verbosity: int

    def info(self, msg: str) -> None:
        if self.verbosity >= 0:
            click.echo(msg, err=True)

    def debug(self, msg: str) -> None:
        if self.verbosity > 0:
            click.echo(msg, err=True)

    def error(self, msg: str) -> None:
        """Failures: shown even with -q."""
        click.echo(msg, err=True)

    def warn(self, msg: str) -> None:
        if self.verbosity >= 0:
            click.echo(click.style("Warning: ", fg="yellow") + msg, err=True)


@dataclasses.dataclass(frozen=True, slots=True)
class Invocation:
    """A command's starting point: the loaded project, the working directory and the console."""

    loaded: Loaded
    cwd: Path
    console: Console
    skip_broken: bool = False  # watch mode loads the project again, the same way


@dataclasses.dataclass(frozen=True, slots=True)
class ReportInvocation:
    """For commands that write reports even when loading fails (status, verify).

    `load_error` is set when the project could not be loaded at all; `strict` when broken pipeline
    files (loaded past, to report them) must still end the command with their error (no --skip-broken).
    """

    project: project.Project
    loaded: Loaded | None
    load_error: errors.PivotError | None
    strict: bool
    cwd: Path
    console: Console


def verbosity_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("-v", "--verbose", count=True, help="More output.")(f)
    return click.option("-q", "--quiet", is_flag=True, help="Print only errors and failures.")(f)


def pivot_command(*, allow_all: bool = True,
                  reports: bool = False) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Decorate a command body `f(inv, **options) -> exit code` with discovery and shared options.

    With `reports`, the body gets a ReportInvocation: it is called even when loading failed, so that
    report files are written before the error ends the command.
    """

    def decorate(f: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(f)
        def wrapper(*args: Any, verbose: int, quiet: bool, directory: str | None, all_pipelines: bool = False,
                    skip_broken: bool = False, **kwargs: Any) -> int:
            from pathlib import Path

            from pivot_ci import project
            from pivot_ci.dag import load as dag_load

            console = Console(-1 if quiet else verbose)
            if directory is not None:  # `pivot verify --all -C sub/dir`: hooks append their args last
                os.chdir(directory)
            cwd = Path(os.getcwd())
            proj = project.find_root(cwd)
            strict = reports and all_pipelines and not skip_broken
            try:
                loaded = dag_load.load(proj, cwd, all_pipelines=all_pipelines, skip_broken=skip_broken or strict)
            except errors.PivotError as exc:
                if not reports:
                    raise
                return f(ReportInvocation(proj, None, exc, strict, cwd, console), *args, **kwargs)
            for skip in loaded.skipped:
                console.debug(f"skipped {skip.path}: {skip.why}")
            if not strict:
                for b in loaded.broken:
                    console.warn(b.warning(all_pipelines))
            if not (strict and loaded.broken):  # the load error ends the command: it alone is the message
                for w in loaded.warnings:
                    console.warn(w)
            if reports:
                return f(ReportInvocation(proj, loaded, None, strict, cwd, console), *args, **kwargs)
            return f(Invocation(loaded, cwd, console, skip_broken), *args, **kwargs)

        cmd: Callable[..., Any] = click.option(
            "-C", "directory", type=click.Path(exists=True, file_okay=False), default=None,
            help="Run as if pivot was started in this directory (also before the command).")(wrapper)
        cmd = verbosity_options(cmd)
        if allow_all:
            cmd = click.option("--skip-broken", is_flag=True,
                               help="With --all: warn about pipeline files that fail to load instead of failing.")(cmd)
            cmd = click.option("-a", "--all", "all_pipelines", is_flag=True,
                               help="Work on every pipeline of the project, merged into one graph.")(cmd)
        return cmd

    return decorate


def jobs_default() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def transfer_jobs() -> int:
    """Transfers to and from remotes wait on I/O, not CPU: several per core."""
    return min(32, 4 * jobs_default())


def human_bytes(n: int) -> str:
    """`3.4 MB` (powers of 1,000, as storage is sold)."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")
