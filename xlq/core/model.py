"""The small frozen values that flow between pipeline stages.

file -> ParsedReturn (reader) -> Checked (validate) -> store -> Reconciled (reconcile) -> workbook.
Each stage accepts and returns only these, so no stage needs another's internals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from xlq.core.review import Review

Severity = Literal["error", "warning", "info"]
Outcome = Literal["accepted", "accepted_with_warnings", "accepted_with_errors", "rejected"]
"""A return's verdict, in four words that never hide a loss: accepted (everything used, nothing
to check); accepted with warnings (everything used, something to check); accepted with errors
(some values not used: each cell error drops its value); rejected (nothing used)."""

OUTCOMES: tuple[str, ...] = ("accepted", "accepted_with_warnings", "accepted_with_errors", "rejected")


def outcome_words(outcome: str) -> str:
    """The outcome as people read it everywhere: `accepted_with_errors` -> `accepted with errors`."""
    return outcome.replace("_", " ")


Marker = Literal["N/A", "TBA", "-"]

MARKERS: tuple[str, ...] = ("N/A", "TBA", "-")
"""Seed markers kept distinct from numbers: not applicable, not yet available, nothing to report."""


@dataclass(frozen=True)
class Finding:
    """One validation or reconciliation finding: a value, not an exception.

    `rule` is a code from `xlq.core.rules.RULES`; `cell` is as Excel shows it (`F14`), and
    `location` joins it with the sheet the way a user types it in the Name Box.
    """

    rule: str
    severity: Severity
    message: str
    department: str | None = None
    period: str | None = None
    indicator: str | None = None
    sheet: str | None = None
    cell: str | None = None
    value: str | None = None
    file: str | None = None

    @property
    def location(self) -> str:
        if self.sheet and self.cell:
            return f"{self.sheet}!{self.cell}"
        return self.cell or self.sheet or ""


@dataclass(frozen=True)
class Identity:
    """Who sent a return and for when, as the template's metadata states it."""

    organisation: str
    department: str
    period: str
    catalogue_version: str
    template_version: str


@dataclass(frozen=True, slots=True)
class RawCell:
    """A cell exactly as read: `raw` is the reader's Python value (str, float, int,
    bool, datetime, None); `error` holds an Excel error literal such as `#DIV/0!`;
    `formula` is set only for a formula saved without its result (raw is then None)."""

    ref: str
    raw: object = None
    error: str | None = None
    formula: str | None = None

    @property
    def is_blank(self) -> bool:
        return self.error is None and self.formula is None and (
            self.raw is None or (isinstance(self.raw, str) and not self.raw.strip()))

    def __reduce__(self) -> tuple:
        # A return's ~300 cells cross from the reader's process in a pickle: as the constructor's
        # arguments they take a third less room than as attribute dicts, and (measured alone) a
        # quarter less time to unpickle on the pipeline's busy thread; with slots (no dict to make
        # per cell), loading a return's result takes 0.56-0.60 ms instead of 0.67-0.71.
        return RawCell, (self.ref, self.raw, self.error, self.formula)


@dataclass(frozen=True, slots=True)
class RawRow:
    """One indicator row of a return table, located by its `Code`, never by position."""

    code: RawCell
    value: RawCell
    numerator: RawCell
    denominator: RawCell
    comment: RawCell
    row: int

    def __reduce__(self) -> tuple:
        return RawRow, (self.code, self.value, self.numerator, self.denominator, self.comment, self.row)  # as RawCell's


@dataclass(frozen=True)
class ParsedReturn:
    """What the reader could get out of one file; `findings` holds file-level problems.

    When the file could not be read at all, `identity` is None, `rows` is empty and the
    findings say why.
    """

    path: str
    sha256: str
    size: int
    identity: Identity | None
    sheet: str = "Return"
    rows: tuple[RawRow, ...] = ()
    contact: tuple[tuple[str, str], ...] = ()
    findings: tuple[Finding, ...] = ()
    answers: tuple[tuple[str, str], ...] = ()
    """(sealed query reference, response) from the template's Queries block (issue 17)."""


@dataclass(frozen=True, slots=True)
class Value:
    """An accepted value with its provenance.

    `value` is None when the department gave a marker (`N/A`, `TBA`, `-`) or left it
    blank; blank never becomes zero. Percent and ratio values are fractions (0.85).
    """

    indicator: str
    department: str
    period: str
    value: float | None
    numerator: float | None = None
    denominator: float | None = None
    marker: str | None = None
    sheet: str = "Return"
    cell: str = ""
    raw: str = ""
    comment: str = ""

    @property
    def given(self) -> bool:
        """A figure was given (a number, 0/0 or a marker), not left blank."""
        return self.value is not None or self.marker is not None or self.numerator is not None

    @property
    def number(self) -> float | None:
        """The number this value stands for (see `number_of`)."""
        return number_of(self.value, self.numerator, self.denominator)


def number_of(value: float | None, numerator: float | None, denominator: float | None) -> float | None:
    """The number a value stands for: `value`, or for a ratio known only by its parts,
    numerator / denominator; None for a marker, a blank or a zero denominator. (Validation
    stores a ratio's value as numerator / denominator, so the two agree when both are given.)"""
    if value is not None:
        return value
    if numerator is not None and denominator:
        return numerator / denominator
    return None


@dataclass(frozen=True)
class Checked:
    """The validated return: accepted values plus every finding, ready to store.

    `outcome` is decided by `xlq.intake.validate`: a file-level error rejects the whole return,
    cell-level errors only drop their own values (accepted with errors).
    """

    parsed: ParsedReturn
    values: tuple[Value, ...]
    findings: tuple[Finding, ...]
    outcome: Outcome

    @property
    def used(self) -> int:
        """How many figures reach the master: values given (a number or a marker), not blanks."""
        return sum(1 for v in self.values if v.given and v.indicator not in self.not_used)

    @property
    def not_used(self) -> tuple[str, ...]:
        """Indicators whose value was dropped by a cell-level error, in the order found."""
        return not_used(self.findings)


def not_used(findings: tuple[Finding, ...] | list[Finding]) -> tuple[str, ...]:
    """The indicators a return's errors kept out of the master (a finding with no indicator, such as
    a file-level error, names none)."""
    return tuple(dict.fromkeys(f.indicator for f in findings if f.severity == "error" and f.indicator))


def judge(findings: tuple[Finding, ...] | list[Finding], rejected: bool) -> Outcome:
    """The outcome a return's findings give: any error drops a value, any warning asks a check."""
    if rejected:
        return "rejected"
    if any(f.severity == "error" for f in findings):
        return "accepted_with_errors"
    return "accepted_with_warnings" if any(f.severity == "warning" for f in findings) else "accepted"


@dataclass(frozen=True)
class OrgValue:
    """An organisation-level figure for one indicator and month, as reconciled.

    `flags` say why a reviewer should look at it (partial coverage, a reconciliation
    difference, a correction, a warning on a contributing value); they become cell notes.
    """

    indicator: str
    period: str
    value: float | None
    marker: str | None = None
    numerator: float | None = None
    denominator: float | None = None
    contributors: int = 0
    expected: int = 0
    flags: tuple[str, ...] = ()

    @property
    def partial(self) -> bool:
        return 0 < self.contributors < self.expected


@dataclass(frozen=True)
class SubmissionStatus:
    """A department's state for one month: an `Outcome`, missing or late; `received` is an ISO
    timestamp or None; `used` and `not_used` count the return's values that reached the master
    and those its errors kept out."""

    department: str
    period: str
    status: str
    received: str | None = None
    file: str | None = None
    reason: str = ""
    used: int = 0
    not_used: int = 0


@dataclass(frozen=True)
class Reconciled:
    """Everything the master workbook shows, computed from the store alone."""

    periods: tuple[str, ...]
    org: dict[tuple[str, str], OrgValue] = field(default_factory=dict)
    by_department: dict[tuple[str, str, str], Value] = field(default_factory=dict)
    submissions: dict[tuple[str, str], SubmissionStatus] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    files_in: int = 0
    history: dict[str, tuple[tuple[str, float], ...]] = field(default_factory=dict)
    """Indicator code -> (period, organisation value) for months with a value, oldest first,
    reaching back before `periods` where the store has it: the series SPC limits come from."""
    reviews: dict[Finding, Review] = field(default_factory=dict)
    """The reviewer's decision in force on each finding that has one (issue 17)."""
    excluded: dict[tuple[str, str, str], str] = field(default_factory=dict)
    """(indicator, department, period) -> why a reviewer left that value out of the organisation figure."""
    stages: dict[tuple[str, str], str] = field(default_factory=dict)
    """(department, period) -> 'received', 'reviewed' or 'signed off by NAME on DATE'."""
