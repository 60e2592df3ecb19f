"""From a file in inbox/ to a stored, archived return and a rebuilt master, exactly once.

Order of operations for one file, chosen so a kill -9 at any point is repaired on restart and
so that nobody who can write to inbox/ can change what is read once it has settled:

1. claim it (`xlq.watch.claim`): commit a claim to the store's journal, then rename the file
   into the private staging folder; from here on only the staged file is used;
2. hash it (one descriptor, no links followed); the same bytes as the current return for their
   month are a duplicate drop; the bytes of a replaced return are judged again (and reinstated);
3. parse it in the worker process (the parsed hash must equal the claim's) and validate it (a
   warning a reviewer accepted on the same value is recorded as reviewed: the accepted set is
   read once per batch);
4. mark the master stale (a marker file), then `Store.record` (all or nothing), with the
   receipt's `stored_path` set to the file's final destination and the claim marked recorded
   in the same transaction: the store is the journal. Returns are recorded in groups
   committed together (one fsync per group, not per file); steps 5 and 6 happen for a group's
   files only after its commit (`xlq.watch.settling`: its copies are written while the next
   group is judged);
5. write the reason file of a rejected return and the feedback copy of any return with
   findings, in feedback/<DEPT>/ (each written under a
   temporary name and renamed; recovery rewrites them from the stored findings when missing);
6. move the file out of staging, never overwriting (the last step). Steps 5 and 6 are
   `xlq.watch.filing.Filer`'s; finding files is `xlq.watch.inbox.InboxScanner`'s;
7. after a batch, rebuild the master once and remove the stale marker. A run with nothing to
   do and no marker touches neither the store nor the master.

Before the store and before the move the staged file is checked to be the claimed one (size,
mtime, inode): a file that changed is still arriving and goes back to inbox/ unjudged. The
optional `hooks` callable is called before each step (claim, hash, read, store, move), so tests
can change files between steps deterministically.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from xlq.core import rules
from xlq.core.accepted import Acceptance, AcceptedKey, settle_accepted
from xlq.core.catalogue import Catalogue, load_catalogue
from xlq.core.config import Workspace
from xlq.core.errors import StoreBusy, StoreError, WorkerUnavailable, XlqError
from xlq.core.model import Checked, ParsedReturn
from xlq.core.report import log_line, sort_findings
from xlq.intake.pool import ReaderPool
from xlq.intake.validate import validate
from xlq.master.rebuild_cache import RebuildCache
from xlq.master.reconcile import reconcile
from xlq.master.review_book import write_review_outputs
from xlq.master.workbook import remove_leftovers, scorecard_plan, write_scorecard
from xlq.store.catalogue_versions import record_workspace
from xlq.store.db import Store
from xlq.store.journal import WORKSPACE_TOKEN, Journal, bind_workspace, current_with_hash, open_store
from xlq.store.records import Receipt
from xlq.store.reviews import accepted_warnings
from xlq.store.watchers import new_watcher_id
from xlq.watch.claim import STAGING, Changed, Claimed, Claimer, Hook, describe
from xlq.watch.filing import Filer
from xlq.watch.idle import STALE_MARKER, master_stale
from xlq.watch.inbox import Candidate, InboxScanner, Settler, arriving
from xlq.watch.lock import WorkspaceLock
from xlq.watch.presence import Presence, rebuild_alone
from xlq.watch.readers import Readers
from xlq.watch.recovery import finish_interrupted
from xlq.watch.results import FileResult, RunSummary
from xlq.watch.review import ReviewIntake, is_review, record_answers
from xlq.watch.runtime import TtyProgress
from xlq.watch.settling import Held, Settling
from xlq.watch.verdicts import reinstated

log = logging.getLogger("xlq")

BATCH_FILES = 50
BATCH_SECONDS = 0.25


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off while the store is figured and a master rebuilt.

    A rebuild allocates millions of objects, and each burst of them starts a collection; the
    full ones walk everything a watcher keeps (its rebuild cache): 0.6-1.0 s of a 5-6 s rebuild
    at 10,000 returns. Everything the rebuild allocated is still in the youngest generation
    afterwards, so the first collection once it is on again frees the workbook XlsxWriter built
    (~380,000 objects in cycles at 10,000 returns) without walking the rest. Peak memory
    measured the same either way (266-271 MB)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class Pipeline:
    """Processes inbox files for one workspace; holds the workspace lock, the store and the worker.

    `in_process=True` parses in this process (trusted files only); `today` fixes the date used
    for future-period checks and `clock` the receipt time (demos and tests replaying history);
    `hooks` is called before each step of a file (see the module docstring);
    `keep_between_rebuilds` (a watcher) reuses what did not change (master/rebuild_cache.py).
    """

    def __init__(self, workspace: Workspace, *, catalogue: Catalogue | None = None, today: dt.date | None = None,
                 in_process: bool = False, worker_timeout: float | None = None, lock: bool = True,
                 clock: Callable[[], dt.datetime] | None = None, store_timeout: float | None = None,
                 hooks: Hook | None = None, keep_between_rebuilds: bool = False) -> None:
        self.clock = clock
        self._rebuild_cache = RebuildCache() if keep_between_rebuilds else None
        self._store_timeout = store_timeout
        self.workspace = workspace
        self.root = workspace.root
        self.inbox = workspace.folder("inbox")
        self.today = today
        self._catalogue = catalogue
        self._store: Store | None = None
        self.readers = Readers(workspace, in_process=in_process, timeout=worker_timeout)
        self.scanner = InboxScanner(workspace)
        self.filer = Filer(workspace, self.readers.write_feedback, clock)
        self.claimer = Claimer(self.root, lambda: self.journal, hooks)
        self.reviews = ReviewIntake(self.claimer, self.filer, lambda: self.store, self.readers.read_review,
                                    self._close_claims, self._mark_stale)
        self.settling = Settling(self.root, self.claimer, self.filer, self.readers, lambda: self.store, self._give_back,
                                 self._close_claims)
        self._journal_checked = False
        # a PostgreSQL store is shared by any number of watchers (xlq/watch/presence.py); SQLite by one
        self.shared, self.watcher_id, self._presence = workspace.store_url is not None, new_watcher_id(), None
        self._lock = WorkspaceLock(self.root) if lock and not self.shared else None
        self.inbox.mkdir(parents=True, exist_ok=True)
        if self._lock is not None:
            self._lock.acquire()
            remove_leftovers(workspace.master_path)  # only the lock holder writes the master

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.readers.close()
        presence, self._presence = self._presence, None
        if presence is not None:
            presence.stop()
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._lock is not None:
            self._lock.release()

    @property
    def catalogue(self) -> Catalogue:
        if self._catalogue is None:
            self._catalogue = load_catalogue(self.workspace.catalogue_path, self.workspace.department_codes,
                                             self.workspace.cache_dir)
            # every change to the catalogue or the departments is versioned, with when (issue 21)
            record_workspace(self.store, self.workspace, self._catalogue, when=self.clock() if self.clock else None)
        return self._catalogue

    @property
    def store(self) -> Store:
        """The workspace's store, opened on first use and checked to serve this workspace.

        A workspace that has had a store (its `.xlq-workspace` token exists) never silently
        starts a new, empty one: a missing store is a StoreError until it is restored."""
        if self._store is None:
            path = self.workspace.store_target
            token_file = self.root / WORKSPACE_TOKEN
            token = token_file.read_text(encoding="utf-8").strip() if token_file.exists() else None
            store = open_store(path, self.root, timeout=self._store_timeout) if self._store_timeout else open_store(
                path, self.root)
            try:
                bound = bind_workspace(store, token, str(self.root))
                if bound != token:
                    token_file.write_text(bound + "\n", encoding="utf-8")
                if self.shared and self._presence is None:
                    self._presence = Presence(store, str(path), self.watcher_id, self.workspace.watch.lease_seconds).start()
            except (XlqError, OSError):
                store.close()
                raise
            self._store = store
        return self._store

    def drop_store(self) -> None:
        """Close the store after it failed, so the next use opens (and checks) it afresh."""
        store, self._store = self._store, None
        if store is not None:
            with contextlib.suppress(Exception):
                store.close()

    @property
    def journal(self) -> Journal:
        return Journal(self.store, STAGING, owner=self.watcher_id, shared=self.shared)

    @property
    def worker(self) -> ReaderPool:
        """The parsing pool (`xlq.watch.readers`)."""
        return self.readers.parser

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
        """Claim files, then judge them in order; the worker parses the next few while this one is stored.

        Each file is claimed first (`xlq.watch.claim`): renamed out of inbox/ into the private
        staging folder, then hashed, read, recorded and moved from there. Returns are stored in
        groups (`Store.batch`: one commit for up to BATCH_FILES returns or BATCH_SECONDS, each
        return still all or nothing) and the group's files are moved only once it is
        committed, so the store stays the journal. A store held by another process past its
        timeout puts this file and the rest back in inbox/ (deferred), to be tried again,
        instead of failing the whole run.
        """
        if not self._journal_checked and candidates:  # the store is opened now anyway: close stale claims
            self.recover(always=True)
        if reviewed := [c for c in candidates if is_review(self.workspace, c)]:  # issue 17: decisions, not returns
            rest = [c for c in candidates if c not in reviewed]
            return self.reviews.process(reviewed) + (self.process_many(rest, progress, should_stop) if rest else [])
        self.readers.expect(len(candidates))
        try:
            claimed, left = self.claimer.claim(candidates)
        except StoreBusy as exc:  # the claims could not be written: nothing was moved
            log.warning("%s; %d file(s) stay in inbox/ for the next round", exc, len(candidates))
            claimed, left = [], [(c, str(exc)) for c in candidates]
        results = [FileResult(str(c.path), c.department, None, "deferred", note=note) for c, note in left]
        for result in results:
            log.info("%s", result.line())
        jobs: list[tuple[Claimed, str, int, bool]] = []
        returned: list[Claimed] = []
        try:
            to_read, preset = self._prepare(claimed, jobs, results, returned)
            accepted = accepted_warnings(self.store) if to_read or preset else {}  # once per batch, not per file
        except BaseException:  # e.g. the store failed: every claimed file goes back to inbox/ unjudged
            for item in claimed:
                if os.path.lexists(item.held):
                    self._give_back(item, "not judged", returned)
            self._close_claims([i.claim.id for i in returned], "returned")
            raise
        parsed_stream = self.readers.read_many(to_read)
        position = 0
        tail: list[FileResult] = []
        failure: Exception | None = None
        pending: tuple[Held, Future[None] | None] | None = None  # committed, not yet settled (xlq.watch.settling)
        copier = ThreadPoolExecutor(1, thread_name_prefix="xlq-feedback-group")
        try:
            while position < len(jobs) and not tail and failure is None:
                held: Held = []
                try:
                    with self.store.batch():
                        opened = time.monotonic()
                        while position < len(jobs) and len(held) < BATCH_FILES and (
                                time.monotonic() - opened < BATCH_SECONDS):
                            item, sha, size, fresh = jobs[position]
                            if should_stop is not None and should_stop():
                                tail = [self._give_back(i, "left for the next run", returned) for i, *_ in jobs[position:]]
                                position = len(jobs)
                                break
                            try:
                                parsed = (preset.get(item.claim.id) or next(parsed_stream)[1]) if fresh else None
                            except WorkerUnavailable as exc:
                                log.error("%s", exc)
                                tail = [self._give_back(i, str(exc), returned) for i, *_ in jobs[position:]]
                                break
                            try:
                                held.append(self._one(item, sha, size, parsed, returned, accepted))
                            except StoreBusy as exc:
                                log.warning("%s; %d file(s) stay in inbox/ for the next round", exc, len(jobs) - position)
                                tail = [self._give_back(i, str(exc), returned) for i, *_ in jobs[position:]]
                                break
                            except Exception as exc:  # keep the returns before it, then let it surface
                                failure = exc
                                break
                            position += 1
                except StoreError as exc:  # the group's commit failed: none of it was kept
                    log.warning("%s; %d file(s) stay in inbox/ for the next round", exc, len(held))
                    held = [(i, self._give_back(i, str(exc), returned), None) for i, _, _ in held]
                copies = self.settling.start_copies(held, copier)
                if pending is not None:
                    self.settling.finish(*pending, results, returned, progress)
                pending = held, copies
            if pending is not None:
                self.settling.finish(*pending, results, returned, progress)
        finally:
            copier.shutdown()  # a failure: the copies under way finish; their group stays staged for recovery
            close = getattr(parsed_stream, "close", None)
            if close is not None:
                close()
            for item, *_ in jobs[position:]:  # a failure: what was claimed and not judged goes back
                if os.path.lexists(item.path):
                    self._give_back(item, "not judged", returned)
            self._close_claims([i.claim.id for i in returned], "returned")
        if failure is not None:
            raise failure
        return results + tail

    def _prepare(self, claimed: list[Claimed], jobs: list[tuple[Claimed, str, int, bool]], results: list[FileResult],
                 returned: list[Claimed]) -> tuple[list[tuple[Path, str, int]], dict[int, ParsedReturn]]:
        """Hash each claimed file into its snapshot (filling `jobs`), and say which to read and
        which are judged without reading (a copy that stalled)."""
        seen: set[str] = set()
        for item in claimed:
            self.claimer.step("hash", item.candidate.path, item.path)
            try:
                sha, size = self.claimer.digest(item)
            except (Changed, OSError) as exc:  # OSError: no room for the snapshot, say
                results.append(self._give_back(item, str(exc), returned))
                continue
            known = sha in seen or current_with_hash(self.store, sha) is not None
            seen.add(sha)
            jobs.append((item, sha, size, not known))
        to_read = []
        preset: dict[int, ParsedReturn] = {}
        for item, sha, size, fresh in list(jobs):
            if not fresh:
                continue
            why = arriving(item.path)
            if why is not None:  # the Settler waited the stall time for it: a copy that never finished
                minutes = self.workspace.watch.stall_minutes
                preset[item.claim.id] = ParsedReturn(str(item.path), sha, size, None, findings=(rules.finding(
                    "file-incomplete", f"{why}, unchanged for {minutes:g} min", file=item.path.name),))
                continue
            self.claimer.step("read", item.candidate.path, item.path)
            try:
                self.claimer.check(item)
            except Changed as exc:
                jobs.remove((item, sha, size, fresh))
                results.append(self._give_back(item, str(exc), returned))
                continue
            to_read.append((item.path, sha, size))
        return to_read, preset

    def _one(self, item: Claimed, sha: str, size: int, parsed: ParsedReturn | None, returned: list[Claimed],
             accepted: Mapping[AcceptedKey, Acceptance]) -> tuple[Claimed, FileResult, int | None]:
        """Judge and record one file (a warning a reviewer accepted on the same value is recorded
        as reviewed, `xlq.core.accepted`); the id is the submission whose file `Settling.settle` moves."""
        candidate = item.candidate
        try:
            self.claimer.step("store", candidate.path, item.path)
            self.claimer.check(item)
            if parsed is None or current_with_hash(self.store, sha) is not None:
                return self._known(item, sha, size, returned)
            if parsed.sha256 != sha:
                return item, self._give_back(item, "it changed while it was read; it will be read again", returned), None
            checked = validate(parsed, self.catalogue, self.workspace, self.store, folder_department=candidate.department,
                               at_inbox_root=candidate.department is None, today=self.today)
            checked = settle_accepted(reinstated(self.store, sha, checked), accepted)
            return self._commit(item, sha, checked)
        except Changed as exc:
            return item, self._give_back(item, str(exc), returned), None
        except OSError as exc:
            log.warning("could not finish %s: %s", describe(candidate.path, self.root), exc)
            return item, self._give_back(item, f"{type(exc).__name__}: {exc}", returned), None

    def _give_back(self, item: Claimed, note: str, returned: list[Claimed]) -> FileResult:
        """A claimed file that was not judged goes back into inbox/ (deferred)."""
        back = self.claimer.give_back(item)
        returned.append(item)
        path = back if back is not None else item.candidate.path
        return FileResult(str(path), item.candidate.department, None, "deferred", note=note)

    def _close_claims(self, claim_ids: list[int], state: str) -> None:
        if not claim_ids:
            return
        try:
            self.journal.close(claim_ids, state)
        except StoreError as exc:  # the files are where they belong; recovery finishes the journal
            log.warning("%s", exc)

    def _commit(self, item: Claimed, sha: str, checked: Checked) -> tuple[Claimed, FileResult, int]:
        candidate = item.candidate
        identity = checked.parsed.identity
        department = identity.department if identity and checked.outcome != "rejected" else candidate.department
        period = identity.period if identity else None
        folder = "rejected" if checked.outcome == "rejected" else f"archive/{period}/{department}"
        moment, dest = self.filer.destination(folder, candidate.path.name)
        receipt = Receipt(sha, candidate.path.name, candidate.arrived_in, moment.isoformat(), self.filer.relative(dest))
        self._mark_stale()
        recorded = self.store.record(receipt, checked, claim=item.claim.id)
        if checked.parsed.answers and checked.outcome != "rejected":  # responses to the reviewer's queries
            record_answers(self.store, recorded.submission_id, department, checked.parsed.answers, moment)
        if checked.findings and log.isEnabledFor(logging.DEBUG):
            for f in sort_findings(checked.findings):
                log.debug("  %s %s", candidate.path.name, log_line(f))
        errors = sum(1 for f in checked.findings if f.severity == "error")
        warnings = sum(1 for f in checked.findings if f.severity == "warning")
        return item, FileResult(str(candidate.path), identity.department if identity else candidate.department,
                                period, checked.outcome, errors, warnings, None, sha, recorded.kind), recorded.submission_id

    def _known(self, item: Claimed, sha: str, size: int, returned: list[Claimed]
               ) -> tuple[Claimed, FileResult, int | None]:
        """The same bytes as the current return for their month: recorded as a duplicate drop."""
        candidate = item.candidate
        first = current_with_hash(self.store, sha)
        if first is None:  # its twin earlier in the batch was not stored after all
            return item, self._give_back(item, "read again in the next round", returned), None
        moment, dest = self.filer.destination("archive/duplicates", candidate.path.name)
        receipt = Receipt(sha, candidate.path.name, candidate.arrived_in, moment.isoformat(), self.filer.relative(dest))
        blank = Checked(ParsedReturn(str(item.path), sha, size, None), (), (), "rejected")
        self._mark_stale()
        recorded = self.store.record(receipt, blank, claim=item.claim.id)
        submission = self.store.submission(recorded.submission_id)
        assert submission is not None
        note = f"same content as {first.original_name} received {first.received_at[:16]}"
        return item, FileResult(str(candidate.path), submission.department, submission.period, "duplicate",
                                sha256=sha, kind="duplicate", note=note), submission.id

    def recover(self, *, always: bool = False) -> list[FileResult]:
        """Finish what the journal shows under way when a process stopped (`xlq.watch.recovery`)."""
        self._journal_checked = self._journal_checked or always
        return finish_interrupted(self.root, self.claimer, lambda: self.journal, self.filer, lambda: self.store,
                                  always=always)

    # -- the master ------------------------------------------------------------------------------

    @property
    def stale(self) -> bool:
        """The master misses something the store holds (or does not exist yet)."""
        return master_stale(self.workspace)

    def _mark_stale(self) -> None:
        marker = self.root / STALE_MARKER
        if not marker.exists():
            marker.touch()

    def warm_rebuilds(self) -> None:
        """A watcher's start: read and figure the store now, so its first rebuild reuses them."""
        if self._rebuild_cache is not None and not self.stale:
            started = time.monotonic()
            with collector_paused():  # 8.1-8.5 s rather than 9.0 at 10,000 returns
                reconcile(self.store, self.catalogue, self.workspace, today=self.today, cache=self._rebuild_cache)
            log.info("ready for quick master rebuilds (the store read in %.2f s)", time.monotonic() - started)

    def rebuild(self) -> Path | None:
        """Reconcile the store and write the master; the stale marker goes only once it is written.
        Shared, None when another watcher holds the master lock (`rebuild_alone`)."""
        return rebuild_alone(self.store, self._build) if self.shared else self._build()

    def _build(self) -> Path:
        if self.shared:  # the master lock is ours: no other writer is running
            remove_leftovers(self.workspace.master_path)
        marker = self.root / STALE_MARKER
        had_marker = marker.exists()
        started = time.monotonic()
        self.store.forget_history()  # reconciling needs the memory more than the next validation does
        with collector_paused():
            reconciled = reconcile(self.store, self.catalogue, self.workspace, today=self.today,
                                   cache=self._rebuild_cache)
            plan = scorecard_plan(reconciled, self.catalogue, self.workspace)  # one plan for both workbooks
            path = write_scorecard(reconciled, self.catalogue, self.workspace, plan=plan)
            write_review_outputs(self.store, reconciled, self.catalogue, self.workspace, plan=plan)
        if had_marker:
            marker.unlink(missing_ok=True)
        log.info("master rebuilt: %s (%d files in the store, %.2f s)", self.filer.relative(path) if path.is_relative_to(self.root)
                 else path, reconciled.files_in, time.monotonic() - started)
        return path

    def run_once(self, progress: Callable[[FileResult], None] | None = None, *, wait: float | None = None,
                 should_stop: Callable[[], bool] | None = None) -> RunSummary:
        """Process everything complete in inbox/, then rebuild the master once if anything changed.

        Files still being copied are watched for up to `wait` seconds (default: long enough to
        settle) and otherwise left for the next run."""
        started = time.monotonic()
        settings = self.workspace.watch
        settler = Settler(settings.settle_seconds, settings.stall_minutes * 60)
        deadline = started + (settings.settle_seconds * 3 + 1 if wait is None else wait)
        results: list[FileResult] = self.recover()
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
