"""`xlq watch`: process every workbook that lands in inbox/, and keep the master current.

File events (watchdog) only say where to look; they are hints, not the truth, because
network shares raise no events for other machines' writes and event queues overflow. So
there is also a polling mode (`--poll`) and a periodic full rescan regardless, and a file
is read only when it has stopped changing and, for a zip, its central directory is
readable (it is written last, so a file still being copied never qualifies).

A burst of drops leads to one rebuild: the master is rebuilt `batch_seconds` after the last
file was stored, unless more files are still arriving (then at most `max_delay` later).
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from xlq.core.config import Workspace
from xlq.watch.inbox import Candidate, Settler
from xlq.watch.pipeline import Pipeline
from xlq.watch.results import FileResult
from xlq.watch.runtime import stop_on_signals

log = logging.getLogger("xlq")
STOP_CHECK_SECONDS = 0.5



@dataclass(frozen=True)
class InboxEvent:
    """One file-system hint: `kind` created, modified, closed, moved (path is the destination)
    or deleted; `stop` wakes the loop to leave."""

    kind: str
    path: str
    is_directory: bool = False
    at: float = 0.0


class _Handler(FileSystemEventHandler):
    """Turns watchdog events into InboxEvents on a queue; filtering happens in the loop."""

    def __init__(self, events: queue.Queue[InboxEvent]) -> None:
        super().__init__()
        self.events = events

    def dispatch(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        now = time.monotonic()
        src = event.src_path.decode() if isinstance(event.src_path, bytes) else str(event.src_path)
        if kind == "moved":
            dest = event.dest_path.decode() if isinstance(event.dest_path, bytes) else str(event.dest_path)
            self.events.put(InboxEvent("deleted", src, event.is_directory, now))
            self.events.put(InboxEvent("moved", dest, event.is_directory, now))
        elif kind in ("created", "modified", "closed", "deleted") and not (event.is_directory and kind == "modified"):
            self.events.put(InboxEvent(kind, src, event.is_directory, now))


class Watcher:
    """Watches one workspace's inbox/. `with Watcher(ws) as w:` runs it in a background
    thread; `run_forever()` runs it in this one until SIGINT/SIGTERM or `stop()`.

    `poll` > 0 uses a PollingObserver every `poll` seconds (network shares); None takes
    `watch.poll_seconds` from xlq.toml. `results` lists every file handled, `rebuilds` counts
    master rebuilds.
    """

    def __init__(self, workspace: Workspace, poll: float | None = None, *, today: dt.date | None = None,
                 settle: float | None = None, rescan: float | None = None, batch: float | None = None,
                 incomplete: float = 30.0, max_delay: float | None = None, worker_timeout: float | None = None) -> None:
        settings = workspace.watch
        self.workspace = workspace
        self.poll = settings.poll_seconds if poll is None else poll
        self.settle = settings.settle_seconds if settle is None else settle
        self.rescan = settings.rescan_seconds if rescan is None else rescan
        self.batch = settings.batch_seconds if batch is None else batch
        self.max_delay = max(4 * self.batch, 3.0) if max_delay is None else max_delay
        self.incomplete = incomplete
        self.today = today
        self.worker_timeout = worker_timeout
        self.results: list[FileResult] = []
        self.rebuilds = 0
        self.master: Path | None = None
        self._events: queue.Queue[InboxEvent] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._observer = None
        self._pipeline: Pipeline | None = None
        self._failure: BaseException | None = None

    # -- life cycle ------------------------------------------------------------------------------

    def __enter__(self) -> Watcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Take the workspace, start watching and run the loop in a background thread."""
        self._begin()
        self._thread = threading.Thread(target=self._run, name="xlq-watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Finish the current file, rebuild if needed, release everything; idempotent."""
        self._stop.set()
        self._events.put(InboxEvent("stop", ""))
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._end()

    def run_forever(self) -> None:
        """`xlq watch`: run here until SIGINT/SIGTERM."""
        with stop_on_signals(self._stop):
            self._begin()
            try:
                self._loop()
            finally:
                self._end()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _begin(self) -> None:
        self._stop.clear()
        self._pipeline = Pipeline(self.workspace, today=self.today, worker_timeout=self.worker_timeout)
        observer = PollingObserver(timeout=self.poll) if self.poll and self.poll > 0 else Observer()
        observer.schedule(_Handler(self._events), str(self._pipeline.inbox), recursive=True)
        observer.daemon = True
        try:
            observer.start()
        except OSError as exc:  # e.g. inotify watch limit reached: polling still works
            log.warning("file events unavailable (%s); polling every %g s instead", exc, self.settle)
            observer = PollingObserver(timeout=max(self.settle, 1.0))
            observer.schedule(_Handler(self._events), str(self._pipeline.inbox), recursive=True)
            observer.daemon = True
            observer.start()
        self._observer = observer
        mode = f"polling every {self.poll:g} s" if self.poll and self.poll > 0 else "file events"
        log.info("watching %s (%s; settle %g s, full rescan every %g s, batch %g s)", self._pipeline.inbox, mode,
                 self.settle, self.rescan, self.batch)

    def _end(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(10.0)
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None:
            pipeline.close()

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # recorded for the caller; the thread must not vanish silently
            self._failure = exc
            log.exception("the watcher stopped on an unexpected error")

    # -- the loop --------------------------------------------------------------------------------

    def _loop(self) -> None:
        pipeline = self._pipeline
        assert pipeline is not None
        settler = Settler(self.settle, self.incomplete)
        tracked: dict[Path, Candidate] = {}
        failed: dict[Path, tuple[int, int]] = {}
        next_rescan = 0.0
        first_change = time.monotonic() if pipeline.stale else None  # killed before the last rebuild
        last_change = first_change or 0.0
        retry_rebuild = 0.0

        def track(path: Path) -> None:
            found = pipeline.candidate(path)
            if found is None:
                tracked.pop(path, None)
                settler.forget(path)
            elif failed.get(path) != (found.size, found.mtime_ns):
                tracked[path] = found

        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_rescan:
                failed.clear()
                for found in pipeline.scan():
                    tracked[found.path] = found
                next_rescan = now + self.rescan
            waits = [next_rescan - now]
            if tracked:
                waits.append(settler.next_check(now))
            if first_change is not None:
                waits.append(max(last_change + self.batch, retry_rebuild) - now)
            for event in self._drain(max(0.0, min(waits))):
                if event.kind == "stop":
                    break
                path = Path(event.path)
                if event.is_directory and event.kind != "deleted":
                    for found in pipeline.scan(path):
                        tracked[found.path] = found
                elif event.kind == "deleted":
                    tracked.pop(path, None)
                    settler.forget(path)
                else:
                    track(path)
            if self._stop.is_set():
                break
            for path in list(tracked):
                track(path)
            ready = sorted((c for c in tracked.values() if settler.ready(c)), key=lambda c: (c.mtime_ns, str(c.path)))
            if ready:
                results = self._process(pipeline, ready)
                for result in results:
                    path = Path(result.path)
                    tracked.pop(path, None)
                    settler.forget(path)
                    if result.outcome == "deferred":
                        found = pipeline.candidate(path)
                        if found is not None:
                            failed[path] = (found.size, found.mtime_ns)
                if any(r.recorded for r in results):
                    last_change = time.monotonic()
                    first_change = first_change or last_change
            now = time.monotonic()
            if first_change is not None and now >= max(last_change + self.batch, retry_rebuild) and (
                    not tracked or now - first_change >= self.max_delay):
                if self._rebuild(pipeline):
                    first_change = None
                else:
                    retry_rebuild = now + max(5.0, self.batch)
        if first_change is not None:
            self._rebuild(pipeline)

    def _drain(self, timeout: float) -> list[InboxEvent]:
        """Events that arrive within `timeout`, waking at least every STOP_CHECK_SECONDS: a signal
        handler only sets the stop event (putting on the queue there could deadlock)."""
        try:
            events = [self._events.get(timeout=min(timeout, STOP_CHECK_SECONDS))]
        except queue.Empty:
            return []
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                return events

    def _process(self, pipeline: Pipeline, ready: list[Candidate]) -> list[FileResult]:
        try:
            results = pipeline.process_many(ready, should_stop=self._stop.is_set)
        except Exception:
            log.exception("could not process %d file(s); they stay in inbox/ and are tried again", len(ready))
            return [FileResult(str(c.path), c.department, None, "deferred", note="error") for c in ready]
        self.results.extend(results)
        return results

    def _rebuild(self, pipeline: Pipeline) -> bool:
        try:
            self.master = pipeline.rebuild()
        except Exception:
            log.exception("could not rebuild the master; trying again shortly")
            return False
        self.rebuilds += 1
        return True
