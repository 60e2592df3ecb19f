"""Reading the store: submissions, values and findings as small frozen records.

"Current" always means a row of the view `current_submissions` (a submission) or
`current_values` (a value: its submission is current and no import replaced it) of
store/schema.py; no query here spells the condition out again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from xlq.core.model import Finding, Outcome, Value
from xlq.store.records import FINDING_FIELDS, Kind


@dataclass(frozen=True)
class Submission:
    """One received file; `current` is True for the submission whose values count for its
    department and month (a row of the view `current_submissions`)."""

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
    current: bool


@dataclass(frozen=True, slots=True)
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


_IS_CURRENT_VALUE = "(v.superseded_by IS NULL AND EXISTS (SELECT 1 FROM current_submissions cs WHERE cs.id = v.submission_id))"
"""schema.CURRENT_VALUES for the row `v`, correlated: one lookup of its submission per row. The
form `(submission_id, indicator) IN (SELECT ... FROM current_values)` listed every current value
on each call (40 ms at 1,000 returns, paid once per feedback copy: 19 s of a 70 s run)."""
_SUBMISSION_COLUMNS = (
    "id, sha256, original_name, arrived_in, received_at, location, department, period, outcome, kind, "
    "duplicate_of, superseded_by, organisation, catalogue_version, template_version, contact, recorded_at"
)


def _submission_columns(table: str) -> str:
    """The columns `to_submission` reads, from `table` (`submissions` or the view of the current
    ones). Whether a row is current is looked up by its id (a correlated EXISTS): the form
    `id IN (SELECT id FROM current_submissions)` listed every current submission for each query,
    4-6 ms for the one submission `Store.submission` asks for at 10,000 returns, against 0.01 ms."""
    current = "1" if table == "current_submissions" else (
        f"EXISTS (SELECT 1 FROM current_submissions cs WHERE cs.id = {table}.id)")
    return f"{_SUBMISSION_COLUMNS}, {current}"


def submissions_sql(*, department: str | None = None, period: str | None = None, periods: Sequence[str] | None = None,
                    current_only: bool = False, unidentified: bool = False) -> tuple[str, list[object]]:
    where, params = filters(department=department, period=period, periods=periods)
    if unidentified:
        where.append("(department IS NULL OR period IS NULL)")
    table = "current_submissions" if current_only else "submissions"
    sql = f"SELECT {_submission_columns(table)} FROM {table}" + (" WHERE " + " AND ".join(where) if where else "")
    return sql + " ORDER BY id", params


def submission_sql() -> str:
    return f"SELECT {_submission_columns('submissions')} FROM submissions WHERE id = ?"


def to_submission(row: tuple) -> Submission:
    contact = tuple((str(k), str(v)) for k, v in json.loads(row[15] or "[]"))
    return Submission(*row[:15], contact, row[16], bool(row[17]))  # type: ignore[arg-type]


def values_sql(*, indicator: str | None = None, department: str | None = None, period: str | None = None,
               periods: Sequence[str] | None = None, submission_ids: Sequence[int] | None = None,
               current: bool = True, numbers_only: bool = False,
               indicators: Iterable[str] | None = None) -> tuple[str, list[object]]:
    where, params = filters(indicator=indicator, department=department, period=period, periods=periods, prefix="v.")
    if indicators is not None:
        codes = sorted(indicators)
        where.append(f"v.indicator IN ({','.join('?' * len(codes))})" if codes else "0 = 1")
        params.extend(codes)
    if submission_ids is not None:
        where.append(f"v.submission_id IN ({','.join('?' * len(submission_ids))})")
        params.extend(submission_ids)
    source, is_current = ("current_values", "1") if current else ("submitted_values", _IS_CURRENT_VALUE)
    numbers = "v.submission_id, v.indicator, v.department, v.period, v.value, v.numerator, v.denominator, v.marker"
    provenance = (f", v.sheet, v.cell, v.raw, v.comment, v.comment_from, {is_current}, s.received_at, s.original_name "
                  f"FROM {source} v JOIN submissions s ON s.id = v.submission_id")
    sql = (
        f"SELECT {numbers}" + (f", {is_current} FROM {source} v" if numbers_only else provenance)
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY v.period, v.department, v.submission_id, v.indicator"
    )
    return sql, params


def to_values(rows: Iterable[tuple], numbers_only: bool) -> list[StoredValue]:
    """StoredValues from the rows of `values_sql` (asked with the same `numbers_only`, which leaves
    out where each value came from).

    Rows are read one by one and repeated text (codes, months, file names, cells) shares one
    object: reconciling 10,000 returns loads ~600,000 values, which took 780 MB."""
    one = {}.setdefault
    out = []
    if numbers_only:
        for sid, code, dept, month, value, num, den, marker, is_current in rows:
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
    return out


def findings_sql(submission_ids: Sequence[int] | None = None) -> tuple[str, list[object]]:
    sql = f"SELECT submission_id, {', '.join(FINDING_FIELDS)} FROM findings"
    params: list[object] = []
    if submission_ids is not None:
        sql += f" WHERE submission_id IN ({','.join('?' * len(submission_ids))})"
        params = list(submission_ids)
    return sql + " ORDER BY id", params


def to_finding(row: tuple) -> StoredFinding:
    return StoredFinding(row[0], Finding(*row[1:]))


def filters(prefix: str = "", **columns: object) -> tuple[list[str], list[object]]:
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
