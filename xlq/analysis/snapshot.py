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

import sqlite3
import threading
from pathlib import Path

from xlq.store.db import Store
from xlq.store.schema import SCHEMA_VERSION, StoreError


class SnapshotStore(Store):
    """A `Store` whose reading methods (`values`, `submissions`, `findings`, ...) all see one
    committed state of the store; it refuses to write (SQLite raises on any write attempt).

    Use it as a context manager; `close()` ends the read transaction."""

    def __init__(self, path: Path | str, *, timeout: float = 10.0) -> None:
        # Store.__init__ would open the file read-write, switch it to WAL and run migrations:
        # a reader must do none of that, so the connection is made here and the rest of the
        # state Store's readers use is set up the way Store sets it up.
        self.path = Path(path)
        self.timeout = timeout
        self._lock = threading.RLock()
        self._months = {}
        self._stale = {}
        self._version = None
        self._series_key = None
        self._series = {}
        self._batch = None
        if not self.path.is_file():
            raise StoreError(f"{self.path}: no store here yet (nothing has been collected in this workspace)")
        uri = self.path.resolve().as_uri() + "?mode=ro"
        try:
            self._db = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open the store for reading ({exc})") from None
        try:
            self._db.execute("BEGIN")
            # The snapshot starts at the first read, not at BEGIN: read now, so it is pinned here.
            self._db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.OperationalError as exc:
            self._db.close()
            raise self._operational(exc) from None
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreError(f"{self.path}: not an xlq store ({exc})") from None
        if version != SCHEMA_VERSION:
            self._db.close()
            newer = "a newer xlq (upgrade xlq)" if version > SCHEMA_VERSION else "an older xlq (run `xlq run` once to upgrade it)"
            raise StoreError(f"{self.path}: the store has schema version {version}, from {newer}; "
                             f"this xlq reads version {SCHEMA_VERSION}")

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

    def rows(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        """Run one query in the snapshot (the analysis tables read the store's tables directly)."""
        return self._query(sql, params)

