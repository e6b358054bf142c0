"""Interrupting repro never leaves a half-written lock or cache object; two runs never collide."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
import yaml

from tests.support import procs
from tests.support.factory import Project

SLOW = """
import os, pathlib, sys, time
pathlib.Path(sys.argv[1]).write_text(str(os.getpid()))
time.sleep(float(sys.argv[2]))
pathlib.Path(sys.argv[3]).write_text("done\\n")
"""


def _wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _slow_project(p: Project, seconds: float) -> None:
    p.write("p/slow.py", SLOW)
    p.write("p/pivot.yaml", f"""
        stages:
          fast:
            cmd: echo fast > fast.txt
            outs: [fast.txt]
          slow:
            cmd: python slow.py slow.pid {seconds} slow.txt
            deps: [fast.txt, slow.py]
            outs: [slow.txt]
        """)


def _assert_state_is_clean(p: Project) -> None:
    for lock in p.root.rglob("*.lock"):
        if lock.parent.name == "stages":
            data = yaml.safe_load(lock.read_text())
            assert isinstance(data, dict) and data["schema"] == 1, lock
    leftovers = [f for f in (p.root / ".pivot").rglob("*") if f.name.endswith(".tmp")]
    leftovers += [f for f in (p.root / "p/.pivot").rglob("*") if f.name.endswith(".tmp")]
    assert leftovers == []


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_a_stage_stops_it_and_keeps_finished_locks(project: Project, sig: int, code: int) -> None:
    _slow_project(project, 60)
    proc = project.popen("repro", cwd="p")
    try:
        _wait_for(project.root / "p/slow.pid")
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert project.exists("p/.pivot/stages/fast.lock")
    assert not project.exists("p/.pivot/stages/slow.lock")  # never marked done
    child = int(project.read("p/slow.pid"))
    assert procs.wait_gone(child, 10), "the stage's process was left running"
    _assert_state_is_clean(project)
    # the interrupted stage is still stale, and a rerun completes it
    st = project.stage_json(project.run("status", "--json", cwd="p"))
    assert st["slow"]["status"] == "stale" and st["fast"]["status"] == "up_to_date"


def test_interrupting_a_python_stage_terminates_the_worker(project: Project) -> None:
    project.write("p/pipeline.py", """
        import os, pathlib, time

        from pivot_ci import Pipeline

        pipeline = Pipeline()


        @pipeline.stage(outs=["o.txt"])
        def sleepy():
            pathlib.Path("worker.pid").write_text(str(os.getpid()))
            time.sleep(60)
            pathlib.Path("o.txt").write_text("x")
        """)
    proc = project.popen("repro", cwd="p")
    try:
        _wait_for(project.root / "p/worker.pid")
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130
    worker = int(project.read("p/worker.pid"))
    assert procs.wait_gone(worker, 10), "the worker process was left running"
    assert not project.exists("p/.pivot/stages/sleepy.lock")


def test_second_repro_waits_for_the_first(project: Project) -> None:
    _slow_project(project, 5)
    first = project.popen("repro", cwd="p")
    try:
        _wait_for(project.root / "p/slow.pid")
        second = project.run("repro", "-v", cwd="p", timeout=60)
        first_out, first_err = first.communicate(timeout=60)
    finally:
        first.kill()
    assert first.returncode == 0, first_err
    assert second.code == 0, second
    assert "Waiting for another pivot process" in second.stderr
    assert "Running" not in second.stderr  # the first run did the work; the second saw it done
    _assert_state_is_clean(project)


def test_cache_objects_are_complete_and_read_only(multi: Project) -> None:
    multi.run("repro", "--all").ok()
    objects = [f for f in (multi.root / ".pivot/cache").rglob("*") if f.is_file()]
    assert objects and not [f for f in objects if f.name.endswith(".tmp")]
    assert all((f.stat().st_mode & 0o222) == 0 for f in objects)
