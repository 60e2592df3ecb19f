"""From a file in inbox/ to a stored, archived return and a rebuilt master, exactly once.

Order of operations for one file, chosen so a kill -9 at any point is repaired on restart:

1. hash it; if the store already holds that content, it is either a file whose move was
   interrupted (a submission with this hash, name and folder whose recorded location does not
   exist yet: finish its move, count nothing) or a duplicate drop (recorded as a duplicate);
2. parse it in the worker process and validate it;
3. mark the master stale (a marker file), then `Store.record` (all or nothing), with the
   receipt's `stored_path` set to the file's final destination: the store is the journal.
   Returns are recorded in groups committed together (one fsync per group, not per file);
   steps 4 and 5 happen for a group's files only after its commit;
4. write the reason file of a rejected return and the feedback copy of any return with
   findings (each written under a
   temporary name and renamed; recovery rewrites them from the stored findings when missing);
5. move the file out of inbox/, never overwriting (the last step: a file still in inbox/ is
   never lost). Steps 4 and 5 are `xlq.watch.filing.Filer`'s; finding files is
   `xlq.watch.inbox.InboxScanner`'s;
6. after a batch, rebuild the master once and remove the stale marker. A run with nothing to
   do and no marker touches neither the store nor the master.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from xlq.core import rules
from xlq.core.catalogue import Catalogue, load_catalogue
from xlq.core.config import Workspace
from xlq.core.errors import StoreBusy, StoreError, WorkerUnavailable
from xlq.core.model import Checked, ParsedReturn
from xlq.core.report import log_line, plain, sort_findings
from xlq.intake.feedback import Mark, write_feedback
from xlq.intake.validate import validate
from xlq.intake.worker import Worker, file_digest, read_in_process
from xlq.master.reconcile import reconcile
from xlq.master.workbook import write_scorecard
from xlq.store.db import Receipt, Store, Submission
from xlq.watch.filing import Filer
from xlq.watch.inbox import Candidate, InboxScanner, Settler
from xlq.watch.lock import WorkspaceLock
from xlq.watch.results import FileResult, RunSummary
from xlq.watch.runtime import TtyProgress

log = logging.getLogger("xlq")

STALE_MARKER = ".xlq-master-stale"
BATCH_FILES = 50
BATCH_SECONDS = 0.25


class Pipeline:
    """Processes inbox files for one workspace; holds the workspace lock, the store and the worker.

    `in_process=True` parses in this process (trusted files only); `today` fixes the date used
    for future-period checks and `clock` the receipt time (demos and tests replaying history).
    """

    def __init__(self, workspace: Workspace, *, catalogue: Catalogue | None = None, today: dt.date | None = None,
                 in_process: bool = False, worker_timeout: float | None = None, lock: bool = True,
                 clock: Callable[[], dt.datetime] | None = None, store_timeout: float | None = None) -> None:
        self.clock = clock
        self._store_timeout = store_timeout
        self.workspace = workspace
        self.root = workspace.root
        self.inbox = workspace.folder("inbox")
        self.today = today
        self._catalogue = catalogue
        self._store: Store | None = None
        self._worker: Worker | None = None
        self._feedback_worker: Worker | None = None
        self._in_process = in_process
        self._worker_timeout = worker_timeout
        self.scanner = InboxScanner(workspace)
        self.filer = Filer(workspace, self._write_feedback, clock)
        self._lock = WorkspaceLock(self.root) if lock else None
        self.inbox.mkdir(parents=True, exist_ok=True)
        if self._lock is not None:
            self._lock.acquire()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for worker in (self._worker, self._feedback_worker):
            if worker is not None:
                worker.close()
        self._worker = self._feedback_worker = None
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._lock is not None:
            self._lock.release()

    @property
    def catalogue(self) -> Catalogue:
        if self._catalogue is None:
            self._catalogue = load_catalogue(self.workspace.catalogue_path, self.workspace.department_codes)
        return self._catalogue

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = (Store(self.workspace.store_path, timeout=self._store_timeout) if self._store_timeout
                           else Store(self.workspace.store_path))
        return self._store

    @property
    def worker(self) -> Worker:
        """Parses returns; pipelined, so it serves nothing else while a batch is in flight."""
        if self._worker is None:
            self._worker = Worker(timeout=self._worker_timeout) if self._worker_timeout else Worker()
        return self._worker

    @property
    def feedback_worker(self) -> Worker:
        """Writes feedback copies (openpyxl on an untrusted file) beside the busy parsing worker."""
        if self._feedback_worker is None:
            self._feedback_worker = Worker(timeout=self._worker_timeout) if self._worker_timeout else Worker()
        return self._feedback_worker

    def _write_feedback(self, src: Path, dst: Path, marks: Sequence[Mark], title: str, lines: Sequence[str] = ()) -> bool:
        if not self._in_process:
            return self.feedback_worker.feedback(src, dst, marks, title, lines)
        try:
            write_feedback(str(src), str(dst), tuple(marks), title, tuple(lines))
        except Exception as exc:  # a feedback copy is a courtesy; the reason file is the record
            log.warning("no feedback copy for %s: %s", plain(src.name, 120), exc)
            return False
        return True

    # -- finding files ---------------------------------------------------------------------------

    def candidate(self, path: Path | str) -> Candidate | None:
        """The Candidate for a path inside inbox/, or None when it is not a file to read."""
        return self.scanner.candidate(path)

    def scan(self, folder: Path | None = None) -> list[Candidate]:
        """Every file in inbox/ (or one folder of it) that may be a return, oldest first."""
        return self.scanner.scan(folder)

    # -- processing ------------------------------------------------------------------------------

    def process(self, path: Path | str) -> FileResult:
        """Process one file now (the caller has decided it is complete)."""
        candidate = self.candidate(path)
        if candidate is None:
            raise ValueError(f"{path} is not a file in {self.inbox} that xlq reads")
        return self.process_many([candidate])[0]

    def process_many(self, candidates: Sequence[Candidate], progress: Callable[[FileResult], None] | None = None,
                     should_stop: Callable[[], bool] | None = None) -> list[FileResult]:
        """Process files in order; the worker parses the next few while this one is stored.

        Returns are stored in groups (`Store.batch`: one commit for up to BATCH_FILES returns
        or BATCH_SECONDS, each return still all or nothing) and the group's files are moved
        only once it is committed, so the store stays the journal. A store held by another
        process past its timeout leaves this file and the rest in inbox/ (deferred), to be
        tried again, instead of failing the whole run.
        """
        jobs: list[tuple[Candidate, str, int, bool]] = []
        results: list[FileResult] = []
        seen: set[str] = set()
        for candidate in candidates:
            try:
                sha, size = file_digest(candidate.path)
            except OSError as exc:
                results.append(self._deferred(candidate, f"cannot read: {exc.strerror or exc}"))
                continue
            known = sha in seen or self._seen_before(candidate, sha)
            seen.add(sha)
            jobs.append((candidate, sha, size, not known))
        to_read = [(c.path, sha, size) for c, sha, size, fresh in jobs if fresh]
        if self._in_process:
            parsed_stream = ((str(p), read_in_process(p)) for p, _, _ in to_read)
        else:
            parsed_stream = self.worker.read_many(to_read) if to_read else iter(())
        position = 0
        tail: list[FileResult] = []
        failure: Exception | None = None
        try:
            while position < len(jobs) and not tail and failure is None:
                held: list[tuple[Candidate, FileResult, int | None]] = []
                try:
                    with self.store.batch():
                        opened = time.monotonic()
                        while position < len(jobs) and len(held) < BATCH_FILES and (
                                time.monotonic() - opened < BATCH_SECONDS):
                            candidate, sha, size, fresh = jobs[position]
                            if should_stop is not None and should_stop():
                                position = len(jobs)
                                break
                            try:
                                parsed = next(parsed_stream)[1] if fresh else None
                            except WorkerUnavailable as exc:
                                log.error("%s", exc)
                                tail = [self._deferred(c, str(exc)) for c, *_ in jobs[position:]]
                                break
                            try:
                                held.append(self._one(candidate, sha, size, parsed))
                            except StoreBusy as exc:
                                log.warning("%s; %d file(s) stay in inbox/ for the next round", exc, len(jobs) - position)
                                tail = [self._deferred(c, str(exc)) for c, *_ in jobs[position:]]
                                break
                            except Exception as exc:  # keep the returns before it, then let it surface
                                failure = exc
                                break
                            position += 1
                except StoreError as exc:  # the group's commit failed: none of it was kept
                    log.warning("%s; %d file(s) stay in inbox/ for the next round", exc, len(held))
                    held = [(c, self._deferred(c, str(exc)), None) for c, _, _ in held]
                for candidate, result, submission_id in held:
                    result = self._settle(candidate, result, submission_id)
                    log.info("%s", result.line())
                    results.append(result)
                    if progress is not None:
                        progress(result)
        finally:
            close = getattr(parsed_stream, "close", None)
            if close is not None:
                close()
        if failure is not None:
            raise failure
        return results + tail

    def _one(self, candidate: Candidate, sha: str, size: int, parsed: ParsedReturn | None
             ) -> tuple[Candidate, FileResult, int | None]:
        """Judge and record one file; the id is the submission whose file `_settle` moves."""
        try:
            if parsed is None or self._seen_before(candidate, sha):
                return self._known(candidate, sha, size)
            if parsed.sha256 and parsed.sha256 != sha:
                return candidate, self._deferred(candidate, "the file changed while it was read; it will be read again"), None
            checked = validate(parsed, self.catalogue, self.workspace, self.store,
                               folder_department=candidate.department, today=self.today)
            checked = self._folder_rule(candidate, checked)
            return self._commit(candidate, sha, checked)
        except OSError as exc:
            log.warning("could not finish %s: %s", candidate.path, exc)
            return candidate, self._deferred(candidate, f"{type(exc).__name__}: {exc}"), None

    def _settle(self, candidate: Candidate, result: FileResult, submission_id: int | None) -> FileResult:
        """After the commit: the reason file, the feedback copy and the move out of inbox/."""
        if submission_id is None:
            return result
        try:
            submission = self.store.submission(submission_id)
            assert submission is not None
            return replace(result, moved_to=self.filer.finish(self.store, candidate, submission))
        except OSError as exc:
            log.warning("could not finish %s: %s", candidate.path, exc)
            return self._deferred(candidate, f"{type(exc).__name__}: {exc}")

    def _folder_rule(self, candidate: Candidate, checked: Checked) -> Checked:
        if not self.workspace.watch.require_department_folders or candidate.department is not None:
            return checked
        identity = checked.parsed.identity
        claimed = identity.department if identity else ""
        extra = rules.finding("wrong-department-folder", claimed or "(none)",
                              department=claimed or None, period=identity.period if identity else None,
                              file=candidate.path.name)
        return replace(checked, values=(), findings=(*checked.findings, extra), outcome="rejected")

    def _deferred(self, candidate: Candidate, note: str) -> FileResult:
        return FileResult(str(candidate.path), candidate.department, None, "deferred", note=note)

    def _commit(self, candidate: Candidate, sha: str, checked: Checked) -> tuple[Candidate, FileResult, int]:
        identity = checked.parsed.identity
        department = identity.department if identity and checked.outcome != "rejected" else candidate.department
        period = identity.period if identity else None
        folder = "rejected" if checked.outcome == "rejected" else f"archive/{period}/{department}"
        moment, dest = self.filer.destination(folder, candidate.path.name)
        receipt = Receipt(sha, candidate.path.name, candidate.arrived_in, moment.isoformat(), self.filer.relative(dest))
        self._mark_stale()
        recorded = self.store.record(receipt, checked)
        if checked.findings and log.isEnabledFor(logging.DEBUG):
            name = plain(candidate.path.name, 120)
            log.debug("%s", "\n".join(f"  {name} {log_line(f)}" for f in sort_findings(checked.findings)))
        errors = sum(1 for f in checked.findings if f.severity == "error")
        warnings = sum(1 for f in checked.findings if f.severity == "warning")
        return candidate, FileResult(str(candidate.path), identity.department if identity else candidate.department,
                                     period, checked.outcome, errors, warnings, None, sha, recorded.kind), recorded.submission_id

    def _seen_before(self, candidate: Candidate, sha: str) -> bool:
        """Accepted before, or this very file was recorded but a crash stopped its move."""
        return self.store.has_hash(sha, accepted_only=True) is not None or self._pending(candidate, sha) is not None

    def _known(self, candidate: Candidate, sha: str, size: int) -> tuple[Candidate, FileResult, int | None]:
        """Content the store has seen: finish an interrupted move, or record a duplicate drop."""
        pending = self._pending(candidate, sha)
        if pending is not None:
            return candidate, FileResult(str(candidate.path), pending.department, pending.period, pending.outcome,
                                         sha256=sha, kind=pending.kind, note="recovered an interrupted move"), pending.id
        first_id = self.store.has_hash(sha, accepted_only=True)
        if first_id is None:  # its twin earlier in the batch was not stored after all
            return candidate, self._deferred(candidate, "read again in the next round"), None
        first = self.store.submission(first_id)
        assert first is not None
        folder = "rejected" if first.outcome == "rejected" else "archive/duplicates"
        moment, dest = self.filer.destination(folder, candidate.path.name)
        receipt = Receipt(sha, candidate.path.name, candidate.arrived_in, moment.isoformat(), self.filer.relative(dest))
        blank = Checked(ParsedReturn(str(candidate.path), sha, size, None), (), (), "rejected")
        self._mark_stale()
        recorded = self.store.record(receipt, blank)
        submission = self.store.submission(recorded.submission_id)
        assert submission is not None
        note = f"same content as {first.original_name} received {first.received_at[:16]}"
        return candidate, FileResult(str(candidate.path), submission.department, submission.period, "duplicate",
                                     sha256=sha, kind="duplicate", note=note), submission.id

    def _pending(self, candidate: Candidate, sha: str) -> Submission | None:
        """A recorded submission of this very file whose move out of inbox/ did not happen."""
        first_id = self.store.has_hash(sha)
        if first_id is None:
            return None
        first = self.store.submission(first_id)
        assert first is not None
        same = [first] + [s for s in self.store.submissions(department=first.department, period=first.period)
                          if s.sha256 == sha and s.id != first.id]
        for submission in reversed(same):
            if (submission.original_name == candidate.path.name and submission.arrived_in == candidate.arrived_in
                    and not os.path.lexists(self.root / submission.location)):
                return submission
        return None

    # -- the master ------------------------------------------------------------------------------

    @property
    def stale(self) -> bool:
        """The master misses something the store holds (or does not exist yet)."""
        return (self.root / STALE_MARKER).exists() or not self.workspace.master_path.exists()

    def _mark_stale(self) -> None:
        marker = self.root / STALE_MARKER
        if not marker.exists():
            marker.touch()

    def rebuild(self) -> Path:
        """Reconcile the store and write the master; the stale marker goes only once it is written."""

        marker = self.root / STALE_MARKER
        had_marker = marker.exists()
        started = time.monotonic()
        self.store.forget_history()  # reconciling needs the memory more than the next validation does
        reconciled = reconcile(self.store, self.catalogue, self.workspace, today=self.today)
        path = write_scorecard(reconciled, self.catalogue, self.workspace)
        if had_marker:
            marker.unlink(missing_ok=True)
        log.info("master rebuilt: %s (%d files in the store, %.2f s)", self.filer.relative(path) if path.is_relative_to(self.root)
                 else path, reconciled.files_in, time.monotonic() - started)
        return path

    def run_once(self, progress: Callable[[FileResult], None] | None = None, *, wait: float | None = None,
                 should_stop: Callable[[], bool] | None = None) -> RunSummary:
        """Process everything complete in inbox/, then rebuild the master once if anything changed.

        Files still being copied are watched for up to `wait` seconds (default: long enough to
        settle) and otherwise left for the next run.
        """
        started = time.monotonic()
        settings = self.workspace.watch
        settler = Settler(settings.settle_seconds, settings.settle_seconds * 5)
        deadline = started + (settings.settle_seconds * 3 + 1 if wait is None else wait)
        results: list[FileResult] = []
        done: set[Path] = set()
        waiting: list[Candidate] = []
        bar: TtyProgress | None = None
        while True:
            found = [c for c in self.scan() if c.path not in done]
            ready, waiting = [], []
            for c in found:
                (ready if settler.ready(c) else waiting).append(c)
            if ready:
                if progress is None and bar is None:
                    bar = TtyProgress(len(found))
                callback = progress or bar
                batch = self.process_many(ready, callback, should_stop)
                results += batch
                done.update(Path(r.path) for r in batch)
            stop = should_stop is not None and should_stop()
            if stop or not waiting or time.monotonic() >= deadline:
                break
            time.sleep(min(settler.next_check(), max(0.0, deadline - time.monotonic())))
        if bar is not None:
            bar.close()
        rebuilt = None
        if any(r.recorded for r in results) or self.stale:
            rebuilt = self.rebuild()
        return RunSummary(tuple(results), rebuilt is not None, str(rebuilt) if rebuilt else None,
                          time.monotonic() - started, len(waiting))
