"""What the reviewers' decisions mean for the figures (issue 17), computed from the store alone.

- a finding of a current return is *open* until a decision is in force on it; an Accept of a
  warning also settles the same warning on the same value in later months (and in a
  resubmission of the same month), so it is not raised again: a return validated after the
  Accept records it as reviewed already (`xlq.core.accepted`), and one stored before the
  Accept has its warning settled here;
- an Exclude leaves that department's value out of the organisation figure while the value is
  unchanged (a corrected return has new findings, and the exclusion no longer applies);
- a department's month is *received* (a current return), *reviewed* (every finding decided)
  or *signed off* (a sign-off recorded against exactly the bytes of the current return: a
  resubmission reopens it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from xlq.core.accepted import Acceptance, accepted_key, applies, was_accepted
from xlq.core.model import Finding
from xlq.core.months import month_label
from xlq.core.review import Query, Review, sealed_ref
from xlq.store import reviews
from xlq.store.reviews import Indexed

if TYPE_CHECKING:
    from xlq.store.db import Store
    from xlq.store.queries import Submission

REVIEWED = ("warning", "error")
"""Severities a reviewer decides on; information findings need no decision."""


@dataclass
class ReviewState:
    token: str
    open: list[Indexed] = field(default_factory=list)
    by_finding: dict[Finding, Review] = field(default_factory=dict)
    by_id: dict[str, Review] = field(default_factory=dict)
    excluded: dict[tuple[str, str, str], str] = field(default_factory=dict)
    stages: dict[tuple[str, str], str] = field(default_factory=dict)
    queries: dict[str, list[Query]] = field(default_factory=dict)
    decision_ids: dict[str, int] = field(default_factory=dict)


def workspace_token(store: Store) -> str:
    """The token of the workspace the store serves (empty before any run has bound one)."""
    rows = store.rows("SELECT token FROM served_workspace")
    return rows[0][0] if rows else ""


def review_state(store: Store, periods: Sequence[str] | None = None,
                 submissions: Sequence[Submission] | None = None) -> ReviewState:
    """The decisions in force on the current findings of `periods` (default: every month).
    `submissions`: the store's submissions of `periods` in the order received, when the caller
    has read them (a rebuild has: reading 10,000 twice more took ~0.1 s of each rebuild)."""
    state = ReviewState(workspace_token(store))
    index = reviews.finding_index(store, periods, submissions)
    in_force = reviews.in_force(store)
    answers = reviews.responses(store)
    accepted = reviews.accepted_warnings(store)
    per_month: dict[tuple[str, str], list[bool]] = {}
    for fid, item in index.items():
        f, sub = item.finding, item.submission
        if not sub.current:
            continue
        if was_accepted(f):  # settled when it was validated (`xlq.core.accepted`): reviewed, nothing to decide
            if (earlier := accepted.get(accepted_key(f))) is not None:
                state.by_finding[f] = state.by_id[fid] = Review(
                    "Accept", earlier.reviewer, earlier.decided_at, earlier.note, carried=_carried(earlier, f))
            continue
        if f.severity not in REVIEWED:
            continue
        decided = in_force.get(fid)
        review = None
        if decided is not None:
            answer = answers.get(decided.id)
            review = Review(decided.decision, decided.reviewer, decided.decided_at, decided.note,
                            answer[0] if answer else "")
            state.decision_ids[fid] = decided.id
        elif (earlier := accepted.get(accepted_key(f)) if f.severity == "warning" else None) is not None \
                and applies(earlier, f):  # a warning stored before its twin was accepted
            review = Review("Accept", earlier.reviewer, earlier.decided_at, earlier.note, carried=_carried(earlier, f))
        per_month.setdefault((f.department or "", f.period or ""), []).append(review is not None)
        if review is None:
            state.open.append(item)
            continue
        state.by_finding[f] = review
        state.by_id[fid] = review
        if review.decision == "Query":
            state.open.append(item)
            state.queries.setdefault(f.department or "", []).append(Query(
                sealed_ref(state.token, fid), f.period or "", f.indicator or "", f.value or "", f.message,
                review.note, review.reviewer, review.decided_at, review.response))
        elif review.decision == "Exclude":
            state.excluded[(f.indicator or "", f.department or "", f.period or "")] = (
                f"excluded: {f.department}'s value {f.value or ''} left out of this figure by {review.reviewer} on "
                f"{review.decided_at[:10]} (kept in the store{': ' + review.note if review.note else ''})")
    signed = {(s.department, s.period, s.submission_sha256): s for s in reviews.sign_offs(store, periods)}
    current = store.submissions(periods=periods, current_only=True) if submissions is None else (
        s for s in submissions if s.current)
    for sub in current:
        if sub.kind == "import" or not sub.department or not sub.period:
            continue
        key = (sub.department, sub.period)
        if (s := signed.get((*key, sub.sha256))) is not None:
            state.stages[key] = f"signed off by {s.reviewer} on {s.signed_at[:10]}"
        else:
            state.stages[key] = "reviewed" if all(per_month.get(key, [])) else "received"
    return state


def _carried(earlier: Acceptance, f: Finding) -> str:
    return month_label(earlier.period) if earlier.period != f.period else "an earlier return"


def signed_off(stages: dict[tuple[str, str], str], period: str | None) -> int:
    """How many departments' `period` is signed off (None: in any month of `stages`)."""
    return sum(1 for (_, p), stage in stages.items() if period in (None, p) and stage.startswith("signed off"))
