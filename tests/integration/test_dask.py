"""`pivot repro --executor dask` on a real cluster (scheduler + two CLI workers on 127.0.0.1): same outputs and
lock files as the local executor, failures, where stages ran, resources."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.support import factory
from tests.support.dask_cluster import Cluster
from tests.support.factory import Project

pytestmark = pytest.mark.xdist_group("dask")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "multi"


def _dask(cluster: Cluster) -> tuple[str, ...]:
    return ("--executor", "dask", "--scheduler", cluster.address)


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every workspace file, lock file, stage log, cache object and run-cache entry (less when and how long it
    ran); not the memo db, temp files or bytecode."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        parts = rel.split("/")
        if not path.is_file() or "__pycache__" in parts or "tmp" in parts or ".db" in path.name:
            continue
        out[rel] = path.read_bytes()
        if parts[-3:-1] == [".pivot", "logs"]:  # the same log either way, but for how long it ran
            out[rel] = re.sub(rb"\[pivot\] (finished in|failed after) [0-9.]+s", rb"[pivot] \1 Ns", out[rel])
        if rel.startswith(".pivot/cache/runs/"):
            entry = json.loads(out[rel])
            out[rel] = json.dumps({k: v for k, v in entry.items() if k not in ("created", "duration")}).encode()
    return out


def _events(outcome: factory.Outcome) -> dict[str, dict[str, object]]:
    """display name -> its stage_finished event."""
    events = [json.loads(line) for line in outcome.stdout.splitlines()]
    return {e["display_name"]: e for e in events if e["event"] == "stage_finished"}


def _generated(root: Path, pipelines: int = 4, stages: int = 4) -> Project:
    """`pipelines` pipelines of `stages` chained stages, alternately pivot.yaml (cmd) and pipeline.py (Python);
    each pipeline's first stage reads the previous pipeline's last output."""
    p = factory.new_project(root)
    p.write("tools/copy.py", factory.COPY_PY)
    for i in range(pipelines):
        d = f"p{i}"
        p.write(f"{d}/in.txt", f"input of {d}\n")
        first = f"../p{i - 1}/s{stages - 1}.txt" if i else "in.txt"
        if i % 2 == 0:
            lines = ["stages:"]
            for s in range(stages):
                src = first if s == 0 else f"s{s - 1}.txt"
                lines += [f"  s{s}:", f"    cmd: python ../tools/copy.py {src} s{s}.txt +{d}.s{s}",
                          f"    deps: [{src}, ../tools/copy.py]", f"    outs: [s{s}.txt]"]
            p.write(f"{d}/pivot.yaml", "\n".join(lines) + "\n")
        else:
            body = ["from pivot_ci import Pipeline", "", f"pipeline = Pipeline('{d}')", ""]
            for s in range(stages):
                src = first if s == 0 else f"s{s - 1}.txt"
                body += [f"@pipeline.stage(deps=['{src}'], outs=['s{s}.txt'], params={{'tag': '{d}.s{s}'}})",
                         f"def s{s}(tag):",
                         f"    open('s{s}.txt', 'w').write(open('{src}').read() + '+' + tag)", ""]
            p.write(f"{d}/pipeline.py", "\n".join(body))
    return p


def _twins(tmp_path: Path, make: str) -> tuple[Project, Project]:
    """Two identical fresh projects: one for the local executor, one for the cluster."""
    out = []
    for name in ("local", "dask"):
        root = tmp_path / name / "proj"
        if make == "example":
            shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("cache", "state.db*", "tmp", "__pycache__",
                                                                         "stages"))  # no locks: all stale
            out.append(Project(root))
        else:
            out.append(_generated(root))
    return out[0], out[1]


@pytest.mark.parametrize("make", ["example", "generated"])
def test_cluster_reproduces_what_the_local_executor_does(tmp_path: Path, dask_cluster: Cluster, make: str) -> None:
    local, remote = _twins(tmp_path, make)
    local.run("repro", "--all").ok()
    ran = remote.run("repro", "--all", "--json", *_dask(dask_cluster)).ok()
    assert _snapshot(remote.root) == _snapshot(local.root)
    events = _events(ran)
    workers = set(dask_cluster.info())
    assert events and all(e["outcome"] == "ran" and e["worker"] in workers for e in events.values())
    assert len({e["worker"] for e in events.values()}) == 2, "both workers took stages"
    if make == "example":  # the committed lock files were written by the local executor
        assert {k: v for k, v in _snapshot(remote.root).items() if k.endswith(".lock")} == {
            k: v for k, v in _snapshot(EXAMPLE).items() if k.endswith(".lock")}
    again = remote.run("repro", "--all", *_dask(dask_cluster)).ok()
    assert "Running" not in again.stderr
    remote.run("verify", "--all").ok()


def test_single_pipeline_pulls_its_upstream_pipelines_onto_the_cluster(tmp_path: Path, dask_cluster: Cluster) -> None:
    local, remote = factory.multi(tmp_path / "a"), factory.multi(tmp_path / "b")
    local.run("repro", cwd="tune").ok()
    ran = remote.run("repro", *_dask(dask_cluster), cwd="tune").ok()
    assert _snapshot(remote.root) == _snapshot(local.root)
    finished = [line for line in ran.stderr.splitlines() if line.startswith("'") and " ok in " in line]
    assert sorted(line.split("'")[1] for line in finished) == ["clean", "report", "train", "train/train"]
    assert all(" on tcp://127.0.0.1:" in line for line in finished)
    summary = ran.stderr.strip().splitlines()[-1]  # e.g. 4 ran; ran on tcp://127.0.0.1:1 (3), tcp://127.0.0.1:2 (1)
    assert summary.startswith("4 ran; ran on "), summary
    counts = {part.split(" (")[0]: int(part.split(" (")[1].rstrip(")"))
              for part in summary.removeprefix("4 ran; ran on ").split(", ")}
    assert set(counts) <= set(dask_cluster.info()) and sum(counts.values()) == 4
    remote.run("status", "--all", "--exit-code").ok()


def _failing_project(p: Project) -> None:
    p.write("p/pivot.yaml", """
        stages:
          bad:
            cmd: echo about to fail; exit 3
            outs: [bad.txt]
          downstream:
            cmd: cp bad.txt down.txt
            deps: [bad.txt]
            outs: [down.txt]
          independent:
            cmd: echo fine > ind.txt
            outs: [ind.txt]
        """)


def test_a_failing_stage_fails_the_run_with_and_without_keep_going(project: Project, dask_cluster: Cluster) -> None:
    _failing_project(project)
    env = {"PIVOT_DASK_SCHEDULER": dask_cluster.address}  # chooses the dask executor without a flag
    fast = project.run("repro", "-j", "1", cwd="p", env=env)
    assert fast.code == 1, fast
    assert "about to fail" in fast.stderr and "'bad' FAILED on tcp://127.0.0.1:" in fast.stderr
    assert "command exited with code 3" in fast.stderr
    assert not project.exists("p/.pivot/stages/bad.lock") and not project.exists("p/.pivot/stages/independent.lock")
    assert "'downstream' blocked" in fast.stderr and "'independent' not run" in fast.stderr
    going = project.run("repro", "--keep-going", "--json", cwd="p", env=env)
    assert going.code == 1, going
    events = _events(going)
    assert {k: e["outcome"] for k, e in events.items()} == {
        "bad": "failed", "downstream": "blocked", "independent": "ran"}
    assert events["downstream"]["worker"] is None and events["independent"]["worker"] in dask_cluster.info()
    assert project.exists("p/.pivot/stages/independent.lock") and not project.exists("p/.pivot/stages/bad.lock")
    dry = project.run("repro", "--dry-run", cwd="p", env=env).ok()  # pre-flight only: nothing runs
    assert "would run 'bad'" in dry.stdout and not project.exists("p/bad.txt")


def test_resources_place_stages_and_unoffered_ones_stop_the_run_before_it_starts(
        project: Project, dask_cluster: Cluster) -> None:
    project.write(".pivot/config.yaml", f"""
        executor:
          kind: dask
          scheduler: {dask_cluster.address}
        """)
    project.write("p/pivot.yaml", """
        stages:
          on_gpu:
            cmd: echo "$PIVOT_DASK_WORKER $OMP_NUM_THREADS" > gpu.txt
            outs: [gpu.txt]
            resources: {GPU: 1}
        """)
    ran = project.run("repro", cwd="p").ok()
    gpu = dask_cluster.address_of("gpu")
    where, omp = project.read("p/gpu.txt").split()
    assert where == gpu and "'on_gpu' ok in" in ran.stderr and f"on {gpu}" in ran.stderr
    assert omp == "1"  # the nanny's pre-spawn-environ reaches stages (README: Running on a cluster)
    project.write("q/pipeline.py", """
        from pivot_ci import Pipeline

        pipeline = Pipeline("q")
        pipeline.command("cheap", cmd="echo x > x.txt", outs=["x.txt"])
        pipeline.command("big", cmd="echo y > y.txt", outs=["y.txt"], resources={"GPU": 1, "MEMORY": "8e9"})
        """)
    refused = project.run("repro", cwd="q")
    assert refused.code == 2, refused
    assert "stage 'big' needs resources GPU=1, MEMORY=8e+09, which no worker offers" in refused.stderr
    assert "(q/pipeline.py:5)" in refused.stderr and "--resources" in refused.stderr
    assert not project.exists("q/x.txt"), "nothing runs when a stage cannot be placed"
    local = project.run("repro", "--executor", "local", cwd="q").ok()  # the local executor ignores resources
    assert "'big' ok" in local.stderr


def test_watch_mode_sends_each_rerun_to_the_cluster(project: Project, dask_cluster: Cluster) -> None:
    from tests.integration.test_watch import WATCHING, Watcher, ran

    project.write("p/in.txt", "one\n")
    project.write("p/pivot.yaml", """
        stages:
          copy:
            cmd: cp in.txt out.txt
            deps: [in.txt]
            outs: [out.txt]
        """)
    watcher = Watcher(project.popen("repro", "--watch", "--debounce", "50", *_dask(dask_cluster), cwd="p"))
    try:
        first = watcher.wait_for(WATCHING)
        assert ran(first) == ["copy"] and any("'copy' ok in" in line and " on tcp://" in line for line in first)
        project.write("p/in.txt", "two\n")
        second = watcher.cycle("changed")
        assert ran(second) == ["copy"] and any(" on tcp://" in line for line in second)
        assert project.read("p/out.txt") == "two\n"
        assert watcher.stop() == 130
    finally:
        watcher.proc.kill()
