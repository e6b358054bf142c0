"""The `pivot` command line: click commands around library functions; one top-level error handler."""

from __future__ import annotations

import errno
import importlib
import os
import signal
import sys
import warnings
from gettext import gettext as _
from types import FrameType
from typing import TYPE_CHECKING

import click

from pivot_ci import __version__, errors

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

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

# command -> the first sentence of its help, for `pivot --help` and `pivot <TAB>` without importing every
# command's module (tests/unit/cli/test_lazy_group.py holds it equal to the commands' own help)
SHORT_HELP = {
    "checkout": "Restore outputs recorded in lock files, and tracked data, from the cache.",
    "commit": "Record what really happened: stages run with `repro --no-commit`, and deps or outputs changed by "
              "hand.",
    "completion": "Print the shell completion script for SHELL (commands, options, stage names).",
    "dag": "Draw the stage graph (text, --dot or --mermaid).",
    "fetch": "Download the selected stages' outputs and tracked data into the cache (verified by hash); the "
             "workspace is untouched.",
    "fsck": "Re-hash every cache object, move bad ones to .pivot/cache/bad/, and name what needs bad or missing "
            "ones.",
    "gc": "Remove cache objects that no lock or pointer file of the workspace (or of the revisions named) needs.",
    "init": "Create .pivot/ (with its .gitignore) in the current directory.",
    "list": "List stages: display name, pipeline, state dir.",
    "log": "Show what the stages printed in their last run (or the one running now).",
    "metrics": "Metric files of the stages: show them, compare them between git revisions, check their gates.",
    "params": "Params of the stages: what changed between git revisions and the workspace.",
    "pull": "fetch, then checkout: the selected stages' outputs from the remote into the workspace.",
    "push": "Upload the cached outputs of the selected stages' lock files (and their run-cache entries), and "
            "tracked data, to a remote.",
    "remote": "Manage remotes (stored in <project>/.pivot/config.yaml; credentials in the per-user file).",
    "repro": "Run stale stages in dependency order (exit 1 if any stage failed).",
    "status": "Show which stages are up to date or stale, and why.",
    "track": "Track raw data kept out of git: store PATH in the cache, write PATH.pvt and a .gitignore line.",
    "untrack": "Stop tracking PATH: remove PATH.pvt and its .gitignore line (the data and the cache are kept).",
    "verify": "CI gate: every stage up to date and every output available (exit 1 otherwise).",
}


# Failures of the machine, not of pivot: a clear error (exit 1), never a crash report.
_ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM,
                                 errno.ENAMETOOLONG, errno.EMFILE, errno.ENFILE, errno.EIO})
_ENVIRONMENT_HINT = "free some disk space (or fix the permissions) and run the command again: what was done is kept"


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C but exiting 143."""


class LazyGroup(click.Group):
    """Imports a command's module when the command is used.

    The list of commands (`pivot --help`, `pivot <TAB>`) is drawn from SHORT_HELP, through stand-in
    commands that click shortens exactly as it would the real ones: listing commands imports none of them.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        found = importlib.import_module(f"pivot_ci.cli.{module}").COMMANDS[cmd_name]
        return found  # type: ignore[no-any-return]

    def _stand_ins(self, ctx: click.Context) -> list[tuple[str, click.Command]]:
        return [(name, click.Command(name, help=SHORT_HELP[name])) for name in self.list_commands(ctx)]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's own listing (no command is hidden), of the stand-ins."""
        commands = self._stand_ins(ctx)
        limit = formatter.width - 6 - max(len(name) for name, _cmd in commands)
        with formatter.section(_("Commands")):
            formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in commands])

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        """Command names with their short help (as click's own), then the group's options."""
        from click.shell_completion import CompletionItem

        found = [CompletionItem(name, help=cmd.get_short_help_str())
                 for name, cmd in self._stand_ins(ctx) if name.startswith(incomplete)]
        return found + click.Command.shell_complete(self, ctx, incomplete)


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
    import datetime
    import tempfile
    import traceback

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
