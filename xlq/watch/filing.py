"""Where a handled file goes: receipt-stamped names, moves that never overwrite, atomic text files."""

from __future__ import annotations

import datetime as dt
import errno
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from xlq.core.config import Workspace
from xlq.core.report import plain, reason_text
from xlq.intake.feedback import Mark, feedback_request
from xlq.store.db import Store
from xlq.store.queries import Submission
from xlq.watch.inbox import Candidate, zip_state

log = logging.getLogger("xlq")

MAX_NAME_BYTES = 200
_UNREADABLE = frozenset(("file-empty", "file-incomplete", "file-not-workbook", "file-wrong-format", "file-encrypted",
                         "file-too-large", "file-unreadable"))

FeedbackWriter = Callable[[Path, Path, Sequence[Mark], str, Sequence[str]], bool]
"""Writes the feedback copy of a workbook (in the isolated worker); False when it could not."""
FeedbackJob = tuple[Path, Path, tuple[Mark, ...], str, tuple[str, ...]]
"""The arguments of one FeedbackWriter call: source, copy, marks, title, lines."""


def receipt_time(last: list[dt.datetime], clock: Callable[[], dt.datetime] | None = None) -> dt.datetime:
    moment = (clock() if clock else dt.datetime.now()).astimezone()
    if last and moment <= last[0]:
        moment = last[0] + dt.timedelta(microseconds=1)
    last[:] = [moment]
    return moment


def short_name(name: str, limit: int = MAX_NAME_BYTES) -> str:
    """Names stay within filesystem limits once the receipt time and `.feedback.xlsx` are added."""
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, dot, suffix = name.rpartition(".")
    if not dot or len(suffix) > 10:
        stem, suffix = name, ""
    budget = limit - len(suffix.encode("utf-8")) - 2
    cut = stem.encode("utf-8")[:budget].decode("utf-8", "ignore")
    return f"{cut}~" + (f".{suffix}" if suffix else "")




def move(src: Path, dest: Path) -> None:
    """Move without ever overwriting; a copy across filesystems lands under a temporary name first."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(dest):
        raise FileExistsError(errno.EEXIST, "destination exists", str(dest))
    try:
        os.rename(src, dest)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    temporary = dest.with_name("." + dest.name + ".part")
    shutil.copy2(src, temporary)
    with open(temporary, "rb+") as handle:
        os.fsync(handle.fileno())
    os.rename(temporary, dest)
    os.unlink(src)


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name("." + path.name + ".part")
    temporary.write_text(text, encoding="utf-8", newline="\r\n" if os.name == "nt" else None)
    os.replace(temporary, path)


class Filer:
    """Everything that happens to a file after its record is committed: the reason file of a
    rejected return, the feedback copy of every return with findings (in feedback/<DEPT>/), then
    the move out of inbox/ (the last step, so a file still in inbox/ is never lost). Names carry
    the receipt time and never overwrite."""

    def __init__(self, workspace: Workspace, write_feedback: FeedbackWriter,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.workspace = workspace
        self.root = workspace.root
        self.clock = clock
        self._write_feedback = write_feedback
        self._last_time: list[dt.datetime] = []

    def destination(self, folder: str, original_name: str) -> tuple[dt.datetime, Path]:
        """The receipt time of a file and the unused path it will be moved to under `folder`."""
        moment = receipt_time(self._last_time, self.clock)
        name = f"{moment:%Y-%m-%d_%H%M%S}.{moment.microsecond:06d}__{short_name(original_name)}"
        return moment, self.unique(self.root / folder, name)

    def unique(self, folder: Path, name: str) -> Path:
        target = folder / name
        n = 2
        while os.path.lexists(target) or os.path.lexists(target.with_name(target.name + ".reason.txt")):
            stamp, sep, rest = name.partition("__")
            target = folder / f"{stamp}-{n}{sep}{rest}"
            n += 1
        return target

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def finish(self, store: Store, candidate: Candidate, submission: Submission, *, feedback: bool = True) -> str:
        """Reason file and feedback copy, then the move; returns where the file now is.
        `feedback=False`: the caller has written the copy already (`feedback_jobs`)."""
        dest = self.root / submission.location
        if submission.location.startswith("rejected/"):
            self._explain(store, candidate, submission, dest)
        if feedback:
            self._feedback(store, candidate, submission, dest)
        if os.path.lexists(dest):
            dest = self.unique(dest.parent, dest.name)
            store.set_location(submission.id, self.relative(dest))
        move(candidate.path, dest)
        return self.relative(dest)

    def _explain(self, store: Store, candidate: Candidate, submission: Submission, dest: Path) -> None:
        findings = [sf.finding for sf in store.findings([submission.id])]
        first = None
        if submission.kind == "duplicate" and submission.duplicate_of is not None:
            first = store.submission(submission.duplicate_of)
            findings = [sf.finding for sf in store.findings([submission.duplicate_of])]
        reason = dest.with_name(dest.name + ".reason.txt")
        if not reason.exists():
            write_text(reason, reason_text(submission, findings, first, self.workspace))

    def feedback_job(self, store: Store, candidate: Candidate, submission: Submission) -> FeedbackJob | None:
        """What to write as the feedback copy of a recorded return (arguments of the
        FeedbackWriter), or None when it needs none or already has one."""
        dest = self.root / submission.location
        findings = [sf.finding for sf in store.findings([submission.id])]
        used = store.count_given(submission.id)
        request = feedback_request(self.workspace, submission, findings, dest.name, used, candidate.department)
        if request is None or request.path.exists():
            return None
        if (candidate.path.suffix.lower() not in (".xlsx", ".xlsm") or any(f.rule in _UNREADABLE for f in findings)
                or zip_state(candidate.path) != "complete"):
            return None
        return candidate.path, request.path, tuple(request.marks), request.title, tuple(request.lines)

    def _feedback(self, store: Store, candidate: Candidate, submission: Submission, dest: Path) -> None:
        """The feedback copy of every return with findings, in the department's feedback folder."""
        job = self.feedback_job(store, candidate, submission)
        if job is not None and not self._write_feedback(*job):
            failed_copy(job)


def feedback_jobs(filer: Filer, store: Store, recorded: Sequence[tuple[Candidate, Submission]]) -> list[FeedbackJob]:
    """The feedback copies a committed group needs (read from the store, so on the store's
    thread); `write_feedback_copies` writes them, which may run beside the next group's judging."""
    jobs = []
    for candidate, submission in recorded:
        try:
            job = filer.feedback_job(store, candidate, submission)
        except OSError as exc:
            log.warning("no feedback copy for %s: %s", plain(candidate.path.name, 120), exc)
            continue
        if job is not None:
            jobs.append(job)
    return jobs


def write_feedback_copies(jobs: list[FeedbackJob], write_many: Callable[[list[FeedbackJob]], list[bool]]) -> None:
    """A committed group's feedback copies, written side by side (`ReaderPool.feedback_many`)
    before any of its files is moved: a copy costs ~6 ms (the package writer) to ~60-85 ms (openpyxl,
    for a package that writer refuses) in a worker child, so a group's copies are spread over the
    pool. A copy is a courtesy: one that cannot be made is logged, as `Filer.finish` does."""
    for job, written in zip(jobs, write_many(jobs), strict=True):
        if not written:
            failed_copy(job)


def failed_copy(job: FeedbackJob) -> None:
    log.warning("no feedback copy for %s (the workbook could not be re-saved)", plain(job[0].name, 120))
