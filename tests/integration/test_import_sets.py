"""What each command imports: `--help` only click, a no-change `status`/`verify` nothing it does not use.

Start-up time is most of a `pivot --help` and of a no-change `status` in a git hook, and it is set by what
gets imported. These tests assert the import set, not the time (bench/startup_bench.py times it).

Each command runs in a child of one probe process (`fork` of a Python that has not imported pivot_ci):
`pivot_ci.cli.main(argv)`, the console script's entry point, then the modules the child added to
`sys.modules`. One interpreter start for many command lines keeps this quick.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from typing import Any

from pivot_ci.cli import COMMANDS
from tests.support.factory import Project

_PROBE = textwrap.dedent("""
    import json, os, sys
    before = set(sys.modules)
    argvs, out = json.loads(sys.argv[1]), sys.argv[2]
    for i, argv in enumerate(argvs):
        pid = os.fork()
        if pid == 0:
            code = None
            try:
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, 1)
                from pivot_ci.cli import main
                main(argv)
            except SystemExit as exc:
                code = exc.code
            finally:
                with open(os.path.join(out, f"{i}.json"), "w") as f:
                    json.dump({"code": code, "modules": sorted(set(sys.modules) - before)}, f)
                os._exit(0)
        os.waitpid(pid, 0)
""")

# never needed to parse a command line or print help: everything below the CLI layer, and every library
PIVOT_LAYERS = ("pivot_ci.dag", "pivot_ci.pipeline", "pivot_ci.engine", "pivot_ci.state", "pivot_ci.remote",
                "pivot_ci.report", "pivot_ci.compare", "pivot_ci.discover", "pivot_ci.yamlutil")
# loaded when a command uses them, never by one that does not
REMOTE_CLIENTS = ("boto3", "botocore", "s3transfer", "urllib3")
CLUSTER = ("distributed", "dask", "tornado", "cloudpickle", "msgpack")
HEAVY = ("networkx", "yaml", "sqlite3", "_sqlite3", "watchfiles", "pathspec", "xxhash", *REMOTE_CLIENTS,
         *CLUSTER, "rich", "pygments", "numpy", "pandas")
# the standard library a help text has no use for (click itself imports difflib to parse `-h`)
STDLIB_UNUSED_BY_HELP = ("sqlite3", "subprocess", "concurrent", "multiprocessing", "asyncio", "socket", "ssl",
                         "xml", "email", "http", "tempfile", "hashlib", "json", "csv")


def _probe(p: Project, argvs: list[list[str]], tmp: str) -> list[dict[str, Any]]:
    os.makedirs(tmp, exist_ok=True)
    proc = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(argvs), tmp], cwd=p.root, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = []
    for i, argv in enumerate(argvs):
        with open(os.path.join(tmp, f"{i}.json")) as f:
            result = json.load(f)
        assert result["code"] in (0, None), (argv, result["code"], proc.stderr[-3000:])
        found.append(result)
    return found


def _tops(modules: list[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def _within(modules: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes)]


def _help_lines() -> list[list[str]]:
    lines = [["--help"], ["-h"]]
    for name in sorted(COMMANDS):
        lines.append([name, "--help"])
    lines += [["remote", "add", "--help"], ["params", "diff", "--help"], ["metrics", "show", "--help"]]
    return lines


def test_help_imports_click_and_the_cli_layer_only(project: Project, tmp_path: Any) -> None:
    lines = _help_lines()
    for argv, result in zip(lines, _probe(project, lines, str(tmp_path / "help")), strict=True):
        modules = result["modules"]
        libraries = {t for t in _tops(modules) if t not in sys.stdlib_module_names} - {"click", "pivot_ci"}
        assert not libraries, (argv, libraries)
        layers = _within(modules, PIVOT_LAYERS)
        assert not layers, (argv, layers)
        unused = _tops(modules) & set(STDLIB_UNUSED_BY_HELP)
        assert not unused, (argv, unused)
        commands = [m for m in modules if m.startswith("pivot_ci.cli.") and m.endswith(("_cmds", "_cmd"))]
        if argv[0].startswith("-"):  # the listing of commands is drawn from a table: no command module
            assert commands == [], (argv, commands)
        else:  # the command's own module (and what it reuses from a sibling), no other
            assert len(commands) <= 2 and f"pivot_ci.cli.{COMMANDS[argv[0]]}" in modules, (argv, commands)
        assert "pivot_ci.cli.remote_support" not in modules and "pivot_ci.cli.live" not in modules, argv


def _settled(p: Project) -> None:
    """Every file of the project dated a minute back, as in a workspace not edited in the last seconds, then one
    `status` that lets pivot remember them (a file modified within the last seconds is parsed again on every
    run, never memoised: its mtime could not tell a later edit apart)."""
    minute_ago = time.time() - 60
    for path in sorted(p.root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            os.utime(path, (minute_ago, minute_ago))
    p.run("status", "--all", "--exit-code").ok()


def _built(p: Project) -> None:
    """A cmd stage (pivot.yaml) and a Python stage (pipeline.py) downstream of it, both run and settled."""
    p.write("data/raw.txt", "raw\n")
    p.write("prep/pivot.yaml", """
        stages:
          clean:
            cmd: python -c "import shutil; shutil.copy('../data/raw.txt', 'clean.txt')"
            deps: [../data/raw.txt]
            outs: [clean.txt]
        """)
    p.write("train/pipeline.py", """
        from pathlib import Path

        from pivot_ci import Pipeline

        pipeline = Pipeline("train")


        @pipeline.stage(deps=["../prep/clean.txt"], outs=["model.txt"])
        def fit() -> None:
            Path("model.txt").write_text(Path("../prep/clean.txt").read_text().upper())
        """)
    p.run("repro", "--all").ok()
    _settled(p)


NO_CHANGE_FORBIDDEN_PIVOT = (
    "pivot_ci.cli.remote_support", "pivot_ci.remote", "pivot_ci.compare", "pivot_ci.cli.live",
    "pivot_ci.engine.repro", "pivot_ci.engine.executors", "pivot_ci.engine.cluster", "pivot_ci.engine.explain",
    "pivot_ci.engine.staged", "pivot_ci.state.gitread", "pivot_ci.dag.render")
# A no-change check uses the state db (sqlite3) and may hash (xxhash).
NO_CHANGE_FORBIDDEN = tuple(m for m in HEAVY if m not in ("sqlite3", "_sqlite3", "xxhash"))
REPORTS = {"text": "text", "json": "json_report", "junit": "junit", "github": "github"}


def _check_imports(argv: tuple[str, ...], modules: list[str], forbidden: tuple[str, ...]) -> None:
    """A no-change status/verify: the check, the chosen report format, nothing else of pivot's nor a library's."""
    assert "pivot_ci.engine.check" in modules, argv  # it did check
    heavy = _tops(modules) & set(forbidden)
    assert not heavy, (argv, heavy)
    unused = _within(modules, NO_CHANGE_FORBIDDEN_PIVOT)
    assert not unused, (argv, unused)
    fmt = argv[argv.index("--format") + 1] if "--format" in argv else "text"
    reports = {m for m in modules if m.startswith("pivot_ci.report.")}
    # the chosen format's module (github renders its summary line with text's), never another
    expected = {f"pivot_ci.report.{REPORTS[fmt]}"} | ({"pivot_ci.report.text"} if fmt == "github" else set())
    assert reports - {"pivot_ci.report.sanitize"} == expected, (argv, reports)


def test_a_command_imports_what_it_uses_only(project: Project, tmp_path: Any) -> None:
    """No-change status/verify in each format; then with tracked data and a remote: a remote, --explain, repro,
    list: each brings its own modules only, and a directory remote never the S3 client."""
    _built(project)
    checks = [("status", "--all"), ("verify", "--all"), ("status", "--all", "--format", "json"),
              ("verify", "--all", "--format", "junit"), ("verify", "--all", "--format", "github"),
              ("status", "-C", "train"), ("verify", "--all", "-q")]
    for argv, result in zip(checks, _probe(project, [list(a) for a in checks], str(tmp_path / "plain")), strict=True):
        _check_imports(argv, result["modules"], NO_CHANGE_FORBIDDEN)

    project.run("track", "data/raw.txt").ok()
    project.run("remote", "add", "-d", "store", str(tmp_path / "remote")).ok()
    project.run("push", "--all").ok()
    _settled(project)
    others = [("verify", "--all"), ("verify", "--all", "--allow-missing"), ("status", "--all", "--remote"),
              ("status", "--all", "--explain"), ("repro", "--all"), ("list", "--all")]
    results = _probe(project, [list(a) for a in others], str(tmp_path / "probe"))
    by_argv = {argv: r["modules"] for argv, r in zip(others, results, strict=True)}
    # pointer files are memoised like pipeline files: no YAML on a no-change path with tracked data either
    _check_imports(("verify", "--all"), by_argv[("verify", "--all")], NO_CHANGE_FORBIDDEN)
    assert "pivot_ci.pipeline.tracked" in by_argv[("verify", "--all")]  # it did read the pointer file
    for argv in (("verify", "--all", "--allow-missing"), ("status", "--all", "--remote")):
        modules = by_argv[argv]
        assert "pivot_ci.remote.local" in modules and "pivot_ci.cli.remote_support" in modules, argv
        assert "pivot_ci.remote.s3" not in modules and not _tops(modules) & set(REMOTE_CLIENTS), argv
    assert "pivot_ci.engine.explain" in by_argv[("status", "--all", "--explain")]
    repro = by_argv[("repro", "--all")]  # nothing stale: the local executor, no cluster, no remote, no report
    assert "pivot_ci.engine.repro" in repro and not _tops(repro) & {"watchfiles", *CLUSTER, *REMOTE_CLIENTS}
    unused = _within(repro, ("pivot_ci.engine.cluster.client", "pivot_ci.engine.cluster.task",
                             "pivot_ci.engine.cluster.preflight", "pivot_ci.engine.watch",
                             "pivot_ci.cli.remote_support", "pivot_ci.remote", "pivot_ci.report"))
    assert not unused, unused
    unused = _within(by_argv[("list", "--all")], ("pivot_ci.engine", "pivot_ci.remote", "pivot_ci.report"))
    assert not unused, unused
