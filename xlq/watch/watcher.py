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
from xlq.core.errors import StoreError, XlqError
from xlq.watch.claim import Hook
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
    the masters it wrote (a rebuild left to another watcher holding the master lock is not one).
    `hooks` goes to its pipeline's claimer: tests pause a step there (xlq/watch/claim.py).
    """

    def __init__(self, workspace: Workspace, poll: float | None = None, *, today: dt.date | None = None,
                 settle: float | None = None, rescan: float | None = None, batch: float | None = None,
                 incomplete: float | None = None, max_delay: float | None = None,
                 worker_timeout: float | None = None, hooks: Hook | None = None) -> None:
        settings = workspace.watch
        self.workspace = workspace
        self.poll = settings.poll_seconds if poll is None else poll
        self.settle = settings.settle_seconds if settle is None else settle
        self.rescan = settings.rescan_seconds if rescan is None else rescan
        self.batch = settings.batch_seconds if batch is None else batch
        self.max_delay = max(4 * self.batch, 3.0) if max_delay is None else max_delay
        self.incomplete = settings.stall_minutes * 60 if incomplete is None else incomplete
        self.today = today
        self.worker_timeout = worker_timeout
        self.hooks = hooks
        self.results: list[FileResult] = []
        self.rebuilds = 0
        self.master: Path | None = None
        self._events: queue.Queue[InboxEvent] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._observer = None
        self._pipeline: Pipeline | None = None
        self._failure: BaseException | None = None
        self._trouble = Trouble()

    # -- life cycle ------------------------------------------------------------------------------

    def __enter__(self) -> Watcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Take the workspace, start watching and run the loop in a background thread."""
        try:
            self._begin()
        except BaseException:  # e.g. Ctrl-C while it reads the store: what it took goes back
            self._end()
            raise
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
            try:
                self._begin()  # a start that fails gives back what it took, as `start` does
                self._loop()
            finally:
                self._end()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _begin(self) -> None:
        self._stop.clear()
        self._pipeline = Pipeline(self.workspace, today=self.today, worker_timeout=self.worker_timeout,
                                  hooks=self.hooks, keep_between_rebuilds=True)
        if self._pipeline.shared:  # shown alive (`xlq status`) from the start, not from its first file
            try:
                _ = self._pipeline.store  # opening the store registers this watcher
            except XlqError as exc:
                self._trouble.report(exc)
                self._pipeline.drop_store()
        try:  # their children import while the store is read below
            self._pipeline.readers.start()
        except OSError as exc:  # only a head start: the first file tries again, and says why if it cannot
            log.warning("could not start the reader processes yet (%s: %s)", type(exc).__name__, exc)
        try:  # before the first file: a drop reaches the master as fast on start as later
            self._pipeline.warm_rebuilds()
        except Exception as exc:  # only a head start: logged, and the first rebuild reads everything
            self._trouble.report(exc, "reading the store on start")
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
        files = FileTracker(pipeline, Settler(self.settle, self.incomplete))
        timer = RebuildTimer(self.batch, self.max_delay, pending=pipeline.stale)  # killed before the last rebuild
        recovered = False
        next_rescan = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_rescan:
                if not recovered or pipeline.shared:  # shared: a dead watcher's claims are taken over
                    recovered = self._recover(pipeline, timer)
                files.rescan()
                next_rescan = now + self.rescan
            waits = [next_rescan - now, files.next_check(now), timer.wait(now)]
            for event in self._drain(max(0.0, min(w for w in waits if w is not None))):
                if event.kind == "stop":
                    break
                files.hint(event)
            if self._stop.is_set():
                break
            files.refresh()
            ready = files.ready()
            if ready:
                results = self._process(pipeline, ready)
                files.handled(results)
                if any(r.recorded for r in results):
                    timer.changed(time.monotonic())
            if timer.due(time.monotonic(), busy=bool(files)):
                if self._rebuild(pipeline):
                    timer.done()
                else:
                    timer.failed(time.monotonic())
        if timer.pending:
            self._rebuild(pipeline)

    def _recover(self, pipeline: Pipeline, timer: RebuildTimer) -> bool:
        try:
            results = pipeline.recover()
        except XlqError as exc:
            self._trouble.report(exc)
            pipeline.drop_store()
            return False
        self.results.extend(results)
        if results:
            timer.changed(time.monotonic())
        return True

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
        except Exception as exc:  # the files stay in inbox/ (claims are given back) and are tried at the next rescan
            self._trouble.report(exc, f"could not process {len(ready)} file(s); they stay in inbox/")
            if isinstance(exc, StoreError):
                pipeline.drop_store()
            return [FileResult(str(c.path), c.department, None, "deferred", note="error") for c in ready]
        self._trouble.clear()
        self.results.extend(results)
        return results

    def _rebuild(self, pipeline: Pipeline) -> bool:
        try:
            built = pipeline.rebuild()  # None: another watcher holds the master lock and rebuilds for this one
        except Exception as exc:  # logged once; tried again later without a traceback each time
            self._trouble.report(exc, "could not rebuild the master; trying again later")
            if isinstance(exc, StoreError):
                pipeline.drop_store()
            return False
        self._trouble.clear()
        if built is not None:
            self.master = built
            self.rebuilds += 1
        return True


class Trouble:
    """A failure that repeats (a deleted or read-only store, a master that cannot be written) is
    logged once, in one line for an XlqError (a traceback only for a bug), and its end once."""

    def __init__(self) -> None:
        self._last: str | None = None
        self._kind: type | None = None

    def report(self, exc: BaseException, doing: str = "") -> None:
        message = str(exc) if isinstance(exc, XlqError) else f"{type(exc).__name__}: {exc}"
        if self._last is not None and (message == self._last or type(exc) is self._kind):
            return  # the same trouble, perhaps in other words (a store deleted, then missing)
        self._last, self._kind = message, type(exc)
        if isinstance(exc, XlqError):
            log.error("%s%s; waiting until that is fixed", f"{doing}: " if doing else "", message)
        else:
            log.error("%s", doing or "unexpected error", exc_info=exc)

    def clear(self) -> None:
        if self._last is not None:
            log.info("working again (after: %s)", self._last)
            self._last = self._kind = None


class RebuildTimer:
    """When to rebuild the master: `batch` seconds after the last stored file, or `max_delay`
    after the first of a burst while files keep arriving; after a failure, not before a retry delay."""

    def __init__(self, batch: float, max_delay: float, *, pending: bool) -> None:
        self.batch = batch
        self.max_delay = max_delay
        self.first: float | None = time.monotonic() if pending else None
        self.last = self.first or 0.0
        self.retry_at = 0.0

    @property
    def pending(self) -> bool:
        return self.first is not None

    def changed(self, now: float) -> None:
        self.last = now
        self.first = self.first or now

    def wait(self, now: float) -> float | None:
        """Seconds until a rebuild may be due, or None when none is pending."""
        return None if self.first is None else max(self.last + self.batch, self.retry_at) - now

    def due(self, now: float, *, busy: bool) -> bool:
        if self.first is None or now < max(self.last + self.batch, self.retry_at):
            return False
        return not busy or now - self.first >= self.max_delay

    def done(self) -> None:
        self.first = None

    def failed(self, now: float) -> None:
        self.retry_at = now + max(5.0, self.batch)


class FileTracker:
    """The files in inbox/ the watcher is waiting on, each until it has settled. A file left in
    inbox/ after a try (deferred) is not tried again until it changes or the next full rescan."""

    def __init__(self, pipeline: Pipeline, settler: Settler) -> None:
        self.pipeline = pipeline
        self.settler = settler
        self.tracked: dict[Path, Candidate] = {}
        self.failed: dict[Path, tuple[int, int]] = {}

    def __bool__(self) -> bool:
        return bool(self.tracked)

    def rescan(self) -> None:
        self.failed.clear()
        for found in self.pipeline.scan():
            self.tracked[found.path] = found

    def hint(self, event: InboxEvent) -> None:
        path = Path(event.path)
        if event.is_directory and event.kind != "deleted":
            for found in self.pipeline.scan(path):
                self.tracked[found.path] = found
        elif event.kind == "deleted":
            self.forget(path)
        else:
            self.track(path)

    def forget(self, path: Path) -> None:
        self.tracked.pop(path, None)
        self.settler.forget(path)

    def track(self, path: Path) -> None:
        found = self.pipeline.candidate(path)
        if found is None:
            self.forget(path)
        elif self.failed.get(path) != (found.size, found.mtime_ns):
            self.tracked[path] = found

    def refresh(self) -> None:
        for path in list(self.tracked):
            self.track(path)

    def next_check(self, now: float) -> float | None:
        return self.settler.next_check(now) if self.tracked else None

    def ready(self) -> list[Candidate]:
        return sorted((c for c in self.tracked.values() if self.settler.ready(c)), key=lambda c: (c.mtime_ns, str(c.path)))

    def handled(self, results: list[FileResult]) -> None:
        for result in results:
            path = Path(result.path)
            self.forget(path)
            if result.outcome == "deferred":
                found = self.pipeline.candidate(path)
                if found is not None:
                    self.failed[path] = (found.size, found.mtime_ns)
