"""The demo's review rounds (issue 17), played through the real files as a reviewer would.

After November's returns the Head of Performance opens `outbox/review.xlsx`, accepts two
warnings and queries one figure; Luton answers the query in the Queries block of its December
template, and the answer comes back with its December return. After December's returns the
reviewer decides every December finding of five departments and signs them off: MSK (still
owing its outbreaks figure) and Dental (no return) stay open, so the master's title block says
"5 of 7 signed off". No decision here changes a figure, so the board paper's figures stand.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path

from openpyxl import load_workbook

from xlq.core.config import Workspace
from xlq.core.months import month_label
from xlq.watch.results import RunSummary
from xlq.watch.service import run_once

REVIEWER = "Sam Okafor (Head of Performance)"
FIRST_ROUND = "2023-11"
FIRST_DECISIONS = {
    ("LUT", "2023-10", "TRN-SGA-L1"): ("Accept", "Checked with the training lead: the October push on safeguarding."),
    ("NORF", "2023-08", "TRN-FIRE"): ("Accept", "Everyone in post was trained in August; 100% is right."),
    ("LUT", "2023-10", "FFT-RESPONSES"): ("Query", "961 responses is twice September's. Is it right?"),
}
ANSWERS = {("LUT", "FFT-RESPONSES"): "Yes: the text-message survey started in October, so many more patients "
                                     "answered. It stays on from now on."}
LAST_ROUND = "2023-12"
SIGNED_OFF = ("LUT", "ICASH", "BEDS", "NORF", "CORP")
NOTES = {
    "large-change-unexplained": "Seasonal: December compliments always rise (cards and thank-you letters).",
    "denominator-shift": "The new rostering extract counts days available per FTE; agreed with workforce.",
}


def decide(book: Path, out: Path, decisions: Mapping[tuple[str, str, str], tuple[str, str]],
           sign: tuple[tuple[str, str], ...] = (), reviewer: str = REVIEWER) -> Path:
    """Type decisions (by department, month and indicator) and sign-offs (department, month) into a
    review workbook."""
    workbook = load_workbook(book)
    sheet = workbook["Review"]
    sheet["B3"] = reviewer
    header = next(r for r in sheet.iter_rows(max_row=30) if r[0].value == "Department")
    col = {c.value: c.column for c in header}
    for row in sheet.iter_rows(min_row=header[0].row + 1):
        month = row[col["Month"] - 1].value
        key = (row[0].value, f"{month:%Y-%m}" if isinstance(month, dt.datetime) else "", row[col["Indicator"] - 1].value)
        if key in decisions:
            choice, note = decisions[key]
            sheet.cell(row[0].row, col["Decision"], choice)
            sheet.cell(row[0].row, col["Note"], note)
    for row in workbook["Sign-off"].iter_rows(min_row=5):
        month = row[2].value
        if (row[0].value, f"{month:%Y-%m}" if isinstance(month, dt.datetime) else "") in sign:
            row[5].value = "Sign off"
    out.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(out)
    return out


def last_round_decisions(book: Path) -> dict[tuple[str, str, str], tuple[str, str]]:
    """Accept every December finding of the departments to be signed off, with a note by rule."""
    sheet = load_workbook(book, read_only=True)["Review"]
    rows = list(sheet.iter_rows(values_only=True))
    at = next(n for n, r in enumerate(rows) if r and r[0] == "Department")
    head = rows[at]
    out = {}
    for r in rows[at + 1:]:
        month = r[head.index("Month")]
        if r[0] in SIGNED_OFF and isinstance(month, dt.datetime) and f"{month:%Y-%m}" == LAST_ROUND:
            out[(r[0], LAST_ROUND, r[head.index("Indicator")])] = ("Accept", NOTES.get(r[head.index("Rule")], "Checked."))
    return out


def answer_queries(path: Path, answers: Mapping[str, str]) -> None:
    """Type responses (by indicator) into a filled return's Queries block, as the department would."""
    workbook = load_workbook(path)
    if "Queries" not in workbook.sheetnames:
        return
    sheet = workbook["Queries"]
    header = next(r for r in sheet.iter_rows(max_row=10) if r[0].value == "Month")
    col = {c.value: c.column for c in header}
    for row in sheet.iter_rows(min_row=header[0].row + 1):
        text = answers.get(row[col["Indicator"] - 1].value)
        if text:
            sheet.cell(row[0].row, col["Response"], text)
    workbook.save(path)


def review_round(workspace: Workspace, period: str, when: dt.datetime) -> RunSummary | None:
    """After `period`'s returns: the reviewer's decisions, dropped into the review folder and read."""
    book = workspace.review_path
    if period == FIRST_ROUND:
        decisions, sign = FIRST_DECISIONS, ()
    elif period == LAST_ROUND:
        decisions, sign = last_round_decisions(book), tuple((d, LAST_ROUND) for d in SIGNED_OFF)
    else:
        return None
    out = workspace.root / "inbox" / workspace.review.folder / f"review {month_label(period)}.xlsx"
    decide(book, out, decisions, sign)
    os.utime(out, (when.timestamp(), when.timestamp()))
    return run_once(workspace, progress=False, clock=lambda: when.astimezone(), console_level=30)
