"""The store opened for reading only, as one consistent snapshot.

A running watcher writes the store while analysts read it. SQLite in WAL mode lets a reader
and the writer work at once: the reader sees the database as it was when its read
transaction began and never takes the write lock. So a snapshot is one connection opened
with `mode=ro` (it cannot write, and cannot migrate or change the journal mode the way
`Store()` does when it opens), with one read transaction held for as long as the snapshot
is open: every table read through it comes from the same committed state, even if the
watcher stores a burst of returns in between.

Keep snapshots short: a checkpoint cannot pass a reader's snapshot, so the WAL file grows
while one stays open. Nothing here imports pandas.
"""

from __future__ import annotations

from pathlib import Path

from xlq.store.db import Store


class SnapshotStore(Store):
    """A `Store` whose reading methods (`values`, `submissions`, `findings`, ...) all see one
    committed state of the store; it refuses to write (SQLite raises on any write attempt).

    Use it as a context manager; `close()` ends the read transaction."""

    def __init__(self, target: Path | str, *, timeout: float = 10.0) -> None:
        super().__init__(target, timeout=timeout, read_only=True)

    def close(self) -> None:
        with self._lock:
            try:
                if self._db.in_transaction:
                    self._db.execute("COMMIT")  # a read transaction: nothing to write, the snapshot is released
            finally:
                self._db.close()

    def __enter__(self) -> SnapshotStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
