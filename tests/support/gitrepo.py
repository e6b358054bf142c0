"""Real git repositories for hook tests: isolated from the user's git config, every command bounded in time."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

TIMEOUT = 120
# the console scripts of the test's own environment (`pivot`, and `pre-commit` if installed as a script)
SCRIPTS = Path(sys.executable).parent
PRE_COMMIT = [sys.executable, "-m", "pre_commit"]
# set by git for hooks, and by a developer's shell: never let them leak into a test's git or pivot
_DROP = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_PREFIX", "PYTHONPATH",
         "PRE_COMMIT_HOME", "PIVOT", "SKIP")


@dataclasses.dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    code: int
    output: str  # stdout and stderr, interleaved as the user sees them

    def __str__(self) -> str:
        return f"{' '.join(self.args)} -> {self.code}\n{self.output}"

    def ok(self) -> Result:
        assert self.code == 0, str(self)
        return self

    def failed(self) -> Result:
        assert self.code != 0, str(self)
        return self


def base_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ without git/hook leftovers, the test's scripts first on PATH, no global or system git config."""
    env = {k: v for k, v in os.environ.items() if k not in _DROP}
    home.mkdir(parents=True, exist_ok=True)
    gitconfig = home / "gitconfig"
    gitconfig.touch()
    env.update({"PATH": f"{SCRIPTS}{os.pathsep}{env.get('PATH', '')}", "GIT_CONFIG_GLOBAL": str(gitconfig),
                "GIT_CONFIG_NOSYSTEM": "1", "NO_COLOR": "1", "PRE_COMMIT_COLOR": "never",
                "GIT_TERMINAL_PROMPT": "0"})
    env.update(extra or {})
    return env


def run(args: Sequence[str], cwd: Path, env: Mapping[str, str], timeout: float = TIMEOUT) -> Result:
    proc = subprocess.run(list(args), cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, text=True, timeout=timeout)
    return Result(tuple(str(a) for a in args), proc.returncode, proc.stdout)


@dataclasses.dataclass
class GitRepo:
    root: Path
    env: dict[str, str]

    def git(self, *args: str, env: Mapping[str, str] | None = None, timeout: float = TIMEOUT) -> Result:
        return run(["git", *args], self.root, {**self.env, **(env or {})}, timeout)

    def commit_all(self, message: str, *args: str, env: Mapping[str, str] | None = None,
                   timeout: float = TIMEOUT) -> Result:
        """`git add -A` then `git commit` (hooks included): the result of the commit."""
        self.git("add", "-A").ok()
        return self.git("commit", "-m", message, *args, env=env, timeout=timeout)

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").ok().output.strip()

    def install_hook(self, source: Path, name: str | None = None) -> Path:
        """Copy a hook script into .git/hooks (keeping its mode)."""
        dest = self.root / ".git" / "hooks" / (name or source.name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest)
        return dest


def init(root: Path, env: dict[str, str], *, bare: bool = False) -> GitRepo:
    """`git init` (branch main) with a local identity and no signing."""
    root.mkdir(parents=True, exist_ok=True)
    repo = GitRepo(root, env)
    repo.git("init", "-q", "-b", "main", *(["--bare"] if bare else [])).ok()
    if not bare:
        for key, value in (("user.email", "hooks@example.invalid"), ("user.name", "Hook Test"),
                           ("commit.gpgsign", "false")):
            repo.git("config", key, value).ok()
    return repo


def snapshot(src: Path, dest: Path, env: dict[str, str]) -> GitRepo:
    """A new repository holding one commit of src's working tree (tracked and untracked, not ignored)."""
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], src, env).ok().output
    repo = init(dest, env)
    for rel in sorted({r for r in listed.split("\0") if r}):
        path = src / rel
        if path.is_file():  # a tracked file deleted in the working tree is left out, like in the tree itself
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / rel)
    repo.commit_all("snapshot of the working tree").ok()
    return repo
