"""The cluster misbehaves or the user interrupts: a worker killed mid-stage, Ctrl-C / SIGTERM, pre-flight
errors (no workers, a worker without the project, another pivot-ci version), an unreachable scheduler."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

import pivot_ci
from tests.support import procs
from tests.support.dask_cluster import Cluster, WorkerSpec
from tests.support.factory import Project
from tests.support.s3server import free_port

pytestmark = pytest.mark.xdist_group("dask")

# Records where and as which process it runs, then sleeps, then writes its output.
SLOW = """
import os, pathlib, sys, time
pathlib.Path("attempts").mkdir(exist_ok=True)
pathlib.Path("attempts", str(os.getpid())).write_text(os.environ["PIVOT_DASK_WORKER"])
time.sleep(float(sys.argv[2]))
pathlib.Path(sys.argv[1]).write_text("done\\n")
"""


def _wait_files(folder: Path, n: int, timeout: float = 60) -> list[Path]:
    deadline = time.monotonic() + timeout
    while len(found := sorted(folder.glob("*")) if folder.exists() else []) < n:
        assert time.monotonic() < deadline, f"{n} files never appeared in {folder}"
        time.sleep(0.05)
    return found


def _attempts(p: Project) -> dict[int, str]:
    """pid -> worker address of every start of a SLOW stage."""
    return {int(f.name): f.read_text() for f in (p.root / "p/attempts").iterdir()}


def test_a_worker_killed_mid_stage_runs_it_again_elsewhere(project: Project, dask_cluster: Cluster) -> None:
    project.write("p/slow.py", SLOW)
    project.write("p/pivot.yaml", """
        stages:
          slow:
            cmd: python slow.py out.txt 3
            deps: [slow.py]
            outs: [out.txt]
        """)
    proc = project.popen("repro", "--json", "--executor", "dask", "--scheduler", dask_cluster.address, cwd="p")
    try:
        first = _wait_files(project.root / "p/attempts", 1)[0]
        victim = first.read_text()
        os.kill(dask_cluster.worker_pids()[victim], signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    try:
        assert procs.wait_gone(int(first.name), 10), "the killed worker's stage outlived it"
        assert proc.returncode == 0, err
        (event,) = [e for e in map(json.loads, out.splitlines()) if e["event"] == "stage_finished"]
        assert event["outcome"] == "ran" and event["worker"] != victim
        assert f"ran again after losing {victim}" in event["output"]
        assert len(_attempts(project)) == 2
        project.run("verify", cwd="p").ok()  # the lock names the outputs on disk
        again = project.run("repro", "--scheduler", dask_cluster.address, cwd="p").ok()
        assert "Running" not in again.stderr
    finally:
        dask_cluster.wait_workers(2)  # the nanny brings the worker back for the next tests


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupting_a_cluster_run_kills_its_stages_on_the_workers(
        project: Project, dask_cluster: Cluster, sig: int, code: int) -> None:
    project.write("p/slow.py", SLOW)
    project.write("p/pivot.yaml", """
        stages:
          a:
            cmd: python slow.py a.txt 60
            outs: [a.txt]
          b:
            cmd: python slow.py b.txt 60
            outs: [b.txt]
          quick:
            cmd: echo quick > quick.txt
            outs: [quick.txt]
          after:
            cmd: cat a.txt > after.txt
            deps: [a.txt]
            outs: [after.txt]
        """)
    proc = project.popen("repro", "--executor", "dask", "--scheduler", dask_cluster.address, cwd="p")
    try:
        _wait_files(project.root / "p/attempts", 2)
        deadline = time.monotonic() + 30
        while not project.exists("p/.pivot/stages/quick.lock"):
            assert time.monotonic() < deadline, "the quick stage never finished"
            time.sleep(0.05)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    for pid in _attempts(project):
        assert procs.wait_gone(pid, 10), "a stage was left running on a worker"
    assert project.exists("p/.pivot/stages/quick.lock")
    for name in ("a", "b", "after"):
        assert not project.exists(f"p/.pivot/stages/{name}.lock")
    deadline = time.monotonic() + 30
    while dask_cluster.busy():
        assert time.monotonic() < deadline, f"tasks left on the workers: {dask_cluster.busy()}"
        time.sleep(0.1)


def _fake_version(root: Path) -> Path:
    """A copy of this pivot-ci that says it is another version, for a worker's PYTHONPATH."""
    dest = root / "site"
    shutil.copytree(Path(pivot_ci.__file__).parent, dest / "pivot_ci",
                    ignore=shutil.ignore_patterns("__pycache__"))
    init = dest / "pivot_ci" / "__init__.py"
    init.write_text(init.read_text().replace(f'"{pivot_ci.__version__}"', '"0.0.1.dev0"'))
    return dest


def test_preflight_stops_before_anything_runs(project: Project, tmp_path: Path) -> None:
    project.write("p/pivot.yaml", """
        stages:
          s:
            cmd: echo s > s.txt
            outs: [s.txt]
        """)
    cluster = Cluster(workers=()).start()
    try:
        project.write(".pivot/config.yaml", f"""
            executor:
              kind: dask
              scheduler_file: {cluster.scheduler_file}
              timeout: 2
            """)
        lonely = project.run("repro", cwd="p")
        assert lonely.code == 2, lonely
        assert f"no Dask worker is connected to the scheduler at the scheduler of {cluster.scheduler_file}" \
            in lonely.stderr

        # a worker whose filesystem has no project: an empty tmpfs over the project's parent directory
        hide = ("unshare", "--user", "--map-root-user", "--mount", "--propagation", "private",
                "sh", "-c", f'mount -t tmpfs tmpfs "{tmp_path}" && exec "$@"', "hide")
        cluster.add(WorkerSpec("elsewhere", prefix=hide))
        cluster.wait_workers(1)
        blind = project.run("repro", cwd="p")
        assert blind.code == 2, blind
        assert f"does not see this project at {project.root}: No such file or directory" in blind.stderr
        assert "shared filesystem" in blind.stderr
        cluster.stop_worker("elsewhere")
        cluster.wait_workers(0)

        cluster.add(WorkerSpec("old", env={"PYTHONPATH": str(_fake_version(tmp_path / "fake"))}))
        cluster.wait_workers(1)
        old = project.run("repro", cwd="p")
        assert old.code == 2, old
        assert f"runs pivot-ci 0.0.1.dev0, this is pivot-ci {pivot_ci.__version__}" in old.stderr
        assert not project.exists("p/s.txt")
    finally:
        cluster.close()


def test_an_unreachable_scheduler_is_an_error_not_a_hang(project: Project) -> None:
    project.write("p/pivot.yaml", """
        stages:
          s:
            cmd: echo s > s.txt
            outs: [s.txt]
        """)
    project.write(".pivot/config.yaml", "executor: {timeout: 1}\n")
    address = f"tcp://127.0.0.1:{free_port()}"
    down = project.run("repro", "--scheduler", address, cwd="p")
    assert down.code == 2, down
    assert f"cannot reach the Dask scheduler at {address} (--scheduler) within 1s" in down.stderr
    assert "Traceback" not in down.stderr and not project.exists("p/s.txt")


def test_stages_of_a_killed_pivot_process_are_stopped_by_their_workers(
        project: Project, dask_cluster: Cluster) -> None:
    project.write("p/slow.py", SLOW)
    project.write("p/pivot.yaml", """
        stages:
          slow:
            cmd: python slow.py out.txt 60
            outs: [out.txt]
        """)
    proc = project.popen("repro", "--scheduler", dask_cluster.address, cwd="p")
    try:
        stage = int(_wait_files(project.root / "p/attempts", 1)[0].name)
        proc.kill()  # SIGKILL: no chance to cancel anything; Dask releases its tasks
        proc.wait(30)
    finally:
        proc.kill()
    assert procs.wait_gone(stage, 30), "the stage outlived the pivot process that started it"
    assert not project.exists("p/.pivot/stages/slow.lock") and not project.exists("p/out.txt")


def test_stages_restored_from_the_run_cache_never_contact_the_cluster(project: Project) -> None:
    project.write("p/pivot.yaml", """
        stages:
          s:
            cmd: echo s > s.txt
            outs: [s.txt]
        """)
    project.run("repro", cwd="p").ok()  # locally: records a run-cache entry
    (project.root / "p/.pivot/stages/s.lock").unlink()
    (project.root / "p/s.txt").unlink()
    restored = project.run("repro", "--scheduler", f"tcp://127.0.0.1:{free_port()}", cwd="p").ok()
    assert "'s' restored from" in restored.stderr and project.read("p/s.txt") == "s\n"
