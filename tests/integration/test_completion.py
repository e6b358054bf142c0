"""Shell completion: the scripts of `pivot completion`, commands, options and stage names, in a real bash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support import factory
from tests.support.factory import Project

SCRIPTS = Path(sys.executable).parent  # where the test environment installed the `pivot` script


def _env() -> dict[str, str]:
    assert (SCRIPTS / "pivot").exists(), f"the completion scripts call `pivot`: not in {SCRIPTS}"
    return {**os.environ, "PATH": f"{SCRIPTS}:{os.environ.get('PATH', '')}"}


def _bash(p: Project, line: str, cwd: str = ".") -> list[str]:
    """What bash offers for `line` (the cursor at its end), through the script `pivot completion bash` prints."""
    words = line.split(" ")
    script = f"""
        eval "$(pivot completion bash)"
        COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}
        _pivot_completion pivot
        printf '%s\\n' "${{COMPREPLY[@]}}"
    """
    out = subprocess.run(["bash", "-c", script], cwd=p.root / cwd, capture_output=True, text=True, env=_env(),
                         timeout=60)
    assert out.returncode == 0 and out.stderr == "", out
    return [w for w in out.stdout.splitlines() if w]


def _protocol(p: Project, shell: str, line: str) -> str:
    """The raw answer of `pivot` to a bash, zsh or fish completion request (what their scripts read)."""
    words = line.split(" ")
    env = {**_env(), "_PIVOT_COMPLETE": f"{shell}_complete"}
    if shell == "fish":
        env.update(COMP_WORDS=" ".join(words[:-1]), COMP_CWORD=words[-1])
    else:
        env.update(COMP_WORDS=line, COMP_CWORD=str(len(words) - 1))
    out = subprocess.run(factory.PIVOT, cwd=p.root, capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0 and out.stderr == "", out
    return out.stdout


def test_bash_completes_commands_options_and_stage_names(multi: Project) -> None:
    assert _bash(multi, "pivot st") == ["status"]
    assert {"completion", "repro", "verify", "commit"} <= set(_bash(multi, "pivot "))
    assert _bash(multi, "pivot status --ex") == ["--explain", "--exit-code"]
    assert _bash(multi, "pivot repro --all tu") == ["tune/train", "tune/report"]
    assert _bash(multi, "pivot verify --all ") == ["clean", "train", "tune/train", "tune/report", "prep/clean",
                                                  "train/train"]
    assert _bash(multi, "pivot repro ", cwd="train") == ["clean", "train", "prep/clean", "train/train"]
    assert _bash(multi, "pivot -C train repro ") == ["clean", "train", "prep/clean", "train/train"]
    assert _bash(multi, "pivot status --all -C train tr") == ["train", "train/train"]
    # no stage matches: the shell completes a path (a target may be an output); bash's script runs
    # `compopt -o default` for that, which only works inside a real completion, so ask pivot directly
    assert _protocol(multi, "bash", "pivot repro --all prep/r").splitlines() == ["file,prep/r"]


def test_zsh_and_fish_scripts_and_answers(multi: Project) -> None:
    assert "compdef _pivot_completion pivot" in multi.run("completion", "zsh").ok().stdout
    assert "complete --no-files --command pivot" in multi.run("completion", "fish").ok().stdout
    assert multi.run("completion", "tcsh").code == 2
    zsh = _protocol(multi, "zsh", "pivot repro --all tune/")
    assert zsh.splitlines() == ["plain", "tune/train", "_", "plain", "tune/report", "_"]
    fish = _protocol(multi, "fish", "pivot verify --all tune/r")
    assert fish.splitlines() == ["plain,tune/report"]


def test_stage_names_are_cached_until_a_pipeline_file_changes(multi: Project) -> None:
    assert _protocol(multi, "fish", "pivot repro --all c").splitlines() == ["plain,clean"]
    cache = multi.root / ".pivot/tmp/completion.json"
    key = json.loads(cache.read_text())["key"]
    assert set(key["files"]) == {"prep/pivot.yaml", "train/pivot.yaml", "tune/pipeline.py"}
    multi.write("tune/pipeline.py", multi.read("tune/pipeline.py").replace('"report"', '"chart"'))
    multi.write("extra/pivot.yaml", "stages:\n  cleanup:\n    cmd: echo\n")
    assert set(_protocol(multi, "fish", "pivot repro --all c").splitlines()) == {"plain,clean", "plain,cleanup"}
    assert "tune/chart" in _protocol(multi, "fish", "pivot repro --all tune/")
    assert json.loads(cache.read_text())["key"]["files"].keys() >= {"extra/pivot.yaml"}


def test_completion_never_fails(tmp_path: Path, project: Project) -> None:
    outside = Project(tmp_path / "elsewhere")
    outside.root.mkdir()
    assert _protocol(outside, "fish", "pivot repro sta").splitlines() == ["file,sta"]  # not a project
    project.write("p/pivot.yaml", "stages: [broken\n")
    assert _protocol(project, "fish", "pivot repro --all x").splitlines() == ["file,x"]
