"""A warning a reviewer accepted is not raised again on the same value (issue 17).

When a reviewer accepts a warning (department, indicator, rule, value), the same warning on the
same value in a later return of that department (next month's, or a resubmission) is recorded
as reviewed rather than raised: the finding is kept for the audit with its rule, value and cell,
but at `info` severity with a message saying who accepted it and when. So it does not count
towards the return's outcome ("accepted", not "accepted with warnings"), the log line, the run's
and `xlq validate`'s warning counts, the department's feedback copy (which lists errors and
warnings only) or the master's flags (`xlq.master.review_state` shows it as reviewed).

Only warnings are settled this way: an error drops a value, and accepting one earlier never
lets the next one through. A different value is a new finding and is raised as usual.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from xlq.core.model import Checked, Finding, judge
from xlq.core.months import month_label
from xlq.core.rules import RULES

AcceptedKey = tuple[str, str, str, str]
"""(department, indicator, rule, value): what an acceptance is about, whichever return it was in."""


@dataclass(frozen=True)
class Acceptance:
    """The earliest Accept in force on one (department, indicator, rule, value)."""

    reviewer: str
    decided_at: str
    period: str
    note: str = ""


def accepted_key(f: Finding) -> AcceptedKey:
    return (f.department or "", f.indicator or "", f.rule, f.value or "")


def applies(earlier: Acceptance | None, f: Finding) -> bool:
    """An acceptance carries to a finding of its own month or a later one, never back in time."""
    return earlier is not None and bool(f.indicator) and earlier.period <= (f.period or "")


def was_accepted(f: Finding) -> bool:
    """A warning rule's finding recorded at info severity: settled by an earlier acceptance."""
    rule = RULES.get(f.rule)
    return f.severity == "info" and rule is not None and rule.severity == "warning"


def acceptance_text(earlier: Acceptance, period: str | None) -> str:
    """Who accepted it and when, as the settled finding's message starts."""
    month = month_label(earlier.period) if earlier.period != period else "an earlier return of this month"
    return f"Accepted by {earlier.reviewer[:80]} on {earlier.decided_at[:10]} ({month}, same value), not raised again"


def settle_accepted(checked: Checked, accepted: Mapping[AcceptedKey, Acceptance]) -> Checked:
    """`checked` with each warning a reviewer accepted earlier on the same value recorded as
    reviewed (info, same rule, cell and value), and its outcome judged again without them."""
    if not accepted:
        return checked
    out: list[Finding] = []
    for f in checked.findings:
        earlier = accepted.get(accepted_key(f)) if f.severity == "warning" else None
        if earlier is not None and applies(earlier, f):
            f = replace(f, severity="info", message=f"{acceptance_text(earlier, f.period)}: {f.message}")
        out.append(f)
    if out == list(checked.findings):
        return checked
    return replace(checked, findings=tuple(out), outcome=judge(out, rejected=checked.outcome == "rejected"))
