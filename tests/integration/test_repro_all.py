"""`--all`: every pipeline merged into one DAG; identities and state dirs independent of the mode."""

from __future__ import annotations

import subprocess

from tests.support.factory import Project

LOCKS = {
    "prep/clean": ".pivot/stages/clean.lock",
    "train/train": "train/.pivot/stages/train.lock",
    "tune/train": "tune/.pivot/stages/train.lock",
    "tune/report": "tune/.pivot/stages/report.lock",
}


def test_repro_all_runs_every_pipeline_in_one_graph(multi: Project) -> None:
    out = multi.run("repro", "--all", "-j", "2").ok()
    assert multi.read("tune/report.txt") == "raw data\n+clean lr=1.0\nexp\n"
    for lock in LOCKS.values():
        assert multi.exists(lock), lock
    assert "4 ran" in out.stderr


def test_second_repro_all_runs_nothing(multi: Project) -> None:
    multi.run("repro", "--all").ok()
    out = multi.run("repro", "--all", "-v").ok()
    assert "Running" not in out.stderr
    assert "4 up to date" in out.stderr


def test_status_in_a_sub_pipeline_after_repro_all_is_up_to_date(multi: Project) -> None:
    multi.run("repro", "--all").ok()
    for sub in ("prep", "train", "tune"):
        out = multi.run("status", "--exit-code", "--json", cwd=sub)
        assert out.code == 0, out
        assert out.json()["passed"] is True


def test_repro_in_sub_dirs_then_status_all_is_up_to_date(multi: Project) -> None:
    multi.run("repro", cwd="tune").ok()  # pulls in prep and train (upstream)
    assert multi.exists("tune/report.txt")
    out = multi.run("status", "--all", "--exit-code", "--json")
    assert out.code == 0, out
    assert out.json()["summary"]["stale"] == 0


def test_lock_paths_are_the_same_in_single_and_all_mode(multi: Project) -> None:
    multi.run("repro", cwd="train").ok()
    before = {k: multi.read(v) for k, v in LOCKS.items() if multi.exists(v)}
    assert set(before) == {"prep/clean", "train/train"}
    out = multi.run("repro", "--all", "-v").ok()
    # only tune's stages ran: the locks written in single mode are the ones --all reads
    assert "Running 'prep" not in out.stderr and "Running 'clean'" not in out.stderr
    assert {k: multi.read(LOCKS[k]) for k in before} == before


def test_single_mode_selects_the_pipeline_and_its_upstream_only(multi: Project) -> None:
    out = multi.run("list", "--json", cwd="train").ok()
    names = {row["name"] for row in out.json()}
    assert names == {"train", "clean"}  # train's own stage keeps its bare name here


def test_two_train_stages_get_display_prefix_under_all(multi: Project) -> None:
    out = multi.run("list", "--all", "--json").ok()
    rows = {r["name"]: r for r in out.json()}
    assert rows["train"]["pipeline"] == "train"
    assert rows["tune/train"]["pipeline"] == "tune"
    assert rows["tune/train"]["state_dir"] == "tune/.pivot"


def test_every_state_dir_gets_a_gitignore_keeping_only_locks(multi: Project) -> None:
    subprocess.run(["git", "init", "-q"], cwd=multi.root, check=True)
    multi.run("repro", "--all").ok()
    for state in (".pivot", "train/.pivot", "tune/.pivot"):
        assert multi.exists(f"{state}/.gitignore"), state
    tracked = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=multi.root,
                             capture_output=True, text=True, check=True).stdout
    pivot_files = sorted(line[3:] for line in tracked.splitlines() if "/.pivot/" in f"/{line[3:]}")
    assert pivot_files == sorted([".pivot/.gitignore", "train/.pivot/.gitignore", "tune/.pivot/.gitignore",
                                  *LOCKS.values()])


def test_dry_run_changes_nothing(multi: Project) -> None:
    out = multi.run("repro", "--all", "--dry-run").ok()
    assert out.stdout.count("would run") == 4
    assert not multi.exists("prep/clean.txt")
    assert not any(multi.exists(v) for v in LOCKS.values())


def test_force_reruns_up_to_date_stages(multi: Project) -> None:
    multi.run("repro", "--all").ok()
    out = multi.run("repro", "--all", "--force").ok()
    assert "4 ran" in out.stderr


def test_no_commit_then_commit_all(multi: Project) -> None:
    multi.run("repro", "--all", "--no-commit").ok()
    assert multi.exists("tune/report.txt")
    assert not any(multi.exists(v) for v in LOCKS.values())
    st = multi.run("status", "--all", "--json").ok()
    assert {s["fix"].split()[1] for s in multi.stage_json(st).values()} == {"commit"}
    multi.run("commit", "--all").ok()
    assert all(multi.exists(v) for v in LOCKS.values())
    assert multi.run("verify", "--all").code == 0


def test_targets_select_stage_and_upstream(multi: Project) -> None:
    multi.run("repro", "--all", "train").ok()
    assert multi.exists("train/model.txt")
    assert not multi.exists("tune/result.txt")
    multi.run("repro", "--all", "tune/report.txt").ok()  # an output path
    assert multi.exists("tune/report.txt")


def test_unknown_target_suggests_names(multi: Project) -> None:
    out = multi.run("repro", "--all", "trian")
    assert out.code == 2
    assert "unknown target 'trian'" in out.stderr and "did you mean" in out.stderr
