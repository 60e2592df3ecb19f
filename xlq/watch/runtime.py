"""What a long-running xlq process needs around the pipeline: the log, signals and a progress bar.

The log has one line per file and one per finding; console and file handlers are added by the
entry points (`xlq run`, `xlq watch`) and removed again, so library callers log nowhere they
did not ask for.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import signal
import sys
import threading
import time
from collections.abc import Iterator

from xlq.core.config import Workspace
from xlq.core.text import SafeArgs
from xlq.watch.results import FileResult

log = logging.getLogger("xlq")

LOG_NAME = "xlq.log"
LOG_BYTES = 5 * 1024 * 1024
LOG_BACKUPS = 5


def setup_logging(workspace: Workspace, *, console: bool = True, console_level: int = logging.INFO,
                  stream=None) -> list[logging.Handler]:
    """One line per file to the console and to a rotating `xlq.log` in the workspace, which also
    gets one line per finding; returns the handlers so the caller can remove them."""
    logger = logging.getLogger("xlq")
    logger.setLevel(logging.DEBUG)  # the file gets every finding (DEBUG); the console its own level
    file_handler = logging.handlers.RotatingFileHandler(workspace.root / LOG_NAME, maxBytes=LOG_BYTES,
                                                        backupCount=LOG_BACKUPS, encoding="utf-8", delay=True)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s"))
    handlers: list[logging.Handler] = [file_handler]
    if console:
        console_handler = logging.StreamHandler(stream or sys.stderr)
        console_handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        console_handler.setLevel(console_level)
        handlers.append(console_handler)
    for handler in handlers:
        handler.addFilter(SafeArgs())  # a file name logged as %s cannot forge a line
        logger.addHandler(handler)
    return handlers


def remove_handlers(handlers: list[logging.Handler]) -> None:
    """Undo `setup_logging`: detach and close the handlers it added."""
    for handler in handlers:
        logging.getLogger("xlq").removeHandler(handler)
        handler.close()


@contextlib.contextmanager
def stop_on_signals(event: threading.Event | None = None) -> Iterator[threading.Event]:
    """SIGINT/SIGTERM set `event` so the current file is finished, not torn; a second signal
    interrupts at once. Handlers are installed only in the main thread and restored after."""
    event = event or threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield event
        return
    wanted = [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])
    previous = {sig: signal.getsignal(sig) for sig in wanted}

    def handler(signum: int, frame: object) -> None:
        if event.is_set():
            raise KeyboardInterrupt
        log.info("stopping after the current file (%s)", signal.Signals(signum).name)
        event.set()

    for sig in wanted:
        signal.signal(sig, handler)
    try:
        yield event
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class TtyProgress:
    """A one-line progress bar on stderr, only when it is a terminal."""

    def __init__(self, total: int, stream=None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = total >= 10 and hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last = 0.0
        self.done = 0

    def __call__(self, result: FileResult) -> None:
        self.done += 1
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and self.done < self.total:
            return
        self._last = now
        width = 30
        filled = width * self.done // max(1, self.total)
        self.stream.write(f"\r\x1b[Kxlq run [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
