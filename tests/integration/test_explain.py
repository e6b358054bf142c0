"""`status --explain` names what changed: the functions and globals of a Python stage, the files of a directory."""

from __future__ import annotations

import shutil

from tests.support.factory import Project


def _stage_lines(out: str, stage: str) -> list[str]:
    """The indented lines under `  <stage>: stale (...)` in a text report."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"  {stage}: stale"))
    body = []
    for line in lines[start + 1:]:
        if not line.startswith("    "):
            break
        body.append(line.strip())
    return body


def test_explain_names_changed_functions_globals_and_helpers(project: Project) -> None:
    project.write("m/pivot.yaml", """
        stages:
          fit:
            python: stages:fit
            outs: [model.txt]
        """)
    project.write("m/helpers.py", """
        FACTOR = 2


        def scale(x):
            return x * FACTOR


        def shift(x):
            return x + 1
        """)
    project.write("m/stages.py", """
        from helpers import scale


        def fit():
            open("model.txt", "w").write(str(scale(1)))
        """)
    project.run("repro", "--all", "-q").ok()
    project.write("m/helpers.py", project.read("m/helpers.py").replace("FACTOR = 2", "FACTOR = 3"))
    project.write("m/stages.py", project.read("m/stages.py").replace(
        "from helpers import scale", "import math\n\nfrom helpers import scale, shift").replace(
        "str(scale(1))", "str(shift(scale(math.pi)))"))
    out = project.run("status", "--all", "--explain").ok().stdout
    assert _stage_lines(out, "fit") == [
        "- code changed: fit",
        "global FACTOR (m/helpers.py) changed",
        "function fit (m/stages.py) changed",
        "external math.pi is now used",
        "function shift (m/helpers.py) is now used",
        "fix: pivot repro --all fit"]
    assert "global FACTOR" not in project.run("status", "--all").stdout  # only with --explain
    assert project.run("status", "--all", "--json", "--explain").ok().json()["pipelines"][0]["stages"][0][
        "changes"][0]["kind"] == "code"  # the machine format is unchanged

    shutil.rmtree(project.root / "m/.pivot/parts")  # as in a clone whose lock was written elsewhere
    out = project.run("status", "--all", "--explain").ok().stdout
    assert "(what it was made of is not known here: the lock was written elsewhere)" in out


def test_explain_names_the_files_that_changed_in_a_directory(project: Project) -> None:
    project.write("p/data/a.txt", "a\n")
    project.write("p/data/sub/b.txt", "b\n")
    project.write("p/pivot.yaml", """
        stages:
          index:
            cmd: mkdir -p idx && ls -R data > idx/all.txt && cp data/a.txt idx/a.txt
            deps: [data/]
            outs: [idx/]
        """)
    project.run("repro", "--all", "-q").ok()
    (project.root / "p/data/a.txt").write_text("A\n")
    (project.root / "p/data/sub/b.txt").unlink()
    project.write("p/data/c.txt", "c\n")
    project.write("p/idx/extra.txt", "by hand\n")
    out = project.run("status", "--all", "--explain").ok().stdout
    assert _stage_lines(out, "index") == [
        "- dep changed: p/data",
        "modified: p/data/a.txt",
        "added: p/data/c.txt",
        "removed: p/data/sub/b.txt",
        "- output changed: p/idx",
        "added: p/idx/extra.txt",
        "fix: pivot repro --all index"]
