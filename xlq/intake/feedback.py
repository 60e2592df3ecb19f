"""The feedback copy: the department's own workbook, opening on a page that says what happened.

Every return with findings gets one (not only rejected ones: a return accepted with errors lost
figures, and its department must hear which), written where the department looks for it
(`feedback/<DEPT>/` beside the inbox, or the share path set in xlq.toml). The copy opens on a
first sheet, "What happened", that says in plain words what became of the return and what to do,
then lists every finding, file-level and cell-level, each with a link to its cell; each offending
cell on the Return sheet is filled and carries a note. Both sheets print on A4.

`feedback_request` (what to write, from the store's record) runs in the watcher; `lay_out` decides
where each part of the copy goes, and `xlq.intake.feedback_book.write_feedback` writes it from the
untrusted file, so that runs in the isolated worker child (`xlq.intake.worker`), never in the
watcher itself.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from xlq.core.config import Workspace
from xlq.core.model import Finding, not_used, outcome_words
from xlq.core.months import month_label
from xlq.core.report import plain, sort_findings, what_to_do
from xlq.core.rules import RULES
from xlq.store.queries import Submission

SUMMARY_SHEET = "What happened"


@dataclass(frozen=True)
class Mark:
    """One finding as the feedback copy shows it: a highlighted cell with a note, and a row of
    the summary list. `cell` may be a range (`F14:G14`: a ratio row's two inputs)."""

    severity: str
    message: str
    sheet: str | None = None
    cell: str | None = None
    indicator: str | None = None
    title: str = ""


@dataclass(frozen=True)
class FeedbackRequest:
    """Everything `write_feedback` needs besides the file: where, the marks and the words."""

    path: Path
    marks: tuple[Mark, ...]
    title: str
    lines: tuple[str, ...]


def feedback_folder(workspace: Workspace, department: str | None) -> Path:
    """Where a department finds its feedback copies: `feedback/<DEPT>/` (configurable)."""
    base = workspace.feedback_path
    return base / department if department else base


def feedback_request(workspace: Workspace, submission: Submission, findings: Sequence[Finding], stored_name: str,
                     used: int, folder_department: str | None = None) -> FeedbackRequest | None:
    """What the feedback copy of one recorded return says, or None when it needs none (no error
    or warning, or a duplicate of a file already answered)."""
    if submission.kind == "duplicate":
        return None
    ordered = [f for f in sort_findings(findings) if f.severity in ("error", "warning")]
    if not ordered:
        return None
    department = submission.department or folder_department
    inbox = workspace.people_inbox(department)
    errors = [f for f in ordered if f.severity == "error"]
    warnings = [f for f in ordered if f.severity == "warning"]
    dropped = not_used(errors)
    outcome = submission.outcome
    what = f"{department or 'Unknown department'}" + (f", {month_label(submission.period)}" if submission.period else "")
    lines = [f"{what}. Received {submission.received_at[:16].replace('T', ' ')} as {plain(submission.original_name, 200)}.",
             "## What happened"]
    if outcome == "rejected":
        lines.append("Your return was rejected: nothing from this file was used in the trust's scorecard.")
        fix = ("Correct each problem listed below (cells marked red on the Return sheet carry a note saying what is "
               f"wrong), save the workbook as .xlsx and drop the whole file into {inbox} again.")
        lines += ["## What to do", what_to_do(errors, inbox, workspace.people_inbox, fix)]
    elif outcome == "accepted_with_errors":
        total = used + len(dropped)
        lines.append(f"Your return was accepted with errors: {len(dropped)} of your {total} figures were NOT used in the "
                     f"trust's scorecard ({', '.join(dropped)}); the other {used} were used.")
        lines += ["## What to do",
                  "Correct each cell marked red on the Return sheet (its note says what is wrong), save the workbook and "
                  f"drop the whole file into {inbox} again. The new file replaces this one, so the missing figures are "
                  "counted."]
        if warnings:
            lines.append("Cells marked orange were used, but look unusual: check them, and if a figure is right say why "
                         "in its Comment.")
    else:
        lines.append(f"Your return was accepted with warnings: all {used} figures were used in the trust's scorecard, "
                     "but some look unusual.")
        lines += ["## What to do",
                  "Check each cell marked orange on the Return sheet. If a figure is right, nothing needs to change; say "
                  f"why in its Comment next month. If it is wrong, correct it and drop the whole file into {inbox} again."]
    lines.append(f"## Everything we found ({len(errors)} error(s), {len(warnings)} warning(s))")
    marks = tuple(Mark(f.severity, plain(f.message, 1000), f.sheet, f.cell, f.indicator,
                       RULES[f.rule].title if f.rule in RULES else f.rule) for f in ordered)
    title = f"{outcome_words(outcome).capitalize()}: {plain(submission.original_name, 120)}"
    stem = Path(stored_name).name
    path = feedback_folder(workspace, department) / f"{stem}.feedback.xlsx"
    return FeedbackRequest(path, marks, title, tuple(lines))


# -- the copy's layout: what both writers (`xlq.intake.feedback_book`) put where ------------------

WIDTHS = (5, 10, 16, 16, 70)  # the summary sheet's columns A:E
FILLS = {"error": "FFC7CE", "warning": "F8CBAD"}  # warning orange, not the template's input yellow
INKS = {"error": "9C0006", "warning": "833C0B"}
EDGES = {"error": "C00000", "warning": "ED7D31"}
HEADLINES = {"rejected": "C00000", "accepted with errors": "C00000", "accepted with warnings": "9C5700"}
HEADER_COLUMNS = ("#", "Severity", "Cell (click)", "Indicator", "What is wrong, and what to do")

_CELL_RE = re.compile(r"^\$?([A-Z]{1,3})\$?([0-9]{1,7})$")
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class SummaryCell:
    """One written cell of the "What happened" sheet. `style` is one of: headline, heading,
    text (wrapped, top), header, error, warning (a severity cell), link. Never a formula."""

    row: int
    column: int
    value: str | int
    style: str


@dataclass(frozen=True)
class CellNote:
    """A flagged cell of the department's own sheet: filled and bordered in the worst
    severity's colours, with a note (`width` x `height` px) holding every finding on it."""

    sheet: str
    ref: str
    worst: str
    text: str
    width: int
    height: int


@dataclass(frozen=True)
class FeedbackLayout:
    """Everything the copy adds to the department's workbook, decided once so the two writers
    cannot drift: the summary sheet's cells, merged lines, row heights and links (cell,
    location, shown text), the table's header row (printed on every page), and the notes."""

    cells: tuple[SummaryCell, ...]
    merges: tuple[str, ...]
    heights: tuple[tuple[int, float], ...]
    links: tuple[tuple[str, str, str], ...]
    header_row: int
    headline_colour: str
    notes: tuple[CellNote, ...]


def clean_text(value: str) -> str:
    """Text a worksheet can hold: characters XML 1.0 forbids become '?'."""
    return _ILLEGAL.sub("?", value)


def cell_refs(ref: str | None) -> list[str]:
    """`F14` -> [F14]; `F14:G14` -> [F14, G14] (the two ends of a short range); else []."""
    out = []
    for part in (ref or "").upper().split(":")[:2]:
        match = _CELL_RE.match(part)
        if match is None:
            return []
        out.append(match[1] + match[2])
    return out


def sheet_location(sheet: str, ref: str) -> str:
    """An internal link's target: `'Return'!F14` (a quote in the sheet's name doubled)."""
    return "'" + sheet.replace("'", "''") + "'!" + ref


def lay_out(marks: Sequence[Mark], title: str, lines: Sequence[str], sheetnames: Sequence[str],
            default: str) -> FeedbackLayout:
    """The copy of a workbook with `sheetnames` whose main sheet is `default`: a mark naming a
    sheet the workbook lacks is shown on `default`."""
    grouped: dict[tuple[str, str], list[Mark]] = {}
    for mark in marks:
        sheet = mark.sheet if mark.sheet in sheetnames else default
        for ref in cell_refs(mark.cell):
            grouped.setdefault((sheet, ref), []).append(mark)
    notes = []
    for (sheet, ref), cell_marks in grouped.items():
        worst = "error" if any(m.severity == "error" for m in cell_marks) else "warning"
        text = "\n".join(clean_text(f"{m.title or m.severity}: {m.message}") for m in cell_marks)
        notes.append(CellNote(sheet, ref, worst, text[:2000], 320, 40 + 16 * min(20, text.count("\n") + len(text) // 50)))

    cells = [SummaryCell(1, 1, clean_text(title or "What happened to your return"), "headline")]
    merges, heights, links = [], [], []
    row = 2
    for line in lines:
        row += 1
        if line.startswith("## "):
            row += 1
            cells.append(SummaryCell(row, 1, clean_text(line[3:]), "heading"))
            continue
        cells.append(SummaryCell(row, 1, clean_text(line), "text"))
        merges.append(f"A{row}:E{row}")
        heights.append((row, 15 * max(1, math.ceil(len(line) / 110)) + 3))
    row += 1
    header = row
    cells += [SummaryCell(header, n, text, "header") for n, text in enumerate(HEADER_COLUMNS, 1)]
    for number, mark in enumerate(marks, 1):
        row += 1
        refs = cell_refs(mark.cell)
        where = f"{mark.sheet or default}!{mark.cell}" if refs else "whole file"
        message = clean_text(f"{mark.title}: {mark.message}" if mark.title else mark.message)
        severity = mark.severity if mark.severity in FILLS else "text"
        cells += [SummaryCell(row, 1, number, "text"), SummaryCell(row, 2, clean_text(mark.severity), severity),
                  SummaryCell(row, 3, clean_text(where), "link" if refs else "text"),
                  SummaryCell(row, 4, clean_text(mark.indicator or ""), "text"), SummaryCell(row, 5, message, "text")]
        if refs:
            target = mark.sheet if mark.sheet in sheetnames else default
            links.append((f"C{row}", sheet_location(target, refs[0]), clean_text(where)))
        heights.append((row, 15 * max(1, math.ceil(len(message) / 75)) + 3))
    colour = next((c for words, c in HEADLINES.items() if title.lower().startswith(words)), "1F3864")
    return FeedbackLayout(tuple(cells), tuple(merges), tuple(heights), tuple(links), header, colour, tuple(notes))
