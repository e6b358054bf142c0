"""Seeing what runs: stage output arrives while the stage runs, is kept in its log, and `pivot log` shows it.

Liveness is checked by causality, not by timing: a stage prints a line, then waits for a file that the test
creates only once it has seen that line on pivot's output. Had pivot held the line back until the stage
ended, the test would never see it and the stage would never end.
"""

from __future__ import annotations

import json
import re
import signal

from tests.support.factory import Project
from tests.support.live import Run, wait_file

GATE = "while [ ! -e {0} ]; do sleep 0.02; done"

TWO_STAGES = """
    import pathlib, time

    from pivot_ci import Pipeline

    pipeline = Pipeline()


    def _gate(name):
        while not pathlib.Path(name).exists():
            time.sleep(0.02)


    @pipeline.stage(outs=["py.txt"], params={"epochs": 2})
    def py(epochs):
        _gate("go.py")
        for epoch in range(epochs):
            print(f"epoch {epoch}")
            _gate(f"go.py.{epoch}")
        pathlib.Path("py.txt").write_text("py\\n")


    pipeline.command("sh", outs=["sh.txt"], cmd=(
        "while [ ! -e go.sh ]; do sleep 0.02; done; "
        "python -c 'print(\\"from python in a cmd stage\\")'; "
        "while [ ! -e go.sh.1 ]; do sleep 0.02; done; echo done > sh.txt"))
    """


def test_output_streams_live_prefixed_while_stages_run_side_by_side_and_lands_in_logs(project: Project) -> None:
    project.write("p/pipeline.py", TWO_STAGES)
    p = project.root / "p"
    run = Run(["repro", "-j", "2"], p)
    try:
        run.stderr.wait_for(r"^Running 'py'")
        run.stderr.wait_for(r"^Running 'sh'")
        (p / "go.sh").touch()
        # a Python program in a cmd stage: line-buffered although its stdout is a pipe
        assert run.stderr.wait_for(r"^sh \| from python") == "sh | from python in a cmd stage"
        (p / "go.py").touch()
        assert run.stderr.wait_for(r"^py \| epoch 0") == "py | epoch 0"
        (p / "go.py.0").touch()
        assert run.stderr.wait_for(r"^py \| epoch 1") == "py | epoch 1"
        for name in ("go.py.1", "go.sh.1"):
            (p / name).touch()
        assert run.finish() == 0
    finally:
        run.close()
    err = run.stderr.rest()
    assert "sh | > while [ ! -e go.sh ]; do sleep 0.02; done; python -c 'print(\"from python in a cmd stage\")'; " \
           "while [ ! -e go.sh.1 ]; do sleep 0.02; done; echo done > sh.txt" in err
    assert "> p/pipeline.py:py(epochs=2)" in err  # py started alone: bare lines until sh started beside it
    assert err.index("py | epoch 1") < next(i for i, line in enumerate(err) if line.startswith("'py' ok"))
    assert err[-1] == "2 ran"
    assert run.stdout.rest() == []
    # every stage's whole output is in its log: the command first, how it ended last
    log = project.read("p/.pivot/logs/py.log").splitlines()
    assert log[0].startswith("> ") and log[1:3] == ["epoch 0", "epoch 1"]
    assert re.fullmatch(r"\[pivot\] finished in \d+\.\d\ds", log[-1])
    assert project.read("p/.pivot/logs/sh.log").splitlines()[1] == "from python in a cmd stage"
    # git ignores logs: the state dir's .gitignore keeps only locks and config
    assert "/*" in project.read("p/.pivot/.gitignore").splitlines()

    # pivot log: one stage raw; several with headers; --path; -n
    shown = project.run("log", "py", cwd="p").ok()
    assert shown.stdout == project.read("p/.pivot/logs/py.log")
    both = project.run("log", "-n", "1", cwd="p").ok()
    assert both.stdout.splitlines()[0] == "==> py (p/.pivot/logs/py.log) <=="
    assert "==> sh (p/.pivot/logs/sh.log) <==" in both.stdout
    assert len(both.stdout.strip().splitlines()) == 5  # two headers, one blank, one line each
    paths = project.run("log", "--all", "--path", "sh", "py", cwd="p").ok()
    assert paths.stdout.splitlines() == ["p/.pivot/logs/py.log", "p/.pivot/logs/sh.log"]


def test_json_events_carry_output_lines_as_they_come_and_stdout_stays_json(project: Project) -> None:
    project.write("pivot.yaml", f"""
        stages:
          talk:
            cmd: echo 'first line'; {GATE.format("go")}; echo 'second line'; printf 'no newline at the end'
        """)
    run = Run(["repro", "--json"], project.root)
    try:
        first = json.loads(run.stdout.wait_for(r'"stage_output"'))
        assert first["line"] == "first line" and first["display_name"] == "talk"
        (project.root / "go").touch()
        assert run.finish() == 0
    finally:
        run.close()
    events = [json.loads(line) for line in run.stdout.rest()]  # every stdout line is JSON
    kinds = [(e["event"], e.get("line")) for e in events]
    assert kinds == [("stage_started", None), ("stage_output", "first line"), ("stage_output", "second line"),
                     ("stage_output", "no newline at the end"), ("stage_finished", None)]
    started, finished = events[0], events[-1]
    assert started["command"].startswith("echo 'first line'") and started["log"] == ".pivot/logs/talk.log"
    assert finished["output"] == "first line\nsecond line\nno newline at the end"
    assert finished["log"] == ".pivot/logs/talk.log"
    assert "first line" not in "\n".join(run.stderr.rest())  # output is in events only, not also on stderr


def test_tty_shows_a_live_status_line_and_leaves_no_trace_of_it(project: Project) -> None:
    project.write("pivot.yaml", f"""
        stages:
          slow:
            cmd: echo 'warming up'; {GATE.format("go")}
          after:
            cmd: echo after
            deps: [x.txt]
          make_x:
            cmd: echo x > x.txt
            outs: [x.txt]
        """)
    run = Run(["repro", "-j", "2"], project.root, tty=True, env={"NO_COLOR": ""})
    try:
        run.stderr.wait_for(r"warming up")
        # the status line is redrawn every second on the pty, with the running stage and its elapsed time
        status = run.stderr.wait_for(r"^pivot: \d/3 done · 1 running · 0 queued — slow \d+s")
        assert "3/3" not in status
        (project.root / "go").touch()
        assert run.finish() == 0
    finally:
        run.close()
    raw = run.stderr.raw.decode()
    assert "\x1b[2K" in raw  # the status line is erased before each line printed
    assert raw.rstrip("\r\n").endswith("3 ran")  # ... and for good at the end
    assert run.stdout.rest() == []


def test_failure_summary_names_the_log_quiet_shows_the_end_of_the_output(project: Project) -> None:
    project.write("pivot.yaml", """
        stages:
          bad:
            cmd: python -c "[print('line', i) for i in range(100)]; raise SystemExit(4)"
          good:
            cmd: echo fine
        """)
    out = project.run("repro", "-k", "-j", "1")
    assert out.code == 1, out
    err = out.stderr.splitlines()
    assert "line 99" in err and "fine" in err
    assert "'bad' FAILED: command exited with code 4" in err
    assert err[-2:] == ["1 ran, 1 failed", "  'bad' FAILED: log in .pivot/logs/bad.log"]
    assert project.read(".pivot/logs/bad.log").splitlines()[-1].startswith("[pivot] failed after ")

    quiet = project.run("repro", "-q")
    assert quiet.code == 1 and quiet.stdout == ""
    lines = quiet.stderr.splitlines()
    assert "fine" not in lines and "Running 'bad'" not in quiet.stderr  # nothing streamed
    assert lines[0] == "... (60 more lines above; the whole output is in the log)"
    assert lines[1:41] == [f"line {i}" for i in range(60, 100)]
    assert lines[41:] == ["'bad' FAILED: command exited with code 4", "  'bad' FAILED: log in .pivot/logs/bad.log"]


def test_silent_stage_gets_heartbeats_when_not_a_tty(project: Project) -> None:
    project.write("pivot.yaml", f"""
        stages:
          quiet:
            cmd: {GATE.format("go")}
        """)
    run = Run(["repro"], project.root, env={"PIVOT_HEARTBEAT": "0.2"})
    try:
        beat = run.stderr.wait_for(r"^\[pivot\] still running")
        assert re.fullmatch(r"\[pivot\] still running: 'quiet' \(\d+s\)", beat)
        (project.root / "go").touch()
        assert run.finish() == 0
    finally:
        run.close()


def test_logs_are_bounded_and_kept_for_an_interrupted_stage(project: Project) -> None:
    project.write("pivot.yaml", f"""
        stages:
          chatty:
            cmd: python -c "[print(f'line {{i:06d}}', 'x' * 50) for i in range(20000)]"
          stuck:
            cmd: echo 'before the interrupt'; {GATE.format("never")}
            deps: [chatty.txt]
          mark:
            cmd: echo > chatty.txt
            outs: [chatty.txt]
        """)
    limit = 64 << 10
    out = project.run("repro", "chatty", "-q", env={"PIVOT_LOG_LIMIT": "64K"}).ok()
    assert out.stderr == ""
    data = (project.root / ".pivot/logs/chatty.log").read_bytes()
    assert len(data) < limit + 1024  # ~1.2 MB printed
    text = data.decode()
    assert text.splitlines()[1].startswith("line 000000 ")
    assert "line 019999 " in text.splitlines()[-2]
    marker = re.search(r"\[pivot\] \.\.\. ([\d,]+) bytes of output left out here", text)
    assert marker is not None and int(marker.group(1).replace(",", "")) > 1_000_000

    run = Run(["repro", "stuck"], project.root)
    try:
        run.stderr.wait_for("^before the interrupt")
        run.proc.send_signal(signal.SIGINT)
        assert run.finish() == 130
    finally:
        run.close()
    err = run.stderr.rest()
    assert "  'stuck' cancelled: log in .pivot/logs/stuck.log" in err
    log = project.read(".pivot/logs/stuck.log").splitlines()
    assert log[1] == "before the interrupt" and log[-1].startswith("[pivot] cancelled after ")


def test_kill_9_leaves_a_readable_log(project: Project) -> None:
    project.write("pivot.yaml", f"""
        stages:
          long:
            cmd: echo 'written before the kill'; touch started; {GATE.format("never")}
        """)
    run = Run(["repro"], project.root)
    try:
        wait_file(project.root / "started")
        run.stderr.wait_for("^written before the kill")
        run.proc.send_signal(signal.SIGKILL)
        run.finish()
    finally:
        run.close()
    log = project.read(".pivot/logs/long.log").splitlines()
    assert log[1:] == ["written before the kill"]
    assert project.run("log", "long").ok().stdout.splitlines()[1] == "written before the kill"
    missing = project.run("log", "nope")
    assert missing.code == 2 and "unknown target 'nope'" in missing.stderr
