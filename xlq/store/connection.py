"""What the store needs of a database engine: the `Connection` both engines implement
(store/engine.py: SQLite, and `connect`; store/postgres.py: PostgreSQL), and how a store is named."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Any: ...


def is_url(target: Path | str) -> bool:
    """True for a PostgreSQL URL (`postgresql://...` or `postgres://...`), False for a file path."""
    return isinstance(target, str) and target.split("://", 1)[0] in ("postgresql", "postgres")


def display_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    return urlunsplit(parts._replace(netloc=netloc + (f":{parts.port}" if parts.port else "")))


MASTER_LOCK = 0x786C7102
"""The session lock of the process writing the master (store/watchers.py)."""


class Connection:
    """What the store needs of an engine. `execute` and `executemany` take the dialect above;
    a driver's operational error (busy, read-only, connection lost) becomes StoreBusy or
    StoreError naming `location`."""

    engine = ""
    location = ""

    def execute(self, sql: str, params: Sequence[object] = ()) -> Cursor:
        raise NotImplementedError

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        raise NotImplementedError

    def begin(self, *, write: bool) -> None:
        """Start a transaction: a write one serialised against every other writer of the store."""
        raise NotImplementedError

    @property
    def in_transaction(self) -> bool:
        raise NotImplementedError

    def next_id(self, table: str) -> int:
        """The id the next row of `table` gets (inside a write transaction)."""
        raise NotImplementedError

    def schema_version(self) -> int:
        raise NotImplementedError

    def set_schema_version(self, version: int) -> None:
        raise NotImplementedError

    def data_version(self) -> object:
        """A value that changes when another connection commits a new submission."""
        raise NotImplementedError

    def try_session_lock(self, key: int) -> bool:
        """Take a lock held until released or the connection ends; False when another holds it."""
        raise NotImplementedError

    def release_session_lock(self, key: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError
