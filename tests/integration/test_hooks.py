"""The pre-commit hooks (.pre-commit-hooks.yaml) and the plain git hooks (hooks/), in real git repositories.

pre-commit builds its hook venv by pip-installing pivot-ci from a committed snapshot of this working tree.
That is slow, so the snapshot and PRE_COMMIT_HOME are session fixtures and every test that uses them is in
one xdist group (one worker, so one venv build; `--dist loadgroup`).
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from tests.support import factory, gitrepo
from tests.support.gitrepo import GitRepo, Result

SRC = Path(__file__).resolve().parents[2]
HOOKS = SRC / "hooks"
MANIFEST = SRC / ".pre-commit-hooks.yaml"
PRECOMMIT = pytest.mark.xdist_group("precommit")
VENV_TIMEOUT = 600  # a hook run that builds a venv pip-installs pivot-ci and its dependencies

FAKE_DEP = """
def shout(text):
    return text.upper()
"""
FAKE_DEP_PYPROJECT = """
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "pivot-fake-dep"
version = "1.0"

[tool.setuptools]
py-modules = ["pivot_fake_dep"]
"""


@dataclasses.dataclass(frozen=True)
class HookSource:
    repo: str  # what `repo:` names: a committed snapshot of this checkout
    rev: str
    home: Path  # PRE_COMMIT_HOME, shared by the session's tests


@pytest.fixture(scope="session")
def hook_source(tmp_path_factory: pytest.TempPathFactory) -> HookSource:
    tmp = tmp_path_factory.mktemp("precommit")
    snap = gitrepo.snapshot(SRC, tmp / "pivot-src", gitrepo.base_env(tmp / "home"))
    return HookSource(str(snap.root), snap.head(), tmp / "pre-commit-home")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    assert (gitrepo.SCRIPTS / "pivot").exists(), f"the hooks under test need `pivot` in {gitrepo.SCRIPTS}"
    return gitrepo.base_env(tmp_path / "home")


@pytest.fixture
def hook_env(env: dict[str, str], hook_source: HookSource) -> dict[str, str]:
    return {**env, "PRE_COMMIT_HOME": str(hook_source.home)}


def _init(proj: factory.Project, env: dict[str, str]) -> GitRepo:
    """`pivot init` (the .pivot/.gitignore) and `git init` at the project root, as a user would."""
    proj.run("init").ok()
    return gitrepo.init(proj.root, env)


def _multi_repo(root: Path, env: dict[str, str]) -> tuple[GitRepo, factory.Project]:
    proj = factory.multi(root)
    return _init(proj, env), proj


def _pre_commit(repo: GitRepo, *args: str, env: dict[str, str] | None = None) -> Result:
    return gitrepo.run([*gitrepo.PRE_COMMIT, *args], repo.root, {**repo.env, **(env or {})}, VENV_TIMEOUT)


def _try_repo(repo: GitRepo, src: HookSource) -> Result:
    """`pre-commit try-repo` with every hook of the manifest, on the staged files.

    try-repo builds its hook venv in a throwaway store (not PRE_COMMIT_HOME), so one call per session.
    """
    return _pre_commit(repo, "try-repo", src.repo, "--ref", src.rev)


def _run_hook(repo: GitRepo, hook: str = "pivot-verify-all", env: dict[str, str] | None = None) -> Result:
    """`pre-commit run HOOK` on the staged files, with the repo's .pre-commit-config.yaml."""
    return _pre_commit(repo, "run", hook, env=env)


def _config(src: HookSource, *verify_lines: str, status: bool = False) -> str:
    """A .pre-commit-config.yaml that installs the hooks from the snapshot (venv in PRE_COMMIT_HOME)."""
    extra = "".join(f"\n        {line}" for line in verify_lines)
    return (f"repos:\n  - repo: {src.repo}\n    rev: {src.rev}\n    hooks:\n"
            f"      - id: pivot-verify-all{extra}\n" + ("      - id: pivot-status-all\n" if status else ""))


def _fake_dep(where: Path) -> Path:
    """A pip-installable package `pivot_fake_dep`: the developer's env has it (PYTHONPATH), the hook venv not."""
    where.mkdir(parents=True)
    (where / "pivot_fake_dep.py").write_text(FAKE_DEP.lstrip())
    (where / "pyproject.toml").write_text(FAKE_DEP_PYPROJECT.lstrip())
    return where


def _readme_yaml_blocks() -> list[str]:
    """The YAML examples of the README's "Use in CI" section."""
    text = (SRC / "README.md").read_text()
    section = text[text.index("\n## Use in CI\n"):]
    section = section[:section.find("\n## ", 1)]
    return re.findall(r"```yaml\n(.*?)```", section, re.S)


# --- the manifest --------------------------------------------------------------------------------------


def test_manifest_is_valid_and_its_files_pattern_selects_what_pivot_fingerprints(env: dict[str, str]) -> None:
    gitrepo.run([*gitrepo.PRE_COMMIT, "validate-manifest", str(MANIFEST)], SRC, env).ok()
    hooks = {h["id"]: h for h in yaml.safe_load(MANIFEST.read_text())}
    assert set(hooks) == {"pivot-verify-all", "pivot-status-all"}
    for h in hooks.values():
        assert (h["language"], h["pass_filenames"], h["require_serial"]) == ("python", False, True)
        assert h["stages"] == ["pre-commit", "pre-push"]
        assert h["minimum_pre_commit_version"] == "3.2.0"
    assert hooks["pivot-verify-all"]["entry"] == "pivot verify --all --staged"
    assert hooks["pivot-status-all"]["entry"].startswith("pivot status --all")
    assert hooks["pivot-status-all"]["verbose"] is True
    assert hooks["pivot-status-all"]["files"] == hooks["pivot-verify-all"]["files"]
    files = re.compile(hooks["pivot-verify-all"]["files"])
    for path in ("pivot.yaml", "prep/pivot.yml", "tune/pipeline.py", "train/stages.py", "params.yaml",
                 "prep/vars.yml", ".pivot/stages/clean.lock", "train/.pivot/stages/train.lock", ".pivotignore"):
        assert files.search(path), path
    for path in ("README.md", "prep/raw.txt", "data/big.csv", ".pivot/cache/files/ab/cdef", "model.pkl",
                 "stages.py.orig", "hooks/pre-commit"):
        assert not files.search(path), path


def test_readme_documents_the_hook_and_the_local_recipe_the_error_points_to() -> None:
    blocks = _readme_yaml_blocks()
    assert any("id: pivot-verify-all" in b and "rev: v0.1.0" in b for b in blocks)
    assert any("additional_dependencies:" in b for b in blocks)
    local = [yaml.safe_load(b) for b in blocks if "repo: local" in b]
    assert len(local) == 1
    (hook,) = local[0]["repos"][0]["hooks"]
    assert hook["entry"] == "pivot verify --all --staged" and hook["language"] == "system"
    assert hook["pass_filenames"] is False and hook["require_serial"] is True


# --- pre-commit, through the framework -----------------------------------------------------------------


@PRECOMMIT
def test_precommit_try_repo_verify_blocks_stale_stages_and_status_only_reports_them(
        tmp_path: Path, hook_env: dict[str, str], hook_source: HookSource) -> None:
    repo, proj = _multi_repo(tmp_path / "repo", hook_env)
    proj.run("repro", "--all").ok()
    repo.commit_all("reproduced").ok()
    proj.write("train/helpers.py", "def scale(x):\n    return x * 3\n")  # stage code of train
    repo.git("add", "-A").ok()

    out = _try_repo(repo, hook_source).failed()  # every hook of the manifest, on the staged files
    assert re.search(r"pivot verify --all\.+Failed", out.output), out
    assert "fix: pivot repro --all train\n" in out.output, out
    assert "verify FAILED" in out.output
    assert re.search(r"pivot status --all\.+Passed", out.output), out  # reports, does not block
    assert "train: stale" in out.output, out


@PRECOMMIT
def test_precommit_install_blocks_git_commit_and_push_until_repro_and_skips_data_only_commits(
        tmp_path: Path, hook_env: dict[str, str], hook_source: HookSource) -> None:
    repo, proj = _multi_repo(tmp_path / "repo", hook_env)
    proj.write(".pre-commit-config.yaml", _config(hook_source))
    _pre_commit(repo, "install", "--hook-type", "pre-commit", "--hook-type", "pre-push").ok()

    blocked = repo.commit_all("nothing reproduced yet", timeout=VENV_TIMEOUT).failed()  # may build the venv
    assert re.search(r"pivot verify --all\.+Failed", blocked.output), blocked
    assert "fix: pivot repro --all clean\n" in blocked.output, blocked
    assert repo.git("rev-parse", "-q", "--verify", "HEAD").code != 0  # no commit was made
    proj.run("repro", "--all").ok()
    passed = repo.commit_all("reproduced", timeout=VENV_TIMEOUT).ok()
    assert re.search(r"pivot verify --all\.+Passed", passed.output), passed
    state = [f for f in repo.git("ls-files").ok().output.split() if ".pivot/" in f]
    assert state and all(f.endswith((".lock", "/.gitignore")) for f in state), state

    proj.write("prep/raw.txt", "new raw data\n")  # stale, but a data file: not the hook's business
    skipped = repo.commit_all("new data", timeout=VENV_TIMEOUT).ok()
    assert re.search(r"pivot verify --all\.+\(no files to check\)Skipped", skipped.output), skipped
    proj.run("repro", "--all").ok()
    repo.commit_all("new data reproduced", timeout=VENV_TIMEOUT).ok()  # lock files changed: the hook ran

    remote = gitrepo.init(tmp_path / "remote.git", hook_env, bare=True)
    repo.git("remote", "add", "origin", str(remote.root)).ok()
    proj.write("tune/helpers.py", 'def tag():\n    return "exp2"\n')
    repo.commit_all("tune edited, not reproduced", "--no-verify").ok()
    pushed = repo.git("push", "origin", "main", timeout=VENV_TIMEOUT).failed()
    assert "fix: pivot repro --all tune/train\n" in pushed.output, pushed
    proj.run("repro", "--all").ok()
    repo.commit_all("tune reproduced", timeout=VENV_TIMEOUT).ok()
    repo.git("push", "origin", "main", timeout=VENV_TIMEOUT).ok()
    assert remote.git("rev-parse", "main").ok().output.strip() == repo.head()


@PRECOMMIT
def test_precommit_hook_venv_verifies_yaml_python_stages_without_their_imports(
        tmp_path: Path, hook_env: dict[str, str], hook_source: HookSource) -> None:
    devenv = _fake_dep(tmp_path / "devenv")
    proj = factory.new_project(tmp_path / "repo")
    proj.write("lab/data.txt", "some data\n")
    proj.write("lab/pivot.yaml", """
        stages:
          fit:
            python: stages:fit
            deps: [data.txt]
            outs: [fit.txt]
        """)
    proj.write("lab/stages.py", """
        import pivot_fake_dep


        def fit():
            open("fit.txt", "w").write(pivot_fake_dep.shout(open("data.txt").read()))
        """)
    proj.write(".pre-commit-config.yaml", _config(hook_source))
    repo = _init(proj, hook_env)
    proj.run("repro", "--all", env={"PYTHONPATH": str(devenv)}).ok()  # the developer's env has the package
    assert proj.read("lab/fit.txt") == "SOME DATA\n"
    repo.git("add", "-A").ok()
    passed = _run_hook(repo).ok()  # the hook venv does not
    assert re.search(r"pivot verify --all\.+Passed", passed.output), passed

    proj.write("lab/stages.py", proj.read("lab/stages.py").replace(".shout(", ".shout(' ' + "))
    repo.git("add", "-A").ok()
    blocked = _run_hook(repo).failed()  # a real code edit is still seen
    assert "fix: pivot repro --all fit\n" in blocked.output, blocked
    assert "not installed" not in blocked.output


@PRECOMMIT
def test_precommit_pipeline_py_that_imports_a_missing_package_names_it_and_both_fixes(
        tmp_path: Path, hook_env: dict[str, str], hook_source: HookSource) -> None:
    devenv = _fake_dep(tmp_path / "devenv")
    proj = factory.new_project(tmp_path / "repo")
    proj.write("exp/data.txt", "some data\n")
    proj.write("exp/pipeline.py", """
        import pivot_fake_dep

        from pivot_ci import Pipeline

        pipeline = Pipeline("exp")


        @pipeline.stage(deps=["data.txt"], outs=["out.txt"])
        def run():
            open("out.txt", "w").write(pivot_fake_dep.shout(open("data.txt").read()))
        """)
    proj.write(".pre-commit-config.yaml", _config(hook_source, status=True))
    repo = _init(proj, hook_env)
    with_dep = {"PYTHONPATH": str(devenv)}
    proj.run("repro", "--all", env=with_dep).ok()
    repo.git("add", "-A").ok()

    blocked = _run_hook(repo).failed()
    for needle in ("exp/pipeline.py", "module 'pivot_fake_dep' is not installed", "additional_dependencies",
                   "`repo: local` hook with `language: system`", "README"):
        assert needle in blocked.output, blocked
    reported = _run_hook(repo, "pivot-status-all").ok()  # never blocks, even on a pipeline that cannot load
    assert "module 'pivot_fake_dep' is not installed" in reported.output, reported

    # fix 1, the README's recipe: a local hook that runs the developer's own environment
    (local,) = [b for b in _readme_yaml_blocks() if "repo: local" in b]
    proj.write(".pre-commit-config.yaml", local)
    repo.git("add", "-A").ok()
    _run_hook(repo, env=with_dep).ok()
    assert _run_hook(repo).code != 0  # the same env without the package

    # fix 2: additional_dependencies put the package into the hook venv (a second venv build)
    proj.write(".pre-commit-config.yaml", _config(hook_source, f'additional_dependencies: ["{devenv}"]'))
    repo.git("add", "-A").ok()
    passed = _run_hook(repo).ok()
    assert re.search(r"pivot verify --all\.+Passed", passed.output), passed


# --- plain git hooks -----------------------------------------------------------------------------------


def test_plain_pre_commit_hook_blocks_git_commit_until_repro(tmp_path: Path, env: dict[str, str]) -> None:
    repo, proj = _multi_repo(tmp_path / "repo", env)
    repo.install_hook(HOOKS / "pre-commit")

    blocked = repo.commit_all("nothing reproduced yet").failed()
    assert "fix: pivot repro --all clean\n" in blocked.output, blocked
    assert repo.git("rev-parse", "-q", "--verify", "HEAD").code != 0
    proj.run("repro", "--all").ok()
    repo.commit_all("reproduced").ok()

    proj.write("tune/helpers.py", 'def tag():\n    return "exp2"\n')
    blocked = repo.commit_all("tune edited").failed()
    assert "fix: pivot repro --all tune/train\n" in blocked.output, blocked
    proj.run("repro", "--all").ok()
    repo.commit_all("tune reproduced").ok()
    assert repo.git("log", "--format=%s").ok().output.splitlines() == ["tune reproduced", "reproduced"]


def test_plain_pre_push_hook_from_core_hooks_path_blocks_git_push_until_repro(
        tmp_path: Path, env: dict[str, str]) -> None:
    repo, proj = _multi_repo(tmp_path / "repo", env)
    hooks = shutil.copytree(HOOKS, tmp_path / "team-hooks")
    repo.git("config", "core.hooksPath", str(hooks)).ok()
    remote = gitrepo.init(tmp_path / "remote.git", env, bare=True)
    repo.git("remote", "add", "origin", str(remote.root)).ok()
    proj.run("repro", "--all").ok()
    repo.commit_all("reproduced").ok()  # the folder's pre-commit hook passes
    repo.git("push", "origin", "main").ok()

    proj.write("prep/raw.txt", "new raw data\n")
    repo.commit_all("new data, not reproduced", "--no-verify").ok()  # skips pre-commit, not pre-push
    pushed = repo.git("push", "origin", "main").failed()
    assert "fix: pivot repro --all clean\n" in pushed.output, pushed
    assert remote.git("rev-parse", "main").ok().output.strip() != repo.head()
    proj.run("repro", "--all").ok()
    repo.commit_all("reproduced new data").ok()
    repo.git("push", "origin", "main").ok()
    assert remote.git("rev-parse", "main").ok().output.strip() == repo.head()


def test_plain_hook_falls_back_to_python3_m_pivot_ci_and_honours_PIVOT(tmp_path: Path, env: dict[str, str]) -> None:
    repo, proj = _multi_repo(tmp_path / "repo", env)
    repo.install_hook(HOOKS / "pre-commit")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python3 = bin_dir / "python3"
    python3.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python3.chmod(0o755)
    path = f"{bin_dir}:/usr/bin:/bin"
    assert shutil.which("pivot", path=path) is None
    no_script = {"PATH": path}

    blocked = repo.commit_all("nothing reproduced yet", env=no_script).failed()
    assert "fix: pivot repro --all clean\n" in blocked.output, blocked

    fake = tmp_path / "fake-pivot"
    fake.write_text('echo "fake pivot in $(pwd -P): $*"\nexit 3\n')
    overridden = repo.commit_all("with PIVOT", env={"PIVOT": f"sh {fake}"}).failed()
    assert f"fake pivot in {repo.root.resolve()}: -C . verify --all --staged" in overridden.output, overridden

    proj.run("repro", "--all").ok()
    repo.commit_all("reproduced", env=no_script).ok()


def test_plain_hooks_are_executable_posix_shims() -> None:
    for name in ("pre-commit", "pre-push"):
        hook = HOOKS / name
        text = hook.read_text()
        assert text.startswith("#!/bin/sh\n") and hook.stat().st_mode & 0o111
        assert "git rev-parse --show-toplevel" in text and "verify --all" in text
        assert len(text.splitlines()) <= 20


# --- lock files that are not staged, and projects in a monorepo subdirectory ---------------------------

LOCKS = [".pivot/stages/clean.lock", "train/.pivot/stages/train.lock", "tune/.pivot/stages/report.lock",
         "tune/.pivot/stages/train.lock"]


def _repro_stage_data_only(repo: GitRepo, proj: factory.Project, sub: str = "", edit: str = "prep/raw.txt") -> None:
    """Edit raw data (or the cmd of the first stage), reproduce, stage the edit but none of the new lock files."""
    if edit == "prep/raw.txt":
        proj.write(edit, "new raw data\n")
    else:
        proj.write(edit, proj.read(edit).replace("+clean", "+cleaner"))
    proj.run("repro", "--all", "-q").ok()
    repo.git("add", f"{sub}{edit}").ok()
    unstaged = repo.git("diff", "--name-only").ok().output.split()
    assert sorted(unstaged) == sorted(f"{sub}{lock}" for lock in LOCKS)


def _blocked_for_unstaged_locks(result: Result, sub: str) -> None:
    """Each lock named with `git add` (paths from the repository top), none with `pivot repro`."""
    ordered = [f"{sub}{LOCKS[i]}" for i in (0, 1, 3, 2)]  # report order: pipelines, then their stages
    assert f"4 lock files are not staged, so the commit would not contain them: git add {' '.join(ordered)}\n" \
        in result.output, result
    for lock in ordered:
        assert f"fix: git add {lock}\n" in result.output, result
    assert "fix: pivot repro" not in result.output, result


def test_plain_hook_blocks_unstaged_lock_files_and_runs_in_a_monorepo_subdirectory(
        tmp_path: Path, env: dict[str, str]) -> None:
    repo = gitrepo.init(tmp_path / "mono", env)
    proj = factory.multi(tmp_path / "mono" / "ml")
    proj.run("init").ok()
    repo.install_hook(HOOKS / "pre-commit")
    no_project = repo.commit_all("no pivot.dir: the top is not a project").failed()
    assert "not inside a pivot project" in no_project.output, no_project
    repo.git("config", "--add", "pivot.dir", "ml").ok()
    assert "fix: pivot repro --all clean\n" in repo.commit_all("nothing reproduced").failed().output
    proj.run("repro", "--all", "-q").ok()
    repo.commit_all("reproduced").ok()

    _repro_stage_data_only(repo, proj, "ml/")
    blocked = repo.git("commit", "-m", "data without its locks").failed()
    _blocked_for_unstaged_locks(blocked, "ml/")
    repo.git("add", *[f"ml/{lock}" for lock in LOCKS]).ok()
    repo.git("commit", "-m", "data with its locks").ok()

    proj.write("prep/pivot.yaml", proj.read("prep/pivot.yaml") + """
  extra:
    cmd: python ../tools/copy.py raw.txt extra.txt
    deps: [raw.txt]
    outs: [extra.txt]
""")
    proj.run("repro", "--all", "-q").ok()
    repo.git("add", "ml/prep/pivot.yaml").ok()  # the new stage's lock file is untracked
    new = repo.git("commit", "-m", "a new stage without its lock").failed()
    assert "fix: git add ml/.pivot/stages/extra.lock\n" in new.output, new
    repo.git("add", "-A").ok()  # .gitignore files pivot wrote keep the outputs out of it
    repo.git("commit", "-m", "a new stage").ok()
    assert "ml/prep/extra.txt" not in repo.git("ls-files").ok().output


@PRECOMMIT
def test_precommit_hook_sees_the_stashed_lock_and_asks_for_git_add_not_repro(
        tmp_path: Path, hook_env: dict[str, str], hook_source: HookSource) -> None:
    repo = gitrepo.init(tmp_path / "mono", hook_env)
    proj = factory.multi(tmp_path / "mono" / "ml")
    proj.run("init").ok()
    config = _config(hook_source, "args: [-C, ml]")
    (repo.root / ".pre-commit-config.yaml").write_text(config)
    _pre_commit(repo, "install").ok()
    proj.run("repro", "--all", "-q").ok()
    repo.commit_all("reproduced", timeout=VENV_TIMEOUT).ok()  # the hook runs in ml/, and passes

    # a change the hook's `files:` selects (a data-only commit does not run it: see the README)
    _repro_stage_data_only(repo, proj, "ml/", edit="prep/pivot.yaml")
    blocked = repo.git("commit", "-m", "a cmd change without its locks", timeout=VENV_TIMEOUT).failed()
    assert "Unstaged files detected" in blocked.output  # pre-commit stashed the new lock files away
    _blocked_for_unstaged_locks(blocked, "ml/")
    assert repo.git("diff", "--name-only").ok().output.split()  # and put them back
    repo.git("add", "ml").ok()
    passed = repo.git("commit", "-m", "a cmd change with its locks", timeout=VENV_TIMEOUT).ok()
    assert re.search(r"pivot verify --all\.+Passed", passed.output), passed

    proj.write("train/helpers.py", "def scale(x):\n    return x * 5\n")  # a real change, also unstaged
    repo.git("add", "ml/train/helpers.py").ok()
    stale = repo.git("commit", "-m", "code without repro", timeout=VENV_TIMEOUT).failed()
    assert "fix: pivot repro --all train\n" in stale.output and "git add" not in stale.output, stale
