"""After a group of returns is committed: its feedback copies, then each file's move out of staging.

A group's feedback copies are written in the feedback workers while the pipeline judges the
next group: a run of 1,000 returns spent ~2.7 s of its ~15 s with the pipeline's thread waiting on
them (now ~0.3 s; the run gains less, ~0.5 s, as the workers then share the cores with it).
A group is settled (its files moved, reported and logged) only once its copies are written,
since each copy reads the staged file, and groups are settled in the order they were
committed, so results and log lines keep the files' order. A process killed in between
leaves committed files in staging, which recovery finishes (`xlq.watch.recovery`), as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from xlq.store.db import Store
from xlq.watch.claim import Claimed, Claimer, describe
from xlq.watch.filing import Filer, feedback_jobs, write_feedback_copies
from xlq.watch.readers import Readers
from xlq.watch.results import FileResult

log = logging.getLogger("xlq")

Held = list[tuple[Claimed, FileResult, int | None]]
"""A judged group: each claimed file, its result and its submission's id (None: not recorded)."""


class Settling:
    """Settles a pipeline's committed groups; `give_back` returns a claimed file to inbox/ and
    `close_claims` closes journal claims, as the pipeline does."""

    def __init__(self, root: Path, claimer: Claimer, filer: Filer, readers: Readers, store: Callable[[], Store],
                 give_back: Callable[[Claimed, str, list[Claimed]], FileResult],
                 close_claims: Callable[[list[int], str], None]) -> None:
        self.root, self.claimer, self.filer, self.readers, self._store = root, claimer, filer, readers, store
        self._give_back, self._close_claims = give_back, close_claims

    def start_copies(self, held: Held, copier: ThreadPoolExecutor) -> Future[None] | None:
        """Start a committed group's feedback copies, side by side in the feedback workers (in
        process: None, and `settle` writes each before its move, as always). What each copy
        says is read from the store here, on its thread; only the writing runs in `copier`."""
        if self.readers.in_process:
            return None
        store = self._store()
        recorded = [(replace(i.candidate, path=i.path), s) for i, _, sid in held
                    if sid is not None and (s := store.submission(sid)) is not None]
        return copier.submit(write_feedback_copies, feedback_jobs(self.filer, store, recorded),
                             self.readers.feedback_pool.feedback_many)

    def finish(self, held: Held, copies: Future[None] | None, results: list[FileResult], returned: list[Claimed],
               progress: Callable[[FileResult], None] | None) -> None:
        """Once its feedback copies are written, move a group's files out of staging and report
        them, in order."""
        if copies is not None:
            copies.result()
        moved: list[int] = []
        for item, result, submission_id in held:
            result = self.settle(item, result, submission_id, returned, moved, feedback=copies is None)
            log.info("%s", result.line())
            results.append(result)
            if progress is not None:
                progress(result)
        self._close_claims(moved, "moved")

    def settle(self, item: Claimed, result: FileResult, submission_id: int | None, returned: list[Claimed],
               moved: list[int], *, feedback: bool = True) -> FileResult:
        """After the commit: the reason file, the feedback copy (unless written already) and the
        move out of staging."""
        if submission_id is None:
            return result
        try:
            self.claimer.step("move", item.candidate.path, item.path)
            store = self._store()
            submission = store.submission(submission_id)
            assert submission is not None
            where = self.filer.finish(store, replace(item.candidate, path=item.path), submission, feedback=feedback)
            moved.append(item.claim.id)
            if note := self.claimer.done(item):
                log.warning("%s: %s", describe(item.candidate.path, self.root), note)
            return replace(result, moved_to=where)
        except OSError as exc:
            log.warning("could not finish %s: %s", describe(item.candidate.path, self.root), exc)
            return self._give_back(item, f"{type(exc).__name__}: {exc}", returned)
