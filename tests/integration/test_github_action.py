"""The GitHub Action: action.yml against GitHub's schema, and its run steps executed the way a runner runs them."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import junitparser
import yaml

from tests.support import factory

REPO = Path(__file__).resolve().parents[2]
ACTION_DIR = REPO / "github-action"
SETUP_PYTHON_GUARD = "inputs.python-version != ''"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def _load(action_dir: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((action_dir / "action.yml").read_text())
    return doc


def _parse_outputs(text: str) -> dict[str, str]:
    """A runner's reading of $GITHUB_OUTPUT: `name=value` lines and `name<<DELIMITER` blocks."""
    outputs: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            block = []
            for body in lines:
                if body == delimiter:
                    break
                block.append(body)
            else:
                raise AssertionError(f"$GITHUB_OUTPUT: {name} has no closing {delimiter!r}")
            outputs[name] = "\n".join(block)
        elif line:
            name, sep, value = line.partition("=")
            assert sep, f"$GITHUB_OUTPUT: malformed line {line!r}"
            outputs[name] = value
    return outputs


@dataclasses.dataclass
class Expressions:
    """`${{ }}` for exactly the forms the action uses; anything else fails the test."""

    inputs: dict[str, str]
    action_path: str
    step_ids: set[str]
    step_outputs: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)

    def value(self, expression: str) -> str:
        match expression.split("."):
            case ["inputs", name]:
                assert name in self.inputs, f"${{{{ {expression} }}}}: no input {name!r}"
                return self.inputs[name]
            case ["github", "action_path"]:
                return self.action_path
            case ["steps", step, "outputs", name]:
                assert step in self.step_ids, f"${{{{ {expression} }}}}: no step with id {step!r}"
                return self.step_outputs.get(step, {}).get(name, "")  # unset outputs are '' on GitHub too
        raise AssertionError(f"unsupported expression ${{{{ {expression} }}}}")

    def resolve(self, text: str) -> str:
        resolved = EXPRESSION.sub(lambda m: self.value(m.group(1)), str(text))
        assert "${{" not in resolved, f"unresolved expression in {text!r}"
        return resolved


@dataclasses.dataclass(frozen=True)
class StepRun:
    id: str
    code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str

    def __str__(self) -> str:
        return f"step {self.id} -> {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


@dataclasses.dataclass(frozen=True)
class ActionRun:
    steps: dict[str, StepRun]
    outputs: dict[str, str]

    @property
    def code(self) -> int:
        return list(self.steps.values())[-1].code


@dataclasses.dataclass
class Runner:
    """Runs the composite action's `run` steps in order, with the variables and files a runner provides."""

    action_dir: Path
    workspace: Path
    temp: Path
    path_prefix: tuple[Path, ...] = ()

    def run(self, inputs: dict[str, str], done: dict[str, dict[str, str]] | None = None) -> ActionRun:
        """`done`: ids of steps that already ran in this environment, with their outputs (not run again)."""
        action = _load(self.action_dir)
        declared = action["inputs"]
        assert set(inputs) <= set(declared), f"undeclared inputs {set(inputs) - set(declared)}"
        values = {name: str(spec.get("default", "")) for name, spec in declared.items()} | inputs
        steps = action["runs"]["steps"]
        expr = Expressions(values, str(self.action_dir), {s["id"] for s in steps if "id" in s})
        self.temp.mkdir(parents=True, exist_ok=True)
        path = os.pathsep.join([*map(str, self.path_prefix), os.environ["PATH"]])
        base_env = {**os.environ, "PATH": path, "NO_COLOR": "1", "CI": "true", "GITHUB_ACTIONS": "true",
                    "GITHUB_ACTION_PATH": str(self.action_dir), "GITHUB_WORKSPACE": str(self.workspace),
                    "RUNNER_TEMP": str(self.temp)}
        runs: dict[str, StepRun] = {}
        for index, step in enumerate(steps):
            if "uses" in step:  # only actions/setup-python, and only when python-version is set
                assert step.get("if") == SETUP_PYTHON_GUARD, step
                assert values["python-version"] == "", "a test cannot run setup-python"
                continue
            step_id = step.get("id", f"step{index}")
            if done and step_id in done:
                expr.step_outputs[step_id] = done[step_id]
                continue
            assert "if" not in step, f"run step {step_id} has a condition this runner does not evaluate"
            assert step["shell"] == "bash"
            script = self.temp / f"{step_id}.sh"
            script.write_text(step["run"])
            output, summary = self.temp / f"{step_id}.output", self.temp / f"{step_id}.summary.md"
            output.write_text("")
            summary.write_text("")
            env = {**base_env, **{k: expr.resolve(v) for k, v in step.get("env", {}).items()},
                   "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
            cwd = self.workspace / expr.resolve(step.get("working-directory", "."))
            proc = subprocess.run(["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", str(script)], cwd=cwd,
                                  env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
            outputs = _parse_outputs(output.read_text())
            expr.step_outputs[step_id] = outputs
            runs[step_id] = StepRun(step_id, proc.returncode, proc.stdout, proc.stderr, outputs, summary.read_text())
            if proc.returncode != 0:
                break  # later steps are skipped, as on a runner
        return ActionRun(runs, {name: expr.resolve(spec["value"]) for name, spec in action["outputs"].items()})


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
                           str(ACTION_DIR / "action.yml")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    action = _load(ACTION_DIR)
    assert action["runs"]["using"] == "composite"
    defaults = {name: spec.get("default") for name, spec in action["inputs"].items()}
    assert defaults == {"command": "verify", "working-directory": ".", "args": "", "report-path": "pivot-junit.xml",
                        "allow-missing": "false", "python-version": "", "version": ""}
    assert set(action["outputs"]) == {"passed", "failed-count", "report-path"}
    steps = action["runs"]["steps"]
    uses = [s for s in steps if "uses" in s]
    assert [s["uses"] for s in uses] == ["actions/setup-python@v5"] and uses[0]["if"] == SETUP_PYTHON_GUARD
    for step in steps:
        if "run" in step:
            assert step["shell"] == "bash", step
            assert "${{" not in step["run"], step
    for script in ACTION_DIR.glob("*.sh"):
        text = script.read_text()
        assert "${{" not in text and "set -euo pipefail" in text, script
        assert os.access(script, os.X_OK), f"{script} is not executable"
        subprocess.run(["bash", "-n", str(script)], check=True)


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
