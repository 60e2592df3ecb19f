"""Moving a workspace's store from SQLite to PostgreSQL (`xlq store migrate --to postgresql://...`).

Every table of the SQLite store is copied, row by row with its ids, into an empty PostgreSQL
store at the same schema version, in one transaction (all or nothing), parents before the
tables whose foreign keys point at them. Then each table is checked on both sides by its row
count and a checksum of its rows (order-free: the sum of each row's SHA-256), so nothing is
reported moved that did not arrive exactly; the identity sequences continue after the copied
ids. The source is read through one read transaction, so a consistent state is copied; the
caller holds the workspace so no watcher writes meanwhile.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from xlq.core.errors import StoreError
from xlq.store.db import Store

_BATCH = 1000


@dataclass(frozen=True)
class TableCheck:
    """One table after the copy: rows and checksum on each side."""

    table: str
    rows: int
    copied_rows: int
    checksum: str
    copied_checksum: str

    @property
    def ok(self) -> bool:
        return self.rows == self.copied_rows and self.checksum == self.copied_checksum


def _tables(source: Store) -> list[str]:
    """The SQLite store's tables, each after the tables its foreign keys point at."""
    names = [r[0] for r in source.rows("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                                       "ORDER BY name")]
    parents = {name: {r[2] for r in source.rows(f'PRAGMA foreign_key_list("{name}")')} - {name} for name in names}
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and parents[n] <= set(ordered)]
        if not ready:
            raise StoreError("the store's tables point at each other in a circle; they cannot be copied in order")
        ordered += ready
    return ordered


def _columns(store: Store, table: str) -> list[str]:
    if store.engine == "sqlite":
        return [r[1] for r in store.rows(f'PRAGMA table_info("{table}")')]
    return [r[0] for r in store.rows("SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                                     "AND table_schema = current_schema() ORDER BY ordinal_position", (table,))]


def checksum(store: Store, table: str, columns: list[str]) -> tuple[int, str]:
    """Row count and an order-free checksum of `columns` of every row (floats by their exact repr)."""
    quoted = ", ".join(f'"{c}"' for c in columns)
    total, count = 0, 0
    for row in store.rows(f'SELECT {quoted} FROM "{table}"'):
        text = json.dumps([repr(v) if isinstance(v, float) else v for v in row], ensure_ascii=False)
        total = (total + int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")) % (1 << 256)
        count += 1
    return count, f"{total:064x}"


def copy_store(source: Store, target: Store) -> list[TableCheck]:
    """Copy every table of the SQLite `source` into the empty PostgreSQL `target` and check each."""
    if source.engine != "sqlite" or target.engine != "postgresql":
        raise StoreError("xlq store migrate copies a SQLite store into a PostgreSQL one")
    if source.schema_version != target.schema_version:
        raise StoreError(f"the stores have schema versions {source.schema_version} and {target.schema_version}")
    tables = _tables(source)
    columns = {table: _columns(source, table) for table in tables}
    for table in tables:
        missing = set(columns[table]) - set(_columns(target, table))
        if missing:
            raise StoreError(f"{target.location}: table {table} has no column {sorted(missing)[0]}")
    with target.write() as db:
        for table in tables:
            if table == "master_requests":  # made by a migration; the copy replaces it
                db.execute("DELETE FROM master_requests")
            elif db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]:
                raise StoreError(f"{target.location} is not empty (table {table} has rows); migrate into a new database")
        db.execute("SET CONSTRAINTS ALL DEFERRED")  # a submission names the later one that superseded it
        for table in tables:
            quoted = ", ".join(f'"{c}"' for c in columns[table])
            insert = f'INSERT INTO "{table}" ({quoted}) VALUES ({", ".join("?" * len(columns[table]))})'
            rows = source.rows(f'SELECT {quoted} FROM "{table}"')
            for start in range(0, len(rows), _BATCH):
                db.executemany(insert, rows[start:start + _BATCH])
            if "id" in columns[table] and db.execute("SELECT pg_get_serial_sequence(?, 'id')", (table,)).fetchone()[0]:
                db.execute("SELECT setval(pg_get_serial_sequence(?, 'id'), COALESCE(MAX(id), 0) + 1, false) "
                           f'FROM "{table}"', (table,))
    checks = []
    for table in tables:
        rows, sums = checksum(source, table, columns[table])
        copied_rows, copied_sums = checksum(target, table, columns[table])
        checks.append(TableCheck(table, rows, copied_rows, sums, copied_sums))
    return checks


def checks_text(checks: list[TableCheck]) -> str:
    width = max(len(c.table) for c in checks)
    lines = [f"  {c.table:<{width}}  {c.rows:>9,} rows  checksum {c.checksum[:16]}  "
             + ("arrived whole" if c.ok else f"MISMATCH: {c.copied_rows:,} rows, checksum {c.copied_checksum[:16]}")
             for c in checks]
    return "\n".join(lines)
