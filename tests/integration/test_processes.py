"""Stage processes: a dying worker takes only its own stage; nothing outlives pivot, even after kill -9."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from tests.support import procs
from tests.support.factory import Project


def _wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_a_dying_worker_fails_only_its_own_stage(project: Project) -> None:
    project.write("p/pipeline.py", """
        import ctypes, os, pathlib, time

        from pivot_ci import Pipeline

        pipeline = Pipeline()


        def _wait(name):
            while not pathlib.Path(name).exists():
                time.sleep(0.02)


        @pipeline.stage(outs=["a.txt"])
        def a():
            _wait("started.b")
            print("a says goodbye")
            os._exit(3)


        @pipeline.stage(outs=["b.txt"])
        def b():
            pathlib.Path("started.b").write_text("")
            time.sleep(0.5)
            pathlib.Path("b.txt").write_text("b\\n")


        @pipeline.stage(outs=["c.txt"])
        def c():
            print("c segfaults")
            ctypes.string_at(0)


        @pipeline.stage(outs=["d.txt"])
        def d():
            pathlib.Path("d.txt").write_text("d\\n")


        @pipeline.stage(deps=["b.txt"], outs=["e.txt"])
        def e():
            pathlib.Path("e.txt").write_text(open("b.txt").read() + "e\\n")
        """)
    out = project.run("repro", "-j", "2", "--keep-going", "--json", cwd="p")
    assert out.code == 1, out
    events = {e["stage"]: e for e in map(json.loads, out.stdout.splitlines())
              if e["event"] == "stage_finished"}
    assert events["a"]["outcome"] == "failed"
    assert "exited with code 3" in events["a"]["error"]
    assert "a says goodbye" in events["a"]["output"]
    assert events["c"]["outcome"] == "failed"
    assert "SIGSEGV" in events["c"]["error"] and "c segfaults" in events["c"]["output"]
    # the innocent stages ran (beside the dying ones, and after them in fresh workers)
    assert {s: events[s]["outcome"] for s in "bde"} == {"b": "ran", "d": "ran", "e": "ran"}
    assert project.read("p/e.txt") == "b\ne\n"
    assert "Internal error" not in out.stderr and "BrokenProcessPool" not in out.stdout + out.stderr


def test_nothing_outlives_a_killed_pivot(project: Project) -> None:
    project.write("p/pipeline.py", """
        import os, pathlib, subprocess, time

        from pivot_ci import Pipeline

        pipeline = Pipeline()


        @pipeline.stage(outs=["py.txt"])
        def py():
            child = subprocess.Popen(["sleep", "60"])
            pathlib.Path("py.pid").write_text(f"{os.getpid()} {child.pid}")
            time.sleep(60)
            pathlib.Path("py.txt").write_text("late\\n")


        pipeline.command("sh", cmd="sleep 60 & echo $$ $! > sh.pid; wait; echo late > sh.txt", outs=["sh.txt"])
        """)
    tag = uuid.uuid4().hex
    proc = project.popen("repro", "-j", "2", cwd="p", env={"PIVOT_TEST_TAG": tag})
    try:
        _wait_for(project.root / "p/py.pid")
        _wait_for(project.root / "p/sh.pid")
        time.sleep(0.2)
        assert len(procs.tagged(tag)) >= 6  # pivot, watchdog, worker + its child, shell + its child
    finally:
        left = procs.kill_run(proc, tag, 15)
    assert left == [], "processes of the killed run are still alive"
    time.sleep(0.3)
    assert not project.exists("p/py.txt") and not project.exists("p/sh.txt")


def test_a_command_leaves_nothing_running(project: Project) -> None:
    project.write("p/pivot.yaml", """
        stages:
          s:
            cmd: (sleep 60 > /dev/null 2>&1 &) ; echo done > s.txt
            outs: [s.txt]
        """)
    tag = uuid.uuid4().hex
    try:
        project.run("repro", cwd="p", env={"PIVOT_TEST_TAG": tag}).ok()
        assert procs.wait_none_tagged(tag, 10) == []
    finally:
        procs.kill_tagged(tag)


def test_a_command_dies_with_pivot_by_the_kernel_too(project: Project) -> None:
    """Besides the watchdog, the shell of a `cmd` stage carries the parent-death signal (SIGKILL) from its
    first instruction: the stage's shell execs a program that asks the kernel which signal it carries."""
    project.write("p/sig.py", """
        import ctypes
        v = ctypes.c_int()
        ctypes.CDLL(None).prctl(2, ctypes.byref(v))  # PR_GET_PDEATHSIG
        open("sig.txt", "w").write(str(v.value))
        """)
    project.write("p/pivot.yaml", """
        stages:
          s:
            cmd: exec python3 sig.py
            deps: [sig.py]
            outs: [sig.txt]
        """)
    project.run("repro", cwd="p").ok()
    assert project.read("p/sig.txt") == "9"  # PR_GET_PDEATHSIG: SIGKILL
