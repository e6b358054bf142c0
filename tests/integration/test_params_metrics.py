"""`pivot params diff` / `metrics show|diff` on a real git history of several pipelines (SPEC §12).

One history serves the module: at `main` three pipelines (a shared state dir, an own one, a pipeline.py) are
reproduced and committed, except one lock file and one metric file that are never committed; on `feature`
a param changes through a vars file, one metric improves, one regresses past its gate, one is removed, one
is added, and a new stage appears. The workspace is `feature`'s checkout.
"""

from __future__ import annotations

import dataclasses
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import junitparser
import pytest
import referencing
import xmlschema

from tests.support import factory, gitrepo

pytestmark = pytest.mark.xdist_group("params_metrics")

SCHEMAS = resources.files("pivot_ci.report") / "schemas"
JUNIT_XSD = xmlschema.XMLSchema(str(SCHEMAS / "pivot-junit.xsd"))


def schema_registry() -> referencing.Registry[Any]:
    docs = [json.loads((SCHEMAS / n).read_text()) for n in ("comparison-v1.schema.json", "report-v1.schema.json")]
    return referencing.Registry().with_resources(
        (d["$id"], referencing.Resource.from_contents(d)) for d in docs)


def validate(doc: Any, schema: str) -> None:
    registry = schema_registry()
    contents = registry.contents(f"https://pivot-ci.invalid/schemas/{schema}")
    jsonschema.Draft202012Validator(contents, registry=registry).validate(doc)


TRAIN_MAIN = """
    vars: [params.yaml]
    stages:
      fit:
        cmd: >-
          python ../tools/copy.py scores.src.json eval/metrics.json &&
          python ../tools/copy.py extra.src eval/extra.yaml
        deps: [../prep/clean.txt, scores.src.json, extra.src, ../tools/copy.py]
        params: [train]
        metrics:
          - path: eval/metrics.json
            fail_if:
              accuracy: {drop: 0.01}
              loss: {rise: 0.05}
              latency_ms: {above: 200}
          - eval/extra.yaml
    """
TRAIN_FEATURE = TRAIN_MAIN + """
      report:
        cmd: python ../tools/copy.py report.src report.json
        deps: [report.src, ../tools/copy.py]
        metrics:
          - path: report.json
            fail_if: {pages: {drop: 1}}
    """
TUNE = """
    import pathlib

    from pivot_ci import Pipeline

    pipeline = Pipeline("tune")
    {marker}

    @pipeline.stage(deps=["../prep/clean.txt"], metrics=["score.toml"], params=["search.trials"])
    def score(trials):
        pathlib.Path("score.toml").write_text(f'[eval]\\nscore = {trials / 10}\\nnote = "a|b"\\n')
    {extra}
    """
SUMMARY = 'pipeline.command("summary", cmd="python ../tools/copy.py s.src s.json", deps=["s.src"], metrics=["s.json"])'

MARKER = 'pathlib.Path("executed.txt").write_text("the pipeline.py of main ran")'


@dataclasses.dataclass(frozen=True)
class History:
    project: factory.Project
    repo: gitrepo.GitRepo
    main: str


def _scores(**values: Any) -> str:
    return json.dumps(values) + "\n"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    base = tmp_path_factory.mktemp("history")
    p = factory.new_project(base / "repo")
    repo = gitrepo.init(p.root, gitrepo.base_env(base / "home"))
    p.write("tools/copy.py", factory.COPY_PY)
    p.write("prep/raw.txt", "raw\n")
    p.write("prep/params.yaml", "prep: {min_words: 3, lang: en}\n")
    p.write("prep/pivot.yaml", """
        pipeline: prep
        root: /
        vars: [params.yaml]
        stages:
          clean:
            cmd: python ../tools/copy.py raw.txt clean.txt
            deps: [raw.txt, ../tools/copy.py]
            outs: [clean.txt]
            params: [prep.min_words]
        """)
    p.write("train/params.yaml", "train: {lr: 0.1, optimizer: adam}\n")
    p.write("train/scores.src.json", _scores(accuracy=0.80, loss=0.20, f1=0.7, latency_ms=120, tiny=0.1,
                                             per_class=[0.5, 0.9]))
    p.write("train/extra.src", "extra: {seen: 1}\n")
    p.write("train/pivot.yaml", TRAIN_MAIN)
    p.write("tune/params.yaml", "search: {trials: 10}\n")
    p.write("tune/pipeline.py", TUNE.replace("{marker}", MARKER).replace("{extra}", ""))
    p.run("repro", "--all").ok()
    repo.git("add", "-A").ok()
    # never committed: tune's lock file and one of fit's metric files
    repo.git("reset", "-q", "--", "tune/.pivot/stages/score.lock", "train/eval/extra.yaml").ok()
    repo.git("commit", "-q", "-m", "main").ok()
    main = repo.head()
    (p.root / "tune/executed.txt").unlink()
    repo.git("checkout", "-q", "-b", "feature").ok()
    p.write("prep/params.yaml", "prep: {min_words: 5, lang: en}\n")
    p.write("train/scores.src.json", _scores(accuracy=0.85, loss=0.30, auc=0.93, latency_ms=130, tiny=0.100000001,
                                             per_class=[0.5, 0.9]))
    p.write("train/pivot.yaml", TRAIN_FEATURE)
    p.write("train/report.src", '{"pages": 3}\n')
    p.write("tune/pipeline.py", TUNE.replace("{marker}", "").replace("{extra}", SUMMARY))
    p.write("tune/s.src", '{"n": 1}\n')
    p.run("repro", "--all").ok()
    repo.commit_all("feature").ok()
    return History(p, repo, main)


def _stages(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{p['name']}/{s['name']}": s for p in doc["pipelines"] for s in p["stages"]}


def _rows(stage: dict[str, Any], what: str) -> dict[str, tuple[Any, Any, Any, str]]:
    return {r["key"]: (r["old"], r["new"], r["change"], r["kind"]) for r in stage[what]}


def test_params_diff_reads_old_params_from_locks_in_git_and_says_what_is_unavailable(history: History) -> None:
    p = history.project
    out = p.run("params", "diff", "main", "--all", "--json").ok()
    doc = out.json()
    validate(doc, "comparison-v1.schema.json")
    assert doc["command"] == "params diff" and doc["old"] == {"rev": "main", "commit": history.main}
    assert doc["new"] == {"rev": "workspace", "commit": None} and (doc["params"], doc["metrics"]) == (True, False)
    stages = _stages(doc)
    assert list(stages) == ["prep/clean", "train/fit", "train/report", "tune/score", "tune/summary"]
    assert _rows(stages["prep/clean"], "params") == {"min_words": (3, 5, 2, "changed")}
    assert stages["train/fit"]["params"] == [] and stages["train/fit"]["unavailable"] == []
    assert stages["train/report"]["new_stage"] is True and stages["train/report"]["unavailable"] == []
    tune = stages["tune/score"]
    assert tune["params"] == [] and tune["passed"] is False
    assert tune["unavailable"] == [{"side": "old", "rev": "main", "what": "params",
                                    "reason": "lock file tune/.pivot/stages/score.lock is not in git at main"}]
    assert not (p.root / "tune/executed.txt").exists()  # main's pipeline.py was never run
    unchanged = _stages(p.run("params", "diff", "main", "--all", "--json", "--unchanged").ok().json())
    assert _rows(unchanged["train/fit"], "params") == {
        "train.lr": (0.1, 0.1, 0, "unchanged"), "train.optimizer": ("adam", "adam", None, "unchanged")}

    text = p.run("params", "diff", "main", "--all").ok().stdout
    assert text.splitlines()[0].split() == ["Pipeline", "Stage", "Param", "main", "workspace", "Change"]
    assert text.splitlines()[1].split() == ["prep", "clean", "min_words", "3", "5", "+2"]
    assert "score (tune/pipeline.py:8): params unavailable at main: lock file" in text
    # without --all, from train/: its stages (its pipeline first, as in status) and the upstream stages they need
    local = p.run("params", "diff", "main", "--json", cwd="train").ok().json()
    assert sorted(_stages(local)) == ["prep/clean", "train/fit", "train/report"]
    assert [pipe["name"] for pipe in local["pipelines"]] == ["train", "prep"]
    head = p.run("params", "diff", "--all", "--json").ok().json()  # HEAD (= feature) vs the workspace
    assert head["old"]["rev"] == "HEAD" and all(not s["params"] for s in _stages(head).values())


def test_metrics_diff_rows_gates_and_gaps(history: History) -> None:
    p = history.project
    out = p.run("metrics", "diff", "main", "--all", "--json").ok()  # gates fail, but no --check
    doc = out.json()
    validate(doc, "comparison-v1.schema.json")
    stages = _stages(doc)
    fit = stages["train/fit"]
    assert _rows(fit, "metrics") == {
        "accuracy": (0.8, 0.85, 0.05, "changed"), "auc": (None, 0.93, None, "added"),
        "f1": (0.7, None, None, "removed"), "latency_ms": (120, 130, 10, "changed"),
        "loss": (0.2, 0.3, 0.1, "changed"), "tiny": (0.1, 0.100000001, 1e-09, "changed")}
    assert {r["file"] for r in fit["metrics"]} == {"train/eval/metrics.json"}
    gates = {g["key"]: (g["rule"], g["passed"], g["line"]) for g in fit["gates"]}
    assert gates == {"accuracy": ("drop", True, 12), "loss": ("rise", False, 13), "latency_ms": ("above", True, 14)}
    loss = next(g for g in fit["gates"] if g["key"] == "loss")
    assert loss["message"] == "rose by 0.1 (0.2 -> 0.3), more than 0.05" and (loss["old"], loss["new"]) == (0.2, 0.3)
    assert fit["unavailable"] == [{"side": "old", "rev": "main", "what": "metrics",
                                   "reason": "metric file train/eval/extra.yaml is not in git at main"}]
    report = stages["train/report"]
    assert report["new_stage"] and _rows(report, "metrics") == {"pages": (None, 3, None, "added")}
    assert report["gates"][0]["passed"] and report["gates"][0]["message"] == "no baseline: the stage is new since main"
    assert stages["tune/score"]["metrics"] == [] and stages["tune/score"]["unavailable"] == []  # TOML unchanged
    # a stage new in a pipeline.py: main's pipeline.py is parsed (never run) and does not declare it
    assert stages["tune/summary"]["new_stage"] and _rows(stages["tune/summary"], "metrics") == {
        "n": (None, 1, None, "added")}
    assert doc["passed"] is False and doc["summary"]["failed_gates"] == 1
    assert doc["summary"]["unavailable_stages"] == 1

    check = p.run("metrics", "diff", "main", "--all", "--check")
    assert check.code == 1, check
    assert "FAILED  fit: loss: {rise: 0.05} (train/eval/metrics.json): rose by 0.1" in check.stdout
    assert "fit (train/pivot.yaml:3): metrics unavailable at main: metric file train/eval/extra.yaml" in check.stdout
    assert p.run("metrics", "diff", "main", "--check", "-t", "report", cwd="train").code == 0

    # B_REV: the same comparison between two commits, read from git alone
    revs = p.run("metrics", "diff", "main", "feature", "--all", "--json").ok().json()
    assert revs["new"] == {"rev": "feature", "commit": history.repo.git("rev-parse", "feature").ok().output.strip()}
    assert _rows(_stages(revs)["train/fit"], "metrics") == _rows(fit, "metrics")
    assert [u["side"] for u in _stages(revs)["train/fit"]["unavailable"]] == ["old"]  # extra.yaml: added on feature


def test_precision_and_markdown_read_back(history: History) -> None:
    p = history.project
    text = p.run("metrics", "diff", "main", "--all", "--precision", "2").ok().stdout
    row = next(line.split() for line in text.splitlines() if " tiny " in line)
    assert row[-3:] == ["0.1", "0.1", "+1e-09"]  # a nonzero change is never printed as 0
    md = p.run("metrics", "show", "--all", "--format", "md").ok().stdout
    table = _md_rows(md, "#### Metrics")
    assert table[0] == ["pipeline", "stage", "file", "metric", "value"]
    assert ["tune", "score", "tune/score.toml", "eval.note", "a|b"] in table
    assert ["train", "fit", "train/eval/metrics.json", "per_class.1", "0.9"] in table
    shown = p.run("metrics", "show", "--all", "--json").ok().json()
    validate(shown, "comparison-v1.schema.json")
    assert shown["old"] is None and shown["command"] == "metrics show"


def _md_rows(md: str, heading: str) -> list[list[str]]:
    """The rows of the Markdown table under `heading`, cells unescaped (`\\|` -> `|`)."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading)) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells, cell, i = [], "", 1
        while i < len(line):
            if line[i] == "\\" and line[i + 1:i + 2] == "|":
                cell, i = cell + "|", i + 2
                continue
            if line[i] == "|":
                cells.append(cell.strip())
                cell = ""
            else:
                cell += line[i]
            i += 1
        rows.append(cells)
    return [rows[0], *rows[2:]]


def test_bad_revisions_and_shallow_clones_are_usage_errors(history: History, tmp_path: Path) -> None:
    p = history.project
    bad = p.run("metrics", "diff", "no-such-rev", "--all")
    assert bad.code == 2 and "revision 'no-such-rev' is not a commit" in bad.stderr and bad.stdout == ""
    clone = tmp_path / "clone"
    gitrepo.run(["git", "clone", "-q", "--depth", "1", "--branch", "feature", f"file://{p.root}", str(clone)],
                tmp_path, history.repo.env).ok()
    shallow = factory.Project(clone).run("params", "diff", "HEAD^1", "--all")
    assert shallow.code == 2, shallow
    assert "revision 'HEAD^1' is not a commit" in shallow.stderr and "fetch-depth: 2" in shallow.stderr
    p.write("broken/pivot.yaml", "stages: [not, a, mapping]\n")
    try:
        skipped = p.run("metrics", "diff", "main", "--all", "--skip-broken", "--check", "--json", "-t", "report")
    finally:
        (p.root / "broken/pivot.yaml").unlink()
    assert skipped.code == 1 and "broken/pivot.yaml" in skipped.stderr, skipped
    doc = skipped.json()
    assert [(pipe["file"], pipe["stages"] == []) for pipe in doc["pipelines"]][-1] == ("broken/pivot.yaml", True)
    assert doc["pipelines"][-1]["error"].startswith("pipeline file failed to load")
    assert doc["summary"]["broken_pipelines"] == 1 and not doc["passed"]
    outside = factory.new_project(tmp_path / "nogit")
    outside.write("pivot.yaml", "stages: {s: {cmd: echo}}\n")
    err = outside.run("params", "diff")
    assert err.code == 2 and "not inside a git repository" in err.stderr
    assert outside.run("metrics", "show").ok().stdout.startswith("pivot metrics show (the workspace)")


def test_verify_compare_to_adds_the_comparison_to_every_format(history: History, tmp_path: Path) -> None:
    p = history.project
    summary_file = tmp_path / "summary.md"
    junit_file, md_file = tmp_path / "pivot.xml", tmp_path / "pivot.md"
    out = p.run("verify", "--all", "--compare-to", "main", "--json", "--report", f"junit:{junit_file}",
                "--report", f"md:{md_file}", "--report", f"github:{tmp_path / 'gh.txt'}",
                env={"GITHUB_STEP_SUMMARY": str(summary_file)})
    assert out.code == 1, out
    doc = out.json()
    validate(doc, "report-v1.schema.json")
    assert doc["summary"]["failed"] == 0 and doc["passed"] is False  # every stage reproduced; a gate failed
    cmp = doc["comparison"]
    assert (cmp["params"], cmp["metrics"], cmp["old"]["rev"]) == (True, True, "main")
    assert cmp["summary"]["failed_gates"] == 1 and cmp["summary"]["unavailable_stages"] == 2
    assert _rows(_stages(cmp)["prep/clean"], "params") == {"min_words": (3, 5, 2, "changed")}
    assert "verify FAILED: 1 metric gate failed, 2 stages not comparable with main" in out.stderr

    junit = JUNIT_XSD.validate(str(junit_file)) or junitparser.JUnitXml.fromfile(str(junit_file))
    cases = {(suite.name, case.name): case for suite in junit for case in suite}
    loss = cases[("train", "metric:fit:loss")]
    assert [(r.type, r.message) for r in loss.result] == [
        ("pivot.MetricGate", "loss: {rise: 0.05} (train/eval/metrics.json): rose by 0.1 (0.2 -> 0.3), more than 0.05")]
    assert loss._elem.get("line") == "13" and loss._elem.get("file") == "train/pivot.yaml"
    assert cases[("train", "metric:fit:accuracy")].is_passed and cases[("train", "metric:report:pages")].is_passed
    assert [r.type for r in cases[("train", "compare:fit")].result] == ["pivot.Unavailable"]
    assert [r.type for r in cases[("tune", "compare:score")].result] == ["pivot.Unavailable"]
    train = next(s for s in junit if s.name == "train")
    assert (train.tests, train.failures) == (2 + 4 + 1, 2)  # stages, gates, one unavailable stage

    gh = (tmp_path / "gh.txt").read_text()
    assert "::error file=train/pivot.yaml,line=13,title=pivot verify%3A metric gate fit%3Aloss::" in gh
    assert "::error file=tune/pipeline.py,line=8,title=pivot verify%3A score (comparison unavailable)::" in gh
    summary = summary_file.read_text()
    assert summary == md_file.read_text()
    assert summary.startswith("### ❌ pivot verify: verify FAILED: 1 metric gate failed")
    assert ["prep", "clean", "min_words", "3", "5", "+2"] in _md_rows(summary, "#### Params (main → workspace)")
    assert ["❌", "fit", "loss: {rise: 0.05} (train/eval/metrics.json)",
            "rose by 0.1 (0.2 -&gt; 0.3), more than 0.05"] in _md_rows(summary, "#### Gates")

    new_only = p.run("verify", "--all", "report", "--compare-to", "main")
    assert new_only.code == 0 and "verify passed" in new_only.stdout, new_only
    assert "Gates (main -> workspace):\n  passed  report: pages: {drop: 1} (train/report.json): no baseline" in \
        new_only.stdout
