"""The local run cache through the real CLI: a stage whose inputs ran before is restored, not run."""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path
from typing import Any

from tests.support import runcache
from tests.support.factory import Project, new_project

TRAIN_PY = """
import json, os, pathlib
lr = float(os.environ["PIVOT_PARAM_LR"])
text = pathlib.Path("data.txt").read_text()
pathlib.Path("model.txt").write_text(f"{text.strip()} lr={lr}\\n")
for i in range(3):
    p = pathlib.Path("features") / f"f{i}.txt"
    p.parent.mkdir(exist_ok=True)
    p.write_text(f"feature {i} of {text.strip()}\\n")
pathlib.Path("metrics.json").write_text(json.dumps({"loss": round(1 - lr, 3)}) + "\\n")
"""
PIPELINE = """
stages:
  train:
    cmd: python train.py
    deps: [train.py, data.txt]
    outs: [model.txt, features/]
    metrics: [metrics.json]
    params: {lr: LR}
  evaluate:
    cmd: python ../tools/copy.py model.txt report.txt +evaluated
    deps: [model.txt, ../tools/copy.py]
    outs: [report.txt]
  stats:
    cmd: ls features > stats.txt
    deps: [features/]
    outs: [stats.txt]
"""
COPY_PY = """
import pathlib, sys
pathlib.Path(sys.argv[2]).write_text(pathlib.Path(sys.argv[1]).read_text() + sys.argv[3] + "\\n")
"""
OUTPUTS = ("p/model.txt", "p/features/f0.txt", "p/features/f2.txt", "p/metrics.json", "p/report.txt", "p/stats.txt")
LOCKS = ("p/.pivot/stages/train.lock", "p/.pivot/stages/evaluate.lock", "p/.pivot/stages/stats.lock")


def _make(p: Project, lr: float) -> Project:
    p.write("tools/copy.py", COPY_PY)
    p.write("p/train.py", TRAIN_PY)
    p.write("p/data.txt", "some data\n")
    _set_lr(p, lr)
    return p


def _set_lr(p: Project, lr: float) -> None:
    p.write("p/pivot.yaml", PIPELINE.replace("LR", str(lr)))


def _events(p: Project, *args: str) -> dict[str, dict[str, Any]]:
    return runcache.finished(p.run("repro", "--json", *args, cwd="p").ok().stdout)


def _outcomes(events: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {name: e["outcome"] for name, e in events.items()}


def test_param_flip_and_back_restores_instead_of_running(project: Project, tmp_path: Path) -> None:
    p = _make(project, 0.1)
    assert _outcomes(_events(p)) == {"train": "ran", "evaluate": "ran", "stats": "ran"}
    _set_lr(p, 0.2)
    # features/ is the same for every lr: `stats` is cut off early, as after a real run
    assert _outcomes(_events(p)) == {"train": "ran", "evaluate": "ran", "stats": "unchanged"}
    assert p.read("p/model.txt") == "some data lr=0.2\n"

    _set_lr(p, 0.1)
    back = _events(p)
    assert _outcomes(back) == {"train": "restored", "evaluate": "restored", "stats": "unchanged"}
    assert back["train"]["restored_from"] == "local" and back["train"]["remote"] is None
    assert back["train"]["reasons"] == ["param changed: lr"] and back["train"]["warnings"] == []

    clean = _make(new_project(tmp_path / "clean"), 0.1)
    clean.run("repro", cwd="p").ok()
    for path in OUTPUTS + LOCKS:
        assert p.read(path) == clean.read(path), path
    p.run("verify", cwd="p").ok()
    assert p.run("repro", cwd="p").ok().stderr.strip().endswith("3 up to date")

    _set_lr(p, 0.2)
    text = p.run("repro", cwd="p").ok().stderr
    assert "'train' restored from the local run cache" in text and "2 restored, 1 unchanged" in text
    assert "Running" not in text
    assert p.read("p/model.txt") == "some data lr=0.2\n" and json.loads(p.read("p/metrics.json")) == {"loss": 0.8}


def test_no_run_cache_force_and_no_commit(project: Project) -> None:
    p = _make(project, 0.1)
    p.run("repro", cwd="p").ok()
    _set_lr(p, 0.2)
    p.run("repro", cwd="p").ok()
    _set_lr(p, 0.1)
    assert _outcomes(_events(p, "--no-run-cache"))["train"] == "ran"
    assert _outcomes(_events(p, "-f", "train"))["train"] == "ran"  # --force runs: no lookup
    before = runcache.entry_files(p.root / ".pivot/cache")
    _set_lr(p, 0.3)
    assert _outcomes(_events(p, "--no-commit"))["train"] == "ran"
    assert runcache.entry_files(p.root / ".pivot/cache") == before  # --no-commit records nothing
    assert _outcomes(_events(p))["train"] == "ran"  # ... so 0.3 is not a hit


def test_helper_edit_and_revert_for_a_python_stage(multi: Project) -> None:
    multi.run("repro", "--all").ok()
    original = multi.read("train/helpers.py")
    multi.write("train/helpers.py", original.replace("x * 2", "x * 3"))
    edited = multi.run("repro", "--all", "--json").ok()
    assert runcache.outcomes(edited.stdout) == {
        "clean": "up_to_date", "train": "ran", "tune/train": "ran", "tune/report": "ran"}
    result = multi.read("tune/report.txt")

    multi.write("train/helpers.py", original)
    reverted = multi.run("repro", "--all").ok().stderr
    assert "Running" not in reverted and "3 restored, 1 up to date" in reverted
    assert multi.read("train/model.txt") == "raw data\n+clean lr=1.0\n"
    multi.write("train/helpers.py", original.replace("x * 2", "x * 3"))
    assert "3 restored" in multi.run("repro", "--all").ok().stderr
    assert multi.read("tune/report.txt") == result
    multi.run("verify", "--all").ok()


def test_run_cache_false_in_yaml_and_python(project: Project) -> None:
    p = _make(project, 0.1)
    no_cache = PIPELINE.replace("LR", "0.1").replace("  evaluate:\n", "  evaluate:\n    run_cache: false\n")
    p.write("p/pivot.yaml", no_cache)
    p.write("q/pipeline.py", """
        from pivot_ci import Pipeline

        pipeline = Pipeline("q")
        pipeline.command("side", cmd="python ../tools/copy.py ../p/model.txt side.txt +side",
                         deps=["../p/model.txt"], outs=["side.txt"], run_cache=False)
        pipeline.command("notify", cmd="echo notified >> notified.log", deps=["../p/model.txt"])  # no outputs
        """)
    p.run("repro", "--all").ok()
    p.write("p/pivot.yaml", p.read("p/pivot.yaml").replace("lr: 0.1", "lr: 0.2"))
    p.run("repro", "--all").ok()
    p.write("p/pivot.yaml", p.read("p/pivot.yaml").replace("lr: 0.2", "lr: 0.1"))
    out = p.run("repro", "--all", "--json").ok()
    assert runcache.outcomes(out.stdout) == {
        "train": "restored", "evaluate": "ran", "stats": "unchanged", "side": "ran", "notify": "ran"}
    assert p.read("q/notified.log") == "notified\n" * 3
    recorded = {o["path"] for e in runcache.entries(p.root / ".pivot/cache") for o in e["outs"]}
    assert recorded == {"p/model.txt", "p/features", "p/stats.txt"}  # never an entry for run_cache: false

    p.write("p/pivot.yaml", PIPELINE.replace("LR", "0.1").replace("  stats:\n", "  stats:\n    run_cache: no way\n"))
    bad = p.run("status", cwd="p")
    assert bad.code == 2 and "stages.stats.run_cache must be true or false" in bad.stderr
    assert "(p/pivot.yaml:13)" in bad.stderr


def test_corrupt_entry_and_corrupt_cache_object_are_skipped_with_a_warning(project: Project) -> None:
    p = _make(project, 0.1)
    p.run("repro", cwd="p").ok()
    _set_lr(p, 0.2)
    p.run("repro", cwd="p").ok()
    cache = p.root / ".pivot/cache"
    entry = runcache.entry_file(cache, "p/model.txt", lr=0.1)
    runcache.overwrite(entry, entry.read_bytes()[:-40])  # torn
    _set_lr(p, 0.1)
    events = _events(p)
    assert events["train"]["outcome"] == "ran" and events["evaluate"]["outcome"] == "restored"
    warning = " ".join(events["train"]["warnings"])
    assert f".pivot/cache/{runcache.rel_key(entry)}" in warning and "corrupt" in warning
    assert json.loads(entry.read_text())["inputs"]["params"] == {"lr": 0.1}  # the run recorded a good one

    # the object of model.txt at lr=0.2 rots in the cache: the hit is refused, the object quarantined
    model = json.loads(runcache.entry_file(cache, "p/model.txt", lr=0.2).read_text())
    h = next(o["hash"] for o in model["outs"] if o["path"] == "p/model.txt")
    runcache.overwrite(cache / "files" / h[:2] / h[2:], b"bit rot\n")
    _set_lr(p, 0.2)
    text = p.run("repro", cwd="p").ok().stderr
    assert f"cache object {h} (output p/model.txt of 'train') is corrupt" in text
    assert f"moved to .pivot/cache/bad/{h}" in text and "'train' ok" in text
    assert p.read("p/model.txt") == "some data lr=0.2\n"
    p.run("verify", cwd="p").ok()


SLOW = """
import os, pathlib, sys, time
pathlib.Path("slow.pid").write_text(str(os.getpid()))
time.sleep(60)
pathlib.Path("slow.txt").write_text("done\\n")
"""


def test_failed_and_interrupted_runs_leave_no_entry(project: Project) -> None:
    project.write("p/slow.py", SLOW)
    project.write("p/pivot.yaml", """
        stages:
          fast:
            cmd: echo fast > fast.txt
            outs: [fast.txt]
          broken:
            cmd: echo half > half.txt && exit 3
            outs: [half.txt]
          slow:
            cmd: python slow.py
            deps: [fast.txt, slow.py]
            outs: [slow.txt]
        """)
    proc = project.popen("repro", "-k", "-j", "2", cwd="p")
    try:
        deadline = time.monotonic() + 30
        while not project.exists("p/slow.pid"):
            assert time.monotonic() < deadline, "the slow stage never started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130
    recorded = [o["path"] for e in runcache.entries(project.root / ".pivot/cache") for o in e["outs"]]
    assert recorded == ["p/fast.txt"]
    leftovers = [f for f in (project.root / ".pivot/cache").rglob("*") if f.name.endswith(".tmp")]
    assert leftovers == []


def test_an_entry_from_another_checkout_directory_is_shared(project: Project, tmp_path: Path) -> None:
    """Keys hold project-relative paths only: a copy of the project elsewhere (another clone) gets hits."""
    p = _make(project, 0.1)
    p.run("repro", cwd="p").ok()
    _set_lr(p, 0.2)
    p.run("repro", cwd="p").ok()
    moved = Project(tmp_path / "elsewhere")
    shutil.copytree(p.root, moved.root)
    _set_lr(moved, 0.1)
    assert "2 restored" in moved.run("repro", cwd="p").ok().stderr
