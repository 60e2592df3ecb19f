"""The audit store: every file received, every value with its provenance, every finding.

SQLite in one file of the workspace, in WAL mode. Each return is stored in one
`BEGIN IMMEDIATE` transaction, so a process killed half-way leaves the previous state and the
next run stores the return whole. Nothing is deleted or overwritten: a resubmission marks the
earlier submission `superseded_by` and the earlier values stay in the trail. "Current" values
(what reconciliation counts) are those of the one accepted, not superseded, non-duplicate
submission per department and month; a partial unique index makes a second one impossible.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from xlq.core import rules
from xlq.core.catalogue import shift_period
from xlq.core.errors import StoreBusy, StoreError
from xlq.core.model import Checked, Finding, Outcome, Value
from xlq.store.merge import CURRENT as _CURRENT
from xlq.store.merge import check_values as _check_values
from xlq.store.merge import insert_findings as _insert_findings
from xlq.store.schema import migrate

if TYPE_CHECKING:
    from xlq.core.catalogue import Catalogue

Kind = Literal["new", "duplicate", "resubmission", "correction", "import"]


@dataclass(frozen=True)
class Receipt:
    """How a file reached us: `arrived_in` is the folder it was dropped in, `received_at` ISO
    time, `stored_path` where it lives now (moved later with `Store.set_location`)."""

    sha256: str
    original_name: str
    arrived_in: str
    received_at: str
    stored_path: str


@dataclass(frozen=True)
class RecordResult:
    """What `record` did: `superseded` is the earlier submission this one replaced (for a
    duplicate, `duplicate_of` is the first copy and nothing is replaced)."""

    submission_id: int
    kind: Kind
    outcome: Outcome
    superseded: int | None = None
    duplicate_of: int | None = None


@dataclass(frozen=True)
class Submission:
    id: int
    sha256: str
    original_name: str
    arrived_in: str
    received_at: str
    location: str
    department: str | None
    period: str | None
    outcome: Outcome
    kind: Kind
    duplicate_of: int | None
    superseded_by: int | None
    organisation: str | None
    catalogue_version: str | None
    template_version: str | None
    contact: tuple[tuple[str, str], ...]
    recorded_at: str

    @property
    def current(self) -> bool:
        """True for the submission whose values count for its department and month."""
        return self.outcome != "rejected" and self.kind != "duplicate" and self.superseded_by is None


@dataclass(frozen=True)
class StoredValue:
    """A stored value and where it came from; `comment_from` names the earlier submission whose
    Comment was carried over because the value was resubmitted unchanged."""

    submission_id: int
    value: Value
    current: bool
    received_at: str
    file: str
    comment_from: int | None = None


@dataclass(frozen=True)
class StoredFinding:
    submission_id: int
    finding: Finding


_SUBMISSION_COLUMNS = (
    "id, sha256, original_name, arrived_in, received_at, location, department, period, outcome, kind, "
    "duplicate_of, superseded_by, organisation, catalogue_version, template_version, contact, recorded_at"
)
_FINDING_FIELDS = ("rule", "severity", "message", "department", "period", "indicator", "sheet", "cell", "value", "file")


class Store:
    """The SQLite audit store; open it with `Store(path)` or `with Store(path) as store:`.

    `timeout` is how long a write waits for another process (the watcher, a second `xlq run`)
    before `StoreBusy` is raised.
    """

    def __init__(self, path: Path | str, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._lock = threading.RLock()
        self._months: dict[str, dict[str, dict[str, float]]] = {}  # department -> period -> code -> number
        self._denominators: dict[str, dict[str, dict[str, float]]] = {}  # the same, a ratio's denominator
        self._stale: dict[str, set[str]] = {}  # months written since they were loaded, by department
        self._version: int | None = None  # PRAGMA data_version the cache was loaded at
        self._series_key: tuple[str, str] | None = None
        self._series: dict[str, list[tuple[str, float]]] = {}
        self._batch: bool | None = None  # None: no batch; False: batch open, nothing written yet
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.path}: cannot open the store ({exc})") from None
        try:
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA foreign_keys = ON")
            migrate(self._db)
        except sqlite3.OperationalError as exc:
            self._db.close()
            raise self._operational(exc) from None
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreError(f"{self.path}: not an xlq store ({exc})") from None
        except BaseException:
            self._db.close()
            raise

    def _operational(self, exc: sqlite3.OperationalError) -> StoreError:
        if "locked" in str(exc) or "busy" in str(exc):
            return StoreBusy(f"{self.path}: the store is in use by another process (waited {self.timeout:g} s); try again")
        return StoreError(f"{self.path}: {exc}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
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
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _begin(self) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise self._operational(exc) from None

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
                    try:
                        self._db.execute("COMMIT")
                    except sqlite3.OperationalError as exc:
                        raise self._operational(exc) from None
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                self._forget()  # the history cache may hold what was just rolled back
                raise
            finally:
                self._batch = None

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                raise self._operational(exc) from None

    # -- writing -------------------------------------------------------------------------------

    def record(self, receipt: Receipt, checked: Checked) -> RecordResult:
        """Store one return, all or nothing, and say what it was.

        - duplicate: the same bytes (sha256) as any file received before, even one since
          superseded; recorded as a received file with a `duplicate-file` finding, no values.
        - resubmission: another return for a department and month that already had one.
        - correction: the same, for a month older than the department's latest accepted month;
          reconciliation flags the values it changed. A first return for an older month is
          `new` (the submissions grid shows it as late instead).
        An accepted return supersedes the standing accepted and rejected ones for its month; a
        rejected one supersedes only earlier rejected ones, never an accepted return.
        """
        identity = checked.parsed.identity
        department = identity.department if identity else next((f.department for f in checked.findings if f.department), None)
        period = identity.period if identity else next((f.period for f in checked.findings if f.period), None)
        _check_values(checked.values, department, period)
        if department and period:
            self._stale.setdefault(department, set()).add(period)
            if self._series_key and self._series_key[0] == department:
                self._series_key = None
        with self._transaction() as db:
            first = db.execute(
                "SELECT id, outcome, department, period FROM submissions WHERE sha256 = ? AND kind != 'duplicate' "
                "AND outcome != 'rejected' "
                "ORDER BY id LIMIT 1", (receipt.sha256,)).fetchone()
            if first:
                new_id = self._insert_submission(db, receipt, checked, first[2], first[3], first[1], "duplicate", first[0])
                f = rules.finding("duplicate-file", f"submission {first[0]}", department=first[2], period=first[3],
                                  file=receipt.original_name)
                _insert_findings(db, new_id, (f,))
                return RecordResult(new_id, "duplicate", first[1], duplicate_of=first[0])

            standing: list[tuple[int, str, str]] = []
            kind: Kind = "new"
            if department and period:
                standing = db.execute(
                    "SELECT id, outcome, kind FROM submissions WHERE department = ? AND period = ? AND kind != 'duplicate' "
                    "AND superseded_by IS NULL ORDER BY id", (department, period)).fetchall()
                earlier = db.execute(
                    "SELECT COUNT(*) FROM submissions WHERE department = ? AND period = ? AND kind != 'duplicate'",
                    (department, period)).fetchone()[0]
                latest = db.execute(
                    "SELECT MAX(period) FROM submissions WHERE department = ? AND outcome != 'rejected' AND kind != 'duplicate'",
                    (department,)).fetchone()[0]
                if earlier:
                    kind = "correction" if latest and period < latest else "resubmission"
            accepted = checked.outcome != "rejected"
            replaced = [sid for sid, outcome, _ in standing if accepted or outcome == "rejected"]
            previous = next((sid for sid, outcome, kind in reversed(standing) if outcome != "rejected" and kind != "import"),
                            None) or next((sid for sid, outcome, _ in reversed(standing) if outcome != "rejected"), None)
            superseded = (previous if accepted else None) or (replaced[-1] if replaced else None)
            # The write lock is held, so the next id is ours; the old current row must step aside
            # before the new one is inserted (one_current_return), hence the deferred foreign key.
            new_id = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM submissions").fetchone()[0]
            if replaced:
                db.execute(f"UPDATE submissions SET superseded_by = ? WHERE id IN ({','.join('?' * len(replaced))})",
                           (new_id, *replaced))
            self._insert_submission(db, receipt, checked, department, period, checked.outcome, kind, None, new_id)
            carried = _carry_comments(db, previous, checked.values) if accepted and previous else {}
            db.executemany(
                "INSERT INTO submitted_values (submission_id, indicator, department, period, value, numerator, denominator, "
                "marker, sheet, cell, raw, comment, comment_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(new_id, v.indicator, v.department, v.period, v.value, v.numerator, v.denominator, v.marker, v.sheet,
                  v.cell, v.raw, carried.get(v.indicator, (v.comment, None))[0], carried.get(v.indicator, (v.comment, None))[1])
                 for v in checked.values])
            _insert_findings(db, new_id, checked.findings)
            return RecordResult(new_id, kind, checked.outcome, superseded=superseded)

    @staticmethod
    def _insert_submission(db: sqlite3.Connection, receipt: Receipt, checked: Checked, department: str | None,
                           period: str | None, outcome: str, kind: str, duplicate_of: int | None,
                           submission_id: int | None = None) -> int:
        identity = checked.parsed.identity
        cursor = db.execute(
            "INSERT INTO submissions (id, sha256, original_name, arrived_in, received_at, location, department, period, outcome, "
            "kind, duplicate_of, organisation, catalogue_version, template_version, contact) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (submission_id, receipt.sha256, receipt.original_name, receipt.arrived_in, receipt.received_at, receipt.stored_path,
             department, period, outcome, kind, duplicate_of,
             identity.organisation if identity else None, identity.catalogue_version if identity else None,
             identity.template_version if identity else None, json.dumps([list(c) for c in checked.parsed.contact])))
        return int(cursor.lastrowid or 0)

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
        rows = self._query(f"SELECT {_SUBMISSION_COLUMNS} FROM submissions WHERE id = ?", (submission_id,))
        return _submission(rows[0]) if rows else None

    def submissions(self, *, department: str | None = None, period: str | None = None,
                    periods: Sequence[str] | None = None, current_only: bool = False,
                    unidentified: bool = False) -> list[Submission]:
        """Submissions in the order received, optionally for one department and month(s);
        `unidentified` gives only files whose department or month could not be read."""
        where, params = _filters(department=department, period=period, periods=periods)
        if unidentified:
            where.append("(department IS NULL OR period IS NULL)")
        if current_only:
            where.append("outcome != 'rejected' AND kind != 'duplicate' AND superseded_by IS NULL")
        sql = f"SELECT {_SUBMISSION_COLUMNS} FROM submissions" + (" WHERE " + " AND ".join(where) if where else "")
        return [_submission(row) for row in self._query(sql + " ORDER BY id", params)]

    def count_files(self) -> int:
        return self._query("SELECT COUNT(*) FROM submissions")[0][0]

    def values(self, *, indicator: str | None = None, department: str | None = None, period: str | None = None,
               periods: Sequence[str] | None = None, submission_ids: Sequence[int] | None = None,
               current: bool = True, numbers_only: bool = False) -> list[StoredValue]:
        """Stored values, oldest period first; `current=False` includes superseded ones too.

        `numbers_only` leaves out where each value came from (sheet, cell, raw text, comment,
        file, receipt time: empty), for history that is only ever summed."""
        where, params = _filters(indicator=indicator, department=department, period=period, periods=periods,
                                 prefix="v.")
        if submission_ids is not None:
            where.append(f"v.submission_id IN ({','.join('?' * len(submission_ids))})")
            params.extend(submission_ids)
        if current:
            where.append(_CURRENT)
        sql = (
            "SELECT v.submission_id, v.indicator, v.department, v.period, v.value, v.numerator, v.denominator, v.marker, "
            "v.sheet, v.cell, v.raw, v.comment, v.comment_from, s.superseded_by IS NULL AND s.outcome != 'rejected' "
            "AND v.superseded_by IS NULL, "
            "s.received_at, s.original_name FROM submitted_values v JOIN submissions s ON s.id = v.submission_id"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY v.period, v.department, v.submission_id, v.indicator"
        )
        # Rows are read one by one and repeated text (codes, months, file names, cells) shares
        # one object: reconciling 10,000 returns loads ~600,000 values, which took 780 MB.
        one = {}.setdefault
        out = []
        with self._lock:
            try:
                rows = self._db.execute(sql, params)
                if numbers_only:
                    for sid, code, dept, month, value, num, den, marker, *_, is_current, _, _ in rows:
                        out.append(StoredValue(sid, Value(one(code, code), one(dept, dept), one(month, month), value, num,
                                                          den, marker and one(marker, marker)),
                                               bool(is_current), "", ""))
                    return out
                for (sid, code, dept, month, value, num, den, marker, sheet, cell, raw, comment, comment_from, is_current,
                     received, name) in rows:
                    out.append(StoredValue(
                        sid, Value(one(code, code), one(dept, dept), one(month, month), value, num, den,
                                   marker and one(marker, marker), one(sheet, sheet), one(cell, cell), one(raw, raw),
                                   comment and one(comment, comment)),
                        bool(is_current), one(received, received), one(name, name), comment_from))
            except sqlite3.OperationalError as exc:
                raise self._operational(exc) from None
        return out

    def findings(self, submission_ids: Sequence[int] | None = None) -> list[StoredFinding]:
        """Stored findings in the order recorded, for the given submissions or all."""
        sql = f"SELECT submission_id, {', '.join(_FINDING_FIELDS)} FROM findings"
        params: list[object] = []
        if submission_ids is not None:
            sql += f" WHERE submission_id IN ({','.join('?' * len(submission_ids))})"
            params = list(submission_ids)
        return [StoredFinding(row[0], Finding(*row[1:])) for row in self._query(sql + " ORDER BY id", params)]

    def series(self, indicator: str, department: str, before: str) -> list[tuple[str, float]]:
        """validate.History: a department's current numeric values of months before `before`,
        oldest first; a ratio gives numerator / denominator.

        Validating one return asks this for each of its ~60 indicators, and a run validates a
        department month after month, so a department's history is loaded once and then only
        the months written since are read again (per-indicator scans were 7 s of an 18.8 s run
        over 1,000 returns, and a reload per return grew with the history). A commit by any
        other connection (PRAGMA data_version) drops the cache."""
        with self._lock:
            version = self._query("PRAGMA data_version")[0][0]
            if version != self._version:
                self._forget()
                self._version = version
            if self._series_key != (department, before):
                by_indicator: dict[str, list[tuple[str, float]]] = {}
                months = self._department_months(department)
                for period in sorted(p for p in months if p < before):
                    for code, number in months[period].items():
                        by_indicator.setdefault(code, []).append((period, number))
                self._series_key, self._series = (department, before), by_indicator
            return list(self._series.get(indicator, ()))

    def denominators(self, indicator: str, department: str, before: str) -> list[tuple[str, float]]:
        """validate.History: a department's current denominators of a ratio indicator for months
        before `before`, oldest first (from the same cache as `series`)."""
        with self._lock:
            self.series(indicator, department, before)  # refreshes the cache when the store changed
            months = self._denominators.get(department, {})
            return [(p, months[p][indicator]) for p in sorted(months) if p < before and indicator in months[p]]

    def forget_history(self) -> None:
        """Drop the cache behind `series` (a department's history of every indicator: ~60 MB
        at 10,000 returns); it is rebuilt from the store when next asked."""
        with self._lock:
            self._forget()

    def _forget(self) -> None:
        self._months, self._stale, self._series_key, self._series = {}, {}, None, {}
        self._denominators = {}

    def _department_months(self, department: str) -> dict[str, dict[str, float]]:
        months = self._months.get(department)
        stale = self._stale.pop(department, set())
        denominators = self._denominators.setdefault(department, {})
        if months is None:
            months = self._months[department] = {}
            denominators.clear()
            stale = {""}
        for period in sorted(stale):
            if period:
                months.pop(period, None)
                denominators.pop(period, None)
            rows = self._query(
                "SELECT v.indicator, v.period, v.value, v.numerator, v.denominator FROM submissions s "
                "JOIN submitted_values v ON v.submission_id = s.id WHERE s.department = ? AND v.department = ? "
                f"AND {_CURRENT}" + (" AND s.period = ? AND v.period = ?" if period else ""),
                (department, department, *((period, period) if period else ())))
            for code, month, value, numerator, denominator in rows:
                number = numerator / denominator if numerator is not None and denominator else value
                if number is not None:
                    months.setdefault(month, {})[code] = number
                if denominator is not None:
                    denominators.setdefault(month, {})[code] = denominator
        return months

    def last_month(self, department: str, period: str, catalogue: Catalogue | None = None) -> dict[str, str]:
        """The department's current values for the month before `period`, for a template's
        "Last month" column: markers as given; numbers as plain text ("0.93"), or shown the way
        the catalogue's unit and decimals say ("93%", "93% (93/100)") when `catalogue` is given."""
        out: dict[str, str] = {}
        for stored in self.values(department=department, period=shift_period(period, -1)):
            v = stored.value
            indicator = catalogue[v.indicator] if catalogue is not None and v.indicator in catalogue else None
            if v.marker:
                out[v.indicator] = v.marker
                continue
            number = _number(v)
            if number is None:
                continue
            if indicator is None:
                out[v.indicator] = _plain(number)
            else:
                text = indicator.display(number, grouping=False)
                if indicator.is_percent and v.numerator is not None and v.denominator is not None:
                    text += f" ({_plain(v.numerator)}/{_plain(v.denominator)})"
                out[v.indicator] = text
        return out


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else repr(float(number))


def _number(v: Value) -> float | None:
    if v.numerator is not None and v.denominator:
        return v.numerator / v.denominator
    return v.value


def _carry_comments(db: sqlite3.Connection, previous: int, values: Sequence[Value]) -> dict[str, tuple[str, int]]:
    """Comments explaining a warning in the replaced return, for values resubmitted unchanged."""
    warned = {row[0] for row in db.execute(
        "SELECT DISTINCT indicator FROM findings WHERE submission_id = ? AND severity = 'warning' AND indicator IS NOT NULL",
        (previous,))}
    earlier = {row[0]: row[1:] for row in db.execute(
        "SELECT indicator, value, numerator, denominator, marker, comment, comment_from FROM submitted_values "
        "WHERE submission_id = ?", (previous,))}
    carried = {}
    for v in values:
        old = earlier.get(v.indicator)
        if v.comment.strip() or not old or v.indicator not in warned or not old[4].strip():
            continue
        if (v.value, v.numerator, v.denominator, v.marker) == old[:4]:
            carried[v.indicator] = (old[4], old[5] or previous)
    return carried


def _filters(prefix: str = "", **columns: object) -> tuple[list[str], list[object]]:
    where: list[str] = []
    params: list[object] = []
    for name, wanted in columns.items():
        if wanted is None:
            continue
        column = prefix + ("period" if name == "periods" else name)
        if name == "periods":
            items = list(wanted)  # type: ignore[call-overload]
            where.append(f"{column} IN ({','.join('?' * len(items))})")
            params.extend(items)
        else:
            where.append(f"{column} = ?")
            params.append(wanted)
    return where, params


def _submission(row: tuple) -> Submission:
    contact = tuple((str(k), str(v)) for k, v in json.loads(row[15] or "[]"))
    return Submission(*row[:15], contact, row[16])  # type: ignore[arg-type]

