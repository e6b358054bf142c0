"""What parsing a pipeline file depended on besides its own text: every file it read (by signature) and every
question it asked the filesystem (is this path a directory? does this module exist?) with the answer it got.

A parse that replays to the same answers gives the same PipelineSpec: that is what makes a memoised spec
(pipeline/memo.py) safe to reuse. A file's signature is (size, mtime_ns, ctime_ns, inode); an absent file's is
None. Probes are re-asked exactly as the parser asked them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from pivot_ci.pipeline import modules

Sig = tuple[int, int, int, int]
# ("isdir" | "isfile", absolute path, answer), ("module", module, search dirs, answer), ("installed", module, answer)
Probe = tuple[object, ...]


def signature(path: str) -> Sig | None:
    try:
        s = os.stat(path)
    except (OSError, ValueError):  # ValueError: a NUL byte in the name
        return None
    return s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino


class Inputs:
    """Recorded while one pipeline file is parsed; `files` by absolute path, `probes` in the order asked."""

    __slots__ = ("files", "probes")

    def __init__(self) -> None:
        self.files: dict[str, Sig | None] = {}
        self.probes: list[Probe] = []

    def read(self, path: Path | str) -> None:
        """Call before reading `path`: a change after the stat makes the next run's signature differ."""
        text = os.path.abspath(path)
        self.files[text] = signature(text)

    def isdir(self, path: str) -> bool:
        answer = os.path.isdir(path)
        self.probes.append(("isdir", path, answer))
        return answer

    def isfile(self, path: str) -> bool:
        answer = os.path.isfile(path)
        self.probes.append(("isfile", path, answer))
        return answer

    def module_found(self, module: str, search: Sequence[Path]) -> bool:
        """Whether `module` is project code on `search` or an installed package (the parser's question)."""
        dirs = tuple(str(p) for p in search)
        here = modules.in_project(module, [Path(d) for d in dirs])
        self.probes.append(("module", module, dirs, here))
        if here:
            return True
        there = modules.installed(module)
        self.probes.append(("installed", module, there))
        return there


def probe_holds(probe: Probe) -> bool:
    """Whether asking `probe`'s question again gives the recorded answer (False for an unknown probe)."""
    kind = probe[0]
    if kind == "isdir" and len(probe) == 3 and isinstance(probe[1], str):
        return os.path.isdir(probe[1]) is probe[2]
    if kind == "isfile" and len(probe) == 3 and isinstance(probe[1], str):
        return os.path.isfile(probe[1]) is probe[2]
    if kind == "module" and len(probe) == 4 and isinstance(probe[1], str) and isinstance(probe[2], tuple):
        return modules.in_project(probe[1], [Path(str(d)) for d in probe[2]]) is probe[3]
    if kind == "installed" and len(probe) == 3 and isinstance(probe[1], str):
        return modules.installed(probe[1]) is probe[2]
    return False
