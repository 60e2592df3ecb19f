"""Imports merge, never replace: an imported value supersedes one value, not a return.

A CSV row for one indicator used to supersede the department's whole month (45 current values
became 1). Here the import is its own submission (kind "import"), current beside the return, and
each of its values marks only the value it replaces (`submitted_values.superseded_by`). Which
values count is the view `current_values` (store/schema.py), never spelled out here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xlq.core import rules
from xlq.store.guard import mark_claimed
from xlq.store.records import RecordResult, insert_findings, insert_submission

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from xlq.core.model import Checked
    from xlq.store.connection import Connection
    from xlq.store.records import Receipt


def current_indicators(rows: Callable[[str, Sequence[object]], Iterable[tuple]],
                       periods: Sequence[str]) -> dict[tuple[str, str], set[str]]:
    """(department, period) -> the indicators with a current value given (not blank): what reached
    the master, whichever return or import it came from (`rows` is `Store.each_row`: the ~330,000
    rows of 10,000 returns' window are read one at a time, each code kept once)."""
    out: dict[tuple[str, str], set[str]] = {}
    one = {}.setdefault
    if periods:
        for dept, month, code in rows(
                f"SELECT department, period, indicator FROM current_values WHERE period IN ({','.join('?' * len(periods))}) "
                "AND (value IS NOT NULL OR marker IS NOT NULL OR numerator IS NOT NULL)", list(periods)):
            out.setdefault((one(dept, dept), one(month, month)), set()).add(one(code, code))
    return out


def record_import(db: Connection, receipt: Receipt, checked: Checked, department: str, period: str,
                  claim: int | None = None) -> RecordResult:
    """Store imported values (for `department` and `period`, from `records.identify`) as a merge in
    the open transaction `db`: each supersedes only the current value of its own indicator
    (whichever return or import gave it), and the rest of the month stays current. The result's
    `superseded` is the return whose values were amended, if any; `claim`, if given, is marked
    recorded in the same transaction."""
    first = db.execute("SELECT id, outcome FROM submissions WHERE sha256 = ? AND kind != 'duplicate' "
                       "AND outcome != 'rejected' ORDER BY id LIMIT 1", (receipt.sha256,)).fetchone()
    if first:
        new_id = insert_submission(db, receipt, checked, department, period, first[1], "duplicate", first[0])
        insert_findings(db, new_id, (rules.finding("duplicate-file", f"submission {first[0]}", department=department,
                                                    period=period, file=receipt.original_name),))
        mark_claimed(db, claim, new_id)
        return RecordResult(new_id, "duplicate", first[1], duplicate_of=first[0])
    new_id = db.next_id("submissions")
    amended = None
    # the import's own row first: the values it replaces point at it (a foreign key)
    insert_submission(db, receipt, checked, department, period, checked.outcome, "import", None, new_id)
    accepted = checked.outcome != "rejected"
    if accepted and checked.values:
        codes = [v.indicator for v in checked.values]
        replaced = db.execute(
            "SELECT submission_id, indicator FROM current_values WHERE department = ? AND period = ? "
            f"AND indicator IN ({','.join('?' * len(codes))}) ORDER BY submission_id",
            (department, period, *codes)).fetchall()
        db.executemany("UPDATE submitted_values SET superseded_by = ? WHERE submission_id = ? AND indicator = ?",
                       [(new_id, submission_id, code) for submission_id, code in replaced])
        amended = replaced[0][0] if replaced else None
    if accepted:
        db.executemany(
            "INSERT INTO submitted_values (submission_id, indicator, department, period, value, numerator, "
            "denominator, marker, sheet, cell, raw, comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(new_id, v.indicator, v.department, v.period, v.value, v.numerator, v.denominator, v.marker, v.sheet,
              v.cell, v.raw, v.comment) for v in checked.values])
    insert_findings(db, new_id, checked.findings)
    mark_claimed(db, claim, new_id)
    return RecordResult(new_id, "import", checked.outcome, superseded=amended)
