"""Never the wrong bytes, nothing outside the project: hostile locks, links, cache objects and workspaces
through the real CLI (issue 8, items 1, 2, 3, 4, 11 and 12)."""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
from pathlib import Path

import pytest

from pivot_ci.state import hashing
from tests.support import factory
from tests.support.factory import Outcome, Project

ERROR_LINE = re.compile(r"^Error: (?P<what>.+) \((?P<where>[^()]+)\)$", re.MULTILINE)


def _error(out: Outcome, code: int = 2) -> str:
    assert out.code == code, out
    assert "Traceback" not in out.stderr and "Internal error" not in out.stderr, out
    return out.stderr


def _objects(root: Path) -> list[Path]:
    return [p for p in (root / ".pivot/cache/files").rglob("*") if p.is_file() and not p.name.endswith(".tmp")]


def _assert_cache_intact(root: Path) -> None:
    """Every cache object hashes to its name."""
    for obj in _objects(root):
        name = obj.parent.name + obj.name
        actual = hashing.hash_file(obj) + (hashing.DIR_SUFFIX if name.endswith(hashing.DIR_SUFFIX) else "")
        assert actual == name, f"cache object {name} holds other bytes"


def _snapshot(directory: Path) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for p in sorted(directory.rglob("*")):
        rel = str(p.relative_to(directory))
        out[rel] = f"-> {os.readlink(p)}" if p.is_symlink() else p.read_bytes() if p.is_file() else "dir"
    return out


@pytest.fixture
def outer(tmp_path: Path) -> tuple[Project, Path]:
    """A project at tmp/outer/proj and a directory beside it, tmp/outer/outside, holding a victim file."""
    p = factory.new_project(tmp_path / "outer/proj")
    victim = tmp_path / "outer/outside"
    (victim / "keep").mkdir(parents=True)
    (victim / "keep/precious.txt").write_text("precious\n")
    return p, victim


def _one_stage(p: Project, outs: str = "[out.txt]", cmd: str = "python make.py") -> None:
    p.write("p/make.py", """
        import pathlib
        pathlib.Path("out.txt").write_text(pathlib.Path("in.txt").read_text().upper())
        """)
    p.write("p/in.txt", "one\n")
    p.write("p/pivot.yaml", f"stages:\n  s:\n    cmd: {cmd}\n    deps: [in.txt, make.py]\n    outs: {outs}\n")


def test_lock_paths_are_never_trusted(outer: tuple[Project, Path]) -> None:
    p, victim = outer
    _one_stage(p)
    p.run("repro", cwd="p").ok()
    p.run("remote", "add", "r", str(p.root.parent / "remote")).ok()
    p.run("push", cwd="p").ok()
    lock = p.root / "p/.pivot/stages/s.lock"
    good = lock.read_text()
    before = _snapshot(victim)
    # a path leaving the project: an error for every command, located at its line
    lock.write_text(good.replace("path: p/out.txt", "path: ../outside/keep"))
    line = next(i for i, t in enumerate(lock.read_text().splitlines(), 1) if "../outside/keep" in t)
    for args in (("checkout", "--force"), ("pull", "--force"), ("status",), ("repro",)):
        err = _error(p.run(*args, cwd="p"))
        assert f"(p/.pivot/stages/s.lock:{line})" in err and "is outside the project" in err, args
    lock.write_text(good.replace("path: p/out.txt", "path: /etc/passwd"))
    assert "is absolute" in _error(p.run("checkout", "--force", cwd="p"))
    # a path inside the project that the stage does not declare: restored by nothing, located at its line
    lock.write_text(good.replace("path: p/out.txt", "path: p/other.txt"))
    line = next(i for i, t in enumerate(lock.read_text().splitlines(), 1) if "p/other.txt" in t)
    for args in (("checkout", "--force"), ("pull", "--force")):
        err = _error(p.run(*args, cwd="p"))
        assert f"(p/.pivot/stages/s.lock:{line})" in err and "'p/other.txt' is not declared" in err, args
    assert not p.exists("p/other.txt")
    assert _snapshot(victim) == before


def test_a_stage_never_writes_through_a_link_into_the_cache(project: Project) -> None:
    _one_stage(project, outs="[out.txt, d/]",
               cmd="python make.py && mkdir -p d && cp in.txt d/copy.txt && echo fixed > d/fixed.txt")
    project.run("repro", cwd="p").ok()
    for mode in ("hardlink", "symlink"):
        for rel in ("p/out.txt", "p/d"):
            path = project.root / rel
            if path.is_dir():
                subprocess.run(["rm", "-r", str(path)], check=True)
            else:
                path.unlink()
        project.run("checkout", "--link", mode, cwd="p").ok()
        assert (project.root / "p/out.txt").is_symlink() == (mode == "symlink")
        project.write("p/in.txt", f"changed for {mode}\n")  # the stage rewrites out.txt and d/copy.txt in place
        project.run("repro", cwd="p").ok()
        assert project.read("p/out.txt") == f"CHANGED FOR {mode.upper()}\n"
        _assert_cache_intact(project.root)
        assert not (project.root / "p/out.txt").is_symlink() and (project.root / "p/out.txt").stat().st_nlink == 1
    project.write("p/in.txt", "one\n")  # back to the first content, from a cache that still holds it intact
    project.run("repro", cwd="p").ok()
    assert project.read("p/out.txt") == "ONE\n"
    _assert_cache_intact(project.root)


def test_nothing_is_written_through_a_symlink_out_of_the_project(outer: tuple[Project, Path]) -> None:
    p, victim = outer
    _one_stage(p, outs="[ext/out.txt]", cmd="mkdir -p ext && python make.py && mv out.txt ext/")
    p.run("repro", cwd="p").ok()
    p.run("remote", "add", "r", str(p.root.parent / "remote")).ok()
    p.run("push", cwd="p").ok()
    subprocess.run(["rm", "-r", str(p.root / "p/ext")], check=True)
    os.symlink("../../outside/keep", p.root / "p/ext")
    before = _snapshot(victim)
    for args in (("checkout",), ("checkout", "--force"), ("pull",), ("repro",)):
        err = _error(p.run(*args, cwd="p"))
        assert "'p/ext' is a symbolic link to '../../outside/keep'" in err and "outside the project" in err, args
    assert _snapshot(victim) == before
    # a state dir (or anything pivot opens in place in one) that leads out of the project
    os.unlink(p.root / "p/ext")
    os.rename(p.root / "p/.pivot", victim / "state")
    os.symlink("../../outside/state", p.root / "p/.pivot")
    before = _snapshot(victim)
    for args in (("status",), ("repro",), ("commit",)):
        err = _error(p.run(*args, cwd="p"))
        assert "'p/.pivot' is a symbolic link to '../../outside/state'" in err, args
    assert _snapshot(victim) == before
    os.unlink(p.root / "p/.pivot")
    os.rename(victim / "state", p.root / "p/.pivot")
    (p.root / "p/.pivot/tmp").mkdir(exist_ok=True)
    (p.root / "p/.pivot/tmp/lock").unlink(missing_ok=True)
    os.symlink(victim / "keep/precious.txt", p.root / "p/.pivot/tmp/lock")
    assert "lock" in _error(p.run("repro", cwd="p"))
    assert (victim / "keep/precious.txt").read_text() == "precious\n"


def test_a_changed_cache_object_is_never_served(tmp_path: Path, project: Project) -> None:
    _one_stage(project)
    project.run("repro", cwd="p").ok()
    project.run("remote", "add", "r", str(tmp_path / "remote")).ok()
    obj = _objects(project.root)[0]
    name = obj.parent.name + obj.name
    os.chmod(obj, 0o644)
    obj.write_text("EVIL\n")  # same name, other bytes
    # push verifies before uploading: nothing wrong leaves the machine
    out = project.run("push", cwd="p")
    assert out.code == 1 and f"cache object {name} is corrupt" in out.stderr, out
    assert "p/.pivot/stages/s.lock" in out.stderr
    assert not list((tmp_path / "remote").rglob(obj.name))
    assert (project.root / ".pivot/cache/bad" / name).read_text() == "EVIL\n"  # kept as evidence
    project.run("repro", "-f", cwd="p").ok()  # the object again
    obj.chmod(0o644)
    obj.write_text("EVIL\n")
    (project.root / "p/out.txt").unlink()
    st = project.stage_json(project.run("status", "--json", cwd="p"))
    assert st["s"]["status"] == "stale" and st["s"]["missing_files"] == ["p/out.txt"]
    assert project.run("verify", cwd="p").code == 1
    out = project.run("checkout", cwd="p")
    assert out.code == 1 and f"cache object {name} is corrupt" in out.stderr and "s.lock" in out.stderr, out
    assert not project.exists("p/out.txt")
    obj.parent.mkdir(exist_ok=True)
    obj.write_text("EVIL\n")  # once more: repro restores nothing wrong, it runs the stage
    out = project.run("repro", "--json", cwd="p").ok()
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert [e["outcome"] for e in events if e["event"] == "stage_finished"] == ["ran"]
    assert project.read("p/out.txt") == "ONE\n"
    _assert_cache_intact(project.root)


def _run_limited(p: Project, limit: int, *args: str) -> Outcome:
    """pivot with files limited to `limit` bytes: writing more fails like a full disk (EFBIG instead of ENOSPC)."""
    proc = subprocess.run([*factory.PIVOT, *args], cwd=p.root / "p", capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NO_COLOR": "1"},
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    return Outcome(tuple(args), proc.returncode, proc.stdout, proc.stderr)


def test_crashes_that_are_clear_errors(project: Project) -> None:
    project.write("p/pivot.yaml", """
        stages:
          big:
            cmd: python -c "open('big.bin', 'wb').write(b'x' * 3_000_000)"
            outs: [big.bin]
          nested:
            cmd: mkdir -p sub && echo n > sub/out.txt
            outs: [sub/out.txt]
        """)
    project.run("repro", cwd="p").ok()
    # a full disk while committing and while restoring
    project.write("p/big.bin", "y" * 3_000_000)
    out = _run_limited(project, 1_000_000, "commit")
    assert out.code == 1 and "File too large" in out.stderr and "Internal error" not in out.stderr, out
    project.write("p/big.bin", "x" * 3_000_000)
    (project.root / "p/big.bin").unlink()
    out = _run_limited(project, 1_000_000, "checkout")
    assert out.code == 1 and "big.bin" in out.stderr and "File too large" in out.stderr, out
    assert not [f for f in (project.root / "p").iterdir() if f.name.endswith(".tmp")]
    project.run("checkout", cwd="p").ok()
    # an output whose parent directory is now a file
    subprocess.run(["rm", "-r", str(project.root / "p/sub")], check=True)
    project.write("p/sub", "a file now\n")
    out = project.run("checkout", cwd="p")
    assert out.code == 1 and "sub/out.txt" in out.stderr and "a file is in the way" in out.stderr, out
    assert project.run("status", cwd="p").code == 0  # restorable from the cache, as far as status can tell
    out = project.run("repro", cwd="p")
    assert out.code == 1 and "'nested' FAILED" in out.stderr and "Internal error" not in out.stderr, out


def test_a_manifest_listing_a_file_and_its_directory_is_corrupt(project: Project) -> None:
    project.write("p/pivot.yaml", "stages:\n  d:\n    cmd: mkdir -p d && echo a > d/a && echo b > d/b\n"
                                  "    outs: [d/]\n")
    project.run("repro", cwd="p").ok()
    lock = project.root / "p/.pivot/stages/d.lock"
    files = [p for p in _objects(project.root) if not p.name.endswith(".dir")]
    h1, h2 = (f.parent.name + f.name for f in files[:2])
    data = hashing.manifest_bytes([("a", h1), ("a/b", h2)])
    tree = hashing.hash_bytes(data) + hashing.DIR_SUFFIX
    obj = project.root / ".pivot/cache/files" / tree[:2] / tree[2:]
    obj.parent.mkdir(exist_ok=True)
    obj.write_bytes(data)
    text = lock.read_text()
    old = re.search(r"hash: (\S+\.dir)", text)
    assert old is not None
    lock.write_text(text.replace(old.group(1), tree))
    subprocess.run(["rm", "-r", str(project.root / "p/d")], check=True)
    out = project.run("checkout", cwd="p")
    assert out.code == 1 and "'a' is listed as a file and as the directory of 'a/b'" in out.stderr, out
    assert not project.exists("p/d")


def test_a_directory_nested_1100_deep_breaks_no_command(tmp_path: Path, project: Project) -> None:
    deep = "/".join(["d"] * 1100)  # os.makedirs and shutil.rmtree recurse per level: mkdir -p and rm -r do not
    project.write("p/pivot.yaml", f"""
        stages:
          gen:
            cmd: mkdir -p out/{deep} && echo f > out/{deep}/f
            deps: [data/]
            outs: [out/]
        """)
    subprocess.run(["mkdir", "-p", f"p/data/{deep}", f"elsewhere/{deep}"], cwd=project.root, check=True)
    (project.root / "p/data" / deep / "x.txt").write_text("x\n")
    project.run("remote", "add", "r", str(tmp_path / "remote")).ok()
    try:
        for args in (("repro", "--all"), ("status", "--all"), ("verify", "--all"), ("list", "--all"),
                     ("dag", "--all"), ("commit", "--all", "-f", "gen"), ("push", "--all"), ("fetch", "--all")):
            project.run(*args).ok()
        subprocess.run(["rm", "-r", "p/out"], cwd=project.root, check=True)
        project.run("checkout", "--all").ok()
        assert (project.root / "p/out" / deep / "f").read_text() == "f\n"
        project.write("p/out/extra.txt", "replaced by a forced checkout\n")
        project.run("checkout", "--all", "--force").ok()
        project.run("pull", "--all", "--force").ok()
        assert not project.exists("p/out/extra.txt") and project.run("verify", "--all").code == 0
    finally:  # pytest's own clean-up of tmp_path recurses per level too
        subprocess.run(["rm", "-rf", str(project.root)], check=True)


def test_leftovers_of_a_killed_checkout_are_cleaned(project: Project) -> None:
    project.write("p/pivot.yaml", "stages:\n  s:\n    cmd: echo o > o.txt && mkdir -p d && echo f > d/f\n"
                                  "    outs: [o.txt, d/]\n")
    project.run("repro", cwd="p").ok()
    dead = 2**22 + 1  # above the largest pid_max: never a live process
    leftovers = [project.root / f"p/.o.txt.{dead}.0123abcd.tmp", project.root / f"p/.d.{dead}.89abcdef.tmp"]
    leftovers[0].write_text("half\n")
    (leftovers[1] / "sub").mkdir(parents=True)
    mine = project.root / "p/.o.txt.notours.tmp"  # not a name pivot writes: left alone
    mine.write_text("user's\n")
    project.run("checkout", cwd="p").ok()
    assert not any(p.exists() for p in leftovers) and mine.exists()
    leftovers[0].write_text("half\n")
    project.write("p/o.txt", "x\n")
    project.run("repro", cwd="p").ok()
    assert not leftovers[0].exists()
