"""Each department's return for each month: received, late, rejected or missing, and why.

The Submissions grid, `xlq status` and the return findings of the master all read this one
account, so a return counts the same way everywhere. Reconciliation (master/reconcile) folds
the values of the counted returns; this module only says which return counts, and what a
correction of an earlier month changed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING

from xlq.core import rules
from xlq.core.model import Finding, SubmissionStatus, not_used, outcome_words
from xlq.core.months import moment_label, month_label, shift_period
from xlq.master.review_state import review_state
from xlq.store.merge import current_indicators
from xlq.store.queries import StoredFinding, Submission

if TYPE_CHECKING:
    from xlq.core.catalogue import Catalogue
    from xlq.core.config import Workspace
    from xlq.store.db import Store


def _date(iso: str) -> dt.date:
    return dt.datetime.fromisoformat(iso).date()


@dataclass(frozen=True)
class DepartmentReturn:
    """One department's return for one month, for `xlq status` and the Submissions grid.

    `received` is when the counted return arrived (the current accepted one, else the latest
    rejected one); `attempts` is every file received for the month, oldest first."""

    department: str
    name: str
    period: str
    status: str
    due: str
    received: str | None = None
    file: str | None = None
    reason: str = ""
    attempts: tuple[Submission, ...] = ()

    used: int = 0
    not_used: int = 0
    review: str = ""
    """received, reviewed or signed off (issue 17); empty without a counted return."""

    def as_status(self) -> SubmissionStatus:
        return SubmissionStatus(self.department, self.period, self.status, self.received, self.file, self.reason,
                                self.used, self.not_used)


@dataclass(frozen=True)
class PeriodStatus:
    """`xlq status` for one month; `unidentified` are rejected files whose department or
    month could not be read (received since the month began)."""

    period: str
    due: str
    departments: tuple[DepartmentReturn, ...]
    unidentified: tuple[Submission, ...] = ()

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for row in self.departments:
            out[row.status] = out.get(row.status, 0) + 1
        return out

    def as_dict(self) -> dict:
        """JSON-ready (`xlq status --json`)."""
        return asdict(self) | {"counts": self.counts()}


def department_returns(subs: object, catalogue: Catalogue, workspace: Workspace, periods: tuple[str, ...],
             today: dt.date) -> list[DepartmentReturn]:
    """Each department's state per month: the counted return, or why there is none."""
    codes = workspace.department_codes
    code_set = frozenset(codes)
    known = {d.code: d for d in workspace.departments}
    reporting = {d: [i for i in catalogue.indicators if i.reports(d, code_set)] for d in codes}
    by_month: dict[tuple[str | None, str | None], list[Submission]] = {}
    for s in sorted(subs, key=lambda s: s.id):  # type: ignore[attr-defined]
        if s.kind != "duplicate":
            by_month.setdefault((s.department, s.period), []).append(s)
    out = []
    for period in periods:
        due = workspace.due_date(period)
        in_force = frozenset(workspace.departments_in(period))  # once a month, not once a department
        for dept in codes:
            attempts = tuple(by_month.get((dept, period), ()))
            if not attempts and (dept not in in_force
                                 or not any(i.active(period) for i in reporting[dept])):
                continue
            name = known[dept].name_in(period) if dept in known else dept
            # An import merges into the return it amends: the department's own file is the return.
            current = next((s for s in attempts if s.current and s.kind != "import"), None) or next(
                (s for s in attempts if s.current), None)
            if current:
                first = min(_date(s.received_at) for s in attempts if s.outcome != "rejected")
                late = first > due
                status = "late" if late else current.outcome
                reason = outcome_words(current.outcome) + (
                    f", {(first - due).days} day(s) after the due date {due.isoformat()}" if late else "")
                row = DepartmentReturn(dept, name, period, status, due.isoformat(), current.received_at,
                                       current.original_name, reason, attempts)
            elif attempts:
                last = attempts[-1]
                row = DepartmentReturn(dept, name, period, "rejected", due.isoformat(), last.received_at,
                                       last.original_name, "", attempts)
            else:
                reason = "not received" if today > due else f"not yet due (due {due.isoformat()})"
                row = DepartmentReturn(dept, name, period, "missing", due.isoformat(), reason=reason)
            out.append(row)
    return out


def with_reasons(rows: list[DepartmentReturn], store: Store, used: dict[tuple[str, str], set[str]] | None = None,
                 found: Sequence[StoredFinding] | None = None) -> list[DepartmentReturn]:
    """Rejected rows say why; accepted ones count the values used and name those not used.
    `used` is `merge.current_indicators` of the rows' months, and `found` the stored findings of
    (at least) the rows' current submissions, when the caller has them already."""
    rejected = {r.attempts[-1].id: r for r in rows if r.status == "rejected"}
    reasons: dict[int, list[str]] = {}
    for sf in store.findings(list(rejected)):
        if sf.finding.rule in rules.FILE_RULES and sf.finding.message not in reasons.get(sf.submission_id, []):
            reasons.setdefault(sf.submission_id, []).append(sf.finding.message)
    counted = [r for r in rows if r.status not in ("rejected", "missing")]
    if used is None:
        used = current_indicators(store.each_row, sorted({r.period for r in counted}))
    current_ids = [s.id for r in counted for s in r.attempts if s.current and s.kind != "import"]
    errors: dict[int, list[Finding]] = {}
    if found is None:
        found = store.findings(current_ids) if current_ids else ()
    for sf in found:  # others' findings too, when given: only the rows' are looked up
        errors.setdefault(sf.submission_id, []).append(sf.finding)
    out = []
    for r in rows:
        if r.status == "rejected":
            out.append(replace(r, reason=" ".join(reasons.get(r.attempts[-1].id, ["rejected"]))))
            continue
        if r.status == "missing":
            out.append(r)
            continue
        have = used.get((r.department, r.period), set())
        dropped = [code for s in r.attempts if s.current and s.kind != "import"
                   for code in not_used(errors.get(s.id, [])) if code not in have]
        reason = r.reason
        if dropped:
            head, sep, tail = reason.partition(",")
            reason = f"{head} ({plural(len(dropped), 'value')} not used: {', '.join(dropped)}){sep}{tail}"
        out.append(replace(r, reason=reason, used=len(have), not_used=len(dropped)))
    return out


def correction_notes(subs: dict[int, Submission], store: Store) -> dict[tuple[str, str, str], str]:
    """Flags for values a correction of an earlier month changed, by (indicator, department,
    month): what was there and what the correction put instead. `subs` by id."""
    out: dict[tuple[str, str, str], str] = {}
    for sub in subs.values():
        if not (sub.current and sub.kind == "correction"):
            continue
        replaced = [s for s in subs.values() if s.superseded_by == sub.id and s.outcome != "rejected"]
        if not replaced:
            continue
        old = {sv.value.indicator: sv.value for sv in store.values(submission_ids=[replaced[-1].id], current=False)}
        new = {sv.value.indicator: sv.value for sv in store.values(submission_ids=[sub.id])}
        for code in old.keys() | new.keys():
            before, after = old.get(code), new.get(code)
            key = lambda v: None if v is None else (v.value, v.numerator, v.denominator, v.marker)  # noqa: E731
            if key(before) != key(after):
                was = "blank" if before is None else (before.marker or before.raw or str(before.number))
                now = "blank" if after is None else (after.marker or after.raw or str(after.number))
                out[(code, sub.department or "", sub.period or "")] = (
                    f"corrected: {sub.department} sent a correction on {sub.received_at[:10]} ({was} -> {now})")
    return out


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def return_findings(rows: list[DepartmentReturn], today: dt.date) -> list[Finding]:
    out = []
    for r in rows:
        if r.status == "missing" and today > dt.date.fromisoformat(r.due):
            out.append(return_finding("missing", r.department, r.period, due=r.due, file=r.file))
        elif r.status == "rejected":
            out.append(return_finding("rejected", r.department, r.period, reason=r.reason, file=r.file))
        elif r.status == "late":
            out.append(return_finding("late", r.department, r.period, due=r.due, received=r.received, file=r.file))
    return out


def return_finding(status: str, department: str, period: str, *, due: str | None = None, reason: str = "",
                   received: str | None = None, file: str | None = None) -> Finding:
    """The one place a return's status (missing, rejected or late) becomes a finding; `due`
    is added to a missing return's message when known."""
    where = {"department": department, "period": period, "file": file}
    if status == "missing":
        return rules.finding("return-missing", f"{department} {month_label(period)}" + (f" (due {due})" if due else ""),
                             **where)
    if status == "rejected":
        return rules.finding("return-rejected", reason, **where)
    if status == "late":
        return rules.finding("return-late", f"due {due}, received {moment_label(received)}", **where)
    raise ValueError(f"a return that is {status} is not a finding")


def period_status(store: Store, catalogue: Catalogue, workspace: Workspace, period: str | None = None, *,
                  today: dt.date | None = None) -> PeriodStatus:
    """Who has returned for `period` (default: the reporting period), who is missing, late or rejected."""
    period = period or workspace.reporting_period(today)
    today = today or dt.date.today()
    subs = store.submissions(period=period)
    stages = review_state(store, (period,)).stages
    rows = [replace(r, review=stages.get((r.department, period), ""))
            for r in with_reasons(department_returns(subs, catalogue, workspace, (period,), today), store)]
    start, end = f"{period}-01", f"{shift_period(period, 2)}-01"
    return PeriodStatus(period, workspace.due_date(period).isoformat(), tuple(rows), unidentified(store, start, end))


def unidentified(store: Store, since: str, until: str = "9999") -> tuple[Submission, ...]:
    """Rejected files whose department or month could not be read, received from `since` up to
    (not including) `until`: for one month, while it ran and while it was being collected (the
    month after), so a file rejected today is not listed under every earlier month."""
    return tuple(s for s in store.submissions(unidentified=True)
                 if s.kind != "duplicate" and since <= s.received_at < until)
