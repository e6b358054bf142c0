"""What needs cache objects (SPEC §11): the lock and pointer files of the workspace and of git revisions.

gc keeps what they name and fsck checks it. Each `Need` says which file needs which object, so every message
can name the lock or pointer file behind it. Reading fails closed: a file that cannot be read raises, it is
never skipped, because a skipped file would let gc delete what it needs.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import re
from collections.abc import Iterable, Sequence

from pivot_ci import discover, errors
from pivot_ci.dag.load import Loaded
from pivot_ci.engine import tracked
from pivot_ci.engine.access import StateAccess
from pivot_ci.state import cache as cache_mod
from pivot_ci.state import gitread, hashing, lockfile, pointer, statedir

LOCK_PATH = re.compile(r"(^|/)\.pivot/" + statedir.STAGES_DIR + r"/[^/]+\.lock$")
_REV_HINT = ("gc reads every lock and pointer file of the revisions in scope and removes nothing when one "
             "cannot be read: narrow the scope (--rev), or repair the file in a new commit")


class Origin(enum.Enum):
    WORKSPACE = "workspace"
    REVISION = "revisions"


class Kind(enum.Enum):
    OUTPUT = "output"
    TRACKED = "tracked"


@dataclasses.dataclass(frozen=True, slots=True)
class Need:
    """One object a lock or pointer file names: a stage output or tracked data (a file, or a directory's tree)."""

    hash: str
    path: str  # the output or tracked path
    source: str  # the lock or pointer file that names it (project-relative)
    kind: Kind
    origin: Origin
    rev: str | None = None  # the commit it was read at (revisions only)
    stage: str | None = None  # the stage's display name (workspace outputs; None: no stage declares the lock)

    @property
    def where(self) -> str:
        """The file naming it: `prep/.pivot/stages/clean.lock`, or `<commit>:<path>` at a revision."""
        return f"{self.rev[:12]}:{self.source}" if self.rev else self.source


def state_dirs(loaded: Loaded) -> list[str]:
    """Every state dir of the project's pipelines (and the project's own), project-relative."""
    g = loaded.graph
    dirs = {p.state_dir for p in g.merged.pipelines} | {sid.state_dir for sid in g.stages}
    dirs.add(tracked.project_state_dir(loaded.project))
    return sorted(dirs)


def workspace(loaded: Loaded, access: StateAccess) -> list[Need]:
    """What the current lock files (every `stages/*.lock` of every state dir, declared stage or not) and pointer
    files name."""
    g, project = loaded.graph, loaded.project
    specs = {(st.state_dir, st.name): (sid, st) for sid, st in g.stages.items()}
    needs: list[Need] = []
    for d in state_dirs(loaded):
        folder = project.abs(d) / statedir.STAGES_DIR
        try:
            names = sorted(n for n in os.listdir(folder) if n.endswith(statedir.LOCK_SUFFIX))
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise errors.StateError(f"cannot list lock files: {exc}", file=project.rel(folder)) from None
        for name in names:
            rel = f"{d}/{statedir.STAGES_DIR}/{name}"
            found = specs.get((d, name.removesuffix(statedir.LOCK_SUFFIX)))
            lock = access.read_lock(found[1]) if found else lockfile.read(folder / name, rel)
            if lock is None:
                continue  # removed while we looked: it names nothing any more
            stage = g.display(found[0]) if found else None
            needs += [Need(e["hash"], e["path"], rel, Kind.OUTPUT, Origin.WORKSPACE, stage=stage)
                      for e in lock["outs"]]
    needs += [Need(t.hash, t.path, t.pvt_file, Kind.TRACKED, Origin.WORKSPACE) for t in g.tracked.values()]
    return needs


def revisions(loaded: Loaded, repo: gitread.GitRepo, shas: Sequence[str]) -> list[Need]:
    """What the lock and pointer files committed at `shas` name, read from git (no checkout). Identical files
    across commits are read and parsed once."""
    spec = discover.ignore_spec(loaded.project)

    def keep(path: str) -> bool:
        if LOCK_PATH.search(path):
            return True
        return path.endswith(pointer.SUFFIX) and not discover.skipped(path, spec)

    users: dict[str, tuple[str, str]] = {}  # blob id -> (path, commit) of its first user
    for sha in shas:
        for path, blob in repo.list_blobs(sha, keep).items():
            users.setdefault(blob, (path, sha))
    contents = repo.read_objects(list(users))
    needs: list[Need] = []
    for blob, (path, sha) in users.items():
        where = f"{sha[:12]}:{path}"
        data = contents.get(blob)
        if data is None:
            raise errors.GitError(f"cannot read {where} (object {blob})", hint=_REV_HINT)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise errors.StateError("not UTF-8 text", file=where, hint=_REV_HINT) from None
        if LOCK_PATH.search(path):
            lock = lockfile.parse(text, where, hint=_REV_HINT)
            needs += [Need(e["hash"], e["path"], path, Kind.OUTPUT, Origin.REVISION, rev=sha) for e in lock["outs"]]
        else:
            ptr = pointer.loads(text, where)
            needs.append(Need(ptr["hash"], pointer.data_path(path, ptr), path, Kind.TRACKED, Origin.REVISION,
                              rev=sha))
    return needs


@dataclasses.dataclass(frozen=True, slots=True)
class Expanded:
    """The object keys some hashes stand for, and the directories whose manifest the cache lacks."""

    keys: frozenset[str]
    unknown_trees: frozenset[str]  # manifest not in the cache: its files cannot be named


def expand(cache: cache_mod.Cache, hashes: Iterable[str]) -> Expanded:
    """Every object key `hashes` stand for: a file's own, a directory's manifest and every file it lists.

    A manifest missing from the cache leaves that directory's files unknown (reported, not fatal); one that
    is present but unreadable or corrupt raises (fail closed: run `pivot fsck`)."""
    keys: set[str] = set()
    unknown: set[str] = set()
    for h in set(hashes):
        keys.add(h)
        if not hashing.is_tree_hash(h):
            continue
        if not cache.object_path(h).is_file():
            unknown.add(h)
            continue
        try:
            tree = cache.read_tree(h)
        except errors.StateError as exc:
            raise errors.StateError(exc.message, file=exc.file,
                                    hint="a damaged manifest hides which files it needs: run `pivot fsck`, "
                                         "which moves it aside") from None
        keys.update(fh for _, fh in tree.entries)
    return Expanded(frozenset(keys), frozenset(unknown))
