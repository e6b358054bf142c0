"""`verify --staged` (git pre-commit hooks): lock files the commit would not contain fail, naming `git add`.

The plain git hook sees the working tree: a lock file pivot rewrote but nobody staged looks up to date
there, yet the commit lacks it. The pre-commit framework stashes unstaged changes before running hooks, so
the hook sees the index's (older) lock file and the stage looks stale, although `repro` has nothing to
do: the lock pivot last wrote (kept in the state dir) would make it up to date. Both are failures whose fix
is `git add <lock file>` (paths relative to the repository top, as git shows them).
"""

from __future__ import annotations

import dataclasses

from pivot_ci.dag.load import Loaded
from pivot_ci.engine import check, status
from pivot_ci.engine.access import StateAccess
from pivot_ci.state import runlog


@dataclasses.dataclass(frozen=True, slots=True)
class GitState:
    """What git says about the selected stages' lock files, found by the CLI before the check."""

    unstaged: frozenset[str]  # project-relative lock files with changes not staged, or untracked
    stashed: bool  # the pre-commit framework stashed unstaged changes before running us
    prefix: str = ""  # the project root relative to the repository top ("" or ending in "/"), for `git add`


def _written_would_pass(loaded: Loaded, access: StateAccess, s: check.StageCheck) -> bool:
    """Whether the lock pivot last wrote differs from the lock file here and would make the stage pass."""
    spec = s.spec
    written = runlog.written(access.state_dir(spec.state_dir), spec.name)
    if written is None:
        return False
    raw, data = written
    try:
        if access.lock_path(spec).read_bytes() == raw:
            return False  # the lock here is pivot's own: the stage is stale for real
    except OSError:
        return False  # no lock file here: adding one to the index would not bring it back
    own = status.own_check(access, loaded.graph, spec, locked=data)
    return not own.reasons


def _unstaged(s: check.StageCheck, prefix: str) -> check.StageCheck:
    lock = s.lock_file
    st = dataclasses.replace(s.status, reasons=(status.Reason(status.ReasonKind.LOCK_UNSTAGED, lock),))
    return dataclasses.replace(s, status=st, passed=False, failure=check.Failure.STALE,
                               fix=f"git add {prefix}{lock}")


def apply(report: check.CheckReport, loaded: Loaded, access: StateAccess, git: GitState) -> check.CheckReport:
    """The report with each stage whose lock file the commit would lack failed, and a note naming them all."""
    locks: list[str] = []
    pipelines = []
    for p in report.pipelines:
        stages = []
        for s in p.stages:
            # a stage failing for other reasons keeps them: staging its lock would not fix it
            here = s.passed and s.lock_file in git.unstaged and access.lock_path(s.spec).is_file()
            if here or (git.stashed and s.status.stale and not s.status.only_upstream
                        and _written_would_pass(loaded, access, s)):
                s = _unstaged(s, git.prefix)
                locks.append(git.prefix + s.lock_file)
            stages.append(s)
        pipelines.append(dataclasses.replace(p, stages=tuple(stages)))
    if not locks:
        return report
    n = len(locks)
    note = (f"{n} lock file{'s are' if n > 1 else ' is'} not staged, so the commit would not contain "
            f"{'them' if n > 1 else 'it'}: git add {' '.join(locks)}")
    return dataclasses.replace(report, pipelines=tuple(pipelines), notes=(*report.notes, note))
