"""Stage logs: `<state dir>/logs/<stage>.log`, the whole output of a stage's last run, bounded.

The process that runs a stage (pivot itself, or a Dask worker) writes its output to the log as it arrives,
with unbuffered writes, so a log is readable at any moment: while the stage runs, after it failed, after
Ctrl-C and after a `kill -9` of pivot. The first line echoes what ran (`> python clean.py ...`); the last
one (absent after a `kill -9`) says how the stage ended.

Bounds: a log keeps at most `limit` bytes of output (PIVOT_LOG_LIMIT, default 16 MiB): the first quarter and
the last three quarters, with one line in between saying how many bytes were left out. While the stage runs,
the file may hold up to twice the tail before it is compacted, so it never exceeds ~2 x `limit`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from pathlib import Path
from typing import Protocol

from pivot_ci import errors
from pivot_ci.project import Project

LOGS_DIR = "logs"
LIMIT_ENV = "PIVOT_LOG_LIMIT"
DEFAULT_LIMIT = 16 << 20
MIN_LIMIT = 4 << 10
TAIL_TEXT = 64 << 10  # what a result carries of the output (its end): the failure report, JSON events
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_SIZE_RE = re.compile(r"\s*(\d+)\s*([kmg]?)i?b?\s*", re.IGNORECASE)


class Sink(Protocol):
    """Where a stage's output goes live, besides its log (the terminal, JSON events)."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None:
        """The stage ended: nothing more will be written."""
        ...


def log_path(state_dir: Path, stage_name: str) -> Path:
    """The log of the stage declared as `stage_name` in `state_dir`."""
    return state_dir / LOGS_DIR / f"{stage_name}.log"


def display_path(project: Project, state_dir: str, stage_name: str) -> str:
    """The log's path as messages show it: relative to the project root."""
    return project.rel(log_path(project.abs(state_dir), stage_name))


def limit_from_env(environ: dict[str, str] | None = None) -> int:
    """The log limit in bytes from PIVOT_LOG_LIMIT (`16M`, `512K`, `1G`, or plain bytes)."""
    raw = (os.environ if environ is None else environ).get(LIMIT_ENV, "")
    if not raw:
        return DEFAULT_LIMIT
    m = _SIZE_RE.fullmatch(raw)
    if m is None:
        raise errors.ConfigError(f"{LIMIT_ENV}={raw!r} is not a size",
                                 hint=f"a number of bytes, with an optional K, M or G suffix: {LIMIT_ENV}=16M")
    return max(MIN_LIMIT, int(m.group(1)) * _UNITS[m.group(2).lower()])


@dataclasses.dataclass(frozen=True, slots=True)
class LogSpec:
    """Where a stage's log goes and what it starts with; plain values, so it travels to a Dask worker."""

    path: str  # absolute
    header: str  # the command echo, without the `> `
    limit: int = DEFAULT_LIMIT


class LogWriter:
    """Writes one run of a stage to its log (bounded) and hands every chunk to a live sink."""

    def __init__(self, spec: LogSpec, sink: Sink | None = None) -> None:
        self._sink = sink
        self._head = spec.limit // 4
        self._tail = spec.limit - self._head
        self._written = 0  # output bytes in the head
        self._cut_at = -1  # file offset where the head ends, once it is full
        self._region = 0  # bytes after the head (the marker line, then the tail)
        self._dropped = 0
        self._recent = bytearray()
        self.problem: str | None = None
        path = Path(spec.path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            self._fd = -1
            self.problem = f"cannot write the log {path}: {exc.strerror or exc}"
            return
        self._raw_write("".join(f"> {line}\n" for line in spec.header.splitlines() or [""]).encode())

    def write(self, data: bytes) -> None:
        """One chunk of the stage's output, as it arrives: first to the log, then to the sink."""
        self._log(data)
        if self._sink is not None:
            try:
                self._sink.write(data)
            except OSError:  # the terminal went away (a closed pipe): the stage runs on, its log keeps all
                self._sink = None

    def _log(self, data: bytes) -> None:
        self._recent += data
        if len(self._recent) > 2 * TAIL_TEXT:
            del self._recent[:-TAIL_TEXT]
        if self._fd < 0:
            return
        if self._cut_at < 0:
            room = self._head - self._written
            if len(data) <= room:
                self._raw_write(data)
                self._written += len(data)
                return
            self._raw_write(data[:room])
            self._written += room
            if self._fd < 0:
                return
            self._cut_at = os.lseek(self._fd, 0, os.SEEK_CUR)
            data = data[room:]
        self._raw_write(data)
        self._region += len(data)
        if self._fd >= 0 and self._region > 2 * self._tail:
            self._compact()

    def tail(self) -> str:
        """The end of the output (at most TAIL_TEXT bytes), for results and failure reports."""
        text = bytes(self._recent[-TAIL_TEXT:]).decode("utf-8", "replace")
        if self.problem:
            text += f"{'' if not text or text.endswith(chr(10)) else chr(10)}[pivot] {self.problem}\n"
        return text

    def close(self, footer: str) -> None:
        """The stage ended (`footer` says how): compact to the bound, close the file, then the sink."""
        try:
            if self._fd >= 0:
                if self._cut_at >= 0 and self._region - (len(self._marker()) if self._dropped else 0) > self._tail:
                    self._compact()
                self._raw_write(f"{'' if self._ends_line() else chr(10)}[pivot] {footer}\n".encode())
        finally:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            if self._sink is not None:
                with contextlib.suppress(OSError):
                    self._sink.close()

    def _ends_line(self) -> bool:
        return not self._recent or self._recent.endswith(b"\n")

    def _marker(self) -> bytes:
        return (f"\n[pivot] ... {self._dropped:,} bytes of output left out here: the log keeps the first "
                f"{self._head:,} and the last {self._tail:,} bytes ({LIMIT_ENV}) ...\n").encode()

    def _compact(self) -> None:
        """Keep the last `tail` bytes after the head (from a line start), behind a marker of what was dropped."""
        keep = min(self._region, self._tail)
        end = self._cut_at + self._region
        data = os.pread(self._fd, keep, end - keep)
        newline = data.find(b"\n", 0, 4096)
        if 0 <= newline < len(data) - 1:
            data = data[newline + 1:]
        old_marker = len(self._marker()) if self._dropped else 0
        self._dropped += self._region - old_marker - len(data)
        marker = self._marker()
        try:
            os.ftruncate(self._fd, self._cut_at)
            os.lseek(self._fd, self._cut_at, os.SEEK_SET)
        except OSError as exc:
            self._fail(exc)
            return
        self._raw_write(marker + data)
        self._region = len(marker) + len(data)

    def _raw_write(self, data: bytes) -> None:
        if self._fd < 0:
            return
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:  # a full disk must not fail the stage: the live output still shows it
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        self.problem = f"the log stopped being written: {exc.strerror or exc}"
        os.close(self._fd)
        self._fd = -1


def read(path: Path) -> bytes | None:
    """A log's bytes; None when the stage has no log (it never ran since logs exist)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
