"""The processes a pipeline reads returns and writes feedback copies in.

Returns are untrusted, so both jobs run in isolated worker processes with memory and time
limits (`xlq.intake.pool.ReaderPool`, `[watch] workers` of them): one pool parses, a second
writes a committed group's feedback copies (from the department's untrusted file) beside it, so a
burst keeps both cores busy, and reads the reviewers' workbooks (issue 17). `in_process=True`
does all of it here instead (trusted files only: demos and tests replaying history). A run starts
the parsers a batch needs as it begins claiming the batch's files (`expect`) and the feedback pool
on its first copy, so a run with nothing in inbox/ starts none; a watcher starts one worker of
each as it starts (`start`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from xlq.core.config import Workspace
from xlq.core.model import ParsedReturn
from xlq.core.review import ReviewReturn
from xlq.core.text import shown
from xlq.intake.feedback import Mark
from xlq.intake.pool import ReaderPool
from xlq.intake.review_reader import read_review
from xlq.intake.worker import DEFAULT_TIMEOUT, read_in_process

log = logging.getLogger("xlq")


class Readers:
    """The parsing pool and the feedback pool of one pipeline (or this process, in process)."""

    def __init__(self, workspace: Workspace, *, in_process: bool, timeout: float | None) -> None:
        self.in_process = in_process
        self._size = workspace.watch.workers or None
        self._timeout = timeout or DEFAULT_TIMEOUT
        self._parser: ReaderPool | None = None
        self._feedback: ReaderPool | None = None

    @property
    def parser(self) -> ReaderPool:
        """Parses returns; pipelined, so it serves nothing else while a batch is in flight."""
        if self._parser is None:
            self._parser = ReaderPool(self._size, timeout=self._timeout)
        return self._parser

    @property
    def feedback_pool(self) -> ReaderPool:
        """Writes feedback copies (from an untrusted file) beside the busy parsers."""
        if self._feedback is None:
            self._feedback = ReaderPool(self._size, timeout=self._timeout)
        return self._feedback

    def start(self) -> None:
        """A watcher's start: one parser and one feedback writer start now, beside its reading of
        the store, so the first drop after a start does not wait ~0.15 s for each process to start
        and import (measured at 10,000 returns); a one-off run starts them per batch (`expect`)."""
        if not self.in_process:
            self.parser.start()
            self.feedback_pool.start()

    def expect(self, files: int) -> None:
        """A batch of up to `files` returns is about to be claimed and hashed: the parsers it will
        use start now, without waiting, so their start and imports overlap that work on the
        caller's one core instead of following it. Only a head start: a process that cannot be
        started here is started, or reported, by `read_many` as before."""
        if not self.in_process and files:
            with contextlib.suppress(OSError):
                self.parser.start(self.parser.workers_for(files))

    def read_many(self, to_read: Sequence[tuple[Path, str, int]]) -> Iterator[tuple[str, ParsedReturn]]:
        """(path, parsed) for each file, in the order given."""
        if self.in_process:
            return ((str(path), read_in_process(path)) for path, _, _ in to_read)
        return self.parser.read_many(to_read) if to_read else iter(())

    def write_feedback(self, src: Path, dst: Path, marks: Sequence[Mark], title: str, lines: Sequence[str] = ()) -> bool:
        """One feedback copy; False (logged) when it could not be written."""
        if not self.in_process:
            return self.feedback_pool.feedback_many([(src, dst, marks, title, lines)])[0]
        try:
            # imported here for start-up time: a run with nothing new writes no copy
            from xlq.intake.feedback_book import write_feedback

            write_feedback(str(src), str(dst), tuple(marks), title, tuple(lines))
        except Exception as exc:  # a feedback copy is a courtesy; the reason file is the record
            log.warning("no feedback copy for %s: %s", shown(src.name, 120), exc)
            return False
        return True

    def read_review(self, path: Path) -> ReviewReturn:
        """A dropped review workbook, read in the feedback pool (or here, in process)."""
        return read_review(path) if self.in_process else self.feedback_pool.read_review(path)

    def close(self) -> None:
        for pool in (self._parser, self._feedback):
            if pool is not None:
                pool.close()
        self._parser = self._feedback = None
