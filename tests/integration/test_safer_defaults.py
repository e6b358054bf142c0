"""Safer defaults: pipeline.py files that are not pivot's, git-ignored outputs, lock files of vanished stages,
and what a fresh clone is told."""

from __future__ import annotations

from pathlib import Path

from tests.support import factory, gitrepo
from tests.support.factory import Project

NOT_OURS = """
import sys

sys.exit("a pipeline.py of the ML code was executed")  # would end pivot with this message


def pipeline():
    return "an ML pipeline, not pivot's"
"""


def test_pipeline_py_that_does_not_import_pivot_ci_is_skipped_and_listed_with_v(multi: Project) -> None:
    multi.write("ml/pipeline.py", NOT_OURS)
    multi.write("train/pipeline.py", NOT_OURS)  # beside a pivot.yaml: not "two pipeline files"
    multi.write("docs/pipeline.py", '"""from pivot_ci import Pipeline -- in a docstring only."""\n')
    multi.write("vendor/pivot.yaml", "not: [a pipeline\n")
    multi.write(".pivotignore", "vendor/\n")
    listed = multi.run("list", "--all", "-v").ok()
    assert {row.split()[0] for row in listed.stdout.splitlines()[1:]} == {"clean", "train", "tune/train",
                                                                          "tune/report"}
    for path in ("ml/pipeline.py", "train/pipeline.py", "docs/pipeline.py"):
        assert f"skipped {path}: does not import pivot_ci, so it is not a pipeline file" in listed.stderr
    assert "skipped vendor/: matched by .pivotignore" in listed.stderr
    assert "skipped" not in multi.run("list", "--all").ok().stderr  # only with -v
    multi.run("repro", "--all", "-q").ok()
    assert multi.run("status", cwd="train").ok().stdout == "2 stages in 2 pipelines up to date\n"
    out = multi.run("status", cwd="ml")
    assert out.code == 2 and "skipped ml/pipeline.py: it does not import pivot_ci" in out.stderr


def test_a_broken_pipeline_py_names_pivotignore(project: Project) -> None:
    project.write("exp/pipeline.py", "from pivot_ci import Pipeline\nimport json\nraise ValueError('boom')\n")
    out = project.run("status", "--all")
    assert out.code == 2 and "ValueError: boom (exp/pipeline.py:3)" in out.stderr
    assert "list its directory in .pivotignore" in out.stderr


def test_cached_outputs_are_git_ignored_beside_them_keeping_the_users_lines(tmp_path: Path) -> None:
    proj = factory.new_project(tmp_path / "repo")
    proj.write("p/pivot.yaml", """
        stages:
          make:
            cmd: "mkdir -p out/sub && echo a > out/sub/a.txt && echo m > model.bin && echo 1 > m.json"
            outs: [out/, model.bin]
            metrics: [m.json]
        """)
    proj.write("p/.gitignore", "# mine\n*.tmp\n")
    proj.run("init").ok()
    proj.run("repro", "--all").ok()
    assert proj.read("p/.gitignore") == "# mine\n*.tmp\n"  # not in a git work tree (yet): left alone
    repo = gitrepo.init(proj.root, gitrepo.base_env(tmp_path / "home"))
    proj.run("repro", "--all", "--force").ok()
    assert proj.read("p/.gitignore") == "# mine\n*.tmp\n/out\n/model.bin\n"
    untracked = repo.git("status", "--porcelain", "--untracked-files=all").ok().output.split("\n")
    assert {line[3:] for line in untracked if line} == {
        ".pivot/.gitignore", "p/.gitignore", "p/.pivot/.gitignore", "p/.pivot/stages/make.lock", "p/m.json",
        "p/pivot.yaml"}  # the metric is committed, the cached outputs are not
    (proj.root / "p/.gitignore").write_text("/model.bin\n# mine\n")
    proj.run("commit", "--all", "--force", "make").ok()  # commit adds what is missing, once
    assert proj.read("p/.gitignore") == "/model.bin\n# mine\n/out\n"


def test_lock_files_of_stages_that_no_longer_exist_are_a_warning(multi: Project) -> None:
    multi.run("repro", "--all", "-q").ok()
    multi.write("prep/pivot.yaml", multi.read("prep/pivot.yaml").replace("clean:", "cleanup:"))
    warning = ("lock file .pivot/stages/clean.lock belongs to no stage (was stage 'clean' renamed or removed? "
               "then `git rm .pivot/stages/clean.lock`)")
    for args in (("status", "--all"), ("verify", "--all"), ("status",)):
        out = multi.run(*args, cwd="prep")
        assert out.stderr.count(warning) == 1, out
    assert warning in multi.run("verify", "--all", "--json").json()["warnings"]
    (multi.root / ".pivot/stages/clean.lock").unlink()
    assert "lock file" not in multi.run("status", "--all").stderr


def test_a_fresh_clone_is_told_how_outputs_travel_not_to_repro(tmp_path: Path) -> None:
    env = gitrepo.base_env(tmp_path / "home")
    proj = factory.multi(tmp_path / "repo")
    repo = gitrepo.init(proj.root, env)
    proj.run("repro", "--all", "-q").ok()
    repo.commit_all("reproduced").ok()
    gitrepo.run(["git", "clone", "-q", str(repo.root), str(tmp_path / "clone")], tmp_path, env).ok()
    clone = Project(tmp_path / "clone")

    out = clone.run("verify", "--all")
    assert out.code == 1 and "fix: pivot repro" not in out.stdout
    assert out.stdout.splitlines() == [
        "prep (prep/pivot.yaml, state .pivot): outputs missing from the workspace and the cache: clean",
        "train (train/pivot.yaml, state train/.pivot): outputs missing from the workspace and the cache: train",
        "tune (tune/pipeline.py, state tune/.pivot): outputs missing from the workspace and the cache: "
        "tune/train, tune/report",
        "4 stages have outputs in neither the workspace nor the cache, and no remote is configured (a fresh clone?):",
        "  outputs travel through a remote: `pivot remote add NAME URL --default` (commit .pivot/config.yaml), "
        "then `pivot push --all` where they were built",
        "  here: `pivot pull --all`, or `pivot repro --all` to rebuild them",
        "  in CI: `pivot verify --all --allow-missing` checks them on the remote without downloading "
        "(README, 'Use in CI')",
        "verify FAILED: 4 failed (4 stages in 3 pipelines)"]
    stages = clone.stage_json(clone.run("verify", "--all", "--json"))
    assert {s["failure"] for s in stages.values()} == {"pivot.MissingOutput"}
    assert stages["tune/report"]["fix"] == "pivot pull --all tune/report"

    proj.run("remote", "add", "origin", str(tmp_path / "remote"), "--default").ok()
    proj.run("push", "--all", "-q").ok()
    repo.commit_all("remote").ok()
    gitrepo.run(["git", "pull", "-q", "origin", "main"], clone.root, env).ok()
    hinted = clone.run("verify", "--all")
    assert "  here: `pivot pull --all` fetches them from remote 'origin'" in hinted.stdout
    clone.run("verify", "--all", "--allow-missing").ok()
    clone.run("pull", "--all", "-q").ok()
    clone.run("verify", "--all").ok()


def test_the_ci_recipes_start_from_the_remote() -> None:
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    section = readme[readme.index("\n## Use in CI\n"):]
    first_block = section[section.index("```bash\n") + 8:]
    assert first_block.startswith("pivot remote add origin ")  # the recipe this test's fresh clone follows
    assert "pivot verify --all --allow-missing" in first_block[:first_block.index("```")]
    for doc in (section[:section.index("\n## Remotes\n")], (root / "github-action/README.md").read_text()):
        workflow = doc[doc.index("# .github/workflows/pivot.yml"):]
        assert "allow-missing: true" in workflow[:workflow.index("```")]
