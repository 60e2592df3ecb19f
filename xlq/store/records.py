"""Recording one return: the submission, its values and its findings, in one transaction.

Nothing is deleted or overwritten: a resubmission marks the earlier submission `superseded_by`
and the earlier values stay in the trail. `record` runs inside the caller's transaction
(`Store.record` opens it), so a process killed half-way leaves the previous state.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from xlq.core import rules
from xlq.core.model import Checked, Finding, Outcome, Value
from xlq.store.guard import mark_claimed

if TYPE_CHECKING:
    from xlq.store.connection import Connection

Kind = Literal["new", "duplicate", "resubmission", "correction", "import"]

FINDING_FIELDS = ("rule", "severity", "message", "department", "period", "indicator", "sheet", "cell", "value", "file")


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


def identify(checked: Checked) -> tuple[str | None, str | None]:
    """The department and month a return is for (its metadata, or failing that its findings),
    once its values are known to be storable."""
    identity = checked.parsed.identity
    department = identity.department if identity else next((f.department for f in checked.findings if f.department), None)
    period = identity.period if identity else next((f.period for f in checked.findings if f.period), None)
    check_values(checked.values, department, period)
    return department, period


def record(db: Connection, receipt: Receipt, checked: Checked, department: str | None,
           period: str | None, claim: int | None = None) -> RecordResult:
    """Store one return (for `department` and `period`, from `identify`) in the open
    transaction `db` and say what it was.

    - duplicate: the same bytes (sha256) as the current return (`current_submissions`);
      recorded as a received file with a `duplicate-file` finding, no values. The bytes of a
      superseded return are a return again (the latest arrival wins).
    - resubmission: another return for a department and month that already had one.
    - correction: the same, for a month older than the department's latest accepted month;
      reconciliation flags the values it changed. A first return for an older month is
      `new` (the submissions grid shows it as late instead).
    An accepted return supersedes the standing accepted and rejected ones for its month (imports
    merged into the month included); a rejected one supersedes only earlier rejected ones, never
    an accepted return. Imports are recorded by `xlq.store.merge.record_import` instead.
    """
    first = db.execute(
        "SELECT id, outcome, department, period FROM current_submissions WHERE sha256 = ? AND kind != 'import' "
        "ORDER BY id LIMIT 1",
        (receipt.sha256,)).fetchone()
    if first:
        new_id = insert_submission(db, receipt, checked, first[2], first[3], first[1], "duplicate", first[0])
        f = rules.finding("duplicate-file", f"submission {first[0]}", department=first[2], period=first[3],
                          file=receipt.original_name)
        insert_findings(db, new_id, (f,))
        mark_claimed(db, claim, new_id)
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
    # the return replaced (its comments carry over), not an import merged into it; failing that, an import
    previous = next((sid for sid, outcome, kind in reversed(standing) if outcome != "rejected" and kind != "import"),
                    None) or next((sid for sid, outcome, _ in reversed(standing) if outcome != "rejected"), None)
    superseded = (previous if accepted else None) or (replaced[-1] if replaced else None)
    # The id is known before the insert because the old current row must step aside before
    # the new one is inserted (one_current_return), hence the deferred foreign key.
    new_id = db.next_id("submissions")
    if replaced:
        db.execute(f"UPDATE submissions SET superseded_by = ? WHERE id IN ({','.join('?' * len(replaced))})",
                   (new_id, *replaced))
    insert_submission(db, receipt, checked, department, period, checked.outcome, kind, None, new_id)
    carried = _carry_comments(db, previous, checked.values) if accepted and previous else {}
    db.executemany(
        "INSERT INTO submitted_values (submission_id, indicator, department, period, value, numerator, denominator, "
        "marker, sheet, cell, raw, comment, comment_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(new_id, v.indicator, v.department, v.period, v.value, v.numerator, v.denominator, v.marker, v.sheet,
          v.cell, v.raw, carried.get(v.indicator, (v.comment, None))[0], carried.get(v.indicator, (v.comment, None))[1])
         for v in checked.values])
    insert_findings(db, new_id, checked.findings)
    mark_claimed(db, claim, new_id)
    return RecordResult(new_id, kind, checked.outcome, superseded=superseded)


def insert_submission(db: Connection, receipt: Receipt, checked: Checked, department: str | None,
                       period: str | None, outcome: str, kind: str, duplicate_of: int | None,
                       submission_id: int | None = None) -> int:
    identity = checked.parsed.identity
    submission_id = db.next_id("submissions") if submission_id is None else submission_id
    db.execute(
        "INSERT INTO submissions (id, sha256, original_name, arrived_in, received_at, location, department, period, outcome, "
        "kind, duplicate_of, organisation, catalogue_version, template_version, contact) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (submission_id, receipt.sha256, receipt.original_name, receipt.arrived_in, receipt.received_at, receipt.stored_path,
         department, period, outcome, kind, duplicate_of,
         identity.organisation if identity else None, identity.catalogue_version if identity else None,
         identity.template_version if identity else None, json.dumps([list(c) for c in checked.parsed.contact])))
    return submission_id


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


def _carry_comments(db: Connection, previous: int, values: Sequence[Value]) -> dict[str, tuple[str, int]]:
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


def insert_findings(db: Connection, submission_id: int, findings: Sequence[Finding]) -> None:
    db.executemany(
        f"INSERT INTO findings (submission_id, {', '.join(FINDING_FIELDS)}) VALUES (?{', ?' * len(FINDING_FIELDS)})",
        [(submission_id, *(getattr(f, name) for name in FINDING_FIELDS)) for f in findings])
