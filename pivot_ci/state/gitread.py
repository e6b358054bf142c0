"""Files of git revisions, read without a checkout and without running any code of that revision.

One `git cat-file --batch` process serves every read, so reading a thousand lock files at a revision costs
one process start. Paths in and out are project-relative POSIX paths: the project may lie below the
repository's top (a monorepo), and `prefix` maps between the two.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

from pivot_ci.errors import GitError

_SHALLOW_HINT = ("the clone is shallow and lacks that revision: fetch more history (actions/checkout "
                 "`fetch-depth: 2` reaches a pull request's base `HEAD^1`, `fetch-depth: 0` every revision; "
                 "or `git fetch --deepen=N`)")
_REV_HINT = "name a commit, branch or tag that `git rev-parse` accepts (see `git log --oneline`)"


def _git(args: Sequence[str], cwd: Path, *, check: bool = True, data: bytes | None = None) -> bytes:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, input=data, capture_output=True, check=False)
    except FileNotFoundError:
        raise GitError("git is not installed (or not on PATH)",
                       hint="install git: reading revisions needs it") from None
    if check and proc.returncode != 0:
        why = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed: {why[-1] if why else f'exit {proc.returncode}'}",
                       hint="run the command again; check the repository with `git status`")
    return proc.stdout


_OID = re.compile(rb"[0-9a-f]{40}|[0-9a-f]{64}")


def _feed(stream: IO[bytes], data: bytes) -> None:
    try:
        stream.write(data)
        stream.flush()
    except (OSError, ValueError):  # git went away (or was killed): the reader reports it
        pass


def _answer(stdout: IO[bytes]) -> tuple[str, bytes] | None:
    """One answer of `git cat-file --batch`: the blob's id and content, None for anything else."""
    header = stdout.readline()
    if not header:
        raise GitError("git cat-file stopped answering", hint="run the command again")
    parts = header.split()
    # "<oid> <type> <size>", else "<name> missing" / "<name> ambiguous" (and the name may hold spaces)
    if len(parts) != 3 or not parts[2].isdigit() or not _OID.fullmatch(parts[0]):
        return None
    data = stdout.read(int(parts[2]))
    stdout.read(1)  # the newline after the content
    return (parts[0].decode(), data) if parts[1] == b"blob" else None


class GitRepo:
    """The git repository holding a project: revisions and the files in them."""

    def __init__(self, top: Path, prefix: str) -> None:
        self.top = top
        self.prefix = prefix  # the project root relative to `top`, "" or ending in "/"
        self._batch: subprocess.Popen[bytes] | None = None

    @classmethod
    def find(cls, project_root: Path) -> GitRepo | None:
        """The repository whose work tree holds `project_root`, or None outside one."""
        out = _git(["rev-parse", "--show-toplevel"], project_root, check=False).decode().strip()
        if not out:
            return None
        top = Path(out).resolve()
        rel = os.path.relpath(project_root.resolve(), top)
        return cls(top, "" if rel == "." else Path(rel).as_posix() + "/")

    @classmethod
    def open(cls, project_root: Path, why: str) -> GitRepo:
        """As `find`, but a project outside a repository is an error saying what needed git (`why`)."""
        repo = cls.find(project_root)
        if repo is None:
            raise GitError(f"{why} needs git, but {project_root} is not inside a git repository",
                           hint="run it in a clone of the project's repository (`git init` for a new one)")
        return repo

    # --- revisions -----------------------------------------------------------------------------------------

    def is_shallow(self) -> bool:
        return _git(["rev-parse", "--is-shallow-repository"], self.top).strip() == b"true"

    def resolve(self, rev: str) -> str:
        """The commit id `rev` names; GitError naming it (and the shallow-clone fix) when it names none."""
        if not rev or rev.startswith("-") or any(c in rev for c in "\n\0"):
            raise GitError(f"invalid revision {rev!r}", hint=_REV_HINT)
        out = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"], self.top,
                   check=False).decode().strip()
        if out:
            return out
        hint = _SHALLOW_HINT if self.is_shallow() else _REV_HINT
        raise GitError(f"revision '{rev}' is not a commit of this repository", hint=hint)

    def head(self) -> str | None:
        """The commit HEAD names; None in a repository without commits."""
        out = _git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], self.top, check=False).decode().strip()
        return out or None

    def revisions(self, *, branches: bool = False, tags: bool = False, commits: bool = False) -> list[str]:
        """Commit ids: every branch head, every tagged commit, or every commit reachable from any ref."""
        found: dict[str, None] = {}
        if commits:
            found.update(dict.fromkeys(_git(["rev-list", "--all"], self.top).decode().split()))
        refs = [p for p, wanted in (("refs/heads", branches), ("refs/tags", tags)) if wanted]
        if refs:
            out = _git(["for-each-ref", "--format=%(objectname)^{commit}", *refs], self.top).decode().split()
            if out:  # peel annotated tags to their commits in one call
                peeled = _git(["rev-parse", *out], self.top).decode().split()
                found.update(dict.fromkeys(peeled))
        return list(found)

    # --- files at a revision -------------------------------------------------------------------------------

    def list_files(self, sha: str, keep: Callable[[str], bool] | None = None) -> list[str]:
        """Project-relative paths of the files committed at `sha` below the project root (optionally filtered)."""
        args = ["ls-tree", "-r", "-z", "--name-only", "--full-tree", sha]
        if self.prefix:
            args += ["--", self.prefix]
        out = _git(args, self.top).decode("utf-8", "surrogateescape")
        paths = [p[len(self.prefix):] for p in out.split("\0") if p and p.startswith(self.prefix)]
        return [p for p in paths if keep is None or keep(p)]

    def list_blobs(self, sha: str, keep: Callable[[str], bool] | None = None) -> dict[str, str]:
        """Project-relative path -> blob id of the files committed at `sha` below the project root (filtered).

        Blob ids let a caller read a file that many commits share once (`read_objects`)."""
        args = ["ls-tree", "-r", "-z", "--full-tree", sha]
        if self.prefix:
            args += ["--", self.prefix]
        out = _git(args, self.top).decode("utf-8", "surrogateescape")
        found: dict[str, str] = {}
        for entry in out.split("\0"):
            meta, _, path = entry.partition("\t")
            parts = meta.split()
            if len(parts) != 3 or parts[1] != "blob" or not path.startswith(self.prefix):
                continue  # submodules (commits), and anything outside the project
            rel = path[len(self.prefix):]
            if keep is None or keep(rel):
                found[rel] = parts[2]
        return found

    def read_objects(self, ids: Iterable[str]) -> dict[str, bytes | None]:
        """The content of each blob id (None: no such blob)."""
        return {i: None if blob is None else blob[1] for i, blob in self._ask({i: i for i in ids}).items()}

    def read(self, sha: str, paths: Iterable[str]) -> dict[str, bytes | None]:
        """The content of each project-relative path at `sha` (None: not a file there)."""
        return {path: None if blob is None else blob[1] for path, blob in self.blobs(sha, paths).items()}

    def blobs(self, sha: str, paths: Iterable[str]) -> dict[str, tuple[str, bytes] | None]:
        """(object id, content) of each project-relative path at `sha` (None: not a file there)."""
        return self._ask({p: f"{sha}:{self.prefix}{p}" for p in paths})

    def _ask(self, specs: dict[str, str]) -> dict[str, tuple[str, bytes] | None]:
        """Answers of the one `cat-file --batch` process: name -> (blob id, content) of its object spec (None:
        missing, or not a blob).

        A helper thread writes every request while the answers are read here: a thousand small files are one
        stream through the pipes, not a thousand round trips.
        """
        proc = self._batch_proc()
        assert proc.stdin is not None and proc.stdout is not None
        out: dict[str, tuple[str, bytes] | None] = dict.fromkeys(specs)
        # a name with a newline cannot be asked of --batch (and git itself cannot hold one portably)
        asked = [name for name, spec in specs.items() if "\n" not in spec]
        if not asked:
            return out
        request = b"".join(f"{specs[name]}\n".encode("utf-8", "surrogateescape") for name in asked)
        writer = threading.Thread(target=_feed, args=(proc.stdin, request), daemon=True)
        writer.start()
        try:
            for path in asked:
                out[path] = _answer(proc.stdout)
        except BaseException:
            # answers left unread would answer the next request: kill it (the writer then fails and ends)
            self._batch = None
            proc.kill()
            proc.wait()
            raise
        finally:
            writer.join()
            if self._batch is None:
                for stream in (proc.stdin, proc.stdout):
                    with contextlib.suppress(OSError):
                        stream.close()
        return out

    def read_one(self, sha: str, path: str) -> bytes | None:
        return self.read(sha, [path])[path]

    def _batch_proc(self) -> subprocess.Popen[bytes]:
        if self._batch is None:
            try:
                self._batch = subprocess.Popen(["git", "cat-file", "--batch"], cwd=self.top,
                                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                               stderr=subprocess.DEVNULL)
            except FileNotFoundError:
                raise GitError("git is not installed (or not on PATH)",
                               hint="install git: reading revisions needs it") from None
        return self._batch

    # --- the work tree -------------------------------------------------------------------------------------

    def unstaged(self, paths: Iterable[str]) -> list[str]:
        """Of project-relative `paths`, those whose work-tree content differs from the index (or untracked)."""
        wanted = [self.prefix + p for p in paths]
        if not wanted:
            return []
        args = ["status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *wanted]
        out = _git(args, self.top).decode("utf-8", "surrogateescape")
        found = []
        entries = out.split("\0")
        i = 0
        while i < len(entries):
            entry = entries[i]
            i += 1
            if len(entry) < 4:
                continue
            xy, path = entry[:2], entry[3:]
            if xy[0] in "RC":
                i += 1  # the rename's source follows
            if (xy[1] != " " or xy == "??") and path.startswith(self.prefix):
                found.append(path[len(self.prefix):])
        return sorted(found)

    def tracked(self, paths: Iterable[str]) -> list[str]:
        """Of project-relative `paths` (files or directories), those git tracks something at or below."""
        wanted = list(paths)
        if not wanted:
            return []
        out = _git(["ls-files", "-z", "--", *(self.prefix + p for p in wanted)], self.top)
        files = [f[len(self.prefix):] for f in out.decode("utf-8", "surrogateescape").split("\0") if f]
        return [p for p in wanted if any(f == p or f.startswith(p.rstrip("/") + "/") for f in files)]

    def ignored(self, paths: Iterable[str]) -> set[str]:
        """Of project-relative `paths`, those git ignores (.gitignore files, info/exclude, core.excludesFile)."""
        wanted = list(paths)
        if not wanted:
            return set()
        data = "".join(self.prefix + p + "\0" for p in wanted).encode("utf-8", "surrogateescape")
        out = _git(["check-ignore", "-z", "--stdin", "--no-index"], self.top, check=False, data=data)
        return {p[len(self.prefix):] for p in out.decode("utf-8", "surrogateescape").split("\0") if p}

    def close(self) -> None:
        if self._batch is not None:
            proc, self._batch = self._batch, None
            assert proc.stdin is not None
            proc.stdin.close()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()

    def __enter__(self) -> GitRepo:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
