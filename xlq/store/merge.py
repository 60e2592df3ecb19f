"""Imports merge, never replace: an imported value supersedes one value, not a return.

A CSV row for one indicator used to supersede the department's whole month (45 current values
became 1). Here the import is its own submission (kind "import"), current beside the return, and
each of its values marks only the value it replaces (`submitted_values.superseded_by`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from xlq.core import rules
from xlq.core.model import Checked

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Sequence

    from xlq.core.model import Finding, Value

FINDING_FIELDS = ("rule", "severity", "message", "department", "period", "indicator", "sheet", "cell", "value", "file")
CURRENT = "s.outcome != 'rejected' AND s.kind != 'duplicate' AND s.superseded_by IS NULL AND v.superseded_by IS NULL"
"""A value counts when its submission is current and no import has replaced that one value."""


def current_indicators(store: Any, periods: Sequence[str]) -> dict[tuple[str, str], set[str]]:
    """(department, period) -> the indicators with a current value given (not blank): what reached
    the master, whichever return or import it came from (`store` is the `xlq.store.db.Store`)."""
    out: dict[tuple[str, str], set[str]] = {}
    if periods:
        for dept, month, code in store._query(
                "SELECT v.department, v.period, v.indicator FROM submitted_values v JOIN submissions s "
                f"ON s.id = v.submission_id WHERE v.period IN ({','.join('?' * len(periods))}) AND {CURRENT} "
                "AND (v.value IS NOT NULL OR v.marker IS NOT NULL OR v.numerator IS NOT NULL)", list(periods)):
            out.setdefault((dept, month), set()).add(code)
    return out


def record_import(store: Any, receipt: Any, checked: Checked) -> tuple[int, str, str, int | None, int | None]:
    """Store imported values as a merge: each supersedes only the current value of its own
    indicator (whichever return or import gave it), and the rest of the month stays current.
    `superseded` is the return whose values were amended, if any."""
    identity = checked.parsed.identity
    assert identity is not None
    department, period = identity.department, identity.period
    check_values(checked.values, department, period)
    store._stale.setdefault(department, set()).add(period)
    if store._series_key and store._series_key[0] == department:
        store._series_key = None
    with store._transaction() as db:
        first = db.execute("SELECT id, outcome FROM submissions WHERE sha256 = ? AND kind != 'duplicate' "
                           "AND outcome != 'rejected' ORDER BY id LIMIT 1", (receipt.sha256,)).fetchone()
        if first:
            new_id = store._insert_submission(db, receipt, checked, department, period, first[1], "duplicate", first[0])
            insert_findings(db, new_id, (rules.finding("duplicate-file", f"submission {first[0]}",
                                                        department=department, period=period,
                                                        file=receipt.original_name),))
            return (new_id, "duplicate", first[1], None, first[0])
        new_id = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM submissions").fetchone()[0]
        amended = None
        # the import's own row first: the values it replaces point at it (a foreign key)
        store._insert_submission(db, receipt, checked, department, period, checked.outcome, "import", None, new_id)
        if checked.outcome != "rejected" and checked.values:
            codes = [v.indicator for v in checked.values]
            marks = ",".join("?" * len(codes))
            rows = db.execute(
                "SELECT v.submission_id, v.indicator FROM submitted_values v JOIN submissions s ON s.id = v.submission_id "
                f"WHERE v.department = ? AND v.period = ? AND v.indicator IN ({marks}) AND {CURRENT}",
                (department, period, *codes)).fetchall()
            for submission_id, code in rows:
                db.execute("UPDATE submitted_values SET superseded_by = ? WHERE submission_id = ? AND indicator = ?",
                           (new_id, submission_id, code))
            amended = rows[0][0] if rows else None
        if checked.outcome != "rejected":
            db.executemany(
                "INSERT INTO submitted_values (submission_id, indicator, department, period, value, numerator, "
                "denominator, marker, sheet, cell, raw, comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(new_id, v.indicator, v.department, v.period, v.value, v.numerator, v.denominator, v.marker, v.sheet,
                  v.cell, v.raw, v.comment) for v in checked.values])
        insert_findings(db, new_id, checked.findings)
        return (new_id, "import", checked.outcome, amended, None)


def check_values(values: Sequence[Value], department: str | None, period: str | None) -> None:
    """Refuse what would corrupt the trail silently: SQLite stores NaN as NULL (a blank)."""
    for v in values:
        if (v.department, v.period) != (department, period):
            raise ValueError(f"value {v.indicator} is for {v.department} {v.period}, the return for {department} {period}")
        for number in (v.value, v.numerator, v.denominator):
            if number is not None and not math.isfinite(number):
                raise ValueError(f"value {v.indicator} is not a finite number ({number})")
    codes = [v.indicator for v in values]
    if len(set(codes)) != len(codes):
        raise ValueError("a return gives the same indicator twice")


def insert_findings(db: sqlite3.Connection, submission_id: int, findings: Sequence[Finding]) -> None:
    db.executemany(
        f"INSERT INTO findings (submission_id, {', '.join(FINDING_FIELDS)}) VALUES (?{', ?' * len(FINDING_FIELDS)})",
        [(submission_id, *(getattr(f, name) for name in FINDING_FIELDS)) for f in findings])


