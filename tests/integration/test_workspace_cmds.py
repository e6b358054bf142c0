"""init, checkout, commit, list and dag through the real CLI."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.factory import Project


def test_init_creates_state_dir_with_gitignore(tmp_path: os.PathLike[str]) -> None:
    p = Project(tmp_path)  # type: ignore[arg-type]
    out = p.run("init").ok()
    assert "!/stages/*.lock" in p.read(".pivot/.gitignore")
    assert "Next:\n  1. write a pipeline file: pivot.yaml" in out.stderr and "pivot repro --all" in out.stderr
    p.write("a/pivot.yaml", "stages:\n  s:\n    cmd: echo\n")
    again = p.run("init").ok().stderr
    assert "Already a pivot project" in again and "Pipeline files found: a/pivot.yaml. Next:" in again
    assert p.run("init", "-q").ok().stderr == ""


def test_checkout_restores_deleted_outputs_including_directories(project: Project) -> None:
    project.write("p/pivot.yaml", """
        stages:
          make:
            cmd: mkdir -p out && echo a > out/a.txt && echo b > out/b.txt && echo f > f.txt
            outs: [out/, f.txt]
        """)
    project.run("repro", cwd="p").ok()
    (project.root / "p/f.txt").unlink()
    (project.root / "p/out/a.txt").unlink()
    project.run("checkout", cwd="p").ok()
    assert project.read("p/f.txt") == "f\n" and project.read("p/out/a.txt") == "a\n"
    assert project.run("verify", cwd="p").code == 0


def test_checkout_keeps_a_modified_output_unless_forced(multi: Project) -> None:
    multi.run("repro", "--all").ok()
    multi.write("tune/report.txt", "my edit\n")
    out = multi.run("checkout", "--all")
    assert out.code == 1 and "modified in the workspace" in out.stderr
    assert multi.read("tune/report.txt") == "my edit\n"
    multi.run("checkout", "--all", "--force").ok()
    assert multi.read("tune/report.txt") == "raw data\n+clean lr=1.0\nexp\n"


def test_checkout_link_modes(multi: Project) -> None:
    multi.run("repro", "--all").ok()
    for mode in ("hardlink", "symlink", "copy"):
        (multi.root / "prep/clean.txt").unlink()
        multi.run("checkout", "--all", "--link", mode).ok()
        path = multi.root / "prep/clean.txt"
        assert path.read_text() == "raw data\n+clean"
        assert path.is_symlink() == (mode == "symlink")
    assert multi.run("verify", "--all").code == 0


def test_modified_output_is_stale_and_repro_rebuilds_it(multi: Project) -> None:
    multi.run("repro", "--all").ok()
    multi.write("prep/clean.txt", "tampered\n")
    st = multi.stage_json(multi.run("status", "--all", "--json"))
    assert st["clean"]["reason"] == "output changed: prep/clean.txt"
    multi.run("repro", "--all").ok()
    assert multi.read("prep/clean.txt") == "raw data\n+clean"


def test_commit_records_work_done_by_hand(project: Project) -> None:
    project.write("p/pivot.yaml", """
        stages:
          s:
            cmd: cp in.txt out.txt
            deps: [in.txt]
            outs: [out.txt]
        """)
    project.write("p/in.txt", "1\n")
    project.write("p/out.txt", "1\n")
    assert project.run("verify", cwd="p").code == 1
    out = project.run("commit", cwd="p").ok()
    assert "committed 's'" in out.stderr
    assert project.run("verify", cwd="p").code == 0


def test_commit_of_a_missing_output_fails(project: Project) -> None:
    project.write("p/pivot.yaml", """
        stages:
          s:
            cmd: echo x > out.txt
            outs: [out.txt]
        """)
    out = project.run("commit", cwd="p")
    assert out.code == 1 and "output not created: p/out.txt" in out.stderr


def test_dag_formats(multi: Project) -> None:
    text = multi.run("dag", "--all").ok().stdout
    assert "tune/report  <- tune/train" in text
    dot = multi.run("dag", "--all", "--dot").ok().stdout
    assert dot.startswith("digraph pivot {") and '"clean" -> "train";' in dot
    mermaid = multi.run("dag", "--all", "--mermaid").ok().stdout
    assert mermaid.startswith("flowchart TD") and "-->" in mermaid


def test_list_text_shows_pipeline_and_state_dir(multi: Project) -> None:
    out = multi.run("list", "--all").ok().stdout
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "PIPELINE", "STATE_DIR", "FILE"]
    assert any(line.split()[:3] == ["tune/train", "tune", "tune/.pivot"] for line in lines)


def test_version_and_module_entry_point(project: Project) -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "pivot_ci", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "pivot-ci" in out.stdout
    assert project.run("--help").ok().stdout.count("repro") >= 1


def test_dash_c_runs_as_if_started_in_that_directory(multi: Project, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    out = Project(outside).run("-C", str(multi.root / "train"), "list", "--json").ok()
    assert {row["name"] for row in out.json()} == {"train", "clean"}
    assert Project(outside).run("-C", str(tmp_path / "nope"), "list").code == 2
