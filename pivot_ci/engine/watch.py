"""Watch mode (SPEC §8): run once, then on every change re-run what it made stale, in one merged run.

Events come from watchfiles (the Rust notify backend) watching the project tree from a background thread;
the main thread blocks on a queue, where Ctrl-C and SIGTERM interrupt it as anywhere else. Inside
watchfiles' own loop a SIGTERM would surface as a plain KeyboardInterrupt and lose its exit code 143.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import watchfiles

from pivot_ci import discover, errors
from pivot_ci.dag import load as dag_load
from pivot_ci.dag.load import Loaded
from pivot_ci.engine import repro, status, tracked, watchset
from pivot_ci.engine.access import StateAccess
from pivot_ci.engine.repro import ReproOptions, ReproResult
from pivot_ci.pipeline import model
from pivot_ci.project import Project
from pivot_ci.state import statedir

READY_TIMEOUT = 10.0  # seconds to wait for the file watcher to start


@dataclasses.dataclass(frozen=True, slots=True)
class WatchOptions:
    repro: ReproOptions
    debounce_ms: int = 300
    skip_broken: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Hooks:
    """What the CLI supplies: target selection, state-dir locks and all output (engine code never prints)."""

    select: Callable[[Loaded], list[model.StageId]]
    hold: Callable[[list[model.StageId]], contextlib.AbstractContextManager[None]]
    stage: repro.Listener
    finished: Callable[[ReproResult], None]
    say: Callable[[str], None]
    warn: Callable[[str], None]
    error: Callable[[errors.PivotError], None]


Change = tuple[watchfiles.Change, str]


class _Events:
    """watchfiles on the project root in a background thread; batches of changes arrive on a queue."""

    def __init__(self, project: Project, debounce_ms: int) -> None:
        self._project, self._debounce = project, debounce_ms
        self._queue: queue.Queue[set[Change] | BaseException] = queue.Queue()
        self._stop, self._ready = threading.Event(), threading.Event()
        statedir.ensure(project.state_dir)
        (project.state_dir / "tmp").mkdir(exist_ok=True)
        # a write the watcher must see before we trust it to see the user's (.pivot/ is otherwise noise)
        self._probe = str(project.state_dir / "tmp" / f"watch-{os.getpid()}.probe")
        self._thread = threading.Thread(target=self._run, name="pivot-watch", daemon=True)

    def _keep(self, change: watchfiles.Change, path: str) -> bool:
        return path == self._probe or not watchset.is_noise(self._project.rel(path))

    def _run(self) -> None:
        try:
            for batch in watchfiles.watch(self._project.root, watch_filter=self._keep, debounce=self._debounce,
                                          stop_event=self._stop, raise_interrupt=False,
                                          ignore_permission_denied=True):
                if any(path == self._probe for _, path in batch):
                    self._ready.set()
                    batch = {c for c in batch if c[1] != self._probe}
                if batch:
                    self._queue.put(batch)
        except Exception as exc:  # the main thread raises it
            self._queue.put(exc)
            self._ready.set()

    def __enter__(self) -> _Events:
        self._thread.start()
        deadline = time.monotonic() + READY_TIMEOUT
        while not self._ready.is_set() and time.monotonic() < deadline:  # a start-up handshake, not polling
            Path(self._probe).write_text(str(time.time_ns()))
            self._ready.wait(0.05)
        with contextlib.suppress(OSError):
            os.unlink(self._probe)
        if not self._ready.is_set():
            self._stop.set()
            raise errors.PivotError("the file watcher did not start", hint="check the inotify limits "
                                    "(fs.inotify.max_user_watches, fs.inotify.max_user_instances)")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def next(self) -> list[Change]:
        """Block until something changes; everything queued by then, merged."""
        items = [self._queue.get()]
        with contextlib.suppress(queue.Empty):
            while True:
                items.append(self._queue.get_nowait())
        changes: list[Change] = []
        for item in items:
            if isinstance(item, BaseException):
                raise errors.PivotError(f"the file watcher failed: {item}", hint="check the inotify limits "
                                        "(fs.inotify.max_user_watches)") from item
            changes += sorted(item, key=lambda c: c[1])
        return changes


def _pipeline_count(loaded: Loaded) -> int:
    """Pipelines in play: all with --all, else the current one and those it pulls producers from."""
    g = loaded.graph
    if loaded.all_pipelines:
        return len(g.merged.pipelines)
    files = {g.stages[sid].pipeline_file for sid in loaded.scope}
    return len(files | ({loaded.current.file} if loaded.current is not None else set()))


def _describe(paths: list[str]) -> str:
    shown = ", ".join(paths[:3])
    return shown + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")


class _Session:
    """The last good graph, what it watches, and one cycle per batch of changes."""

    def __init__(self, loaded: Loaded, cwd: Path, opts: WatchOptions, hooks: Hooks) -> None:
        self.loaded, self.cwd, self.opts, self.hooks = loaded, cwd, opts, hooks
        self.order = hooks.select(loaded)
        self.ws: watchset.WatchSet | None = None
        self.load_error: errors.PivotError | None = None
        self.warned = set(loaded.warnings)
        self.code: dict[model.StageId, tuple[str, ...]] = {}
        self.last_run = (0, 0)  # file times at the start and end of the last run: its writes fall between
        self.self_triggered = False  # the last cycle ran only because of files written during the run before

    @property
    def project(self) -> Project:
        return self.loaded.project

    def first_run(self) -> None:
        with StateAccess(self.project) as access:
            self.ws = self._watchset(access)
            self._guarded(lambda: self._run(access, self.order, self.opts.repro))

    def _guarded(self, body: Callable[[], None]) -> None:
        """Errors of one cycle are shown, and watching goes on."""
        try:
            body()
        except errors.PivotError as exc:
            self.hooks.error(exc)

    @property
    def _stamp_path(self) -> Path:
        return self.project.state_dir / "tmp" / f"watch-{os.getpid()}.stamp"

    def _stamp(self) -> int:
        """Now, on the clock file times use: a file's own time (the kernel's clock lags time.time_ns())."""
        self._stamp_path.write_bytes(b"")
        return self._stamp_path.stat().st_mtime_ns

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._stamp_path.unlink()

    def _run(self, access: StateAccess, ids: list[model.StageId], opts: ReproOptions) -> None:
        for warning in tracked.warnings(access, tracked.of_stages(self.loaded, ids)):
            self.hooks.warn(warning)
        start = self._stamp()
        try:
            with self.hooks.hold(ids):
                result = repro.run(access, self.loaded.graph, ids, opts, self.hooks.stage)
        finally:
            self.last_run = (start, self._stamp())
        self.hooks.finished(result)

    def _watchset(self, access: StateAccess) -> watchset.WatchSet:
        def code_files(st: model.StageSpec) -> tuple[str, ...]:
            try:
                files = access.code_files(st)
            except errors.PivotError:  # unparsable code: status reports it; watch what was read before
                files = self.code.get(st.id, (str(self.project.abs(st.pipeline_dir)),))
            self.code[st.id] = files
            return files

        extra = [self.load_error.file] if self.load_error is not None and self.load_error.file else []
        return watchset.build(self.loaded, self.order, code_files, extra)

    def _paths(self, changes: list[Change]) -> list[str]:
        paths: dict[str, None] = {}
        for change, path in changes:
            rel = self.project.rel(path)
            if rel == "." or rel.startswith("../"):
                continue
            paths[rel] = None
            # notify misses files written into a directory before it got its watch: look inside new ones
            if change is watchfiles.Change.added and self.loaded.all_pipelines and os.path.isdir(path):
                paths.update((self.project.rel(p), None) for p in discover.find_under(self.project, Path(path)))
        return list(paths)

    def _ours(self, rel: str) -> bool:
        """Written while our last run was going: by a stage, most likely."""
        try:
            mtime = os.stat(self.project.abs(rel)).st_mtime_ns
        except OSError:
            return False
        start, end = self.last_run
        return start <= mtime < end

    def handle(self, changes: list[Change]) -> bool:
        """One cycle; False when nothing in `changes` mattered."""
        assert self.ws is not None
        old_ws = self.ws
        hits = [h for p in self._paths(changes) if (h := old_ws.classify(p)) is not None]
        if not hits:
            return False
        ours = [h for h in hits if self._ours(h.path)]
        if self.self_triggered and len(ours) == len(hits):
            self.self_triggered = False
            self.hooks.warn(f"{_describe([h.path for h in hits])} changed while stages ran and not since: not "
                            "re-running again (if a stage writes it, declare it under outs)")
            return True
        self.self_triggered = len(ours) == len(hits)
        self._guarded(lambda: self._cycle(hits))
        return True

    def _cycle(self, hits: list[watchset.Hit]) -> None:
        touched: set[model.StageId] = set().union(*(h.stages for h in hits))
        what = _describe([h.path for h in hits])
        changed = self._reload(what) if any(h.reload for h in hits) else None
        reloaded = changed is not None
        with StateAccess(self.project) as access:
            self.ws = self._watchset(access)
            if changed is not None:  # new or redeclared stages, and what of the new graph the paths touch
                touched |= changed
                touched.update(*(h.stages for p in hits if (h := self.ws.classify(p.path)) is not None))
            elif not touched:  # only a pipeline file changed, and it does not load
                return
            statuses = status.compute(access, self.loaded.graph, self.order)
            ids = watchset.to_run(self.loaded.graph, self.order, statuses, touched)
            names = ", ".join(self.loaded.graph.display(sid) for sid in ids) if ids else None
            prefix = "" if reloaded else f"{what} changed: "
            self.hooks.say(prefix + (f"running {names}" if names else "nothing to run"))
            if ids:
                self._run(access, ids, dataclasses.replace(self.opts.repro, force=False))

    def _reload(self, what: str) -> set[model.StageId] | None:
        """Load the graph again and say which stages are new or changed; on failure (None) keep the last
        good graph and show why."""
        try:
            loaded = dag_load.load(self.project, self.cwd, all_pipelines=self.loaded.all_pipelines,
                                   skip_broken=self.opts.skip_broken)
            order = self.hooks.select(loaded)
        except errors.PivotError as exc:
            self.load_error = exc
            self.hooks.say(f"{what} changed: cannot reload, keeping the last good pipelines until it is fixed")
            self.hooks.error(exc)
            return None
        changed = watchset.changed_stages(self.loaded.graph, loaded.graph)
        self.loaded, self.order, self.load_error = loaded, order, None
        n = _pipeline_count(loaded)
        self.hooks.say(f"{what} changed: reloading {n} pipeline{'' if n == 1 else 's'}")
        for b in loaded.broken:
            self.hooks.warn(b.warning(loaded.all_pipelines))
        for w in loaded.warnings:
            if w not in self.warned:
                self.warned.add(w)
                self.hooks.warn(w)
        return changed


def watch(loaded: Loaded, cwd: Path, opts: WatchOptions, hooks: Hooks) -> NoReturn:
    """Run, then re-run on changes until interrupted (KeyboardInterrupt, or the CLI's SIGTERM exception)."""
    session = _Session(loaded, cwd, opts, hooks)
    with _Events(loaded.project, opts.debounce_ms) as events, contextlib.ExitStack() as cleanup:
        cleanup.callback(session.close)
        session.first_run()
        hooks.say("Watching for changes (Ctrl-C to stop)")
        while True:
            if session.handle(events.next()):
                hooks.say("Watching for changes (Ctrl-C to stop)")

