"""`pivot track` / `untrack` (SPEC §10) on real projects in real git repositories, through the real CLI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import trackdata
from tests.support.factory import Project
from tests.support.trackdata import pointer


@pytest.fixture
def data(tmp_path: Path) -> Project:
    return trackdata.data_project(tmp_path / "proj")


def test_track_a_directory_and_a_file_then_retrack_reads_only_what_changed(data: Project, tmp_path: Path) -> None:
    repo = trackdata.git(data, tmp_path / "home")
    env = repo.env
    data.write("data/.gitignore", "# mine\n*.tmp\n")
    out = data.run("track", "data/raw.csv", "data/images", env=env).ok()
    assert "tracked data/images (12 files" in out.stderr
    assert "git add data/raw.csv.pvt data/.gitignore data/images.pvt" in out.stderr
    raw, images = pointer(data, "data/raw.csv.pvt"), pointer(data, "data/images.pvt")
    assert raw == {"schema": 1, "path": "raw.csv", "hash": raw["hash"], "size": 12}
    assert set(images) == {"schema", "path", "hash", "size", "files"}
    assert images["path"] == "images" and images["files"] == 12 and str(images["hash"]).endswith(".dir")
    assert images["size"] == sum(f.stat().st_size for f in (data.root / "data/images").rglob("*.txt"))
    assert data.read("data/images.pvt").splitlines()[0] == "files: 12"  # sorted keys
    # the user's lines first and unchanged, ours appended
    assert data.read("data/.gitignore") == "# mine\n*.tmp\n/raw.csv\n/images\n"
    entries = trackdata.manifest(data, str(images["hash"]))
    assert len(entries) == 12 and all(trackdata.cache_object(data, h).is_file() for h in entries.values())
    assert trackdata.cache_object(data, str(raw["hash"])).read_text() == "a,b\n1,2\n3,4\n"
    untracked = repo.git("status", "--porcelain", "--untracked-files=all").ok().output
    assert "data/raw.csv.pvt" in untracked and "data/images.pvt" in untracked
    assert "data/raw.csv\n" not in untracked and "data/images/" not in untracked

    # One file edited; another given new bytes behind an unchanged (size, mtime, inode): re-tracking trusts the
    # memo for the second, so only the first is read again.
    edited, hidden = data.root / "data/images/b/3.txt", data.root / "data/images/a/2.txt"
    edited.write_text("image 3, retouched\n")
    st = hidden.stat()
    with open(hidden, "r+b") as f:
        f.write(b"IMAGE")
    os.utime(hidden, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert "tracked data/images" in data.run("track", "data/images", env=env).ok().stderr
    after = trackdata.manifest(data, str(pointer(data, "data/images.pvt")["hash"]))
    assert after["b/3.txt"] != entries["b/3.txt"]
    assert after["a/2.txt"] == entries["a/2.txt"]  # not re-read
    assert {k for k in after if after[k] != entries[k]} == {"b/3.txt"}
    assert "unchanged: data/images" in data.run("track", "data/images", env=env).ok().stderr
    assert data.read("data/.gitignore") == "# mine\n*.tmp\n/raw.csv\n/images\n"  # no duplicate lines


def test_untrack_removes_pointer_and_line_and_keeps_data_cache_and_user_lines(data: Project) -> None:
    data.write("data/.gitignore", "*.tmp\n")
    data.run("track", "data/raw.csv", "data/images").ok()
    h = str(pointer(data, "data/images.pvt")["hash"])
    data.write("data/.gitignore", data.read("data/.gitignore") + "# after\n")
    out = data.run("untrack", "data/images.pvt", cwd=".").ok()  # the pointer names it too
    assert "untracked data/images: removed data/images.pvt" in out.stderr
    assert not data.exists("data/images.pvt") and data.exists("data/images/a/0.txt")
    assert trackdata.cache_object(data, h).is_file()
    assert data.read("data/.gitignore") == "*.tmp\n/raw.csv\n# after\n"
    data.run("untrack", "raw.csv", cwd="data").ok()  # relative to the working directory
    assert data.read("data/.gitignore") == "*.tmp\n# after\n" and data.exists("data/raw.csv")
    again = data.run("untrack", "data/raw.csv")
    assert again.code == 2 and "'data/raw.csv' is not tracked" in again.stderr
    # a .gitignore holding nothing but our line goes away with it
    data.run("track", "data/images/a").ok()
    assert data.read("data/images/.gitignore") == "/a\n"
    data.run("untrack", "data/images/a").ok()
    assert not data.exists("data/images/.gitignore")


def test_track_refuses_what_cannot_be_tracked_and_writes_nothing(data: Project, tmp_path: Path) -> None:
    repo = trackdata.git(data, tmp_path / "home")
    env = repo.env
    data.write("data/committed.csv", "x\n")
    repo.git("add", "data/committed.csv").ok()
    repo.git("commit", "-q", "-m", "data").ok()
    data.write("p/gen/pivot.yaml", "stages:\n  gen:\n    cmd: mkdir -p out && echo 1 > out/x\n    outs: [out/]\n")
    (tmp_path / "elsewhere.csv").write_text("outside\n")
    os.symlink(data.root / "data/raw.csv", data.root / "data/link.csv")
    data.write("node_modules/x.csv", "x\n")
    cases = {
        ("data/committed.csv",): "git rm -r --cached data/committed.csv",
        ("p/gen/out/x",): "'p/gen/out/x' lies inside output 'p/gen/out' of stage 'gen' (p/gen/pivot.yaml:2)",
        ("p/gen/out",): "'p/gen/out' is an output of stage 'gen'",
        ("p/gen",): "contains output 'p/gen/out' of stage 'gen'",
        ("tools",): None,  # fine: raw inputs may be anywhere (tracked below, then untracked)
        ("../elsewhere.csv",): "lies outside the project",
        ("data/nope",): "'data/nope' does not exist",
        ("data/link.csv",): "is a symbolic link",
        (".pivot/config.yaml",): "lies inside .git or .pivot",
        ("node_modules/x.csv",): "lies in a directory discovery skips",
        ("data/images", "data/images/a"): "'data/images' and 'data/images/a' overlap",
    }
    before = sorted(p.relative_to(data.root) for p in data.root.rglob("*") if ".git/" not in str(p))
    for args, message in cases.items():
        out = data.run("track", *args, env=env)
        if message is None:
            assert out.code == 0, str(out)
            data.run("untrack", *args, env=env).ok()
            continue
        assert out.code == 2 and message in out.stderr, str(out)
        assert "Traceback" not in out.stderr
    after = sorted(p.relative_to(data.root) for p in data.root.rglob("*") if ".git/" not in str(p))
    assert [p for p in after if p not in before and ".pivot" not in p.parts] == []

    data.run("track", "data/images", env=env).ok()
    inside = data.run("track", "data/images/a", env=env)
    assert inside.code == 2 and "lies inside tracked data 'data/images' (data/images.pvt)" in inside.stderr
    assert "pivot track data/images" in inside.stderr
    outer = data.run("track", "data", env=env)
    assert outer.code == 2 and "'data' contains tracked data: data/images.pvt" in outer.stderr
    assert "--force" in outer.stderr
    assert data.run("track", "data/images.pvt", env=env).code == 2
    # --force replaces the pointers inside by one for the whole directory (git-tracked content excluded)
    repo.git("rm", "-q", "--cached", "data/committed.csv").ok()
    forced = data.run("track", "--force", "data", env=env).ok()
    assert "removed data/images.pvt (now part of data)" in forced.stderr
    assert not data.exists("data/images.pvt") and data.exists("data.pvt")
    assert "/images" not in data.read("data/.gitignore") if data.exists("data/.gitignore") else True
    assert data.read(".gitignore") == "/data\n"


def test_pointer_files_that_cannot_be_loaded_stop_every_command(data: Project) -> None:
    data.run("track", "data/raw.csv").ok()
    good = data.read("data/raw.csv.pvt")
    data.write("data/raw.csv.pvt", good.replace("size: 12", "size: -1"))
    out = data.run("status", "--all")
    assert out.code == 2
    assert "Error: malformed pointer file: `size` must be a non-negative integer (bytes) (data/raw.csv.pvt:4)" \
        in out.stderr, out.stderr
    data.write("data/raw.csv.pvt", "hash: [\n")
    out = data.run("verify", cwd="p")
    assert out.code == 2 and "(data/raw.csv.pvt:" in out.stderr and "Hint:" in out.stderr
    # --skip-broken: a warning, and verify fails on it
    out = data.run("verify", "--all", "--skip-broken", "--json")
    assert out.code == 1 and "pointer file data/raw.csv.pvt" in out.stderr
    assert any(p["file"] == "data/raw.csv.pvt" and p["error"] for p in out.json()["pipelines"])
    # track --force overwrites a pointer that does not parse; without it, the error is named
    refused = data.run("track", "data/raw.csv")
    assert refused.code == 2 and "exists and cannot be read" in refused.stderr
    data.run("track", "--force", "data/raw.csv").ok()
    assert data.read("data/raw.csv.pvt") == good

    data.write("data/other.pvt", "path: raw.csv\nhash: 0123abcd\nsize: 1\nschema: 1\n")
    out = data.run("status", "--all")
    assert out.code == 2
    assert "pointer files data/other.pvt and data/raw.csv.pvt track overlapping data: the same path" in out.stderr
    data.write("data/other.pvt", "path: ../p/count.txt\nhash: 0123abcd\nsize: 1\nschema: 1\n")
    assert "may not" not in data.run("status", "--all").stderr
    assert "must stay inside the pointer's directory" in data.run("status", "--all").stderr
    (data.root / "data/other.pvt").unlink()
    data.write("p/count.txt.pvt", "path: count.txt\nhash: 0123abcd\nsize: 1\nschema: 1\n")
    out = data.run("list", "--all")
    assert out.code == 2
    assert ("tracked path 'p/count.txt' (p/count.txt.pvt) is output 'p/count.txt' of stage 'count' "
            "(p/pivot.yaml:2)") in out.stderr
    (data.root / "p/count.txt.pvt").unlink()
    data.write("p.pvt", "path: p\nhash: 0123abcd.dir\nsize: 1\nfiles: 1\nschema: 1\n")
    assert "tracked path 'p' (p.pvt) contains output 'p/count.txt'" in data.run("list", "--all").stderr
    (data.root / "p.pvt").unlink()
    data.write("p/count.txt.pvt", "path: count.txt\nhash: 0123abcd\nsize: 1\nschema: 2\n")
    assert "schema 2, newer than this pivot-ci reads" in data.run("list", "--all").stderr


def test_status_verify_and_repro_with_tracked_data(data: Project) -> None:
    data.run("track", "data/raw.csv", "data/images").ok()
    out = data.run("repro", "--all").ok()
    assert "not produced" not in out.stderr
    assert data.read("p/count.txt") == "3 rows, 12 images\n"
    data.run("verify", "--all").ok()
    assert "data/raw.csv" not in data.run("status", "--all").ok().stdout  # ok entries are not listed

    data.write("data/raw.csv", "a,b\n1,2\n")
    status = data.run("status", "--all", "--exit-code")
    assert status.code == 1
    assert "  data/raw.csv: modified (data/raw.csv.pvt)" in status.stdout
    assert "fix: pivot track data/raw.csv" in status.stdout
    verify = data.run("verify", "--all", "--json")
    assert verify.code == 1
    # data/ has no pipeline file at or above it: the project owns it (top-level `tracked`)
    assert all(p["tracked"] == [] for p in verify.json()["pipelines"])
    entry = {t["path"]: t for t in verify.json()["tracked"]}["data/raw.csv"]
    assert entry["status"] == "modified" and entry["failure"] == "pivot.TrackedModified"
    assert entry["pvt_file"] == "data/raw.csv.pvt" and entry["fix"] == "pivot track data/raw.csv"
    junit = data.run("verify", "--all", "--format", "junit").stdout
    assert 'name="data/raw.csv" time=' in junit and 'file="data/raw.csv.pvt" line="1"' in junit
    assert 'type="pivot.TrackedModified"' in junit
    github = data.run("verify", "--all", "--format", "github").stdout
    assert "::error file=data/raw.csv.pvt,line=1,title=pivot verify%3A data/raw.csv (TrackedModified)::" in github

    # repro runs on the workspace content and says so; it never re-tracks
    pointer_before = data.read("data/raw.csv.pvt")
    out = data.run("repro", "--all").ok()
    assert "data/raw.csv differs from data/raw.csv.pvt" in out.stderr
    assert data.read("p/count.txt") == "2 rows, 12 images\n" and data.read("data/raw.csv.pvt") == pointer_before
    verify = data.run("verify", "--all", "--json")
    assert verify.code == 1 and verify.json()["summary"]["failed"] == 0  # the stages are fine, the data is not
    data.run("track", "data/raw.csv").ok()
    data.run("verify", "--all").ok()

    # absent from the workspace but in the cache: ok (restorable); absent from both: missing
    os.unlink(data.root / "data/raw.csv")
    assert "data/raw.csv: ok (in the cache, not in the workspace)" in data.run("verify", "--all", "-v").ok().stdout
    trackdata.cache_object(data, str(pointer(data, "data/raw.csv.pvt")["hash"])).unlink()
    verify = data.run("verify", "--all")
    assert verify.code == 1 and "fix: pivot pull --all data/raw.csv" in verify.stdout
    assert "tracked data missing: data/raw.csv is not in the workspace or the cache" in verify.stdout
    assert "dep missing" not in verify.stdout  # the stage stands by the pointer: the data is the one failure
