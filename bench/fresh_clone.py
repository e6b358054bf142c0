"""The fresh-clone case of bench/run.py: CI checking a clone against a directory remote without downloading.

pivot-ci: the built workload is pushed (`pivot push --all`) to a directory remote beside the workload, then
copied the way `git clone` gives it (sources, lock files, `.pivot/config.yaml`; no cache, no outputs, no state
db, no memo) and `pivot verify --all --allow-missing` is timed there. Each timed run starts from no state: a
reset script deletes what a run leaves in the clone's state dirs (timed alone and subtracted, like the cold
reset).

DVC (opt-in, `--dvc PATH`): the same graph emitted for DVC (gen.py --tool dvc) is built once with `dvc repro`,
pushed to its own directory remote, committed and `git clone`d; `dvc status -c` (compare the cache, here
empty, with the remote) is timed in the clone, `.dvc/tmp` and `.dvc/cache` deleted before each run.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

# what a clone lacks in a state dir (docs/state.md): all but .gitignore, config.yaml and stages/*.lock
PIVOT_LOCAL = ("cache", "tmp", "logs", "records", "parts", "state.db", "state.db-wal", "state.db-shm")


class FreshError(Exception):
    """Setting up the fresh clone failed (the message says which step)."""


@dataclasses.dataclass(frozen=True)
class FreshCase:
    clone: pathlib.Path  # the clone's root (cwd of the timed command)
    command: list[str]  # the timed command, run through the reset script
    setup: list[str]  # the reset script alone (subtracted)


def _run(cmd: Sequence[str], cwd: pathlib.Path, what: str) -> str:
    proc = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise FreshError(f"{what}: exit {proc.returncode} from `{shlex.join(cmd)}` in {cwd}:\n"
                         f"{(proc.stderr or proc.stdout).strip()[-1500:]}")
    return proc.stdout


def _reset_script(path: pathlib.Path, clone: pathlib.Path, state_dir: str, local: Sequence[str]) -> None:
    rm = " ".join(shlex.quote(n) for n in local)
    path.write_text(
        f"# fresh-clone reset of {clone.name}: no local state in any {state_dir}/ dir; then exec \"$@\"\n"
        f"cd {shlex.quote(str(clone))} || exit 1\n"
        f"find . -name {shlex.quote(state_dir)} -type d -prune -exec sh -c 'cd \"$1\" && rm -rf {rm}' _ {{}} \\; "
        "|| exit 1\n"
        'exec "$@"\n')


def copy_as_cloned(src: pathlib.Path, dst: pathlib.Path, outputs: Sequence[str]) -> None:
    """What `git clone` of a committed pivot-ci project gives: no outputs, no local state."""
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(*PIVOT_LOCAL, "__pycache__"))
    for rel in outputs:
        (dst / rel).unlink(missing_ok=True)


def prepare_pivot(exe: str, root: pathlib.Path, manifest: dict[str, Any], base: pathlib.Path,
                  scripts: pathlib.Path, name: str) -> FreshCase:
    """Push the built workload at `root` to a directory remote and make its clone; checked once, untimed."""
    remote = base / f"{name}-remote"
    shutil.rmtree(remote, ignore_errors=True)
    config = root / ".pivot" / "config.yaml"
    config.unlink(missing_ok=True)
    _run([exe, "remote", "add", "bench", str(remote), "--default"], root, "remote add")
    _run([exe, "push", "--all"], root, "push --all")
    clone = base / f"{name}-clone"
    copy_as_cloned(root, clone, sorted(manifest["outputs"].values()))
    reset = scripts / f"{name}-fresh.sh"
    _reset_script(reset, clone, ".pivot", PIVOT_LOCAL)
    case = FreshCase(clone, ["bash", str(reset), exe, "verify", "--all", "--allow-missing"],
                     ["bash", str(reset), "true"])
    _run(case.command, clone, "verify --all --allow-missing in the fresh clone")
    missing = [rel for rel in manifest["outputs"].values() if (clone / rel).exists()]
    if missing:
        raise FreshError(f"the clone has outputs it should not have: {missing[:3]}")
    return case


def prepare_dvc(dvc: str, gen: pathlib.Path, params: dict[str, int], seed: int, base: pathlib.Path,
                scripts: pathlib.Path) -> FreshCase:
    """Build the DVC form of the workload, push it to a directory remote, `git clone` it; checked once."""
    root, remote, clone = base / "dvc", base / "dvc-remote", base / "dvc-clone"
    for d in (root, remote, clone):
        shutil.rmtree(d, ignore_errors=True)
    flags = [x for f in "PSFB" for x in (f"-{f}", str(params[f]))]
    _run([sys.executable, str(gen), "--tool", "dvc", *flags, "--seed", str(seed), str(root)], base, "gen.py dvc")
    git = ["git", "-c", "user.email=bench@example.invalid", "-c", "user.name=bench"]
    _run(["git", "init", "-q"], root, "git init")
    _run([dvc, "init", "-q"], root, "dvc init")
    _run([dvc, "repro", "-P", "-q"], root, "dvc repro -P")  # -P: every pipeline (the pKK/dvc.yaml files)
    _run([dvc, "remote", "add", "-d", "bench", str(remote)], root, "dvc remote add")
    _run([dvc, "push", "-q"], root, "dvc push")
    _run(["git", "add", "-A"], root, "git add")
    _run([*git, "commit", "-q", "-m", "bench"], root, "git commit")
    _run(["git", "clone", "-q", str(root), str(clone)], base, "git clone")
    reset = scripts / "dvc-fresh.sh"
    _reset_script(reset, clone, ".dvc", ("tmp", "cache"))
    case = FreshCase(clone, ["bash", str(reset), dvc, "status", "-c"], ["bash", str(reset), "true"])
    out = _run(case.command, clone, "dvc status -c in the clone")
    # with an empty cache every output is "deleted" (on the remote, not in the cache); "new" or "missing" would
    # mean the push did not reach the remote
    states = {line.split(":")[0].strip() for line in out.splitlines() if ":" in line}
    want = len(manifest_outputs(root))
    listed = sum(1 for line in out.splitlines() if line.strip().startswith("deleted:"))
    if states - {"deleted"} or listed != want:
        raise FreshError(f"dvc status -c in the clone: expected {want} outputs on the remote only, got:\n{out[-800:]}")
    return case


def manifest_outputs(root: pathlib.Path) -> list[str]:
    return sorted(json.loads((root / "bench-manifest.json").read_text())["outputs"].values())
