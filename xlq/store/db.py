"""The audit store: every file received, every value with its provenance, every finding.

SQLite in one file of the workspace, in WAL mode, or a PostgreSQL database (`store.url`;
store/engine.py is the seam and says how to write SQL for both). `Store` owns the connection, its lock and
its transactions and hands each job to a module of its own: recording a return
(store/records.py), reading submissions, values and findings (store/queries.py), the
validation history cache (store/history.py) and the template's "Last month" text
(store/last_month.py). Each return is stored in one write transaction, so a process
killed half-way leaves the previous state and the next run stores the return whole. "Current"
values (what reconciliation counts) are those of the one accepted, not superseded,
non-duplicate return per department and month, less any value an import replaced, plus the
imported values (store/merge.py): the views `current_submissions` and `current_values`
(store/schema.py); a partial unique index keeps the returns to one per department and month.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from xlq.core.errors import StoreError
from xlq.core.model import Checked
from xlq.core.months import shift_period
from xlq.store import merge, queries, records
from xlq.store.connection import MASTER_LOCK, Connection, is_url
from xlq.store.engine import connect
from xlq.store.guard import check_same_file, identity
from xlq.store.history import HistoryCache
from xlq.store.last_month import last_month_text
from xlq.store.queries import StoredFinding, StoredValue, Submission
from xlq.store.records import Receipt, RecordResult
from xlq.store.schema import SCHEMA_VERSION, migrate

if TYPE_CHECKING:
    from xlq.core.catalogue import Catalogue


class Store:
    """The audit store; open it with `Store(target)` or `with Store(target) as store:`, where
    `target` is a SQLite file's path or a `postgresql://` URL (store/engine.py).

    `timeout` is how long a write waits for another process (the watcher, a second `xlq run`)
    before `StoreBusy` is raised.
    """

    def __init__(self, target: Path | str, *, timeout: float = 30.0, read_only: bool = False) -> None:
        self.url = str(target) if is_url(target) else None
        self.path = None if self.url else Path(target)
        self.timeout = timeout
        self._lock = threading.RLock()
        self._batch: bool | None = None  # None: no batch; False: batch open, nothing written yet
        self._began_at: object = None  # the data version when the open write transaction began
        if read_only:
            self._db = self._open_snapshot()
        else:
            self._db = connect(target, timeout=timeout)
            try:
                migrate(self._db)
            except BaseException:
                self._db.close()
                raise
        self.location = self._db.location
        self._history = HistoryCache(self._query, self._data_version)
        self._identity = identity(self.path) if self.path else None

    @property
    def engine(self) -> str:
        """"sqlite" or "postgresql"."""
        return self._db.engine

    def _open_snapshot(self) -> Connection:
        """A read-only connection holding one read transaction: every read sees one committed
        state while a watcher goes on writing (WAL readers never take the write lock; a
        PostgreSQL repeatable-read transaction). Opening it never creates, migrates or changes
        the journal mode of the store."""
        if self.path and not self.path.is_file():
            raise StoreError(f"{self.path}: no store here yet (nothing has been collected in this workspace)")
        db = connect(self.url or self.path, timeout=self.timeout, read_only=True)  # type: ignore[arg-type]
        try:
            db.begin(write=False)
            # The snapshot starts at the first read, not at BEGIN: read now, so it is pinned here.
            version = db.schema_version()
        except BaseException:
            db.close()
            raise
        if version != SCHEMA_VERSION:
            db.close()
            newer = "a newer xlq (upgrade xlq)" if version > SCHEMA_VERSION else "an older xlq (run `xlq run` once to upgrade it)"
            raise StoreError(f"{db.location}: the store has schema version {version}, from {newer}; "
                             f"this xlq reads version {SCHEMA_VERSION}")
        return db

    def check_file(self) -> None:
        """StoreError if the store's file was deleted or replaced since it was opened (SQLite)."""
        if self.path is not None:
            check_same_file(self.path, self._identity)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def try_master_lock(self) -> bool:
        """Take the right to write the master, without waiting: a PostgreSQL advisory lock held
        by this connection's session (the server frees it if the process dies). On SQLite only one
        process serves a workspace (the workspace lock), so it always has the right."""
        with self._lock:
            return self._db.try_session_lock(MASTER_LOCK)

    def release_master_lock(self) -> None:
        with self._lock:
            self._db.release_session_lock(MASTER_LOCK)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        with self._lock:
            return self._db.schema_version()

    def _data_version(self) -> object:
        return self._db.data_version()

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """One return's writes, all or nothing: a transaction of its own, or a savepoint in a batch."""
        with self._lock:
            if self._batch is not None:
                if not self._batch:
                    self._begin()
                    self._batch = True
                self._db.execute("SAVEPOINT xlq_one")
                try:
                    yield self._db
                    self._db.execute("RELEASE xlq_one")
                except BaseException:
                    self._db.execute("ROLLBACK TO xlq_one")
                    self._db.execute("RELEASE xlq_one")
                    raise
                return
            self._begin()
            try:
                yield self._db
                self._commit()
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _begin(self) -> None:
        self.check_file()
        self._db.begin(write=True)
        self._began_at = self._db.data_version()

    def _commit(self) -> None:
        """Commit the open write transaction. The write lock was held since `_begin`, so the
        store moved from `_began_at` to what this transaction sees only by our own writes, which
        the history cache follows itself (`written`): it is kept, not reloaded. (SQLite's
        data_version ignores a connection's own commits; PostgreSQL's counts every commit, so
        without this the history was reloaded after every group, a cost that grows with the store.)"""
        ended_at = self._db.data_version()
        self._db.execute("COMMIT")
        self._history.committed(self._began_at, ended_at)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group the writes of several returns into one transaction: one fsync for the group
        instead of one per return (3.4 s of a 1,000-return run went on commits).

        Each return stays all-or-nothing (a savepoint of its own, rolled back alone if its
        record fails), but nothing in the group is durable until the block exits, so a caller
        moves files only afterwards; an exception out of the block, or a failed commit
        (StoreError), keeps none of the group. The write lock is taken at the first write,
        so StoreBusy surfaces from that `record` as it would without a batch."""
        with self._lock:
            if self._batch is not None:  # nested: the outer batch commits
                yield
                return
            self._batch = False
            try:
                yield
                if self._batch:
                    self._commit()
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                self._history.forget()  # the history cache may hold what was just rolled back
                raise
            finally:
                self._batch = None

    def write(self) -> contextlib.AbstractContextManager[Connection]:
        """One transaction (a savepoint inside a batch) for the store's companion modules."""
        return self._transaction()

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        """Run one read query (companion modules and the analysts' snapshot read tables directly)."""
        return self._query(sql, params)

    def each_row(self, sql: str, params: Sequence[object] = ()) -> Iterator[tuple]:
        """`rows`, one at a time, for a read too large to hold at once; the store is held until
        the last row is read (run nothing else on this store meanwhile from another thread)."""
        with self._lock:
            yield from self._db.execute(sql, params)

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # -- writing -------------------------------------------------------------------------------

    def record(self, receipt: Receipt, checked: Checked, *, claim: int | None = None) -> RecordResult:
        """Store one return, all or nothing, and say what it was (see `records.record`); `claim`
        is the journal's claim on the file, marked recorded in the same transaction."""
        department, period = records.identify(checked)
        if department and period:
            self._history.written(department, period)
        with self._transaction() as db:
            return records.record(db, receipt, checked, department, period, claim)

    def record_import(self, receipt: Receipt, checked: Checked, *, claim: int | None = None) -> RecordResult:
        """Store imported values as a merge, all or nothing: each supersedes only the current value
        of its own indicator, the rest of the month stays current (see `merge.record_import`)."""
        department, period = records.identify(checked)
        if not (department and period):
            raise ValueError("an import is for one department and month")
        self._history.written(department, period)
        with self._transaction() as db:
            return merge.record_import(db, receipt, checked, department, period, claim)

    def set_location(self, submission_id: int, path: Path | str) -> None:
        """Record where the file now lives (after it is moved to archive/ or rejected/)."""
        with self._transaction() as db:
            if not db.execute("UPDATE submissions SET location = ? WHERE id = ?", (str(path), submission_id)).rowcount:
                raise KeyError(f"no submission {submission_id}")

    # -- reading -------------------------------------------------------------------------------

    def has_hash(self, sha256: str, *, accepted_only: bool = False) -> int | None:
        """The first submission with this content, if the file was received before.

        With `accepted_only`, only a copy that was accepted counts: rejected bytes dropped again
        (moved to the right folder, or sent again once the month has ended) are judged afresh.
        """
        rejected = " AND outcome != 'rejected'" if accepted_only else ""
        rows = self._query(f"SELECT id FROM submissions WHERE sha256 = ? AND kind != 'duplicate'{rejected} "
                           "ORDER BY id LIMIT 1", (sha256,))
        return rows[0][0] if rows else None

    def submission(self, submission_id: int) -> Submission | None:
        rows = self._query(queries.submission_sql(), (submission_id,))
        return queries.to_submission(rows[0]) if rows else None

    def submissions(self, *, department: str | None = None, period: str | None = None,
                    periods: Sequence[str] | None = None, current_only: bool = False,
                    unidentified: bool = False) -> list[Submission]:
        """Submissions in the order received, optionally for one department and month(s);
        `unidentified` gives only files whose department or month could not be read."""
        sql, params = queries.submissions_sql(department=department, period=period, periods=periods,
                                              current_only=current_only, unidentified=unidentified)
        return [queries.to_submission(row) for row in self._query(sql, params)]

    def count_files(self) -> int:
        return self._query("SELECT COUNT(*) FROM submissions")[0][0]

    def count_given(self, submission_id: int) -> int:
        """How many of a submission's values were given (`Value.given`: a number, 0/0 or a
        marker), counted in the store: a feedback copy says it of every return with findings."""
        return self._query("SELECT COUNT(*) FROM submitted_values WHERE submission_id = ? AND (value IS NOT NULL "
                           "OR marker IS NOT NULL OR numerator IS NOT NULL)", (submission_id,))[0][0]

    def values(self, *, indicator: str | None = None, department: str | None = None, period: str | None = None,
               periods: Sequence[str] | None = None, submission_ids: Sequence[int] | None = None,
               current: bool = True, numbers_only: bool = False,
               indicators: Iterable[str] | None = None) -> list[StoredValue]:
        """Stored values, oldest period first; `current=False` includes superseded ones too;
        `indicators` keeps those codes only.

        `numbers_only` leaves out where each value came from (sheet, cell, raw text, comment,
        file, receipt time: empty), for history that is only ever summed."""
        sql, params = queries.values_sql(indicator=indicator, department=department, period=period, periods=periods,
                                         submission_ids=submission_ids, current=current, numbers_only=numbers_only,
                                         indicators=indicators)
        with self._lock:
            return queries.to_values(self._db.execute(sql, params), numbers_only)

    def value_numbers(self, periods: Sequence[str], submission_ids: Sequence[int] | None = None,
                      indicators: Iterable[str] | None = None) -> Iterator[
            tuple[int, str, str, str, float | None, float | None, float | None, str | None]]:
        """The months' current values (of the given submissions only, if any) as bare tuples
        (submission id, indicator, department, period, value, numerator, denominator, marker), one
        at a time, for history that is only summed: one query (each month on its own scanned every
        value again), no objects made, each code kept once. The store is held until the last one
        is read."""
        if not periods or submission_ids == []:
            return
        sql, params = queries.values_sql(periods=periods, submission_ids=submission_ids, numbers_only=True,
                                         indicators=indicators)
        one = {}.setdefault
        with self._lock:
            for sid, code, dept, month, value, num, den, marker, _ in self._db.execute(sql, params):
                yield sid, one(code, code), one(dept, dept), one(month, month), value, num, den, marker and one(marker, marker)

    def findings(self, submission_ids: Sequence[int] | None = None) -> list[StoredFinding]:
        """Stored findings in the order recorded, for the given submissions or all."""
        sql, params = queries.findings_sql(submission_ids)
        return [queries.to_finding(row) for row in self._query(sql, params)]

    def series(self, indicator: str, department: str, before: str) -> list[tuple[str, float]]:
        """validate.History: a department's current numeric values of months before `before`,
        oldest first; a ratio gives numerator / denominator (cached: store/history.py)."""
        with self._lock:
            return self._history.series(indicator, department, before)

    def denominators(self, indicator: str, department: str, before: str) -> list[tuple[str, float]]:
        """validate.History: a department's current denominators of a ratio indicator for months
        before `before`, oldest first (from the same cache as `series`)."""
        with self._lock:
            return self._history.denominators(indicator, department, before)

    def forget_history(self) -> None:
        """Drop the cache behind `series` (a department's history of every indicator: ~60 MB
        at 10,000 returns); it is rebuilt from the store when next asked."""
        with self._lock:
            self._history.forget()

    def last_month(self, department: str, period: str, catalogue: Catalogue | None = None) -> dict[str, str]:
        """The department's current values for the month before `period`, for a template's
        "Last month" column (see `last_month_text`)."""
        return last_month_text(self.values(department=department, period=shift_period(period, -1)), catalogue)
