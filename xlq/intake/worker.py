"""Untrusted workbooks are parsed in a long-lived child process, never in the watcher itself.

Some files crash a reader in ways no `try` can catch (a 5 KB workbook whose last cell is
XFD1048576 makes calamine abort the whole process; a zip bomb exhausts memory), so the
parse runs in a child with an address-space limit and a per-file deadline. When the child
dies the file becomes a finding, a fresh child starts, and the caller goes on. One child
serves many files and requests are pipelined (the next file is parsed while the caller
validates and stores the previous one), so isolation costs well under a millisecond a file.

The child also writes the feedback copy of a return with findings (`xlq.intake.feedback_book`), because
that means opening the untrusted file (editing its package, or loading it with openpyxl).
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from multiprocessing.connection import Connection
from pathlib import Path

from xlq.core.errors import WorkerUnavailable
from xlq.core.model import ParsedReturn
from xlq.core.review import ReviewReturn
from xlq.core.rules import finding
from xlq.intake.feedback import Mark

DEFAULT_TIMEOUT = 20.0
STARTUP_TIMEOUT = 60.0
DEFAULT_MEMORY_MB = 1024
_WINDOW = 4



def file_digest(path: Path | str) -> tuple[str, int]:
    """sha256 and size of a file, read in blocks so a large file never sits in memory."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def read_in_process(path: Path | str) -> ParsedReturn:
    """Parse a trusted file (`xlq validate` on one's own file) without the child's start-up cost."""
    # imported here for start-up time: a spawned child imports this module before its memory
    # limit is set, and the reader (python-calamine) must load under that limit
    from xlq.intake.reader import read_return

    return read_return(path)


def _failed(path: str, sha256: str, size: int, code: str, why: str) -> ParsedReturn:
    return ParsedReturn(path=path, sha256=sha256, size=size, identity=None,
                        findings=(finding(code, why, file=Path(path).name),))


def _limit_memory(megabytes: int) -> None:
    try:
        import resource  # only on Unix
    except ImportError:  # Windows: no rlimits; the per-file deadline still applies
        return
    limit = megabytes * 1024 * 1024
    for name in ("RLIMIT_AS", "RLIMIT_DATA"):
        which = getattr(resource, name, None)
        if which is None:
            continue
        try:
            soft, hard = resource.getrlimit(which)
            if hard != resource.RLIM_INFINITY:
                limit = min(limit, hard)
            resource.setrlimit(which, (limit, hard))
            return
        except (ValueError, OSError):
            continue


def _serve(conn: Connection, memory_mb: int) -> None:
    """The child's loop: one request in, one reply out, until the parent closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _limit_memory(memory_mb)
    # imported here, after the limit, so the reader's start-up counts against it (see read_in_process)
    from xlq.intake.reader import read_return
    from xlq.intake.review_reader import read_review  # start-up: after the limit, like the reader

    conn.send(("ready", os.getpid()))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        job, kind, args = request
        try:
            if kind == "read":
                reply: tuple = (job, "ok", read_return(args[0]))
            elif kind == "review":
                reply = (job, "ok", read_review(args[0]))
            elif kind == "feedback":
                # imported here for start-up time: the XML and zip modules only a writing child needs
                from xlq.intake.feedback_book import write_feedback

                write_feedback(*args)
                reply = (job, "ok", None)
            else:
                reply = (job, "error", f"unknown request {kind!r}")
        except MemoryError:
            reply = (job, "memory", None)
        except Exception as exc:  # a bug in the reader must not look like a crash of the file
            reply = (job, "error", f"{type(exc).__name__}: {exc}")
        try:
            conn.send(reply)
        except (OSError, ValueError):
            return
        if reply[1] == "memory":
            return  # the heap may be fragmented beyond use; a fresh child is cheap


class Worker:
    """A child process that reads untrusted returns: `read`, `read_many`, `feedback`.

    Use as a context manager, or call `close()`; the child is started lazily so a run with
    nothing to read never pays for it.
    """

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT, memory_mb: int = DEFAULT_MEMORY_MB,
                 window: int = _WINDOW) -> None:
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.window = max(1, window)
        self.restarts = 0
        self.files = 0
        self._ctx = multiprocessing.get_context("spawn")
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._ready = False
        self._job = 0

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        if self._process is not None and self._process.is_alive():
            return
        self._stop_child()
        parent, child = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(target=_serve, args=(child, self.memory_mb), name="xlq-reader", daemon=True)
        process.start()
        child.close()
        self._process, self._conn, self._ready = process, parent, False

    def close(self) -> None:
        """Ask the child to leave, then make sure it has."""
        if self._conn is not None:
            with contextlib.suppress(OSError, ValueError):
                self._conn.send(None)
        self._stop_child(grace=2.0)

    def _stop_child(self, grace: float = 0.0) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if process is not None:
            process.join(grace)
            if process.is_alive():
                process.kill()
                process.join(5.0)
            process.close()
        if conn is not None:
            conn.close()

    def _crashed(self) -> str:
        """Why the child died, in words for the finding; then start afresh."""
        process = self._process
        code = None
        if process is not None:
            process.join(1.0)
            code = process.exitcode
        self._stop_child()
        self.restarts += 1
        if code is not None and code < 0:
            try:
                return signal.Signals(-code).name
            except ValueError:
                return f"signal {-code}"
        return f"exit status {code}"

    def read(self, path: Path | str, sha256: str | None = None, size: int | None = None) -> ParsedReturn:
        """Parse one file in the child; a crash or a timeout becomes a file-level finding."""
        return next(iter(self.read_many([(path, sha256, size)])))[1]

    def read_many(self, items: Iterable[tuple[Path | str, str | None, int | None]]
                  ) -> Iterator[tuple[str, ParsedReturn]]:
        """Parse files in order, keeping up to `window` requests in flight; yields (path, parsed).

        Each file gets `timeout` seconds from the moment the child can start on it, so a
        slow file ahead in the queue never eats the next one's allowance.
        """
        todo = deque((str(p), s, n) for p, s, n in items)
        flight: deque[tuple[int, str, str | None, int | None]] = deque()
        started = time.monotonic()
        while todo or flight:
            while todo and len(flight) < self.window:
                path, sha, size = todo.popleft()
                if not flight:
                    started = time.monotonic()
                job = self._send("read", (path,))
                flight.append((job, path, sha, size))
            job, path, sha, size = flight[0]
            status, payload = self._receive(job, started)
            flight.popleft()
            started = time.monotonic()
            self.files += 1
            if status == "ok":
                yield path, payload
                continue
            parsed = self._failure(path, sha, size, status, payload)
            if status == "error":  # the child is alive and still serving the rest of the window
                yield path, parsed
                continue
            retry = [(p, s, n) for _, p, s, n in flight]
            flight.clear()
            todo.extendleft(reversed(retry))
            yield path, parsed

    def _failure(self, path: str, sha: str | None, size: int | None, status: str, detail: str) -> ParsedReturn:
        if sha is None or size is None:
            try:
                sha, size = file_digest(path)
            except OSError:
                sha, size = "", 0
        if status == "timeout":
            return _failed(path, sha, size, "file-too-large", f"it took longer than {self.timeout:g} s to read")
        if status == "memory" or detail in ("SIGABRT", "SIGKILL", "SIGSEGV"):
            why = f"it needs more than the {self.memory_mb} MB memory limit"
            return _failed(path, sha, size, "file-too-large", why)
        if status == "died":
            return _failed(path, sha, size, "file-unreadable", f"the reader stopped ({detail})")
        return _failed(path, sha, size, "file-unreadable", detail)

    def read_review(self, path: Path | str) -> ReviewReturn:
        """Read a dropped review workbook in the child (issue 17); a crash or timeout is a problem, not an exception."""
        job = self._send("review", (str(path),))
        status, payload = self._receive(job, time.monotonic())
        if status == "ok" and isinstance(payload, ReviewReturn):
            return payload
        return ReviewReturn(str(path), "", problem=f"the reader could not read it ({status}{': ' if payload else ''}"
                                                   f"{payload or ''})")

    def feedback(self, src: Path | str, dst: Path | str, marks: Sequence[Mark], title: str = "",
                 lines: Sequence[str] = ()) -> bool:
        """Write the feedback copy of `src` to `dst` in the child; False if it could not."""
        job = self._send("feedback", (str(src), str(dst), tuple(marks), title, tuple(lines)))
        status, _ = self._receive(job, time.monotonic())
        return status == "ok"

    def _send(self, kind: str, args: tuple) -> int:
        self.start()
        assert self._conn is not None
        self._job += 1
        with contextlib.suppress(OSError, ValueError):  # a dead child is noticed by _receive
            self._conn.send((self._job, kind, args))
        return self._job

    def _await_ready(self) -> None:
        """The child's imports are not any file's fault: they get their own allowance."""
        conn = self._conn
        assert conn is not None
        try:
            if conn.poll(STARTUP_TIMEOUT):
                hello = conn.recv()
                if isinstance(hello, tuple) and hello[:1] == ("ready",):
                    self._ready = True
                    return
        except (EOFError, OSError):
            pass
        why = self._crashed()
        raise WorkerUnavailable(f"the reader process could not start ({why}); files stay in inbox/")

    def _receive(self, job: int, started: float) -> tuple[str, object]:
        """Wait for the reply to `job`: ("ok", value), ("memory"|"error", detail), ("died"|"timeout", why)."""
        conn = self._conn
        if conn is None:
            return "died", self._crashed()
        if not self._ready:
            self._await_ready()
            started = max(started, time.monotonic())
        deadline = started + self.timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                ready = conn.poll(max(0.0, remaining))
            except (OSError, ValueError):
                return "died", self._crashed()
            if not ready:
                self._stop_child()
                self.restarts += 1
                return "timeout", ""
            try:
                reply_job, status, payload = conn.recv()
            except (EOFError, OSError):
                return "died", self._crashed()
            if reply_job != job:
                continue  # a reply to a request abandoned after a crash
            if status == "memory":
                self._crashed()
            return status, payload
