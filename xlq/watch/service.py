"""The two ways to run the watch stage from a command: once (`xlq run`) or for ever (`xlq watch`).

Both log to the console and to the workspace's rotating xlq.log, and finish the current file
on SIGINT/SIGTERM; the handlers they add are removed again when they return.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time
from collections.abc import Callable

from xlq.core.config import Workspace
from xlq.watch.idle import idle_run
from xlq.watch.results import RunSummary
from xlq.watch.runtime import remove_handlers, setup_logging, stop_on_signals


def run_once(workspace: Workspace, *, today: dt.date | None = None, progress: bool = True,
             clock: Callable[[], dt.datetime] | None = None, console_level: int | None = None) -> RunSummary:
    """`xlq run`: process inbox/ once and rebuild the master if anything changed.

    SIGINT/SIGTERM finish the current file, rebuild and return. Raises WorkspaceBusy when a
    watcher (or another run) holds the workspace. `console_level` overrides how much of the
    per-file log reaches the console (the log file always has every line).
    """
    if console_level is None:
        console_level = logging.WARNING if progress and sys.stderr.isatty() else logging.INFO
    handlers = setup_logging(workspace, console_level=console_level)
    try:
        started = time.monotonic()
        if idle_run(workspace):
            return RunSummary((), False, None, time.monotonic() - started, 0)
        # imported here for start-up time: most runs find nothing new (xlq/watch/idle.py)
        from xlq.watch.pipeline import Pipeline

        with stop_on_signals() as stopped, Pipeline(workspace, today=today, clock=clock) as pipeline:
            return pipeline.run_once(None if progress else (lambda result: None), should_stop=stopped.is_set)
    finally:
        remove_handlers(handlers)


def watch_forever(workspace: Workspace, poll: float | None = None, *, today: dt.date | None = None) -> None:
    """`xlq watch [--poll SECONDS]`: log to the console and xlq.log, run until SIGINT/SIGTERM."""
    handlers = setup_logging(workspace)
    try:
        # imported here for start-up time: `xlq run` never watches (watchdog's inotify takes ~10 ms)
        from xlq.watch.watcher import Watcher

        Watcher(workspace, poll, today=today).run_forever()
    finally:
        remove_handlers(handlers)
