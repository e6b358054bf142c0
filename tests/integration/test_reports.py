"""Report formats of status/verify: JSON against the published schema, JUnit, GitHub; same exit codes."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import junitparser
import pytest
import xmlschema

from tests.support.factory import Project

SCHEMAS = resources.files("pivot_ci.report") / "schemas"
JSON_SCHEMA = json.loads((SCHEMAS / "report-v1.schema.json").read_text())
JUNIT_XSD = xmlschema.XMLSchema(str(SCHEMAS / "pivot-junit.xsd"))


def _validate_json(doc: Any) -> None:
    jsonschema.Draft202012Validator(JSON_SCHEMA).validate(doc)


def _read_junit(path: Path) -> junitparser.JUnitXml:
    JUNIT_XSD.validate(str(path))
    return junitparser.JUnitXml.fromfile(str(path))


def test_json_schema_is_valid_and_every_report_matches_it(multi: Project) -> None:
    jsonschema.Draft202012Validator.check_schema(JSON_SCHEMA)
    for args in (("status", "--all", "--json"), ("verify", "--all", "--json"), ("verify", "--json")):
        _validate_json(multi.run(*args, cwd="tune" if "--all" not in args else ".").json())
    multi.run("repro", "--all").ok()
    multi.write("prep/raw.txt", "changed\n")
    for cmd in ("status", "verify"):
        _validate_json(multi.run(cmd, "--all", "--format", "json").json())


@pytest.mark.parametrize("fmt", ["text", "json", "junit", "github"])
def test_every_format_has_the_same_exit_code(multi: Project, fmt: str) -> None:
    assert multi.run("verify", "--all", "--format", fmt).code == 1
    assert multi.run("status", "--all", "--exit-code", "--format", fmt).code == 1
    assert multi.run("status", "--all", "--format", fmt).code == 0
    multi.run("repro", "--all").ok()
    assert multi.run("verify", "--all", "--format", fmt).code == 0


def test_machine_formats_print_only_the_report_on_stdout(project: Project) -> None:
    project.write("p/pivot.yaml", "stages:\n  s:\n    cmd: cat absent.txt > o\n    deps: [absent.txt]\n    outs: [o]\n")
    out = project.run("verify", "--all", "--format", "junit")
    assert out.stdout.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites')
    assert "absent.txt" in out.stderr  # the warning went to stderr
    json.loads(project.run("verify", "--all", "--json").stdout)


def test_junit_suites_cases_and_typed_failures(multi: Project, tmp_path: Path) -> None:
    multi.run("repro", "--all").ok()
    multi.write("prep/raw.txt", "changed\n")
    (multi.root / "tune/report.txt").unlink()
    (multi.root / ".pivot/cache").rename(tmp_path / "cache-gone")
    out = multi.run("verify", "--all", "--format", "junit", "--output", "junit.xml")
    assert out.code == 1 and out.stdout == "" and "report written to junit.xml" in out.stderr
    xml = _read_junit(multi.root / "junit.xml")
    suites = {s.name: s for s in xml}
    assert set(suites) == {"prep", "train", "tune"}
    props = {p.name: p.value for p in suites["tune"].properties()}
    assert props["pivot.pipeline_file"] == "tune/pipeline.py" and props["pivot.state_dir"] == "tune/.pivot"
    assert props["pivot.version"]
    cases = {c.name: c for c in suites["prep"]}
    clean = cases["clean"]
    assert clean.classname == "prep" and clean._elem.get("file") == "prep/pivot.yaml"
    assert clean._elem.get("line") == "4"
    failure = clean.result[0]
    assert failure.type == "pivot.Stale" and failure.message == "dep changed: prep/raw.txt"
    assert "fix: pivot repro --all clean" in failure.text
    report = {c.name: c for c in suites["tune"]}["report"].result[0]
    assert report.type == "pivot.Stale"
    assert suites["prep"].failures == 1 and suites["prep"].tests == 1
    assert xml.failures == 4 and xml.tests == 4


def test_junit_strict_drops_file_and_line(multi: Project) -> None:
    out = multi.run("verify", "--all", "--format", "junit", "--junit-strict")
    assert out.code == 1
    path = multi.root / "strict.xml"
    path.write_text(out.stdout)
    xml = _read_junit(path)
    assert all(c._elem.get("file") is None and c._elem.get("line") is None for s in xml for c in s)


def test_missing_output_and_missing_dep_failure_types(project: Project) -> None:
    project.write("p/pivot.yaml", """
        stages:
          make:
            cmd: echo x > out.txt
            outs: [out.txt]
          use:
            cmd: cat out.txt nowhere.txt > used.txt
            deps: [out.txt, nowhere.txt]
            outs: [used.txt]
        """)
    project.write("p/nowhere.txt", "x\n")
    project.run("repro", "--all").ok()
    (project.root / "p/nowhere.txt").unlink()
    (project.root / "p/out.txt").unlink()
    import shutil
    shutil.rmtree(project.root / ".pivot/cache")
    out = project.run("verify", "--all", "--format", "junit", "--output", "j.xml")
    assert out.code == 1
    cases = {c.name: c for s in _read_junit(project.root / "j.xml") for c in s}
    assert cases["make"].result[0].type == "pivot.MissingOutput"
    assert cases["use"].result[0].type == "pivot.MissingDep"


def test_junit_is_valid_with_ansi_and_nul_in_names_and_paths(project: Project) -> None:
    # a pipeline name with NUL and ANSI escapes, a missing dep whose path holds ANSI escapes
    project.write("p/pivot.yaml", r"""
        pipeline: "pipe\0line\e[1m"
        stages:
          s:
            cmd: echo out > o.txt
            deps: ["data\e[31mred\e[0m.txt"]
            outs: [o.txt]
        """)
    out = project.run("verify", "--all", "--format", "junit", "--output", "j.xml")
    assert out.code == 1, out
    raw = (project.root / "j.xml").read_text()
    assert "\x1b" not in raw and "\x00" not in raw
    xml = _read_junit(project.root / "j.xml")
    assert [s.name for s in xml] == ["pipeline"]
    failure = next(iter(next(iter(xml)))).result[0]
    assert failure.type == "pivot.MissingDep" and "p/datared.txt" in failure.message


def test_reports_are_written_when_a_pipeline_fails_to_load(multi: Project) -> None:
    multi.write("train/pivot.yaml", "stages:\n  train: [not, a, mapping\n")
    out = multi.run("verify", "--all", "--format", "junit", "--output", "j.xml", "--report", "json:r.json")
    assert out.code == 2 and "train/pivot.yaml:3" in out.stderr
    xml = _read_junit(multi.root / "j.xml")
    suites = {s.name: s for s in xml}
    assert "train/pivot.yaml" in suites and suites["train/pivot.yaml"].errors == 1
    error = next(iter(suites["train/pivot.yaml"])).result[0]
    assert error.type == "pivot.LoadError" and "malformed YAML" in error.message
    assert {"prep", "tune"} <= set(suites)  # the others are still reported
    doc = json.loads(multi.read("r.json"))
    _validate_json(doc)
    broken = [p for p in doc["pipelines"] if p["error"]]
    assert doc["passed"] is False and [p["file"] for p in broken] == ["train/pivot.yaml"]


def test_reports_are_written_when_the_graph_is_invalid(multi: Project) -> None:
    multi.write("tune/pipeline.py", multi.read("tune/pipeline.py").replace('"result.txt"', '"../train/model.txt"'))
    out = multi.run("verify", "--all", "--format", "junit", "--output", "j.xml")
    assert out.code == 2
    xml = _read_junit(multi.root / "j.xml")
    assert xml.errors == 1


def test_github_annotations_groups_and_summary(multi: Project, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    out = multi.run("verify", "--all", "--format", "github", "--report", "junit:j.xml",
                    env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert out.code == 1
    lines = out.stdout.splitlines()
    assert lines.count("::endgroup::") == 3
    assert any(line.startswith("::group::prep (prep/pivot.yaml") for line in lines)
    errors = [line for line in lines if line.startswith("::error ")]
    assert errors[0].startswith("::error file=prep/pivot.yaml,line=4,title=pivot verify%3A clean (Stale)::")
    assert "fix: pivot repro --all clean" in errors[0]
    text = summary.read_text()
    assert text.startswith("# earlier step\n### ❌ pivot verify")
    assert "| prep | `prep/pivot.yaml` | `.pivot` | 1 | 0 | 1 |" in text
    _read_junit(multi.root / "j.xml")  # one run: annotations, summary and the JUnit file


def test_github_annotates_the_worst_ten_then_a_notice(project: Project) -> None:
    stages = "".join(f"  s{i:02d}:\n    cmd: echo {i} > o{i}.txt\n    outs: [o{i}.txt]\n" for i in range(13))
    project.write("p/pivot.yaml", "stages:\n" + stages)
    out = project.run("verify", "--all", "--format", "github")
    errors = [line for line in out.stdout.splitlines() if line.startswith("::error ")]
    notices = [line for line in out.stdout.splitlines() if line.startswith("::notice ")]
    assert len(errors) == 10 and len(notices) == 1 and "3 more failing stages" in notices[0]


def test_github_escapes_properties_and_data(project: Project) -> None:
    project.write("a,b:c%d/pivot.yaml", "stages:\n  s:\n    cmd: echo > o.txt\n    outs: [o.txt]\n")
    out = project.run("verify", "--all", "--format", "github")
    error = next(line for line in out.stdout.splitlines() if line.startswith("::error "))
    assert error.startswith("::error file=a%2Cb%3Ac%25d/pivot.yaml,line=2,")


def test_github_annotation_paths_are_relative_to_the_repository(tmp_path: Path) -> None:
    from tests.support.factory import multi as make_multi

    p = make_multi(tmp_path / "repo" / "ml")  # the project lives in a sub-directory of the repository
    out = p.run("verify", "--all", "--format", "github", env={"GITHUB_WORKSPACE": str(tmp_path / "repo")})
    errors = [line for line in out.stdout.splitlines() if line.startswith("::error ")]
    assert errors and all(line.startswith("::error file=ml/") for line in errors)
