"""`pivot repro --watch`: a real watcher process on a real project, every wait bounded, always shut down."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support import factory, procs, trackdata
from tests.support.factory import Project

TIMEOUT = 20.0
WATCHING = "Watching for changes"


class Watcher:
    """A `pivot repro --watch` process whose stderr is read line by line in a background thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.transcript: list[str] = []
        assert proc.stderr is not None and proc.stdout is not None
        threading.Thread(target=self._read, args=(proc.stderr,), daemon=True).start()
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # never let a full pipe block it

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, pattern: str, timeout: float = TIMEOUT) -> list[str]:
        """The lines read up to and including the first one matching `pattern`."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                raise AssertionError(f"no line matching {pattern!r} within {timeout}s; "
                                     "output so far:\n" + "\n".join(self.transcript))
            self.transcript.append(line)
            seen.append(line)
            if re.search(pattern, line):
                return seen

    def cycle(self, pattern: str) -> list[str]:
        """The lines of one cycle: from the one matching `pattern` until the watcher waits again."""
        seen = self.wait_for(pattern)[-1:]
        return seen + self.wait_for(WATCHING)

    def stop(self, sig: int = signal.SIGINT) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=TIMEOUT)


def ran(lines: list[str]) -> list[str]:
    """Names of the stages a cycle ran, in order."""
    return [m.group(1) for line in lines if (m := re.match(r"Running '([^']+)'", line))]


@pytest.fixture
def watch_multi(multi: Project) -> Iterator[tuple[Project, Watcher]]:
    """`factory.multi` plus an independent pipeline, watched with --all; the initial run done."""
    multi.write("other/in.txt", "1\n")
    multi.write("other/pivot.yaml", """
        stages:
          count:
            cmd: python ../tools/copy.py in.txt count.txt
            deps: [in.txt, ../tools/copy.py]
            outs: [count.txt]
        """)
    proc = multi.popen("repro", "--watch", "--all", "--debounce", "200")
    try:
        w = Watcher(proc)
        initial = w.wait_for(WATCHING)
        assert sorted(ran(initial)) == ["clean", "count", "train", "tune/report", "tune/train"]
        yield multi, w
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=TIMEOUT)


def test_editing_a_dep_reruns_exactly_the_affected_stages_across_pipelines(
        watch_multi: tuple[Project, Watcher]) -> None:
    p, w = watch_multi
    p.write("prep/raw.txt", "new raw data\n")
    lines = w.cycle("prep/raw.txt changed")
    assert lines[0] == "prep/raw.txt changed: running clean, train, tune/train, tune/report"
    assert ran(lines) == ["clean", "train", "tune/train", "tune/report"]  # not `count`
    assert "new raw data" in p.read("tune/report.txt")
    p.write("other/in.txt", "2\n")
    lines = w.cycle("other/in.txt changed")
    assert ran(lines) == ["count"]
    assert p.read("other/count.txt") == "2\n"


def test_editing_a_python_helper_reruns_its_stage_and_downstream(watch_multi: tuple[Project, Watcher]) -> None:
    p, w = watch_multi
    p.write("train/helpers.py", """
        def scale(x):
            return x * 3
        """)
    lines = w.cycle("train/helpers.py changed")
    assert ran(lines) == ["train", "tune/train", "tune/report"]
    assert "lr=1.5" in p.read("train/model.txt")
    # reformatting and comments leave the fingerprint alone: nothing runs
    p.write("train/helpers.py", """
        # scale it
        def scale(x):
            return x   *   3
        """)
    lines = w.cycle("train/helpers.py changed")
    assert lines[0] == "train/helpers.py changed: nothing to run" and ran(lines) == []


def test_a_new_pipeline_directory_runs_its_stages_and_nothing_else(watch_multi: tuple[Project, Watcher]) -> None:
    p, w = watch_multi
    p.write("extra/deeper/pivot.yaml", """
        pipeline: extra
        stages:
          hello:
            cmd: python ../../tools/copy.py ../../prep/clean.txt hello.txt
            deps: [../../prep/clean.txt]
            outs: [hello.txt]
        """)
    lines = w.cycle("extra/deeper/pivot.yaml changed")
    assert lines[0] == "extra/deeper/pivot.yaml changed: reloading 5 pipelines"
    assert "running hello" in lines and ran(lines) == ["hello"]
    assert p.exists("extra/deeper/hello.txt")
    # the new pipeline is part of the graph now: its upstream's changes reach it
    p.write("prep/raw.txt", "again\n")
    assert sorted(ran(w.cycle("prep/raw.txt changed"))) == ["clean", "hello", "train", "tune/report", "tune/train"]


def test_a_broken_pipeline_file_keeps_the_last_good_graph_until_fixed(watch_multi: tuple[Project, Watcher]) -> None:
    p, w = watch_multi
    good = p.read("other/pivot.yaml")
    p.write("other/pivot.yaml", "stages:\n  count: [\n")
    lines = w.cycle("other/pivot.yaml changed")
    assert any(re.match(r"Error: malformed YAML: .* \(other/pivot\.yaml:\d+\)$", line) for line in lines), lines
    assert w.proc.poll() is None
    # the last good graph still runs
    p.write("prep/raw.txt", "while broken\n")
    assert ran(w.cycle("prep/raw.txt changed")) == ["clean", "train", "tune/train", "tune/report"]
    # fixing it resumes, and the fixed pipeline's changed stage runs
    p.write("other/pivot.yaml", good.replace("in.txt count.txt", "in.txt count.txt +fixed"))
    lines = w.cycle("other/pivot.yaml changed")
    assert lines[0] == "other/pivot.yaml changed: reloading 4 pipelines"
    assert ran(lines) == ["count"]
    assert p.read("other/count.txt") == "1\n+fixed"


def test_outputs_pivot_state_and_editor_files_trigger_nothing(watch_multi: tuple[Project, Watcher]) -> None:
    p, w = watch_multi
    p.write("prep/clean.txt", "hand-edited output\n")  # an output: the stages' own business
    p.write("prep/.raw.txt.swp", "x")
    p.write("prep/raw.txt~", "x")
    p.write("prep/4913", "x")
    p.write(".pivot/tmp/scratch", "x")
    p.write("prep/.pivot/note", "x")
    p.write("other/in.txt", "3\n")  # the one change that matters, last
    lines = w.cycle(r"changed")
    assert lines[0] == "other/in.txt changed: running count", w.transcript


def test_without_all_the_current_pipeline_and_its_producers_are_watched(multi: Project) -> None:
    proc = multi.popen("repro", "--watch", "--debounce", "200", cwd="train")
    try:
        w = Watcher(proc)
        assert ran(w.wait_for(WATCHING)) == ["clean", "train"]
        multi.write("prep/raw.txt", "upstream edit\n")  # the producer's input
        assert ran(w.cycle("prep/raw.txt changed: running clean, train")) == ["clean", "train"]
        # another pipeline's file is not ours to watch: the next line is the train change's
        multi.write("tune/pipeline.py", multi.read("tune/pipeline.py") + "\n# edited\n")
        multi.write("train/pivot.yaml", multi.read("train/pivot.yaml").replace("0.5", "0.25"))
        lines = w.cycle("changed")
        assert lines[:2] == ["train/pivot.yaml changed: reloading 2 pipelines", "running train"], lines
        assert ran(lines) == ["train"]
        assert not multi.exists("tune/result.txt")
    finally:
        proc.kill()
        proc.wait(timeout=TIMEOUT)


def test_a_stage_rewriting_its_own_input_does_not_loop(project: Project) -> None:
    project.write("p/tick.py", """
        import time
        open("seed.txt", "w").write(str(time.time_ns()))  # its own input, undeclared as an output
        open("o.txt", "w").write("o")
        """)
    project.write("p/pivot.yaml", """
        stages:
          tick:
            cmd: python tick.py
            deps: [seed.txt]
            outs: [o.txt]
        """)
    project.write("p/seed.txt", "0")  # a dependency that exists nowhere would never let the stage start
    proc = project.popen("repro", "--watch", "--debounce", "200", cwd="p")
    try:
        w = Watcher(proc)
        w.wait_for(WATCHING)
        w.cycle("p/seed.txt changed: running tick")  # its write during the first run is taken once
        w.wait_for("not re-running again")
        with pytest.raises(AssertionError):
            w.wait_for("Running", timeout=1.5)
        assert w.stop() == 130
    finally:
        proc.kill()
        proc.wait(timeout=TIMEOUT)


def test_tracked_data_changes_rerun_its_dependents_and_track_reloads(tmp_path: Path) -> None:
    p = trackdata.data_project(tmp_path / "proj")
    p.run("track", "data/raw.csv", "data/images").ok()
    proc = p.popen("repro", "--watch", "--all", "--debounce", "200")
    try:
        w = Watcher(proc)
        assert sorted(ran(w.wait_for(WATCHING))) == ["count", "first"]
        p.write("data/images/a/0.txt", "new image\n")  # inside a tracked directory
        lines = w.cycle("data/images/a/0.txt changed")
        assert lines[0] == "data/images/a/0.txt changed: running count, first", lines
        assert any("data/images differs from data/images.pvt" in line for line in lines), lines
        assert p.read("p/first.txt") == "new image\n"
        p.run("track", "data/images").ok()  # the pointer now records it: a reload, nothing to run
        lines = w.cycle("data/images.pvt changed")
        assert lines[0] == "data/images.pvt changed: reloading 1 pipeline" and ran(lines) == [], lines
    finally:
        proc.kill()
        proc.wait(timeout=TIMEOUT)


def _assert_locks_are_valid(p: Project) -> list[Path]:
    locks = [f for f in p.root.rglob("stages/*.lock")]
    for lock in locks:
        data = yaml.safe_load(lock.read_text())
        assert isinstance(data, dict) and data["schema"] == 1, lock
    assert not [f for f in p.root.rglob(".pivot/**/*") if f.name.endswith(".tmp")]
    return locks


def test_sigint_exits_130_and_leaves_valid_locks(watch_multi: tuple[Project, Watcher]) -> None:
    p, w = watch_multi
    assert w.stop(signal.SIGINT) == 130
    assert len(_assert_locks_are_valid(p)) == 5
    assert not list(p.root.rglob(".pivot/tmp/watch-*"))


def test_sigterm_during_a_stage_stops_it_and_keeps_finished_locks(tmp_path: Path) -> None:
    p = factory.multi(tmp_path / "proj")
    p.write("train/stages.py", """
        import os
        import time
        from helpers import scale


        def train(lr):
            text = open("../prep/clean.txt").read()
            if "slow" in text:
                open("started.tmp", "w").write(str(os.getpid()))
                os.replace("started.tmp", "started")
                time.sleep(60)
            open("model.txt", "w").write(f"{text} lr={scale(lr)}\\n")
        """)
    proc = p.popen("repro", "--watch", "--all", "--debounce", "200")
    try:
        w = Watcher(proc)
        w.wait_for(WATCHING)
        p.write("prep/raw.txt", "slow\n")
        w.wait_for("Running 'train'")
        deadline = time.monotonic() + TIMEOUT
        while not p.exists("train/started"):
            assert time.monotonic() < deadline, w.transcript
            time.sleep(0.05)
        assert w.stop(signal.SIGTERM) == 143
    finally:
        proc.kill()
        proc.wait(timeout=TIMEOUT)
    worker = int(p.read("train/started"))
    assert procs.wait_gone(worker, TIMEOUT), "the running stage was left running"
    _assert_locks_are_valid(p)
    assert "slow" in p.read("prep/clean.txt")
    st = p.stage_json(p.run("status", "--all", "--json"))
    assert st["clean"]["status"] == "up_to_date"  # finished before the signal: its lock was kept
    assert st["train"]["status"] == "stale"
