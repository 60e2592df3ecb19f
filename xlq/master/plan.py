"""What the master workbook will show, worked out before a single cell is written.

The sheets link to each other (a flagged Scorecard cell to its Validation Errors row and
back), so every row and column position is decided here first, as plain data that tests
can check without opening a workbook. Nothing in this module imports XlsxWriter.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from xlq.core.catalogue import Catalogue, Indicator
from xlq.core.config import Workspace
from xlq.core.model import Finding, OrgValue, Reconciled
from xlq.core.months import month_label
from xlq.core.rules import RULES
from xlq.core.timeline import redefinition_note
from xlq.master.returns import return_finding

LINK_LIMIT = 65_530
"""XlsxWriter (and Excel) keep at most this many links per sheet; later ones vanish silently."""
URL_LIMIT = 2_079
NOTE_LIMIT = 1_000
TEXT_LIMIT = 1_000
CELL_LIMIT = 32_767
CUT_FLAG = " [cut]"

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
RECEIVED = ("accepted", "accepted_with_warnings", "accepted_with_errors", "late")
NO_VALUE_STATUSES = ("rejected", "missing")

SCORECARD = "Scorecard"
BREAKDOWN = "By Department"
ERRORS = "Validation Errors"
SUBMISSIONS = "Submissions"
ABOUT = "About"
SHEETS = (SCORECARD, BREAKDOWN, ERRORS, SUBMISSIONS, ABOUT)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
"""Control characters, and the bidi embeddings, overrides and isolates (U+202A-U+202E,
U+2066-U+2069) that make text display other than it reads."""


def clean(text: object, limit: int = TEXT_LIMIT) -> str:
    """Text from a return made safe to show: no control characters, and over-long text
    cut with a visible flag instead of being dropped (Excel refuses cells past 32,767)."""
    value = "" if text is None else str(text)
    if not (value.isascii() and value.isprintable()):  # most text is plain: nothing to replace
        value = _CONTROL.sub("?", value).encode("utf-8", "replace").decode("utf-8")
    limit = min(limit, CELL_LIMIT)
    if len(value) > limit:
        value = value[: limit - len(CUT_FLAG)] + CUT_FLAG
    return value


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def period_date(period: str) -> dt.datetime:
    year, month = period.split("-")
    return dt.datetime(int(year), int(month), 1)


def col_letter(col: int) -> str:
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def cell_ref(row: int, col: int) -> str:
    """Zero-based row/col to `F12`."""
    return f"{col_letter(col)}{row + 1}"


def internal_link(sheet: str, row: int, col: int) -> str:
    return f"internal:'{sheet}'!{cell_ref(row, col)}"


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    width: float


class Layout:
    """Column positions of a sheet, computed from an ordered list so one more column
    (the SPC `Variation` and `Assurance` columns) is one more entry, not renumbering."""

    def __init__(self, columns: Sequence[Column]):
        self.columns = tuple(columns)
        self._index = {c.key: n for n, c in enumerate(self.columns)}
        if len(self._index) != len(self.columns):
            raise ValueError("column keys must be unique")

    def col(self, key: str) -> int:
        return self._index[key]

    def __contains__(self, key: str) -> bool:
        return key in self._index

    @property
    def last(self) -> int:
        return len(self.columns) - 1


def month_key(period: str) -> str:
    return f"month:{period}"


PERIOD_WIDTH = 8.3

LEAD_COLUMNS = (
    Column("code", "Code", 9),
    Column("name", "Indicator", 34),
    Column("description", "Description", 46),
    Column("target", "Target", 13),
)
TAIL_COLUMNS = (Column("trend", "Trend", 17), Column("variation", "Variation", 21), Column("assurance", "Assurance", 21),
                Column("findings", "Findings", 13))


def code_width(catalogue: Catalogue) -> float:
    """Wide enough for the longest shown code on one line (codes such as INC-MODERATE)."""
    longest = max((len(i.code) for i in catalogue.indicators if i.show), default=4)
    return float(min(18, max(9, longest + 2)))


def scorecard_layout(periods: Sequence[str], lead: Sequence[Column] = LEAD_COLUMNS,
                     tail: Sequence[Column] = TAIL_COLUMNS, code: float | None = None) -> Layout:
    months = [Column(month_key(p), month_label(p), PERIOD_WIDTH) for p in periods]
    if code is not None:
        lead = [Column(c.key, c.title, code) if c.key == "code" else c for c in lead]
    return Layout([*lead, *months, *tail])


def submissions_layout(periods: Sequence[str]) -> Layout:
    return Layout([Column("code", "Code", 9), Column("name", "Department", 40),
                   *(Column(month_key(p), month_label(p), 12) for p in periods),
                   Column("received", "Received", 10)])


@dataclass(frozen=True)
class Row:
    """One Scorecard row: a domain section, a sub-domain heading or an indicator."""

    kind: str  # "section" | "subsection" | "indicator"
    text: str
    indicator: Indicator | None = None


def indicator_rows(catalogue: Catalogue) -> list[Row]:
    """Indicators in catalogue order under their domain and sub-domain headings."""
    rows: list[Row] = []
    domain = subdomain = None
    for ind in catalogue.indicators:
        if not ind.show:
            continue
        if ind.domain != domain:
            domain, subdomain = ind.domain, None
            rows.append(Row("section", ind.domain))
        if ind.subdomain and ind.subdomain != subdomain and ind.subdomain.lower() != ind.domain.lower():
            rows.append(Row("subsection", ind.subdomain))
        subdomain = ind.subdomain
        rows.append(Row("indicator", ind.name, ind))
    return rows


# ---------------------------------------------------------------- RAG thresholds


@dataclass(frozen=True)
class RagRule:
    """One conditional-format rule over `first..last` month columns of a row.

    Formulas carry an ISNUMBER guard because Excel's plain cell-value rules treat a blank
    cell as 0 (red) and text such as N/A as larger than any number (green)."""

    colour: str  # "green" | "amber" | "red"
    formula: str


def _num(x: float) -> str:
    return f"{x:.10g}"


def thresholds(indicator: Indicator, periods: Sequence[str], values: Sequence[float | None] = ()) -> list[float | None]:
    """The value each month is judged against; None where there is nothing to judge by.

    Each month's threshold depends on that month alone (`Target.at`): a deadline target
    ("90% by March 2024") is judged against the agreed trajectory or baseline the catalogue
    states, else against the target itself, so a month keeps its colour from one report's
    window to the next; a month is judged by the target in force then (`Indicator.as_of`).
    `values` is kept for callers' convenience and not used."""
    return [indicator.as_of(period).target.at(period) for period in periods]


def judged_runs(indicator: Indicator, periods: Sequence[str]) -> list[tuple[int, int, float, Indicator]]:
    """Consecutive months judged alike: (first index, last index, threshold, the indicator as in
    force then). A new target from April starts a new run even when its figure is the same."""
    runs: list[tuple[int, int, float, Indicator]] = []
    for n, period in enumerate(periods):
        ind = indicator.as_of(period)
        limit = ind.target.at(period)
        if limit is None:
            continue
        last = runs[-1] if runs else None
        if last and last[1] == n - 1 and (last[2], last[3].target.kind, last[3].tolerance) == (
                limit, ind.target.kind, ind.tolerance):
            runs[-1] = (last[0], n, limit, last[3])
        else:
            runs.append((n, n, limit, ind))
    return runs


def target_changes(indicator: Indicator, periods: Sequence[str]) -> list[tuple[str, str, str]]:
    """(month, was, now) for each shown month whose target in force differs from the month before."""
    out = []
    for before, period in zip(periods, periods[1:], strict=False):
        was, now = indicator.as_of(before).target.text, indicator.as_of(period).target.text
        if was != now and indicator.targets:
            out.append((period, was, now))
    return out


def rag_rules(indicator: Indicator, threshold: float, cell: str) -> list[RagRule]:
    """Green/amber/red rules for cells judged against `threshold`, relative to `cell`
    (the range's top-left). Mutually exclusive, so no viewer depends on rule priority."""
    tol = indicator.tolerance
    guard = f"ISNUMBER({cell})"
    if indicator.target.kind == "floor":
        edge = threshold - tol
        rules_ = [RagRule("green", f"AND({guard},{cell}>={_num(threshold)})")]
        if tol > 0:
            rules_.append(RagRule("amber", f"AND({guard},{cell}>={_num(edge)},{cell}<{_num(threshold)})"))
        rules_.append(RagRule("red", f"AND({guard},{cell}<{_num(edge)})"))
    else:
        edge = threshold + tol
        rules_ = [RagRule("green", f"AND({guard},{cell}<={_num(threshold)})")]
        if tol > 0:
            rules_.append(RagRule("amber", f"AND({guard},{cell}>{_num(threshold)},{cell}<={_num(edge)})"))
        rules_.append(RagRule("red", f"AND({guard},{cell}>{_num(edge)})"))
    return rules_


def threshold_runs(limits: Sequence[float | None]) -> list[tuple[int, int, float]]:
    """Consecutive months sharing one threshold: (first index, last index, threshold)."""
    runs: list[tuple[int, int, float]] = []
    for n, limit in enumerate(limits):
        if limit is None:
            continue
        if runs and runs[-1][1] == n - 1 and runs[-1][2] == limit:
            runs[-1] = (runs[-1][0], n, limit)
        else:
            runs.append((n, n, limit))
    return runs


def sparkline_group(indicator: Indicator) -> str:
    """Sparklines are grouped by what a high point means: good, bad or neither."""
    return indicator.direction


# ---------------------------------------------------------------- the plan


@dataclass
class Plan:
    """Every position the sheets share, and why each flagged cell is flagged."""

    reconciled: Reconciled
    catalogue: Catalogue
    workspace: Workspace
    built_at: dt.datetime
    layout: Layout
    rows: list[Row]
    header_row: int
    first_row: int
    indicator_row: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    errors_first_row: int = 0
    finding_target: dict[int, tuple[str, int, int]] = field(default_factory=dict)
    cell_findings: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    submission_findings: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    breakdown_findings: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    flag_reasons: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    empty_absent: set[tuple[str, str]] = field(default_factory=set)
    coverage: dict[str, Coverage] = field(default_factory=dict)
    cell_notes: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    submissions_row: dict[str, int] = field(default_factory=dict)
    submissions_first_col: int = 2
    departments: tuple[str, ...] = ()
    _reporting: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)

    @property
    def periods(self) -> tuple[str, ...]:
        return self.reconciled.periods

    @property
    def month(self) -> str | None:
        return self.periods[-1] if self.periods else None

    def errors_row(self, index: int) -> int:
        return self.errors_first_row + index

    def values(self, code: str) -> list[float | None]:
        return [self._org(code, p).value for p in self.periods]

    def org(self, code: str, period: str) -> OrgValue:
        return self._org(code, period)

    def _org(self, code: str, period: str) -> OrgValue:
        found = self.reconciled.org.get((code, period))
        return found if found is not None else OrgValue(code, period, None)

    def severity_counts(self) -> dict[str, int]:
        counts = {"error": 0, "warning": 0, "info": 0}
        for f in self.findings:
            counts[f.severity] = counts.get(f.severity, 0) + 1
        return counts

    def returns_summary(self) -> tuple[int, int, dict[str, int]]:
        """(received, expected, count by status) for the reporting month."""
        month = self.month
        statuses: dict[str, int] = {}
        for (dept, period), status in self.reconciled.submissions.items():
            if period == month and dept in self.departments:
                statuses[status.status] = statuses.get(status.status, 0) + 1
        received = sum(n for s, n in statuses.items() if s in RECEIVED)
        expected = len(self.workspace.departments_in(month)) if month else len(self.departments)
        return received, expected, statuses

    @property
    def month_departments(self) -> tuple[str, ...]:
        """The departments of the reporting month (By Department): in force then, or with a return for it."""
        month = self.month or ""
        in_force = frozenset(self.workspace.departments_in(month))  # once, not per department: D x D at 420 (46 s)
        return tuple(d for d in self.departments if d in in_force or (d, month) in self.reconciled.submissions)

    def reporting_departments(self, indicator: Indicator) -> tuple[str, ...]:
        if indicator.derived and indicator.source and indicator.source in self.catalogue:
            indicator = self.catalogue[indicator.source]
        if indicator.code not in self._reporting:  # once per indicator: each month's coverage asks again
            every = frozenset(self.departments)
            self._reporting[indicator.code] = tuple(d for d in self.departments if indicator.reports(d, every))
        return self._reporting[indicator.code]


def _sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Errors first; within a severity the newest month first, then department and indicator."""
    out = sorted(findings, key=lambda f: (f.department or "", f.indicator or "", f.rule, f.cell or ""))
    out.sort(key=lambda f: f.period or "9999-99", reverse=True)
    out.sort(key=lambda f: SEVERITY_ORDER.get(f.severity, 3))
    return out


def _shown_findings(reconciled: Reconciled, departments: Sequence[str]) -> list[Finding]:
    """The findings for the shown months (and unidentified files), plus a row for every
    rejected or missing return the store reported without a finding of its own."""
    shown = set(reconciled.periods)
    findings = [f for f in reconciled.findings if f.period is None or f.period in shown]
    have = {(f.rule, f.department, f.period) for f in findings}
    for (dept, period), status in sorted(reconciled.submissions.items()):
        if period not in shown:
            continue
        if status.status == "missing" and ("return-missing", dept, period) not in have:
            findings.append(return_finding("missing", dept, period))
        elif status.status == "rejected" and ("return-rejected", dept, period) not in have:
            findings.append(return_finding("rejected", dept, period, reason=status.reason or "see rejected/",
                                           file=status.file))
    return _sort_findings(findings)


def make_plan(reconciled: Reconciled, catalogue: Catalogue, workspace: Workspace, built_at: dt.datetime,
              *, header_row: int = 7, errors_first_row: int = 4, submissions_first_row: int = 4) -> Plan:
    layout = scorecard_layout(reconciled.periods, code=code_width(catalogue))
    rows = indicator_rows(catalogue)
    departments = tuple(dict.fromkeys([*workspace.department_codes,
                                       *sorted({d for d, _ in reconciled.submissions} - set(workspace.department_codes))]))
    plan = Plan(reconciled, catalogue, workspace, built_at, layout, rows, header_row, header_row + 1,
                errors_first_row=errors_first_row, departments=departments)
    for n, row in enumerate(rows):
        if row.indicator is not None:
            plan.indicator_row[row.indicator.code] = plan.first_row + n
    plan.submissions_row = {d: submissions_first_row + n for n, d in enumerate(departments)}
    if reconciled.periods:
        plan.submissions_first_col = submissions_layout(reconciled.periods).col(month_key(reconciled.periods[0]))
    plan.findings = _shown_findings(reconciled, departments)
    _link_findings(plan)
    _flag_cells(plan)
    _comments(plan)
    _timeline_notes(plan)
    return plan


def _timeline_notes(plan: Plan) -> None:
    """Notes where the catalogue changed inside the window (issue 21): a new target on the first
    month it applies, a redefinition on the first month of the new series."""
    shown = plan.periods
    for row in plan.rows:
        ind = row.indicator
        if ind is None:
            continue
        for period, was, now in target_changes(ind, shown):
            plan.cell_notes.setdefault((ind.code, period), []).append(
                f"Target changed from {month_label(period)}: {now} (was {was}). Each month is coloured "
                "against the target in force then.")
        if ind.redefined_from and shown and shown[0] < ind.redefined_from <= shown[-1]:
            plan.cell_notes.setdefault((ind.code, ind.redefined_from), []).append(redefinition_note(ind))


def _comments(plan: Plan) -> None:
    """Departments' comments on a figure (an explanation, or the demo saying a value is
    invented), shown in the month cell's note: a note alone is not a flag."""
    said: dict[tuple[str, str], dict[str, list[str]]] = {}
    commented = ((key, value) for key, value in plan.reconciled.by_department.items()
                 if value.comment and key[0] in plan.indicator_row)  # few: sorting all 330,000 took a second
    for (code, dept, period), value in sorted(commented, key=lambda item: item[0]):
        said.setdefault((code, period), {}).setdefault(value.comment, []).append(dept)
    for key, comments in said.items():
        plan.cell_notes[key] = [f"Comment ({', '.join(depts)}): {text}" for text, depts in comments.items()]


def _link_findings(plan: Plan) -> None:
    shown = set(plan.periods)
    for n, f in enumerate(plan.findings):
        if f.period not in shown:
            continue
        assert f.period is not None
        if f.indicator in plan.indicator_row:
            key = (f.indicator, f.period)
            plan.cell_findings.setdefault(key, []).append(n)
            plan.finding_target[n] = (SCORECARD, plan.indicator_row[f.indicator], plan.layout.col(month_key(f.period)))
            if f.department and f.period == plan.month:
                plan.breakdown_findings.setdefault((f.indicator, f.department), []).append(n)
        elif f.department in plan.submissions_row:
            plan.submission_findings.setdefault((f.department, f.period), []).append(n)
            col = plan.submissions_first_col + plan.periods.index(f.period)
            plan.finding_target[n] = (SUBMISSIONS, plan.submissions_row[f.department], col)


COVERAGE_FLAGS = ("partial", "no value: none from", "built from partial months", "cross-check not made")
"""Starts of the organisation-figure notes (`xlq.master.reconcile`) that say who did not report: they
describe the month's coverage, shown once per month in the coverage row, not a problem with
the figure itself."""


def is_coverage(flag: str) -> bool:
    return flag.lower().startswith(COVERAGE_FLAGS)


@dataclass(frozen=True)
class Coverage:
    """Who reported in one month: shown once, in the row above the month's column title."""

    period: str
    received: int
    expected: int
    absent: tuple[tuple[str, str, str], ...]  # (department, status, reason)
    partial: tuple[str, ...]  # indicators whose figure lacks an absent department
    findings: tuple[int, ...]  # return-level findings (missing, rejected, late, corrected)

    @property
    def complete(self) -> bool:
        return not self.absent


def _flag_cells(plan: Plan) -> None:
    """Decide which month cells are flagged, and the reasons their notes give.

    A flag is a finding about that figure: a value finding on the cell (an error or warning
    from a return, a correction, a cross-check difference). A department whose whole return
    is missing or rejected is coverage, shown once per month (`Plan.coverage`); a blank in a
    month the indicator is not due (`Indicator.due`) is expected and stays plain."""
    subs = plan.reconciled.submissions
    for row in plan.rows:
        ind = row.indicator
        if ind is None:
            continue
        reporters = plan.reporting_departments(ind)
        for period in plan.periods:
            key = (ind.code, period)
            org = plan.org(ind.code, period)
            reasons = [f for f in org.flags if not is_coverage(f)]
            for n in plan.cell_findings.get(key, []):
                f = plan.findings[n]
                who = f"{f.department}: " if f.department else ""
                if (review := plan.reconciled.reviews.get(f)) is not None and review.settled:  # issue 17
                    title = RULES[f.rule].title if f.rule in RULES else f.rule
                    plan.cell_notes.setdefault(key, []).append(f"Reviewed ({who}{title}): {review.text()}")
                    continue
                reasons.append(f"{who}{f.message}" + (f" [{review.text()}]" if review else ""))
            empty = org.value is None and org.marker is None
            if empty and ind.due(period) and reporters and all(
                    (d, period) in subs and subs[(d, period)].status in NO_VALUE_STATUSES for d in reporters):
                plan.empty_absent.add(key)
            if reasons:
                plan.flag_reasons[key] = list(dict.fromkeys(reasons))
    for period in plan.periods:
        plan.coverage[period] = _coverage(plan, period)


def _coverage(plan: Plan, period: str) -> Coverage:
    subs = plan.reconciled.submissions
    statuses = {d: subs[(d, period)] for d in plan.departments if (d, period) in subs}
    absent = tuple((d, s.status, s.reason) for d, s in statuses.items() if s.status in NO_VALUE_STATUSES)
    gone = {d for d, _, _ in absent}
    partial = tuple(r.indicator.code for r in plan.rows if r.indicator is not None and r.indicator.due(period)
                    and gone & set(plan.reporting_departments(r.indicator)))
    found = tuple(n for d in plan.departments for n in plan.submission_findings.get((d, period), []))
    received = sum(1 for s in statuses.values() if s.status in RECEIVED)
    return Coverage(period, received, len(statuses), absent, partial, found)
