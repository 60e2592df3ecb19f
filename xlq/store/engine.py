"""The store's engine seam: one connection type for SQLite (the embedded default) and PostgreSQL.

Every SQL statement in xlq/store is written once, in the dialect below, and runs on both
engines; the PostgreSQL connection (store/postgres.py) translates it by rule, never by a table
of statements. Follow these conventions in any new query or migration:

- placeholders are `?`; string literals in single quotes; no `%` formatting of values;
- ids are `id INTEGER PRIMARY KEY` (an identity column on PostgreSQL); a new row's id comes
  from `INSERT ... RETURNING id` or, when it must be known before the insert,
  `Connection.next_id(table)`; never `lastrowid` and never `MAX(id) + 1`;
- column types are `INTEGER` (64-bit on both), `REAL` (double on both) and `TEXT` (compared
  and ordered byte-wise on both: `COLLATE "C"` on PostgreSQL, as SQLite does);
- timestamps are ISO text passed from Python (`datetime.now(UTC).isoformat(...)`), not a
  database function; the two old `strftime` defaults are translated, no new ones are added;
- plain standard SQL otherwise: no `INSERT OR ...`, no `PRAGMA`, no `AUTOINCREMENT`, no
  engine functions; an identifier that is a reserved word is double-quoted (`"only"`); an
  empty `IN ()` list is allowed (it matches nothing on both);
- a write runs inside `Store.write()` (one transaction, or a savepoint in a batch). It starts
  with `BEGIN IMMEDIATE` on SQLite and, on PostgreSQL, with a transaction-scoped advisory lock
  that serialises writers the same way, so "read, decide, write" in one transaction is safe
  on both; files are moved only after the commit. (The one exception is a watcher's heartbeat,
  a single-statement update of its own row: store/watchers.py.)
- a migration step is a tuple of such statements, or a function of a `Connection` that checks
  `connection.engine` only where the engines truly differ (store/schema.py, migration 5).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from xlq.core.errors import StoreBusy, StoreError
from xlq.store.connection import Connection, Cursor, is_url


class SqliteConnection(Connection):
    """SQLite in one file, WAL mode, FULL sync: the embedded default."""

    engine = "sqlite"

    def __init__(self, path: Path, *, timeout: float, read_only: bool = False) -> None:
        self.location = str(path)
        self.timeout = timeout
        try:
            if read_only:
                uri = path.resolve().as_uri() + "?mode=ro"
                self._db = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False)
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{path}: cannot open the store{' for reading' if read_only else ''} ({exc})") from None
        try:
            self.execute("PRAGMA journal_mode = WAL")
            self.execute("PRAGMA synchronous = FULL")
            self.execute("PRAGMA foreign_keys = ON")
            # a batch keeps each return all or nothing with a savepoint, whose journal of the pages it
            # changes went to a file in /var/tmp past 64 KB: ~160,000 writes for 1,000 returns
            self.execute("PRAGMA temp_store = MEMORY")
        except BaseException:
            self._db.close()
            raise

    def _error(self, exc: sqlite3.Error) -> StoreError:
        if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)):
            return StoreBusy(f"{self.location}: the store is in use by another process (waited {self.timeout:g} s); "
                             "try again")
        if "readonly" in str(exc) or "read-only" in str(exc):
            return StoreError(f"{self.location}: the store is read-only; give xlq write access to it and its folder")
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
            return StoreError(f"{self.location}: not an xlq store ({exc})")
        return StoreError(f"{self.location}: {exc}")

    def execute(self, sql: str, params: Sequence[object] = ()) -> Cursor:
        try:
            return self._db.execute(sql, params)
        except sqlite3.DatabaseError as exc:
            # constraint and programming errors are the caller's; only the store's state is translated
            if not isinstance(exc, sqlite3.OperationalError) and type(exc) is not sqlite3.DatabaseError:
                raise
            raise self._error(exc) from None

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        try:
            self._db.executemany(sql, rows)
        except sqlite3.OperationalError as exc:
            raise self._error(exc) from None

    def begin(self, *, write: bool) -> None:
        self.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    @property
    def in_transaction(self) -> bool:
        return self._db.in_transaction

    def next_id(self, table: str) -> int:
        # the write lock is held, so the next id is ours (what INTEGER PRIMARY KEY would pick)
        return self.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}").fetchone()[0]

    def schema_version(self) -> int:
        return self.execute("PRAGMA user_version").fetchone()[0]

    def set_schema_version(self, version: int) -> None:
        self.execute(f"PRAGMA user_version = {int(version)}")

    def data_version(self) -> object:
        return self.execute("PRAGMA data_version").fetchone()[0]

    def try_session_lock(self, key: int) -> bool:
        return True  # one process per workspace already (xlq/watch/lock.py): SQLite on a share is not safe

    def release_session_lock(self, key: int) -> None:
        pass

    def close(self) -> None:
        self._db.close()


def connect(target: Path | str, *, timeout: float, read_only: bool = False) -> Connection:
    """A connection to the store at a path (SQLite) or a `postgresql://` URL."""
    if is_url(target):
        from xlq.store.postgres import PostgresConnection  # optional: psycopg is the `postgres` extra

        return PostgresConnection(str(target), timeout=timeout, read_only=read_only)
    return SqliteConnection(Path(target), timeout=timeout, read_only=read_only)
