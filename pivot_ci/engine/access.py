"""Per-run access to state: one state db and hasher per state dir, the cache, lock files."""

from __future__ import annotations

from pathlib import Path

from pivot_ci.engine.fingerprint import Fingerprinter
from pivot_ci.pipeline import model
from pivot_ci.project import Project
from pivot_ci.state import cache, hashing, lockfile, statedb, statedir


class StateAccess:
    """Opens what a command touches lazily and flushes memoised hashes on close."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.cache = cache.Cache(project.cache_dir)
        self.fingerprinter = Fingerprinter(project.root)
        self._dbs: dict[str, statedb.StateDB] = {}
        self._hashers: dict[str, hashing.PathHasher] = {}
        self._code: dict[model.StageId, str] = {}

    def state_dir(self, rel: str) -> Path:
        return self.project.abs(rel)

    def hasher(self, state_dir: str) -> hashing.PathHasher:
        h = self._hashers.get(state_dir)
        if h is None:
            path = self.state_dir(state_dir)
            statedir.ensure(path)
            db = self._dbs[state_dir] = statedb.StateDB.open(path)
            h = self._hashers[state_dir] = hashing.PathHasher(self.project.root, db)
        return h

    def lock_path(self, st: model.StageSpec) -> Path:
        return statedir.lock_path(self.state_dir(st.state_dir), st.name)

    def lock_display(self, st: model.StageSpec) -> str:
        return self.project.rel(self.lock_path(st))

    def read_lock(self, st: model.StageSpec) -> lockfile.LockData | None:
        return lockfile.read(self.lock_path(st), self.lock_display(st))

    def code(self, st: model.StageSpec) -> str | None:
        """Code fingerprint of a Python stage (None for cmd stages: the cmd text is compared)."""
        if st.python is None:
            return None
        fp = self._code.get(st.id)
        if fp is None:
            search = [self.project.abs(st.pipeline_dir), self.project.root]
            py = st.python
            if py.file is not None:
                fp = self.fingerprinter.function(self.project.abs(py.file), py.qualname, search)
            else:
                fp = self.fingerprinter.module_function(py.module or "", py.qualname, search)
            self._code[st.id] = fp
        return fp

    def forget_code(self) -> None:
        """Drop memoised fingerprints (watch mode, after files changed)."""
        self._code.clear()
        self.fingerprinter = Fingerprinter(self.project.root)

    def close(self) -> None:
        for db in self._dbs.values():
            db.close()
        self._dbs.clear()
        self._hashers.clear()

    def __enter__(self) -> StateAccess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
