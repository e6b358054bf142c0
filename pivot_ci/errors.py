"""PivotError tree: every error carries the file and line it is about, and a hint, where known."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    INTERNAL = 3
    INTERRUPTED = 130
    TERMINATED = 143


class PivotError(Exception):
    """An expected failure: reported as `Error: <message> (<file>:<line>)` plus a hint line."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.hint = hint

    @property
    def location(self) -> str | None:
        if self.file is None:
            return None
        return f"{self.file}:{self.line}" if self.line else self.file

    def __str__(self) -> str:
        loc = self.location
        return f"{self.message} ({loc})" if loc else self.message


class ConfigError(PivotError):
    """A pipeline file, lock file or setting is invalid."""


class DiscoveryError(PivotError):
    """No project, no pipeline, or a pipeline file that cannot be loaded."""


class GraphError(PivotError):
    """The merged graph is invalid: collisions, overlapping outputs, cycles."""


class TargetError(PivotError):
    """A target names no stage or output."""


class ConfinementError(PivotError):
    """A path pivot would write, delete or restore really lies outside the project (or in .git/)."""


class StateError(PivotError):
    """A lock file, cache object or state database is unreadable or corrupt."""


class LockBusyError(PivotError):
    """Another pivot process holds the lock of a state dir."""

    exit_code = ExitCode.FAILED


class GitError(PivotError):
    """git is missing, the project is not in a repository, or a revision cannot be read."""


class RemoteError(PivotError):
    """A remote is unreachable, refuses a request, or serves something that is not a valid object."""

    exit_code = ExitCode.FAILED


class ClusterError(PivotError):
    """The Dask cluster cannot run this project's stages: unreachable, no workers, or a pre-flight check failed."""
