"""One side of a comparison, read in bulk: lock files and metric files at a git revision or in the workspace.

At a revision every file comes from one `git cat-file --batch` process and nothing of that revision is run;
in the workspace, params are the declared values and metric files are read from disk.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable
from typing import Any

from pivot_ci import discover, errors
from pivot_ci.compare import declared, metricfile
from pivot_ci.compare.values import Side
from pivot_ci.pipeline import model
from pivot_ci.project import Project
from pivot_ci.state import lockfile, statedb, statedir
from pivot_ci.state.gitread import GitRepo

_LOCK_MEMO = "gitlock"  # memo keys `gitlock:<path>` / `gitmetric:<path>`, signed by the blob id
_METRIC_MEMO = "gitmetric"


def lock_rel(st: model.StageSpec) -> str:
    """The project-relative path of the stage's lock file (statedir.lock_path, without the file system)."""
    return posixpath.join(st.state_dir, statedir.STAGES_DIR, st.name + statedir.LOCK_SUFFIX)


class SideData:
    """Locks and metric files of the given stages on one side; a file that is absent or unreadable is a gap
    with its reason, never an empty value.

    `memo`: where lock and metric files read from git are remembered parsed, per path and signed by their blob
    id (one row per path, so it never grows with the revisions compared). At a revision the blob ids come
    from one `git ls-tree`; only files the memo does not know are read (parsing and reading dominate
    otherwise).
    """

    def __init__(self, project: Project, git: GitRepo | None, side: Side, stages: Iterable[model.StageSpec],
                 *, metrics: bool, memo: statedb.StateDB | None = None) -> None:
        self.project = project
        self.git = git
        self.side = side
        self.memo = memo
        self._locks: dict[str, lockfile.LockData | None] = {}
        self._lock_gaps: dict[str, str] = {}
        self._metrics: dict[str, dict[str, Any]] = {}
        self._metric_gaps: dict[str, str] = {}
        self._stage_names: dict[str, frozenset[str] | None] = {}
        self._blob_ids: dict[str, str] | None = None
        stages = list(stages)
        locks = [lock_rel(st) for st in stages] if self.at_revision else []
        paths = [m.path for st in stages for m in st.metrics if not m.is_dir] if metrics else []
        self._load(locks, paths)

    @property
    def at_revision(self) -> bool:
        return self.side.commit is not None

    def _read(self, paths: list[str]) -> dict[str, tuple[str, bytes] | None]:
        """(blob id, content) of each path ("" as the id in the workspace), None when absent."""
        if not paths:
            return {}
        if self.side.commit is None:
            out: dict[str, tuple[str, bytes] | None] = {}
            for path in paths:
                try:
                    out[path] = ("", self.project.abs(path).read_bytes())
                except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                    out[path] = None
                except OSError as exc:
                    raise errors.StateError(f"cannot read {path}: {exc.strerror or exc}", file=path,
                                            hint="check the file's permissions") from None
            return out
        assert self.git is not None
        return self.git.blobs(self.side.commit, paths)

    def _ids(self) -> dict[str, str]:
        """Project-relative path -> blob id of every file at the revision (one `git ls-tree`, listed once)."""
        if self._blob_ids is None:
            assert self.git is not None and self.side.commit is not None
            self._blob_ids = self.git.list_blobs(self.side.commit)
        return self._blob_ids

    def _read_parsed(self, paths: list[str], kind: str) -> dict[str, tuple[str, bytes | None] | None]:
        """As `_read`, but at a revision a file whose blob id the memo knows (parsed, under `kind`) is not read:
        its content is None. None when absent."""
        if not self.at_revision or self.memo is None:
            return dict(self._read(paths))
        ids = self._ids()
        out: dict[str, tuple[str, bytes | None] | None] = {}
        wanted: dict[str, str] = {}
        for path in paths:
            oid = ids.get(path)
            if oid is None:
                out[path] = None
            elif self.memo.memo_get(f"{kind}:{path}", oid) is not None:
                out[path] = (oid, None)
            else:
                wanted[path] = oid
        assert self.git is not None
        contents = self.git.read_objects(set(wanted.values())) if wanted else {}
        for path, oid in wanted.items():
            data = contents.get(oid)
            out[path] = None if data is None else (oid, data)
        return out

    def _load(self, locks: list[str], metrics: list[str]) -> None:
        locks = [p for p in dict.fromkeys(locks) if p not in self._locks]
        metrics = [p for p in dict.fromkeys(metrics) if p not in self._metrics and p not in self._metric_gaps]
        for path, blob in self._read_parsed(locks, _LOCK_MEMO).items():
            self._locks[path] = self._parse_lock(path, blob)
        for path, blob in self._read_parsed(metrics, _METRIC_MEMO).items():
            if blob is None:
                self._metric_gaps[path] = (f"metric file {path} is missing from the workspace" if not self.at_revision
                                           else f"metric file {path} is not in git {self.side.at}")
                continue
            parsed = self._parse_metric(path, blob)
            if parsed is not None:
                self._metrics[path] = parsed

    def _remembered(self, kind: str, path: str, oid: str) -> Any:
        """The parsed value the memo holds for `path` at blob `oid`, or None."""
        if self.memo is None or not oid:
            return None
        cached = self.memo.memo_get(f"{kind}:{path}", oid)
        return None if cached is None else json.loads(cached)

    def _remember(self, kind: str, path: str, oid: str, value: Any) -> None:
        if self.memo is not None and oid:
            self.memo.memo_put(f"{kind}:{path}", oid, json.dumps(value))

    def _parse_metric(self, path: str, blob: tuple[str, bytes | None]) -> dict[str, Any] | None:
        oid, raw = blob
        cached = self._remembered(_METRIC_MEMO, path, oid)
        if cached is not None or raw is None:
            return cached  # type: ignore[no-any-return]
        try:
            values = metricfile.parse(path, raw)
        except errors.PivotError as exc:
            self._metric_gaps[path] = f"{exc.message} ({exc.location} {self.side.at})"
            return None
        self._remember(_METRIC_MEMO, path, oid, values)
        return values

    def _parse_lock(self, path: str, blob: tuple[str, bytes | None] | None) -> lockfile.LockData | None:
        if blob is None:
            self._lock_gaps[path] = f"lock file {path} is not in git {self.side.at}"
            return None
        oid, raw = blob
        cached = self._remembered(_LOCK_MEMO, path, oid)
        if cached is not None or raw is None:
            return cached  # type: ignore[no-any-return]
        try:
            data = lockfile.parse(raw.decode("utf-8", "replace"), f"{path} {self.side.at}")
        except errors.PivotError as exc:
            self._lock_gaps[path] = f"{exc.message} ({exc.location})"
            return None
        self._remember(_LOCK_MEMO, path, oid, data)
        return data

    # --- params ------------------------------------------------------------------------------------------

    def params(self, st: model.StageSpec) -> dict[str, Any] | None:
        """The stage's params on this side: its lock's at a revision, the declared ones in the workspace."""
        if not self.at_revision:
            return dict(st.params)
        return self.lock(st)["params"] if self.lock(st) is not None else None  # type: ignore[index]

    def lock(self, st: model.StageSpec) -> lockfile.LockData | None:
        path = lock_rel(st)
        if path not in self._locks:
            self._load([path], [])
        return self._locks[path]

    def lock_gap(self, st: model.StageSpec) -> str:
        return self._lock_gaps.get(lock_rel(st), f"no lock file {self.side.at}")

    # --- metrics -----------------------------------------------------------------------------------------

    def listed(self, st: model.StageSpec) -> frozenset[str] | None:
        """The metric files the stage had on this side: declared in the workspace; listed in the lock file at
        a revision (None when that lock is unavailable)."""
        if not self.at_revision:
            return frozenset(m.path for m in st.metrics if not m.is_dir)
        lock = self.lock(st)
        return None if lock is None else frozenset(e["path"] for e in lock["metrics"])

    def prefetch(self, paths: Iterable[str]) -> None:
        self._load([], list(paths))

    def metric(self, path: str) -> dict[str, Any] | None:
        if path not in self._metrics and path not in self._metric_gaps:
            self._load([], [path])
        return self._metrics.get(path)

    def metric_gap(self, path: str) -> str:
        return self._metric_gaps.get(path, "")

    # --- did the stage exist? ----------------------------------------------------------------------------

    def lacks_stage(self, st: model.StageSpec) -> bool:
        """True when git shows the stage did not exist at this revision: its directory held no pipeline file,
        or one that declares other stages only (a pivot.yaml read as YAML, a pipeline.py parsed, never run)."""
        if not self.at_revision:
            return False
        names = self._stage_names_in(st.pipeline_dir)
        return names is not None and st.name not in names

    def _stage_names_in(self, directory: str) -> frozenset[str] | None:
        """Stage names of the pipeline file in `directory` at this revision; empty: no pipeline file there;
        None: unknown (a file that does not parse, or a pipeline.py whose names are not all literal)."""
        if directory not in self._stage_names:
            files = [posixpath.join(directory, n) if directory != "." else n for n in discover.PIPELINE_FILE_NAMES]
            found = {p: d[1] for p, d in self._read(files).items() if d is not None}
            names: frozenset[str] | None = frozenset()
            if len(found) > 1:
                names = None
            elif found:
                path, data = next(iter(found.items()))
                names = declared.python_stage_names(data) if path.endswith(".py") else declared.yaml_stage_names(data)
            self._stage_names[directory] = names
        return self._stage_names[directory]
