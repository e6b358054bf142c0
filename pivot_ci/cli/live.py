"""What `repro` shows while it runs: stage events, stages' output as it comes, a status line or heartbeats.

Every write to the terminal goes through one `Screen` (stage threads stream output, a ticker refreshes the
status line, the scheduler reports events). On a TTY the last line of stderr is a live status line (done /
running / queued / failed counts, the running stages and their elapsed times), cleared before anything else
is printed and drawn again after it. Elsewhere (CI) there is no status line; instead, a run that printed
nothing for a while says which stages are still running, so that CI systems that kill silent jobs do not.
"""

from __future__ import annotations

import codecs
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable

import click

from pivot_ci.engine import repro
from pivot_ci.engine.repro import Outcome, StageRun
from pivot_ci.pipeline import model
from pivot_ci.project import Project
from pivot_ci.state import stagelog

HEARTBEAT_ENV = "PIVOT_HEARTBEAT"
DEFAULT_HEARTBEAT = 180.0  # seconds of silence before a heartbeat line (CI systems kill jobs silent for 10 min)
_TICK = 1.0
_LONG_LINE = 8192  # a partial line this long is shown without waiting for its end
_LINE_END = re.compile(r"\r\n|\r|\n")
_COLORS = ("cyan", "magenta", "blue", "yellow", "green")
_OK = (Outcome.RAN, Outcome.RESTORED, Outcome.UNCHANGED, Outcome.UP_TO_DATE)


def log_display(project: Project, st: model.StageSpec) -> str:
    """A stage's log path as messages show it (project-relative)."""
    return stagelog.display_path(project, st.state_dir, st.name)


def _where(run: StageRun) -> str:
    """Where a stage ran, when not on this machine (a Dask worker)."""
    return f" on {run.worker}" if run.worker else ""


def status_line_wanted() -> bool:
    """A live status line needs a terminal on stderr that understands `\r` and erase-line."""
    return sys.stderr.isatty() and os.environ.get("TERM", "") != "dumb"


def heartbeat_from_env() -> float:
    raw = os.environ.get(HEARTBEAT_ENV, "")
    try:
        return float(raw) if raw else DEFAULT_HEARTBEAT
    except ValueError:
        return DEFAULT_HEARTBEAT


def elapsed(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class Screen:
    """stderr, shared by threads; on a TTY with a status line kept at the bottom."""

    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self.lock = threading.RLock()
        self.status: Callable[[], str] | None = None
        self.last_write = time.monotonic()
        self._shown = False
        self._width = self._columns()

    def lines(self, lines: list[str]) -> None:
        with self.lock:
            self._clear()
            if lines:
                click.echo("\n".join(lines), err=True)  # one write for a chunk of output
            self.last_write = time.monotonic()
            self._draw()

    def refresh(self) -> None:
        with self.lock:
            self._width = self._columns()
            self._clear()
            self._draw()

    def close(self) -> None:
        with self.lock:
            self._clear()
            self.status = None

    @staticmethod
    def _columns() -> int:
        return shutil.get_terminal_size((100, 24)).columns - 1

    def _clear(self) -> None:
        if self._shown:
            sys.stderr.write("\r\x1b[2K")
            self._shown = False

    def _draw(self) -> None:
        if not self.tty or self.status is None:
            return
        text = self.status()
        if not text:
            return
        width = self._width
        if len(text) > width:
            text = text[:max(0, width - 1)] + "…"
        sys.stderr.write(click.style(text, dim=True))
        sys.stderr.flush()
        self._shown = True


class LineSink:
    """A stage's output bytes -> complete lines (`\n`, `\r\n` or a bare `\r`, as progress bars write)."""

    def __init__(self, on_lines: Callable[[list[str]], None]) -> None:
        self._on_lines = on_lines
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._partial = ""

    def write(self, data: bytes) -> None:
        text = self._partial + self._decoder.decode(data)
        *done, self._partial = _LINE_END.split(text)
        if len(self._partial) > _LONG_LINE:
            done.append(self._partial)
            self._partial = ""
        if done:
            self._on_lines(done)

    def close(self) -> None:
        rest = self._partial + self._decoder.decode(b"", final=True)
        self._partial = ""
        if rest:
            self._on_lines([rest])


class Live:
    """The text presentation of one `repro` run (or of each cycle of watch mode).

    A stage's output lines are shown as they come, bare while it runs alone, and prefixed with its display
    name from the moment another stage runs beside it until it ends.
    """

    def __init__(self, project: Project, verbosity: int, *, tty: bool, heartbeat: float) -> None:
        self.project, self.verbosity = project, verbosity
        self.screen = Screen(tty)
        self.heartbeat = heartbeat
        self._running: dict[str, float] = {}  # display name -> start (monotonic), in start order
        self._counts = {"done": 0, "failed": 0, "blocked": 0, "todo": 0}
        self._shared: set[str] = set()  # running stages that have run beside another: their lines are prefixed
        self._colors: dict[str, str] = {}
        self._width = 0
        self._failures: list[StageRun] = []
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # -- what the scheduler calls -------------------------------------------------------------------

    def begin(self, total: int) -> None:
        """A run of `total` selected stages starts (several times in watch mode)."""
        self._counts = {"done": 0, "failed": 0, "blocked": 0, "todo": total}
        self._failures = []
        if self.screen.tty and self.verbosity >= 0:
            self.screen.status = self._status

    def sink(self, run: StageRun) -> stagelog.Sink | None:
        if self.verbosity < 0:
            return None
        display = run.display
        return LineSink(lambda lines: self.output(display, lines))

    def event(self, run: StageRun) -> None:
        st = run.spec
        lines: list[str] = [click.style("Warning: ", fg="yellow") + w for w in run.warnings]
        if run.outcome is None:
            self._running[run.display] = time.monotonic()
            if len(self._running) > 1:
                self._shared.update(self._running)
            self._width = min(24, max(self._width, len(run.display)))
            self._ensure_ticker()
            reasons = "; ".join(str(r) for r in run.reasons)
            lines.append(f"Running '{run.display}' ({st.location})" + (f": {reasons}" if reasons else ""))
            self._say(lines)
            self.output(run.display, [f"> {line}" for line in repro.echo(st).splitlines()], echo=True)
            return
        self._running.pop(run.display, None)
        self._shared.discard(run.display)
        self._count(run.outcome)
        if run.outcome is Outcome.RESTORED and run.restored is not None:
            ran = run.restored.recorded_duration
            lines.append(f"'{run.display}' restored from {run.restored}"
                         + (f" (its run took {ran:.2f}s)" if ran >= 0.01 else ""))
        elif run.outcome is Outcome.WOULD_RUN:
            self.screen.close()
            reasons = "; ".join(str(r) for r in run.reasons)
            click.echo(f"would run '{run.display}' ({st.location}): {reasons or 'forced'}")
        elif run.outcome is Outcome.UP_TO_DATE:
            if self.verbosity > 0:
                lines.append(f"'{run.display}' is up to date")
        elif run.outcome in (Outcome.FAILED, Outcome.BLOCKED, Outcome.CANCELLED):
            self._failures.append(run)
            if self.verbosity < 0 and run.output:  # quiet: nothing was streamed, show how it ended
                lines += self._tail(run)
            failed = f"'{run.display}' {_MARK[run.outcome]}{_where(run)}: {run.error}"
            self.screen.lines([*lines, click.style(failed, fg="red")])
            return
        else:
            took = f" in {run.duration:.2f}s" if run.outcome is Outcome.RAN else ""
            lines.append(f"'{run.display}' {_MARK[run.outcome]}{took}{_where(run)}")
        self._say(lines)

    def output(self, display: str, lines: list[str], *, echo: bool = False) -> None:
        """Lines a stage printed (from its thread)."""
        if self.verbosity < 0:
            return
        if echo:
            lines = [click.style(line, dim=True) for line in lines]
        if display in self._shared:
            color = self._colors.setdefault(display, _COLORS[len(self._colors) % len(_COLORS)])
            prefix = click.style(f"{display:<{self._width}} |", fg=color) + " "
            lines = [prefix + line for line in lines]
        self.screen.lines(lines)

    def end(self, summary: str | None) -> None:
        """A run is over: stop the ticker, then the summary and where the failed stages' logs are."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        self._stop.clear()
        self.screen.close()
        if summary is not None and self.verbosity >= 0:
            click.echo(summary, err=True)
        for run in self._failures:
            if run.outcome is not Outcome.BLOCKED:
                click.echo(f"  '{run.display}' {_MARK[run.outcome] if run.outcome else ''}: "
                           f"log in {log_display(self.project, run.spec)}", err=True)
        self._failures = []

    def interrupted(self) -> None:
        """The command ends (maybe interrupted mid-run): no ticker, no status line; where the logs are."""
        if self._ticker is not None or self._failures:
            self.end(None)
        self.screen.close()

    # -- inside -----------------------------------------------------------------------------------------

    def _say(self, lines: list[str]) -> None:
        if lines and self.verbosity >= 0:
            self.screen.lines(lines)

    def _tail(self, run: StageRun, keep: int = 40) -> list[str]:
        lines = run.output.rstrip("\n").splitlines()
        if len(lines) <= keep:
            return lines
        return [f"... ({len(lines) - keep} more lines above; the whole output is in the log)", *lines[-keep:]]

    def _count(self, outcome: Outcome | None) -> None:
        if outcome is Outcome.UP_TO_DATE:
            self._counts["todo"] -= 1
        elif outcome in _OK:
            self._counts["done"] += 1
        elif outcome is Outcome.FAILED or outcome is Outcome.CANCELLED:
            self._counts["failed"] += 1
        elif outcome in (Outcome.BLOCKED, Outcome.NOT_RUN):
            self._counts["blocked"] += 1

    def _status(self) -> str:
        c, now = self._counts, time.monotonic()
        running = list(self._running.items())
        queued = max(0, c["todo"] - c["done"] - c["failed"] - c["blocked"] - len(running))
        parts = [f"{c['done']}/{c['todo']} done", f"{len(running)} running", f"{queued} queued"]
        if c["failed"]:
            parts.append(f"{c['failed']} failed")
        names = ", ".join(f"{name} {elapsed(now - since)}" for name, since in running)
        return "pivot: " + " · ".join(parts) + (f" — {names}" if names else "")

    def _ensure_ticker(self) -> None:
        if self._ticker is not None or self.verbosity < 0 or (not self.screen.tty and self.heartbeat <= 0):
            return
        self._ticker = threading.Thread(target=self._tick, name="pivot-status", daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        while True:
            quiet_until = self.screen.last_write + self.heartbeat
            wait = _TICK if self.screen.tty else max(0.05, quiet_until - time.monotonic())
            if self._stop.wait(wait):
                return
            if self.screen.tty:
                self.screen.refresh()
            elif self._running and time.monotonic() - self.screen.last_write >= self.heartbeat:
                now = time.monotonic()
                names = ", ".join(f"'{name}' ({elapsed(now - since)})" for name, since in list(self._running.items()))
                self.screen.lines([f"[pivot] still running: {names}"])


_MARK = {Outcome.RAN: "ok", Outcome.RESTORED: "restored", Outcome.FAILED: "FAILED", Outcome.BLOCKED: "blocked",
         Outcome.CANCELLED: "cancelled", Outcome.UNCHANGED: "unchanged", Outcome.UP_TO_DATE: "up to date",
         Outcome.WOULD_RUN: "would run", Outcome.NOT_RUN: "not run"}
