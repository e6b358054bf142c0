"""Reading files at git revisions without a checkout, with real repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from pivot_ci.errors import GitError
from pivot_ci.state.gitread import GitRepo
from tests.support import gitrepo


def _repo(tmp_path: Path) -> gitrepo.GitRepo:
    return gitrepo.init(tmp_path / "repo", gitrepo.base_env(tmp_path / "home"))


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_reads_files_of_two_revisions_without_touching_the_work_tree(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    _write(repo.root, "p/.pivot/stages/a.lock", "v1\n")
    repo.commit_all("one").ok()
    first = repo.head()
    _write(repo.root, "p/.pivot/stages/a.lock", "v2\n")
    _write(repo.root, "p/data.pvt", "pointer\n")
    repo.commit_all("two").ok()
    _write(repo.root, "p/.pivot/stages/a.lock", "work tree\n")
    with GitRepo.open(repo.root, "test") as git:
        assert git.prefix == ""
        old, new = git.resolve(first), git.resolve("HEAD")
        assert git.read(old, ["p/.pivot/stages/a.lock", "p/data.pvt"]) == {
            "p/.pivot/stages/a.lock": b"v1\n", "p/data.pvt": None}
        assert git.read_one(new, "p/.pivot/stages/a.lock") == b"v2\n"
        assert git.read_one(new, "p") is None  # a tree, not a file
        assert git.list_files(new, lambda p: p.endswith(".pvt")) == ["p/data.pvt"]
        assert sorted(git.list_files(old)) == ["p/.pivot/stages/a.lock"]
    assert (repo.root / "p/.pivot/stages/a.lock").read_text() == "work tree\n"


def test_project_below_the_repository_top_uses_project_relative_paths(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    _write(repo.root, "sub/proj/x.lock", "in project\n")
    _write(repo.root, "other/x.lock", "outside\n")
    repo.commit_all("one").ok()
    with GitRepo.open(repo.root / "sub" / "proj", "test") as git:
        assert git.prefix == "sub/proj/"
        sha = git.resolve("main")
        assert git.list_files(sha) == ["x.lock"]
        assert git.read_one(sha, "x.lock") == b"in project\n"
        (repo.root / "sub/proj/x.lock").write_text("changed\n")
        (repo.root / "sub/proj/new.lock").write_text("new\n")
        (repo.root / "other/x.lock").write_text("changed too\n")
        assert git.unstaged(["x.lock", "new.lock", "y.lock"]) == ["new.lock", "x.lock"]
        repo.git("add", "sub/proj/x.lock").ok()
        assert git.unstaged(["x.lock"]) == []


def test_unknown_revision_is_an_error_naming_it(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    _write(repo.root, "a", "a\n")
    repo.commit_all("one").ok()
    with GitRepo.open(repo.root, "test") as git:
        for rev in ("no-such-branch", "--output=/tmp/x", ""):
            with pytest.raises(GitError) as info:
                git.resolve(rev)
            assert repr(rev) in str(info.value) or f"'{rev}'" in str(info.value)
            assert info.value.hint


def test_shallow_clone_names_the_fetch_depth_fix(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    for i in range(3):
        _write(repo.root, "a", f"{i}\n")
        repo.commit_all(f"c{i}").ok()
    first = repo.git("rev-list", "--max-parents=0", "HEAD").ok().output.strip()
    clone = tmp_path / "clone"
    gitrepo.run(["git", "clone", "-q", "--depth", "1", f"file://{repo.root}", str(clone)], tmp_path,
                repo.env).ok()
    with GitRepo.open(clone, "test") as git:
        assert git.is_shallow()
        with pytest.raises(GitError) as info:
            git.resolve(first)
        assert "fetch-depth" in (info.value.hint or "")


def test_revision_scopes(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    _write(repo.root, "a", "1\n")
    repo.commit_all("one").ok()
    one = repo.head()
    repo.git("tag", "-a", "v1", "-m", "annotated").ok()
    _write(repo.root, "a", "2\n")
    repo.commit_all("two").ok()
    two = repo.head()
    repo.git("checkout", "-q", "-b", "side", one).ok()
    _write(repo.root, "a", "3\n")
    repo.commit_all("three").ok()
    three = repo.head()
    with GitRepo.open(repo.root, "test") as git:
        assert set(git.revisions(branches=True)) == {two, three}
        assert git.revisions(tags=True) == [one]
        assert set(git.revisions(commits=True)) == {one, two, three}
        assert git.head() == three


def test_outside_a_repository(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    assert GitRepo.find(tmp_path / "plain") is None
    with pytest.raises(GitError) as info:
        GitRepo.open(tmp_path / "plain", "pivot gc --rev")
    assert "pivot gc --rev" in str(info.value)


def test_tracked_and_ignored(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    _write(repo.root, "p/in_git.csv", "x\n")
    _write(repo.root, "p/dir/a.txt", "x\n")
    _write(repo.root, "p/.gitignore", "/ignored.csv\n")
    repo.commit_all("one").ok()
    _write(repo.root, "p/ignored.csv", "x\n")
    _write(repo.root, "p/new.csv", "x\n")
    with GitRepo.open(repo.root / "p", "test") as git:
        assert git.tracked(["in_git.csv", "dir", "new.csv", "ignored.csv", "di"]) == ["in_git.csv", "dir"]
        assert git.ignored(["in_git.csv", "ignored.csv", "new.csv"]) == {"ignored.csv"}


def test_thousands_of_files_in_one_read(tmp_path: Path) -> None:
    """Requests and answers both larger than a pipe's buffer: written by one thread while read by another."""
    repo = _repo(tmp_path)
    names = [f"stages/{i:05d}-{'x' * 60}.lock" for i in range(2000)]  # 150 kB of requests
    for name in names[:1000]:
        _write(repo.root, name, f"{name}\n" * 10)  # 800 kB of answers
    repo.commit_all("many").ok()
    with GitRepo.open(repo.root, "test") as git:
        sha = git.resolve("HEAD")
        spaced = ["a blob 5", "a blob", "x y z w"]  # absent: git answers "<name> missing", spaces and all
        (repo.root / "with space.lock").write_text("spaced\n")
        repo.commit_all("a name with a space").ok()
        sha = git.resolve("HEAD")
        found = git.read(sha, [*names, "bad\nname", *spaced, "with space.lock"])
        assert [found[n] for n in spaced] == [None, None, None] and found["with space.lock"] == b"spaced\n"
        found = {n: found[n] for n in [*names, "bad\nname"]}
        assert all(found[n] == f"{n}\n".encode() * 10 for n in names[:1000])
        assert all(found[n] is None for n in [*names[1000:], "bad\nname"])
        assert git.read_one(sha, names[0]) == found[names[0]]  # the process answers the next request as well


def test_blob_ids_name_each_file_once_across_revisions(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    _write(repo.root, "proj/.pivot/stages/a.lock", "same\n")
    _write(repo.root, "proj/b.lock", "v1\n")
    _write(repo.root, "outside.lock", "x\n")
    repo.commit_all("one").ok()
    first = repo.head()
    _write(repo.root, "proj/b.lock", "v2\n")
    repo.commit_all("two").ok()
    with GitRepo.open(repo.root / "proj", "test") as git:
        old, new = git.list_blobs(first), git.list_blobs(repo.head())
        assert set(old) == {".pivot/stages/a.lock", "b.lock"}  # project-relative; outside.lock is not ours
        assert old[".pivot/stages/a.lock"] == new[".pivot/stages/a.lock"] and old["b.lock"] != new["b.lock"]
        assert git.list_blobs(first, lambda p: p.startswith(".pivot/")) == {".pivot/stages/a.lock": old[
            ".pivot/stages/a.lock"]}
        blobs = git.read_objects([old["b.lock"], new["b.lock"], "0" * 40])
        assert blobs == {old["b.lock"]: b"v1\n", new["b.lock"]: b"v2\n", "0" * 40: None}
