"""Finishing on start what the journal shows under way when a process stopped (kill -9, power cut).

Only the journal decides (`xlq.store.journal`): a claim that was `recorded` and whose snapshot
is still in staging is an interrupted move, finished now and reported as "recovered an
interrupted move" (a review workbook's claim is recorded with no submission: it is filed where
its `review_files` row says, `xlq.watch.review.finish_review`); a claim that was never
recorded goes back to inbox/ to be judged afresh.
A file that merely has the same bytes as something recorded before is never "recovered".
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from xlq.core.errors import StoreError
from xlq.store.db import Store
from xlq.store.journal import Journal
from xlq.watch.claim import Claimed, Claimer, describe
from xlq.watch.filing import Filer
from xlq.watch.inbox import Candidate
from xlq.watch.results import FileResult
from xlq.watch.review import finish_review

log = logging.getLogger("xlq")


def finish_interrupted(root: Path, claimer: Claimer, journal: Callable[[], Journal], filer: Filer,
                       store: Callable[[], Store], *, always: bool = False) -> list[FileResult]:
    """Move recorded files whose move did not happen, give back claimed ones never recorded,
    and close their claims. Without staged files there is nothing to move, so the store is not
    opened unless `always` (then only claims whose rename never happened are closed)."""
    if not always and (not claimer.staging.is_dir() or not any(claimer.staging.iterdir())):
        return []
    results: list[FileResult] = []
    closed: dict[str, list[int]] = {"moved": [], "returned": [], "void": []}
    claims = journal().unfinished()
    for claim in claims:
        staged = root / claim.staged
        source = root / claim.arrived_in / claim.original_name
        candidate = Candidate(source, claim.arrived_in, None, claim.size, claim.mtime_ns)
        item = Claimed(candidate, claim, staged)
        submission = store().submission(claim.submission_id) if claim.submission_id else None
        review = claim.state == "recorded" and claim.submission_id is None  # a review workbook's claim
        if claim.state == "claimed" or (submission is None and not review):
            gone = not os.path.lexists(item.held)
            claimer.give_back(item)
            closed["void" if gone else "returned"].append(claim.id)
            continue
        if not os.path.lexists(staged):  # archived before the stop; only the journal lagged
            claimer.done(item)
            closed["moved"].append(claim.id)
            continue
        if submission is None:
            found = finish_review(filer, store(), staged, source)
            if found is None:  # not in the store after all: judged afresh
                claimer.give_back(item)
                closed["returned"].append(claim.id)
                continue
            result = found
        else:
            where = filer.finish(store(), replace(candidate, path=staged), submission)
            result = FileResult(str(source), submission.department, submission.period,
                                "duplicate" if submission.kind == "duplicate" else submission.outcome,
                                sha256=submission.sha256, kind=submission.kind, moved_to=where,
                                note="recovered an interrupted move")
        if note := claimer.done(item):
            log.warning("%s: %s", describe(source, root), note)
        closed["moved"].append(claim.id)
        log.info("%s", result.line())
        results.append(result)
    for state, ids in closed.items():
        if ids:
            try:
                journal().close(ids, state)
            except StoreError as exc:  # the files are where they belong; the next start closes the claims
                log.warning("%s", exc)
    # shared by several watchers, an empty folder may be one another watcher is about to rename into
    leftovers = [(root / c.staged).parent for c in claims] if journal().shared else (
        claimer.staging.iterdir() if claimer.staging.is_dir() else ())
    for folder in leftovers:
        if folder.is_dir() and not folder.is_symlink():
            with contextlib.suppress(OSError):
                folder.rmdir()
    return results
