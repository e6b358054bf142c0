"""The `pivot` command line: click commands around library functions; one top-level error handler."""

from __future__ import annotations

import datetime
import errno
import importlib
import os
import signal
import sys
import tempfile
import traceback
import warnings
from types import FrameType

import click

from pivot_ci import __version__, errors

# command -> module: a command imports only what it needs (start-up time is most of a no-change `status`)
COMMANDS = {
    "init": "workspace_cmds", "commit": "workspace_cmds", "checkout": "workspace_cmds",
    "list": "workspace_cmds", "dag": "workspace_cmds", "log": "log_cmd",
    "repro": "repro_cmd", "status": "check_cmds", "verify": "check_cmds",
    "push": "remote_cmds", "fetch": "remote_cmds", "pull": "remote_cmds", "remote": "remote_cmds",
    "params": "compare_cmds", "metrics": "compare_cmds",
    "completion": "completion",
    "track": "data_cmds", "untrack": "data_cmds", "gc": "cache_cmds", "fsck": "cache_cmds",
}


# Failures of the machine, not of pivot: a clear error (exit 1), never a crash report.
_ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM,
                                 errno.ENAMETOOLONG, errno.EMFILE, errno.ENFILE, errno.EIO})
_ENVIRONMENT_HINT = "free some disk space (or fix the permissions) and run the command again: what was done is kept"


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C but exiting 143."""


class LazyGroup(click.Group):
    """Imports a command's module when the command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        found = importlib.import_module(f"pivot_ci.cli.{module}").COMMANDS[cmd_name]
        return found  # type: ignore[no-any-return]


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pivot-ci")
@click.option("-C", "directory", type=click.Path(exists=True, file_okay=False), default=None,
              help="Run as if pivot was started in this directory (like git -C).")
def cli(directory: str | None) -> None:
    """pivot-ci: reproduce and verify projects with many pipelines."""
    if directory is not None:
        os.chdir(directory)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def _crash_report(exc: BaseException) -> str:
    fd, path = tempfile.mkstemp(prefix="pivot-crash-", suffix=".txt")
    with os.fdopen(fd, "w") as f:
        f.write(f"pivot-ci {__version__} crashed at {datetime.datetime.now().isoformat()}\n")
        f.write(f"argv: {sys.argv}\ncwd: {os.getcwd()}\n\n")
        f.write("".join(traceback.format_exception(exc)))
    return path


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: object = None, line: str | None = None) -> None:
    click.echo(f"Warning: {message}", err=True)


def _crash(exc: BaseException) -> errors.ExitCode:
    path = _crash_report(exc)
    click.echo(f"Internal error: {type(exc).__name__}: {exc}", err=True)
    click.echo(f"A crash report was written to {path}; please attach it to a bug report.", err=True)
    return errors.ExitCode.INTERNAL


def _os_failure(exc: OSError) -> errors.ExitCode:
    """A full disk, a read-only filesystem, missing permissions: the machine's failure, reported as an error."""
    if exc.errno not in _ENVIRONMENT_ERRNOS:
        return _crash(exc)
    where = f" ({exc.filename})" if exc.filename else ""
    click.echo(f"Error: {exc.strerror or exc}{where}", err=True)
    click.echo(f"Hint: {_ENVIRONMENT_HINT}", err=True)
    return errors.ExitCode.FAILED


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    warnings.showwarning = _show_warning
    try:
        code = cli.main(args=argv, prog_name="pivot", standalone_mode=False)
    except click.exceptions.Abort as exc:  # click turns KeyboardInterrupt (and our Terminated) into Abort
        terminated = isinstance(exc.__cause__, Terminated)
        click.echo("Terminated." if terminated else "Interrupted.", err=True)
        code = errors.ExitCode.TERMINATED if terminated else errors.ExitCode.INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        code = errors.ExitCode.USAGE
    except errors.PivotError as exc:
        click.echo(f"Error: {exc}", err=True)
        if exc.hint:
            click.echo(f"Hint: {exc.hint}", err=True)
        code = exc.exit_code
    except Terminated:
        click.echo("Terminated.", err=True)
        code = errors.ExitCode.TERMINATED
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        code = errors.ExitCode.INTERRUPTED
    except OSError as exc:
        code = _os_failure(exc)
    except Exception as exc:  # a bug: short message, full report in a file
        code = _crash(exc)
    sys.exit(int(code or 0))
