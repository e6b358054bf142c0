"""`.gitignore` lines that pivot owns (`/<name>` for tracked data and cached outputs), edited in place.

The user's lines keep their text and order; ours are appended at the end and removed one by one. Every
write is atomic, so a `.gitignore` is never half-written.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pivot_ci.state import fsutil

FILE_NAME = ".gitignore"
_SPECIAL = frozenset("*?[\\")


def pattern(name: str) -> str:
    """The anchored gitignore line matching exactly the entry `name` of the file's directory."""
    escaped = "".join("\\" + c if c in _SPECIAL else c for c in name)
    if escaped[:1] in ("#", "!"):
        escaped = "\\" + escaped
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return "/" + escaped


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", "surrogateescape")
    except FileNotFoundError:
        return ""


def _write(path: Path, text: str) -> None:
    fsutil.atomic_write(path, text.encode("utf-8", "surrogateescape"))


def add(directory: Path, names: Iterable[str]) -> list[str]:
    """Append `/<name>` for each of `names` not already listed; the lines added."""
    path = directory / FILE_NAME
    text = _read(path)
    present = {line.rstrip("\r") for line in text.split("\n")}
    new = [p for p in dict.fromkeys(pattern(n) for n in names) if p not in present]
    if new:
        sep = "" if not text or text.endswith("\n") else "\n"
        _write(path, text + sep + "".join(line + "\n" for line in new))
    return new


def remove(directory: Path, names: Iterable[str]) -> list[str]:
    """Remove the `/<name>` lines of `names`; the file is deleted when nothing else is left in it."""
    path = directory / FILE_NAME
    text = _read(path)
    if not text:
        return []
    drop = {pattern(n) for n in names}
    lines = text.split("\n")
    kept = [line for line in lines if line.rstrip("\r") not in drop]
    removed = [line.rstrip("\r") for line in lines if line.rstrip("\r") in drop]
    if not removed:
        return []
    rest = "\n".join(kept)
    if not rest.strip():
        path.unlink(missing_ok=True)
    else:
        _write(path, rest)
    return removed
