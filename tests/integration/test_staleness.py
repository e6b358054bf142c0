"""Staleness with reasons (SPEC §4), code fingerprints, and isolation between pipelines."""

from __future__ import annotations

from tests.support.factory import Project


def _reasons(p: Project, *args: str, cwd: str = ".") -> dict[str, str]:
    out = p.run("status", "--json", *args, cwd=cwd).ok()
    return {name: s["reason"] for name, s in p.stage_json(out).items() if s["status"] == "stale"}


def test_fresh_project_is_stale_for_lack_of_locks(multi: Project) -> None:
    reasons = _reasons(multi, "--all")
    assert reasons["clean"].startswith("no lock file")
    assert "upstream stale: clean" in reasons["train"]


def test_dep_change_makes_downstream_stale_with_paths(multi: Project) -> None:
    multi.run("repro", "--all").ok()
    multi.write("prep/raw.txt", "new raw\n")
    reasons = _reasons(multi, "--all")
    assert reasons["clean"] == "dep changed: prep/raw.txt"
    assert reasons["train"] == "upstream stale: clean"
    assert set(reasons) == {"clean", "train", "tune/train", "tune/report"}


def test_param_change_is_a_reason(multi: Project) -> None:
    multi.run("repro", "--all").ok()
    multi.write("train/pivot.yaml", multi.read("train/pivot.yaml").replace("lr: 0.5", "lr: 0.7"))
    out = multi.run("status", "--all", "--json", "--explain").ok()
    train = multi.stage_json(out)["train"]
    assert train["reason"] == "param changed: lr"
    assert train["changes"] == [{"kind": "param", "path": "lr", "old": "0.5", "new": "0.7"}]


def test_cmd_change_is_a_reason(multi: Project) -> None:
    multi.run("repro", "--all").ok()
    multi.write("prep/pivot.yaml", multi.read("prep/pivot.yaml").replace("+clean", "+cleaner"))
    assert _reasons(multi, "--all")["clean"] == "cmd changed"


def test_editing_a_helper_makes_the_python_stage_stale(multi: Project) -> None:
    multi.run("repro", "--all").ok()
    multi.write("train/helpers.py", "def scale(x):\n    return x * 3\n")
    reasons = _reasons(multi, "--all")
    assert reasons["train"] == "code changed: train"
    assert "tune/train" in reasons  # downstream


def test_comments_and_formatting_do_not_make_stale(multi: Project) -> None:
    multi.run("repro", "--all").ok()
    multi.write("train/helpers.py", '# a comment\ndef scale(x):\n    """Doc."""\n    return (x  *  2)\n')
    multi.write("train/stages.py", multi.read("train/stages.py") + "\n# trailing comment\n")
    assert _reasons(multi, "--all") == {}


def test_same_named_stages_in_two_pipelines_share_no_record(multi: Project) -> None:
    multi.run("repro", "--all").ok()
    # edit only tune's sibling helpers.py: tune/train is stale, train/train is not
    multi.write("tune/helpers.py", 'def tag():\n    return "exp2"\n')
    reasons = _reasons(multi, "--all")
    assert reasons.get("tune/train") == "code changed: train"
    assert "train" not in reasons
    multi.run("repro", "--all").ok()
    assert multi.read("tune/result.txt").endswith("exp2\n")
    # and the other way round
    multi.write("train/helpers.py", "def scale(x):\n    return x * 4\n")
    reasons = _reasons(multi, "--all")
    assert reasons["train"] == "code changed: train"
    assert reasons["tune/train"] == "upstream stale: train"


def test_sibling_helpers_are_isolated_in_workers(multi: Project) -> None:
    # both pipelines import `helpers`; each stage must see its own (run in one process pool)
    multi.run("repro", "--all", "-j", "1").ok()
    assert multi.read("train/model.txt").endswith("lr=1.0\n")
    assert multi.read("tune/result.txt").endswith("exp\n")


def test_status_works_without_the_stage_runtime_dependencies(project: Project) -> None:
    project.write("a/pivot.yaml", """
        stages:
          fit:
            python: stages:fit
            deps: [data.txt]
            outs: [out.txt]
        """)
    project.write("a/data.txt", "x\n")
    project.write("a/stages.py", """
        import torch_not_installed_here as torch


        def fit():
            torch.save()
        """)
    out = project.run("status", "--all", "--json").ok()
    assert project.stage_json(out)["fit"]["reason"] == "no lock file"
    assert project.run("verify", "--all").code == 1


def test_missing_output_not_in_cache_is_stale(multi: Project) -> None:
    multi.run("repro", "--all").ok()
    (multi.root / "tune/report.txt").unlink()
    (multi.root / ".pivot/cache").rename(multi.root / "cache-gone")
    out = multi.run("verify", "--all", "--json")
    assert out.code == 1
    report = multi.stage_json(out)["tune/report"]
    assert report["missing_files"] == ["tune/report.txt"]
    assert report["fix"] == "pivot pull --all tune/report"  # its lock is current: the output exists elsewhere


def test_output_missing_but_cached_is_up_to_date_and_repro_restores(multi: Project) -> None:
    multi.run("repro", "--all").ok()
    (multi.root / "prep/clean.txt").unlink()
    assert multi.run("verify", "--all").code == 0
    multi.run("repro", "--all").ok()
    assert multi.read("prep/clean.txt") == "raw data\n+clean"


def test_unresolved_dependency_warns_once_and_fails_verify(project: Project) -> None:
    project.write("p/pivot.yaml", """
        stages:
          s:
            cmd: cat present.txt > out.txt
            deps: [present.txt, absent.txt]
            outs: [out.txt]
        """)
    project.write("p/present.txt", "x\n")
    out = project.run("status", "--all")
    assert out.stderr.count("absent.txt") == 1 and "present.txt" not in out.stderr
    v = project.run("verify", "--all", "--json")
    assert v.code == 1
    stage = project.stage_json(v)["s"]
    assert stage["failure"] == "pivot.MissingDep" and "p/absent.txt" in stage["missing_files"]
