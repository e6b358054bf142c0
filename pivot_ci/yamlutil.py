"""YAML shared by pipeline files and lock files: the fastest loader/dumper, one-line error messages."""

from __future__ import annotations

import yaml

Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def problem(exc: yaml.YAMLError, text: str) -> tuple[str, int | None]:
    """A one-line description of a YAML error and the line it is at (str(exc) spans several lines)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        return exc.problem or exc.context or "invalid YAML", None if mark is None else int(mark.line) + 1
    if isinstance(exc, yaml.reader.ReaderError):
        # libyaml reports a byte offset, the pure-Python reader a character offset
        if Loader is yaml.SafeLoader:
            line = text.count("\n", 0, exc.position) + 1
        else:
            line = text.encode("utf-8").count(b"\n", 0, exc.position) + 1
        what = f"unacceptable character #x{exc.character:04x}" if isinstance(exc.character, int) else "bad input"
        return f"{what}: {exc.reason}", line
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__, None
