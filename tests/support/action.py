"""Run a composite GitHub Action's `run` steps locally, the way a runner runs them: its inputs and their
defaults, the `${{ }}` expressions the action uses (anything else fails the test), $GITHUB_OUTPUT and
$GITHUB_STEP_SUMMARY files, later steps skipped after a failure."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

SETUP_PYTHON_GUARD = "inputs.python-version != ''"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load(action_dir: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((action_dir / "action.yml").read_text())
    return doc


def parse_outputs(text: str) -> dict[str, str]:
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
    token: str = ""
    step_outputs: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)

    def value(self, expression: str) -> str:
        match expression.split("."):
            case ["inputs", name]:
                assert name in self.inputs, f"${{{{ {expression} }}}}: no input {name!r}"
                return self.inputs[name]
            case ["github", "action_path"]:
                return self.action_path
            case ["github", "token"]:
                return self.token
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
    env: dict[str, str] = dataclasses.field(default_factory=dict)  # the runner's GITHUB_* context, a token
    token: str = ""  # what `${{ github.token }}` gives

    def run(self, inputs: dict[str, str], done: dict[str, dict[str, str]] | None = None) -> ActionRun:
        """`done`: ids of steps that already ran in this environment, with their outputs (not run again)."""
        action = load(self.action_dir)
        declared = action["inputs"]
        assert set(inputs) <= set(declared), f"undeclared inputs {set(inputs) - set(declared)}"
        steps = action["runs"]["steps"]
        expr = Expressions({}, str(self.action_dir), {s["id"] for s in steps if "id" in s}, self.token)
        values = {name: expr.resolve(str(spec.get("default", ""))) for name, spec in declared.items()} | inputs
        expr.inputs = values
        self.temp.mkdir(parents=True, exist_ok=True)
        path = os.pathsep.join([*map(str, self.path_prefix), os.environ["PATH"]])
        base_env = {**os.environ, "PATH": path, "NO_COLOR": "1", "CI": "true", "GITHUB_ACTIONS": "true",
                    "GITHUB_ACTION_PATH": str(self.action_dir), "GITHUB_WORKSPACE": str(self.workspace),
                    "RUNNER_TEMP": str(self.temp), **self.env}
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
            outputs = parse_outputs(output.read_text())
            expr.step_outputs[step_id] = outputs
            runs[step_id] = StepRun(step_id, proc.returncode, proc.stdout, proc.stderr, outputs, summary.read_text())
            if proc.returncode != 0:
                break  # later steps are skipped, as on a runner
        return ActionRun(runs, {name: expr.resolve(spec["value"]) for name, spec in action.get("outputs", {}).items()})
