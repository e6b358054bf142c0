"""pivot's own .gitignore lines: appended and removed without touching the user's lines, checked with real git."""

from __future__ import annotations

from pathlib import Path

from pivot_ci.state import gitignore
from tests.support import gitrepo


def test_add_keeps_user_lines_and_order(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("# mine\n*.tmp\n!keep.tmp\nbuild/")
    assert gitignore.add(tmp_path, ["data", "model.pkl", "data"]) == ["/data", "/model.pkl"]
    assert (tmp_path / ".gitignore").read_text() == "# mine\n*.tmp\n!keep.tmp\nbuild/\n/data\n/model.pkl\n"
    assert gitignore.add(tmp_path, ["data"]) == []


def test_remove_only_ours_and_delete_an_emptied_file(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("*.tmp\n/data\nbuild/\n/model.pkl\n")
    assert gitignore.remove(tmp_path, ["data"]) == ["/data"]
    assert (tmp_path / ".gitignore").read_text() == "*.tmp\nbuild/\n/model.pkl\n"
    assert gitignore.remove(tmp_path, ["absent"]) == []
    gitignore.add(tmp_path / "fresh", [])
    assert not (tmp_path / "fresh").exists()
    sub = tmp_path / "sub"
    sub.mkdir()
    gitignore.add(sub, ["x"])
    gitignore.remove(sub, ["x"])
    assert not (sub / ".gitignore").exists()


def test_patterns_match_exactly_that_name_in_git(tmp_path: Path) -> None:
    names = ["plain.csv", "star*.csv", "#hash", "!bang", "q?.txt", "br[a].txt", "trailing ", "sp ace"]
    decoys = ["starX.csv", "qx.txt", "bra.txt", "trailing"]
    repo = gitrepo.init(tmp_path / "repo", gitrepo.base_env(tmp_path / "home"))
    for n in names + decoys:
        (repo.root / "d").mkdir(exist_ok=True)
        (repo.root / "d" / n).write_text("x")
    gitignore.add(repo.root / "d", names)
    out = repo.git("status", "--porcelain", "-z", "--untracked-files=all").ok().output
    untracked = sorted(e[3:].removeprefix("d/") for e in out.split("\0") if e.startswith("??"))
    assert untracked == sorted([".gitignore", *decoys])
