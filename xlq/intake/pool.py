"""Several isolated reader processes, one per core, fed in order and answered in order.

One `Worker` (xlq/intake/worker.py) parses a return in about as long as the caller takes to
validate and store it, so with more cores than two the reading is the queue. A pool deals
the files round-robin to up to `size` workers (file i to worker i mod k), each with its own
memory limit, deadline and in-flight window, and hands the results back in the order the
files were given: the caller still judges and commits them in arrival order, so the store
stays the journal and nothing downstream sees the pool.

Extra workers cost a process start (the reader's imports, ~0.1-0.2 s of CPU), so a batch uses
only as many as it has work for (`MIN_FILES_PER_WORKER` each): a single dropped return
starts one, a run with nothing to read starts none.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from xlq.core.model import ParsedReturn
from xlq.core.review import ReviewReturn
from xlq.intake.worker import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT, Worker

MIN_FILES_PER_WORKER = 16


def default_size() -> int:
    """One reader per core (the caller's own process shares them: it waits on the readers
    most of the time)."""
    return max(1, os.cpu_count() or 1)


class ReaderPool:
    """`read_many` (or `feedback_many`: use a pool for one or the other, as a worker's replies
    to an abandoned request are skipped) over up to `size` workers.

    Same surface as `Worker.read_many` for the pipeline; `restarts` and `files` add up the
    workers'. Workers start lazily, or ahead with `start` (a watcher's first, a batch's), and stay up
    between batches (the watcher's next drop pays no start-up); `close()` stops them all.
    """

    def __init__(self, size: int | None = None, *, timeout: float = DEFAULT_TIMEOUT,
                 memory_mb: int = DEFAULT_MEMORY_MB) -> None:
        self.size = max(1, size if size is not None else default_size())
        self.timeout = timeout
        self.memory_mb = memory_mb
        self._workers: list[Worker] = []

    def __enter__(self) -> ReaderPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def restarts(self) -> int:
        return sum(w.restarts for w in self._workers)

    @property
    def files(self) -> int:
        return sum(w.files for w in self._workers)

    @property
    def pids(self) -> list[int]:
        return [pid for w in self._workers if (pid := w.pid) is not None]

    def _worker(self, index: int) -> Worker:
        while len(self._workers) <= index:
            self._workers.append(Worker(timeout=self.timeout, memory_mb=self.memory_mb))
        return self._workers[index]

    def start(self, count: int = 1) -> None:
        """Start the first `count` workers now without waiting for them: their children import
        while the caller does other work, so the first file does not wait for a process start."""
        for j in range(min(count, self.size)):
            self._worker(j).start()

    def workers_for(self, files: int) -> int:
        """How many workers a batch of `files` is spread over."""
        return max(1, min(self.size, -(-files // MIN_FILES_PER_WORKER)))

    def read_many(self, items: Iterable[tuple[Path | str, str | None, int | None]]
                  ) -> Iterator[tuple[str, ParsedReturn]]:
        """Parse files across the workers; yields (path, parsed) in the order given.

        A worker that crashes or times out on a file turns it into a finding and restarts,
        as a lone `Worker` does; the others go on. `WorkerUnavailable` (a reader that cannot
        even start) reaches the caller as it would from one worker.
        """
        todo = list(items)
        if not todo:
            return
        k = self.workers_for(len(todo))
        workers = [self._worker(j) for j in range(k)]
        for worker in workers:
            worker.start()  # the children import side by side, not one after another
        streams = [worker.read_many(todo[j::k]) for j, worker in enumerate(workers)]
        try:
            for index in range(len(todo)):
                yield next(streams[index % k])
        finally:
            for stream in streams:
                with contextlib.suppress(Exception):
                    stream.close()

    def feedback_many(self, jobs: Sequence[tuple]) -> list[bool]:
        """Write feedback copies (the arguments of `Worker.feedback` each) side by side, one
        thread per worker waiting on its child; True for each copy written."""
        if not jobs:
            return []
        k = max(1, min(self.size, len(jobs)))
        workers = [self._worker(j) for j in range(k)]
        for worker in workers:
            worker.start()
        written = [False] * len(jobs)

        def serve(j: int) -> None:
            for index in range(j, len(jobs), k):
                written[index] = workers[j].feedback(*jobs[index])

        with ThreadPoolExecutor(k, thread_name_prefix="xlq-feedback") as threads:
            list(threads.map(serve, range(k)))
        return written

    def read_review(self, path: Path | str) -> ReviewReturn:
        """A dropped review workbook (issue 17), read in the first worker: reviews are few."""
        return self._worker(0).read_review(path)

    def close(self) -> None:
        for worker in self._workers:
            worker.close()
