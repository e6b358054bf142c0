"""pivot-ci: a pipeline runner for projects with many pipelines, built for CI and git hooks.

`Pipeline` is loaded on first use (module `__getattr__`), so that `import pivot_ci` -- paid by every
`pivot` command, `--help` included -- does not import the pipeline layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pivot_ci.pipeline.api import Pipeline

__version__ = "0.1.0"
__all__ = ["Pipeline", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Pipeline":
        from pivot_ci.pipeline.api import Pipeline

        globals()["Pipeline"] = Pipeline  # once: later lookups find it without this function
        return Pipeline
    raise AttributeError(f"module 'pivot_ci' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
