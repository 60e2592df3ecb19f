"""One process at a time per workspace: an OS file lock that dies with its holder."""

from __future__ import annotations

import os
from pathlib import Path

from xlq.core.errors import WorkspaceBusy

LOCK_NAME = ".xlq.lock"


class WorkspaceLock:
    """An exclusive lock on the workspace, released by the OS if the process dies (kill -9)."""

    def __init__(self, root: Path) -> None:
        self.path = root / LOCK_NAME
        self._handle = None

    def acquire(self) -> None:
        handle = open(self.path, "a+")  # noqa: SIM115 - held open for as long as the lock
        try:
            if os.name == "nt":
                import msvcrt  # only on Windows

                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl  # only on Unix

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            raise WorkspaceBusy(f"{self.path.parent}: another xlq ({holder or 'unknown process'}) is processing "
                                "this workspace; stop it or let it do the work") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
