"""The GitHub Action: action.yml against GitHub's schema, and its run steps executed the way a runner runs them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import junitparser

from tests.support import factory
from tests.support.action import SETUP_PYTHON_GUARD, Runner, load

REPO = Path(__file__).resolve().parents[2]
ACTION_DIR = REPO / "github-action"
def _copy_checkout(dest: Path) -> Path:
    """The action repository as a runner checks it out (`_actions/<owner>/pivot-ci/<ref>/`)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    dest.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    for name in ("pivot_ci", "github-action"):
        shutil.copytree(REPO / name, dest / name, ignore=ignore)
    return dest


def _here(tmp_path: Path, project: factory.Project) -> Runner:
    """A runner whose python already has this checkout's pivot-ci (the test environment's editable install)."""
    return Runner(ACTION_DIR, project.root, tmp_path / "runner-temp")


CURRENT_PYTHON = {"install": {"python": sys.executable}}


def test_action_yml_validates_against_the_github_action_schema() -> None:
    proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-actions",
                           str(ACTION_DIR / "action.yml"), str(ACTION_DIR / "comment" / "action.yml")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    action = load(ACTION_DIR)
    assert action["runs"]["using"] == "composite"
    defaults = {name: spec.get("default") for name, spec in action["inputs"].items()}
    assert defaults == {"command": "verify", "working-directory": ".", "args": "", "report-path": "pivot-junit.xml",
                        "allow-missing": "false", "python-version": "", "version": "", "compare-to": "",
                        "comment": "false", "comment-key": "", "github-token": "${{ github.token }}",
                        "markdown-path": ""}
    assert set(action["outputs"]) == {"passed", "failed-count", "report-path"}
    steps = action["runs"]["steps"]
    uses = [s for s in steps if "uses" in s]
    assert [s["uses"] for s in uses] == ["actions/setup-python@v5"] and uses[0]["if"] == SETUP_PYTHON_GUARD
    for step in steps:
        if "run" in step:
            assert step["shell"] == "bash", step
            assert "${{" not in step["run"], step
    for step in load(ACTION_DIR / "comment")["runs"]["steps"]:
        assert step["shell"] == "bash" and "${{" not in step["run"], step
    for script in [*ACTION_DIR.glob("*.sh"), *ACTION_DIR.glob("comment/*.sh")]:
        text = script.read_text()
        assert "${{" not in text and "set -euo pipefail" in text, script
        assert os.access(script, os.X_OK), f"{script} is not executable"
        subprocess.run(["bash", "-n", str(script)], check=True)
    comment = ACTION_DIR / "comment.py"  # standard library only: it runs with the runner's python3
    assert os.access(comment, os.X_OK) and "${{" not in comment.read_text()
    imports = subprocess.run([sys.executable, "-c", "import ast, sys; print(' '.join(sorted({a.name.split('.')[0] "
                              "for n in ast.walk(ast.parse(open(sys.argv[1]).read())) if isinstance(n, ast.Import) "
                              "for a in n.names} | {n.module.split('.')[0] for n in ast.walk(ast.parse(open("
                              "sys.argv[1]).read())) if isinstance(n, ast.ImportFrom) and n.module})))", str(comment)],
                             capture_output=True, text=True, check=True).stdout.split()
    assert set(imports) <= set(sys.stdlib_module_names) | {"__future__"}, imports


def test_action_installs_from_its_checkout_and_gates_a_stale_project(tmp_path: Path) -> None:
    checkout = _copy_checkout(tmp_path / "_actions" / "pivot-ci")
    # the runner's python: a fresh venv that resolves deps (and pip) from the system site-packages, offline;
    # --without-pip saves the ~10 s of ensurepip
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                   check=True, timeout=120)
    project = factory.multi(tmp_path / "workspace")
    runner = Runner(checkout / "github-action", project.root, tmp_path / "runner-temp", (venv / "bin",))

    stale = runner.run({})
    install = stale.steps["install"]
    assert install.code == 0, install
    assert install.outputs == {"python": str(venv / "bin" / "python")}
    assert f"from {venv}" in install.stdout, install  # the freshly installed copy runs, not the editable one
    step = stale.steps["pivot"]
    assert stale.code == 1, step
    junit_path = project.root / "pivot-junit.xml"
    assert step.outputs == {"passed": "false", "failed-count": "4", "report-path": str(junit_path)}
    assert stale.outputs == step.outputs
    xml = junitparser.JUnitXml.fromfile(str(junit_path))
    assert sorted(s.name for s in xml) == ["prep", "train", "tune"]
    assert sum(s.tests for s in xml) == 4 and sum(s.failures for s in xml) == 4
    assert "::group::prep" in step.stdout and "::error file=prep/pivot.yaml,line=" in step.stdout
    assert "| pipeline | file | state dir |" in step.summary and "❌ pivot verify" in step.summary
    assert list(runner.temp.glob("pivot-ci.*")) == []  # the JSON report's temp dir is removed

    project.run("repro", "--all").ok()
    fresh = runner.run({}, done={"install": install.outputs})
    assert fresh.code == 0, fresh.steps["pivot"]
    assert fresh.outputs == {"passed": "true", "failed-count": "0", "report-path": str(junit_path)}
    assert "✅ pivot verify" in fresh.steps["pivot"].summary
    assert "::error" not in fresh.steps["pivot"].stdout


def test_status_reports_stale_stages_but_never_fails_the_step(tmp_path: Path) -> None:
    project = factory.multi(tmp_path / "workspace")
    run = _here(tmp_path, project).run({"command": "status", "working-directory": "train",
                                        "report-path": "reports/pivot.xml"}, done=CURRENT_PYTHON)
    step = run.steps["pivot"]
    assert run.code == 0, step
    report = project.root / "train" / "reports" / "pivot.xml"
    assert run.outputs == {"passed": "false", "failed-count": "4", "report-path": str(report)}
    assert len(list(junitparser.JUnitXml.fromfile(str(report)))) == 3
    assert "::error file=" in step.stdout and "pivot status" in step.summary
    assert "+ pivot status --all --format github --report junit:reports/pivot.xml" in step.stderr
    assert "--allow-missing" not in step.stderr


def test_args_are_split_like_a_shell_and_targets_narrow_the_check(tmp_path: Path) -> None:
    project = factory.multi(tmp_path / "workspace")
    run = _here(tmp_path, project).run({"args": "-v 'clean'"}, done=CURRENT_PYTHON)
    assert run.code == 1, run.steps["pivot"]
    assert run.outputs["passed"] == "false" and run.outputs["failed-count"] == "1"


def test_allow_missing_true_passes_the_flag_to_verify(tmp_path: Path) -> None:
    project = factory.multi(tmp_path / "workspace")
    run = _here(tmp_path, project).run({"allow-missing": "true"}, done=CURRENT_PYTHON)
    step = run.steps["pivot"]
    assert run.code != 0, step  # stale either way (or the flag is not there yet: exit 2)
    assert " --allow-missing" in step.stderr.splitlines()[0], step
    assert step.outputs["passed"] == "false" and step.outputs["report-path"]


def test_bad_inputs_fail_with_an_annotation(tmp_path: Path) -> None:
    project = factory.multi(tmp_path / "workspace")
    runner = _here(tmp_path, project)
    bad_command = runner.run({"command": "repro"}, done=CURRENT_PYTHON)
    assert bad_command.code == 2
    assert "::error title=pivot-ci::input command: 'repro'" in bad_command.steps["pivot"].stdout
    bad_flag = runner.run({"allow-missing": "yes"}, done=CURRENT_PYTHON)
    assert bad_flag.code == 2 and "input allow-missing" in bad_flag.steps["pivot"].stdout
    assert not (project.root / "pivot-junit.xml").exists()
