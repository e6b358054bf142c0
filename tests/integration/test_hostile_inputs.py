"""Hostile and malformed inputs through the real CLI: a clear error at once (exit 2, file and line), never a
traceback, never a hang, never a wrong report (issue 8, items 5, 6, 7, 10, 11 and 12)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from tests.support.factory import Outcome, Project

ERROR_LINE = re.compile(r"^Error: (?P<what>.+) \((?P<where>[^()]+)\)$", re.MULTILINE)


def _located(out: Outcome, where: str) -> str:
    """The message of the one `Error:` line, located at `where` (`file` or `file:line`); exit 2, with a hint."""
    assert out.code == 2, out
    found = ERROR_LINE.findall(out.stderr)
    assert len(found) == 1, out
    what, at = found[0]
    assert at == where or (":" not in where and at.startswith(where + ":")), out
    assert re.search(r"^Hint: \S", out.stderr, re.MULTILINE), out
    assert "Traceback" not in out.stderr and "Internal error" not in out.stderr, out
    return str(what)


def _bomb(levels: int = 9) -> str:
    """A billion-laughs document body: 9**levels strings from a few hundred bytes."""
    rows = [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9 if i else ['"lol"'] * 9) + "]" for i in range(levels)]
    return "\n".join(rows) + "\n"


def _stage(cmd: str = "echo x > out.txt", extra: str = "") -> str:
    return f"stages:\n  s:\n    cmd: {cmd}\n    outs: [out.txt]\n{extra}"


def test_alias_bombs_are_refused_at_once(project: Project) -> None:
    bomb = "\n".join("      " + row for row in _bomb().splitlines())
    project.write("p/pivot.yaml", _stage(extra=f"    params:\n{bomb}\n"))
    what = _located(project.run("status", cwd="p", timeout=60), "p/pivot.yaml:11")  # l5: the budget runs out
    assert "aliases expand to more than" in what
    # in a vars file
    project.write("p/params.yaml", _bomb())
    project.write("p/pivot.yaml", "vars: [params.yaml]\n" + _stage(extra="    params: {x: '${l8}'}\n"))
    what = _located(project.run("verify", "--json", cwd="p", timeout=60), "p/params.yaml:6")
    assert "vars file params.yaml" in what and "aliases" in what
    # ${...} references copy values like aliases do: bounded alike
    project.write("p/params.yaml", "big: [" + ", ".join(["1"] * 5000) + "]\n")
    refs = ", ".join(f"k{i}: '${{big}}'" for i in range(30))
    project.write("p/pivot.yaml", "vars: [params.yaml]\n" + _stage(extra=f"    params: {{{refs}}}\n"))
    assert "interpolated values expand" in _located(project.run("status", cwd="p", timeout=60), "p/pivot.yaml:6")
    # in a lock file and in the config
    project.write("p/pivot.yaml", _stage())
    project.write("p/.pivot/stages/s.lock", "schema: 1\n" + _bomb())
    assert "aliases" in _located(project.run("status", cwd="p", timeout=60), "p/.pivot/stages/s.lock:7")
    project.write(".pivot/config.yaml", "remotes: {}\n" + _bomb())
    assert "aliases" in _located(project.run("remote", "list", timeout=60), ".pivot/config.yaml:7")


def test_pipeline_py_output_never_reaches_machine_stdout(project: Project) -> None:
    project.write("p/pipeline.py", """
        import os, subprocess

        from pivot_ci import Pipeline

        print("hello from print")
        os.write(1, b"hello from fd 1\\n")
        subprocess.run(["echo", "hello from a child"], check=True)

        pipeline = Pipeline("p")
        pipeline.command("s", cmd="echo x > out.txt", outs=["out.txt"])
        """)
    status = project.run("status", "--json", cwd="p")
    assert status.json()["command"] == "status"
    for line in ("hello from print", "hello from fd 1", "hello from a child"):
        assert line in status.stderr
    junit = project.run("verify", "--format", "junit", cwd="p")
    assert junit.code == 1 and ET.fromstring(junit.stdout).tag == "testsuites"
    repro = project.run("repro", "--json", cwd="p").ok()
    assert [json.loads(line)["event"] for line in repro.stdout.splitlines()] == ["stage_started", "stage_finished"]


def test_a_pipeline_py_that_ends_the_process_is_a_load_error(project: Project) -> None:
    for call, shown in (("os._exit(0)", "os._exit(0)"), ("os.execv('/bin/true', ['true'])", "os.execv('/bin/true')"),
                        ("sys.exit(0)", "SystemExit")):
        project.write("p/pipeline.py", f"""
            import os, sys

            from pivot_ci import Pipeline

            pipeline = Pipeline("p")
            {call}
            """)
        out = project.run("verify", "--all")
        what = _located(out, "p/pipeline.py:6")
        assert shown in what, out
    project.write("p/pipeline.py", """
        from pivot_ci import Pipeline

        pipeline = Pipeline("p")
        pipeline.command("s", cmd=None, outs=["x"])
        """)
    assert "cmd must be a non-empty string" in _located(project.run("status", cwd="p"), "p/pipeline.py:4")


def test_git_pipeline_files_and_state_are_never_outputs(project: Project) -> None:
    cases = {
        "../.git/HEAD": "is inside .git/", ".git": "is inside .git/", "sub/pivot.yml": "is a pivot.yml",
        "../.pivotignore": "is a .pivotignore", "pipeline.py": "is a pipeline.py",
    }
    for out, why in cases.items():
        project.write("p/pivot.yaml", f"stages:\n  s:\n    cmd: echo\n    outs: ['{out}']\n")
        assert why in _located(project.run("status", cwd="p"), "p/pivot.yaml:4")
    # a pipeline file, or a state dir, inside another stage's output directory
    project.write("p/pivot.yaml", "stages:\n  s:\n    cmd: echo\n    outs: [data/]\n")
    project.write("p/data/sub/pivot.yaml", "stages: {}\n")
    what = _located(project.run("status", "--all", cwd="p"), "p/pivot.yaml:2")
    assert "contains the pipeline file p/data/sub/pivot.yaml" in what
    (project.root / "p/data/sub/pivot.yaml").unlink()
    project.write("q/pivot.yaml", "root: ../p/data\nstages:\n  t:\n    cmd: echo\n    outs: [t.txt]\n")
    what = _located(project.run("status", "--all"), "p/pivot.yaml:2")
    assert "contains the state dir p/data/.pivot of q/pivot.yaml" in what


def test_smaller_contract_breaks(project: Project) -> None:
    def status_error(text: str, where: str = "p/pivot.yaml") -> str:
        project.write("p/pivot.yaml", text)
        return _located(project.run("status", cwd="p"), where)

    assert "invalid stage name 's\\n'" in status_error('stages:\n  "s\\n":\n    cmd: echo\n', "p/pivot.yaml:2")
    long_name = "s" * 300
    assert "300 characters" in status_error(f"stages:\n  {long_name}:\n    cmd: echo\n", "p/pivot.yaml:2")
    assert "duplicate key 'lr' (first at line 4)" in status_error(
        "stages:\n  s:\n    cmd: echo\n    params: {lr: 1,\n      lr: 2}\n", "p/pivot.yaml:5")
    nan = status_error(_stage(extra="    params: {x: .nan}\n"), "p/pivot.yaml:5")
    assert ".nan and .inf are not JSON values" in nan
    project.write("p/params.yaml", "a: 1\nb: 2\na: 3\n")
    what = status_error("vars: [params.yaml]\n" + _stage(extra="    params: {x: '${a}'}\n"), "p/params.yaml:3")
    assert "duplicate key 'a' (first at line 1)" in what
    # quoted paths keep their spaces
    project.write("p/pivot.yaml", "stages:\n  s:\n    cmd: echo x > ' spaced.txt '\n    outs: [' spaced.txt ']\n")
    project.run("repro", cwd="p").ok()
    assert project.exists("p/ spaced.txt ") and project.run("verify", cwd="p").code == 0
    # a bad hash in a lock is located
    lock = project.root / "p/.pivot/stages/s.lock"
    lines = lock.read_text().splitlines()
    bad = next(i for i, line in enumerate(lines) if line.strip().startswith("- hash:") or "hash:" in line)
    lines[bad] = re.sub(r"hash: \S+", "hash: not-a-hash", lines[bad])
    lock.write_text("\n".join(lines) + "\n")
    assert "is not a content hash" in _located(project.run("status", cwd="p"), f"p/.pivot/stages/s.lock:{bad + 1}")
    # an empty remote URL
    out = project.run("remote", "add", "origin", "")
    assert out.code == 2 and "the remote URL is empty" in out.stderr, out
    project.write(".pivot/config.yaml", "remotes:\n  origin:\n    url: ''\n")
    assert "url is empty" in _located(project.run("remote", "list"), ".pivot/config.yaml:3")
    # a config file that is not UTF-8
    (project.root / ".pivot/config.yaml").write_bytes(b"remotes:\n  origin: {url: /tmp/r\xff}\n")
    assert "not UTF-8" in _located(project.run("remote", "list"), ".pivot/config.yaml:2")
