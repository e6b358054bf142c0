"""Checks before anything runs on a cluster: every worker sees the project and runs this pivot-ci, and every
stage's resources are offered by some worker. Each failure is a ClusterError (exit 2) naming the worker or
the stage; these functions take plain values (what `Client.run` and `Client.scheduler_info` return)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pivot_ci
from pivot_ci.errors import ClusterError
from pivot_ci.pipeline import model

_INSTALL_HINT = f"install pivot-ci=={pivot_ci.__version__} in the workers' environment (pip install 'pivot-ci[dask]')"
_SHARED_HINT = ("workers need the project on a shared filesystem, mounted at the same absolute path as here "
                "(or start the workers in a checkout at that path)")


def _more(problems: list[ClusterError]) -> ClusterError:
    first = problems[0]
    if len(problems) == 1:
        return first
    return ClusterError(f"{first.message} (and {len(problems) - 1} more problems like it)", hint=first.hint)


def check_workers(probes: Mapping[str, Any], token: str, root: str) -> None:
    """`probes`: worker address -> the result of task.probe there, or the exception it raised."""
    problems: list[ClusterError] = []
    for address, seen in sorted(probes.items()):
        if isinstance(seen, BaseException):
            problems.append(ClusterError(
                f"worker {address} cannot run pivot-ci's stage task: {type(seen).__name__}: {seen}",
                hint=_INSTALL_HINT))
        elif seen["version"] != pivot_ci.__version__:
            problems.append(ClusterError(
                f"worker {address} runs pivot-ci {seen['version']}, this is pivot-ci {pivot_ci.__version__}",
                hint=_INSTALL_HINT))
        elif seen["token"] != token:
            why = seen["problem"] or "a different directory is there"
            problems.append(ClusterError(
                f"worker {address} (host {seen['host']}) does not see this project at {root}: {why}",
                hint=_SHARED_HINT))
        elif seen["problem"]:
            problems.append(ClusterError(
                f"worker {address} (host {seen['host']}) cannot write to the project at {root}: {seen['problem']}",
                hint="stages write their outputs there: give the workers' user write access"))
    if problems:
        raise _more(problems)


def _fmt(resources: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in sorted(resources.items())) or "none"


def offers(worker_resources: Mapping[str, float], needs: Mapping[str, float]) -> bool:
    return all(worker_resources.get(name, 0) >= amount for name, amount in needs.items())


def check_resources(workers: Mapping[str, Mapping[str, float]], stages: Sequence[model.StageSpec]) -> None:
    """`workers`: address -> the resources it offers. Each stage needs one worker offering all of its own."""
    for st in stages:
        if st.resources and not any(offers(res, st.resources) for res in workers.values()):
            offered = "; ".join(f"{a}: {_fmt(r)}" for a, r in sorted(workers.items()))
            raise ClusterError(
                f"stage '{st.name}' needs resources {_fmt(st.resources)}, which no worker offers "
                f"(workers: {offered})", file=st.pipeline_file, line=st.line,
                hint=f"start a worker with `dask worker SCHEDULER --resources \"{_fmt(st.resources)}\"`, "
                     "or change the stage's `resources:`")


def no_workers(address: str, waited: float) -> ClusterError:
    return ClusterError(f"no Dask worker is connected to the scheduler at {address} (waited {waited:g}s)",
                        hint="start workers: dask worker ADDRESS (in an environment with pivot-ci, "
                             "with the project at the same path)")
