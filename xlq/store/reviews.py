"""The review loop in the store (issue 17): review workbooks received, decisions, sign-offs and
the departments' responses to queries.

Every row is kept: a later decision on the same finding is a new row and the latest applied
one is in force; a stale or refused decision is kept with its reason, so `xlq history` can show
the whole trail. Findings are named by `xlq.core.review.finding_id`, computed here from the
stored findings (`finding_index`), never stored as row numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from xlq.core.accepted import Acceptance, AcceptedKey
from xlq.core.model import Finding
from xlq.core.review import finding_id
from xlq.store.guard import mark_claimed
from xlq.store.queries import Submission

if TYPE_CHECKING:
    from xlq.store.db import Store


@dataclass(frozen=True)
class ReviewFile:
    """A review workbook as received: where it went, who it names and whether it was applied."""

    sha256: str
    original_name: str
    arrived_in: str
    received_at: str
    location: str
    reviewer: str
    outcome: str
    reason: str = ""


@dataclass(frozen=True)
class Decision:
    """One decision as recorded; `state` is applied, stale (the value changed) or refused."""

    finding_id: str
    department: str
    period: str
    indicator: str
    rule: str
    value: str
    decision: str
    note: str
    reviewer: str
    decided_at: str
    state: str
    reason: str = ""
    id: int = 0
    file: str = ""


@dataclass(frozen=True)
class SignOff:
    department: str
    period: str
    submission_sha256: str
    reviewer: str
    signed_at: str
    file: str = ""


@dataclass(frozen=True)
class Indexed:
    """A stored finding with its identity and the submission it belongs to."""

    id: str
    finding: Finding
    submission: Submission


def finding_index(store: Store, periods: Sequence[str] | None = None,
                  submissions: Sequence[Submission] | None = None) -> dict[str, Indexed]:
    """Every finding about an indicator of a stored submission (current or not) by its identity;
    `submissions`: the store's submissions of `periods`, when the caller has read them already."""
    read = store.submissions(periods=periods) if submissions is None else submissions
    subs = {s.id: s for s in read if s.kind not in ("duplicate", "import")}
    out: dict[str, Indexed] = {}
    for sf in store.findings(list(subs)) if subs else ():
        f, sub = sf.finding, subs[sf.submission_id]
        if f.indicator and f.department and f.period:
            fid = finding_id(sub.sha256, f.rule, f.indicator, f.cell, f.value)
            out.setdefault(fid, Indexed(fid, f, sub))
    return out


def has_file(store: Store, sha256: str) -> ReviewFile | None:
    """The review workbook with these bytes received before, if any (a second drop changes nothing)."""
    rows = store.rows("SELECT sha256, original_name, arrived_in, received_at, location, reviewer, outcome, reason "
                      "FROM review_files WHERE sha256 = ? ORDER BY id LIMIT 1", (sha256,))
    return ReviewFile(*rows[0]) if rows else None


def record_review(store: Store, received: ReviewFile, decisions: Sequence[Decision],
                  sign_offs: Sequence[SignOff] = (), *, claim: int | None = None) -> int:
    """Store one review workbook with its decisions and sign-offs, all or nothing; its id.
    `claim` is the journal's claim on the file, marked recorded in the same transaction, so a
    stop before the file is moved is finished on restart, not judged again (`xlq.store.journal`)."""
    with store.write() as db:
        mark_claimed(db, claim, None)
        (file_id,) = db.execute(
            "INSERT INTO review_files (sha256, original_name, arrived_in, received_at, location, reviewer, outcome, "
            "reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (received.sha256, received.original_name, received.arrived_in, received.received_at, received.location,
             received.reviewer, received.outcome, received.reason)).fetchone()
        for d in decisions:
            db.execute(
                "INSERT INTO review_decisions (review_file, finding_id, department, period, indicator, rule, value, "
                "decision, note, reviewer, decided_at, state, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "RETURNING id",
                (file_id, d.finding_id, d.department, d.period, d.indicator, d.rule, d.value, d.decision, d.note,
                 d.reviewer, d.decided_at, d.state, d.reason)).fetchone()
        for s in sign_offs:
            db.execute(
                "INSERT INTO review_sign_offs (review_file, department, period, submission_sha256, reviewer, signed_at) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (file_id, s.department, s.period, s.submission_sha256, s.reviewer, s.signed_at)).fetchone()
    return int(file_id)


def set_location(store: Store, sha256: str, location: str) -> None:
    """Where the review workbook with these bytes was moved (its planned name was taken)."""
    with store.write() as db:
        db.execute("UPDATE review_files SET location = ? WHERE sha256 = ?", (location, sha256))


_DECISION_COLUMNS = ("d.finding_id, d.department, d.period, d.indicator, d.rule, d.value, d.decision, d.note, "
                     "d.reviewer, d.decided_at, d.state, d.reason, d.id, f.original_name")


def decisions(store: Store, *, indicator: str | None = None, applied_only: bool = True,
              file_sha256: str | None = None) -> list[Decision]:
    """Decisions oldest first (so a later one on the same finding overrides an earlier one);
    `file_sha256`: only those of the review workbook with these bytes."""
    where, params = [], []
    if applied_only:
        where.append("d.state = 'applied'")
    if indicator is not None:
        where.append("d.indicator = ?")
        params.append(indicator)
    if file_sha256 is not None:
        where.append("f.sha256 = ?")
        params.append(file_sha256)
    sql = (f"SELECT {_DECISION_COLUMNS} FROM review_decisions d JOIN review_files f ON f.id = d.review_file"
           + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY d.id")
    return [Decision(*row) for row in store.rows(sql, params)]


def in_force(store: Store) -> dict[str, Decision]:
    """The latest applied decision on each finding."""
    return {d.finding_id: d for d in decisions(store)}


def accepted_warnings(store: Store) -> dict[AcceptedKey, Acceptance]:
    """Every (department, indicator, rule, value) whose latest applied decision is an Accept, with
    the earliest month it was accepted in: one query, so a batch of returns asks it once."""
    latest: dict[str, tuple[str, ...]] = {}
    for row in store.rows("SELECT finding_id, decision, department, indicator, rule, value, period, reviewer, "
                          "decided_at, note FROM review_decisions WHERE state = 'applied' ORDER BY id"):
        latest[row[0]] = row
    out: dict[AcceptedKey, Acceptance] = {}
    for _, decision, department, indicator, rule, value, period, reviewer, decided_at, note in latest.values():
        key = (department, indicator, rule, value)
        if decision == "Accept" and (key not in out or period < out[key].period):
            out[key] = Acceptance(reviewer, decided_at, period, note)
    return out


def sign_offs(store: Store, periods: Sequence[str] | None = None, *, file_sha256: str | None = None) -> list[SignOff]:
    sql = ("SELECT s.department, s.period, s.submission_sha256, s.reviewer, s.signed_at, f.original_name "
           "FROM review_sign_offs s JOIN review_files f ON f.id = s.review_file")
    where: list[str] = []
    params: list[object] = []
    if periods is not None:
        where.append(f"s.period IN ({', '.join('?' for _ in periods)})")
        params = list(periods)
    if file_sha256 is not None:
        where.append("f.sha256 = ?")
        params.append(file_sha256)
    return [SignOff(*row) for row in store.rows(sql + (" WHERE " + " AND ".join(where) if where else "")
                                                + " ORDER BY s.id", params)]


def record_responses(store: Store, submission_id: int, answers: Sequence[tuple[int, str]], received_at: str) -> None:
    """A department's responses to queries (decision id, text), from the return `submission_id`."""
    if not answers:
        return
    with store.write() as db:
        for decision_id, text in answers:
            db.execute("INSERT INTO query_responses (decision_id, submission_id, response, received_at) "
                       "VALUES (?, ?, ?, ?) RETURNING id", (decision_id, submission_id, text, received_at)).fetchone()


def responses(store: Store) -> dict[int, tuple[str, str, str]]:
    """The latest response to each query: decision id -> (text, received at, file)."""
    rows = store.rows("SELECT r.decision_id, r.response, r.received_at, s.original_name FROM query_responses r "
                      "JOIN submissions s ON s.id = r.submission_id ORDER BY r.id")
    return {row[0]: (row[1], row[2], row[3]) for row in rows}


def review_files(store: Store) -> list[ReviewFile]:
    rows = store.rows("SELECT sha256, original_name, arrived_in, received_at, location, reviewer, outcome, reason "
                      "FROM review_files ORDER BY id")
    return [ReviewFile(*row) for row in rows]


def all_responses(store: Store) -> dict[int, tuple[tuple[str, str, str], ...]]:
    """Every response to every query, oldest first: decision id -> ((text, received at, file), ...)."""
    out: dict[int, tuple[tuple[str, str, str], ...]] = {}
    for decision_id, text, when, file in store.rows(
            "SELECT r.decision_id, r.response, r.received_at, s.original_name FROM query_responses r "
            "JOIN submissions s ON s.id = r.submission_id ORDER BY r.id"):
        out[decision_id] = (*out.get(decision_id, ()), (text, when, file))
    return out
