"""Per-run access to state: one state db and hasher per state dir, the cache, lock files."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pivot_ci.errors import StateError
from pivot_ci.pipeline import model
from pivot_ci.project import STATE_DIR_NAME, Project
from pivot_ci.state import cache, confine, hashing, lockfile, parts, stagelog, statedb, statedir

if TYPE_CHECKING:
    from pivot_ci.engine.fingerprint import Fingerprinter

RACY_NS = 2_000_000_000  # a file younger than this may change again within its mtime tick: don't memoise


def _sig(path: str) -> list[int] | None:
    try:
        s = os.stat(path)
    except OSError:
        return None
    return [s.st_mtime_ns, s.st_size]


class StateAccess:
    """Opens what a command touches lazily and flushes memoised hashes on close."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.fence = confine.Fence(project.root)
        self.cache = cache.Cache(project.cache_dir, self.fence)
        self._fingerprinter: Fingerprinter | None = None
        self._dbs: dict[str, statedb.StateDB] = {}
        self._hashers: dict[str, hashing.PathHasher] = {}
        self._code: dict[model.StageId, str] = {}
        self._code_files: dict[model.StageId, tuple[str, ...]] = {}
        self._locks: dict[model.StageId, tuple[str, str]] = {}  # (absolute path, display), once per stage
        self._parsed: dict[model.StageId, tuple[str, lockfile.LockData]] = {}  # by the signature it was read at

    @property
    def fingerprinter(self) -> Fingerprinter:
        """Made on first use: a project of cmd stages, or Python stages whose fingerprints the memo holds,
        never imports the source parser."""
        if self._fingerprinter is None:
            from pivot_ci.engine.fingerprint import Fingerprinter

            self._fingerprinter = Fingerprinter(self.project.root)
        return self._fingerprinter

    def state_dir(self, rel: str) -> Path:
        return self.project.abs(rel)

    def _db(self, state_dir: str) -> statedb.StateDB:
        db = self._dbs.get(state_dir)
        if db is None:
            path = self.state_dir(state_dir)
            self.fence.state_dir(path)
            statedir.ensure(path)
            db = self._dbs[state_dir] = statedb.StateDB.open(path)
        return db

    def hasher(self, state_dir: str) -> hashing.PathHasher:
        h = self._hashers.get(state_dir)
        if h is None:
            h = self._hashers[state_dir] = hashing.PathHasher(self.project.root, self._db(state_dir))
        return h

    def object_ok(self, h: str) -> bool:
        """True when object `h` is in the cache and hashes to its name (a tree: its manifest and every file).
        Read-only, and cheap when nothing changed: objects are hashed through the memo of the project's state
        dir, so an object is re-read only when its size, mtime or inode changed."""
        hasher = self.hasher(STATE_DIR_NAME)
        path = self.cache.object_path(h)
        if hashing.is_tree_hash(h):
            try:
                tree = self.cache.read_tree(h)  # the manifest's content is checked against its name
            except StateError:
                return False
            return all(self.object_ok(fh) for _, fh in tree.entries)
        return hasher.file(self.project.rel(path)) == h

    def _lock(self, st: model.StageSpec) -> tuple[str, str]:
        found = self._locks.get(st.id)
        if found is None:  # statedir.lock_path, without pathlib's joins (a state dir is never ".")
            display = f"{st.state_dir}/{statedir.STAGES_DIR}/{st.name}{statedir.LOCK_SUFFIX}"
            found = self._locks[st.id] = self.project.abs_str(display), display
        return found

    def lock_path(self, st: model.StageSpec) -> Path:
        return Path(self._lock(st)[0])

    def log_path(self, st: model.StageSpec) -> Path:
        return stagelog.log_path(self.state_dir(st.state_dir), st.name)

    def lock_display(self, st: model.StageSpec) -> str:
        return self._lock(st)[1]

    def read_lock(self, st: model.StageSpec) -> lockfile.LockData | None:
        """The stage's lock file, parsed through the state db's memo (YAML parsing dominates `status`). A lock
        the memo lacks is parsed once per command while its signature holds (a fresh clone's lock files are too
        new to memoise, and status, verify --allow-missing and the report each read them); memo hits are not
        kept (decoding one again is cheap; keeping 10,000 would cost memory). Callers must not modify it."""
        path, display = self._lock(st)
        try:
            s = os.stat(path)
        except FileNotFoundError:
            return None
        except OSError:
            return lockfile.read(Path(path), display)
        sig = f"{s.st_size}:{s.st_mtime_ns}:{s.st_ino}:{s.st_ctime_ns}"
        seen = self._parsed.get(st.id)
        if seen is not None and seen[0] == sig:
            return seen[1]
        db = self._db(st.state_dir)
        key, memo_sig = f"lock:{st.name}{statedir.LOCK_SUFFIX}", f"{s.st_size}:{s.st_mtime_ns}:{s.st_ino}"
        cached = db.memo_get(key, memo_sig)
        if cached is not None:
            return json.loads(cached)  # type: ignore[no-any-return]
        data = lockfile.read(Path(path), display)
        if data is not None:
            self._parsed[st.id] = sig, data
            if time.time_ns() - s.st_mtime_ns > RACY_NS:
                db.memo_put(key, memo_sig, json.dumps(data))
        return data

    def code(self, st: model.StageSpec) -> str | None:
        """Code fingerprint of a Python stage (None for cmd stages: the cmd text is compared)."""
        if st.python is None:
            return None
        fp = self._code.get(st.id)
        if fp is None:
            fp = self._code[st.id] = self._fingerprint(st, st.python)
        return fp

    def _fingerprint(self, st: model.StageSpec, py: model.PythonTarget) -> str:
        search = [self.project.abs(st.pipeline_dir), self.project.root]
        file = self.project.abs(py.file) if py.file is not None else (
            self.fingerprinter.resolve_module(py.module or "", search))
        if file is None:  # not project code: only its name counts
            return self.fingerprinter.module_function(py.module or "", py.qualname, search)
        db = self._db(st.state_dir)
        key = f"code:{file}:{py.qualname}:{':'.join(map(str, search))}"
        cached = db.memo_get(key, "")
        if cached is not None:
            fp, files = json.loads(cached)
            if all(_sig(path) == sig for path, sig in files):
                self._code_files[st.id] = tuple(path for path, _ in files)
                return str(fp)
        fp, paths = self.fingerprinter.function_with_files(file, py.qualname, search)
        self._keep_parts(st, fp)
        self._code_files[st.id] = paths
        sigs = [(p, _sig(p)) for p in paths]
        if all(sig is not None and time.time_ns() - sig[0] > RACY_NS for _, sig in sigs):
            db.memo_put(key, "", json.dumps([fp, sigs]))
        return fp

    def _keep_parts(self, st: model.StageSpec, fp: str) -> None:
        """What a fingerprint computed from source was made of, for `status --explain` after a change."""
        found = self.fingerprinter.parts(fp)
        if found is not None:
            parts.put(self.state_dir(st.state_dir), fp, "\n".join(found).encode("utf-8", "surrogatepass"))

    def code_parts(self, st: model.StageSpec, fp: str | None) -> tuple[str, ...] | None:
        """The entries behind fingerprint `fp` of a Python stage: kept in its state dir, or the current code's."""
        if st.python is None or fp is None:
            return None
        kept = parts.get(self.state_dir(st.state_dir), fp)
        if kept is not None:
            return tuple(kept.decode("utf-8", "surrogatepass").split("\n"))
        if fp == self.code(st):  # computed through the memo: compute it again, from source
            from pivot_ci.engine.fingerprint import Fingerprinter

            fresh = Fingerprinter(self.project.root)
            search = [self.project.abs(st.pipeline_dir), self.project.root]
            py = st.python
            file = self.project.abs(py.file) if py.file is not None else (
                fresh.resolve_module(py.module or "", search))
            if file is not None:
                fresh.function(file, py.qualname, search)
                return fresh.parts(fp)
        return None

    def code_files(self, st: model.StageSpec) -> tuple[str, ...]:
        """Absolute paths of the files (and import directories) a Python stage's fingerprint was read from."""
        self.code(st)
        return self._code_files.get(st.id, ())

    def forget_code(self) -> None:
        """Drop memoised fingerprints (watch mode, after files changed)."""
        self._code.clear()
        self._code_files.clear()
        self._fingerprinter = None

    def close(self) -> None:
        for db in self._dbs.values():
            db.close()
        self._dbs.clear()
        self._hashers.clear()

    def __enter__(self) -> StateAccess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
