"""The review loop's vocabulary (issue 17): a finding's stable identity, the seal that proves xlq
issued it, and the small values that carry decisions between the review workbook, the store,
the master and the next template.

A finding is named by what it is about, never by where it sits in a workbook: the hash of the
submission's bytes, the rule, the indicator, the cell and the value. A row number would point
at another finding as soon as the list changes; the hash points at nothing once the value has
changed (a resubmission arrived), which is exactly when a decision must not be applied.

The identity travels in the review workbook sealed with an HMAC keyed by the workspace's own
token (`served_workspace`, never written into any workbook), so a reviewer cannot type one up,
and a review workbook of another workspace carries seals this one refuses.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

DECISIONS = ("Accept", "Query", "Exclude")
"""What a reviewer may decide about a flagged figure, as the review workbook's list offers them."""

REVIEW_TEMPLATE = "xlq-review/1"
"""The `template` key of a review workbook's hidden `xlq_review` sheet."""

SIGN_OFF = "Sign off"
"""The one value of a review workbook's sign-off cell that signs a department's month off."""


def finding_id(submission_sha256: str, rule: str, indicator: str | None, cell: str | None, value: str | None) -> str:
    """The stable identity of one finding of one submission (24 hex digits)."""
    text = "\x1f".join((submission_sha256, rule, indicator or "", cell or "", value or ""))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def seal(token: str, what: str) -> str:
    """The workspace's HMAC of `what` (16 hex digits): proof that this workspace issued it."""
    return hmac.new(token.encode("utf-8"), what.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def sealed_ref(token: str, fid: str) -> str:
    """A finding identity as the review workbook and the template carry it: `id.seal`."""
    return f"{fid}.{seal(token, 'finding:' + fid)}"


def open_ref(token: str, ref: str) -> str | None:
    """The finding identity of a sealed reference, or None when its seal is not this workspace's."""
    fid, dot, mark = ref.strip().partition(".")
    if not dot or len(fid) != 24 or not hmac.compare_digest(seal(token, "finding:" + fid), mark):
        return None
    return fid


def book_seal(token: str, organisation: str, built_at: str) -> str:
    """The seal of one review workbook: which workspace issued it, for which organisation, when."""
    return seal(token, f"review-book:{organisation}:{built_at}")


@dataclass(frozen=True)
class DecisionRow:
    """One row of a returned review workbook as read: the sealed reference, the decision and note."""

    ref: str
    decision: str
    note: str
    row: int


@dataclass(frozen=True)
class SignOffRow:
    """One sign-off row as read: department, month (YYYY-MM) and the sign-off cell's value."""

    department: str
    period: str
    value: str
    row: int


@dataclass(frozen=True)
class ReviewReturn:
    """What the reader got out of a dropped review workbook; `problem` says why it is not one."""

    path: str
    sha256: str
    organisation: str = ""
    built_at: str = ""
    book_seal: str = ""
    reviewer: str = ""
    decisions: tuple[DecisionRow, ...] = ()
    sign_offs: tuple[SignOffRow, ...] = ()
    problem: str = ""


@dataclass(frozen=True)
class Review:
    """The decision in force on one finding, for the master: who decided what and when; for a
    query, the department's response once it came back; `carried` names the month of an
    earlier Accept of the same warning on the same value."""

    decision: str
    reviewer: str
    decided_at: str
    note: str = ""
    response: str = ""
    carried: str = ""

    @property
    def settled(self) -> bool:
        """Accepted or excluded: the finding no longer flags its cell."""
        return self.decision in ("Accept", "Exclude")

    def text(self) -> str:
        """One line for a note or the Validation Errors sheet: decision, who, when, and what was said."""
        done = {"Accept": "accepted", "Query": "queried", "Exclude": "excluded"}.get(self.decision, self.decision)
        line = f"{done} by {self.reviewer} on {self.decided_at[:10]}"
        if self.carried:
            line = f"accepted in {self.carried} by {self.reviewer} (same value), not raised again"
        if self.note:
            line += f": {self.note}"
        if self.decision == "Query":
            line += f"; response: {self.response}" if self.response else "; awaiting the department's response"
        return line


@dataclass(frozen=True)
class Query:
    """An open question to a department, for its feedback and its next template."""

    ref: str
    period: str
    indicator: str
    value: str
    message: str
    note: str
    reviewer: str
    asked_at: str
    response: str = ""
