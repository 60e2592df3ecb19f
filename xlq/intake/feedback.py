"""The feedback copy: the department's own workbook, opening on a page that says what happened.

Every return with findings gets one (not only rejected ones: a return accepted with errors lost
figures, and its department must hear which), written where the department looks for it
(`feedback/<DEPT>/` beside the inbox, or the share path set in xlq.toml). The copy opens on a
first sheet, "What happened", that says in plain words what became of the return and what to do,
then lists every finding, file-level and cell-level, each with a link to its cell; each offending
cell on the Return sheet is filled and carries a note. Both sheets print on A4.

`feedback_request` (what to write, from the store's record) runs in the watcher; `write_feedback`
loads an untrusted file with openpyxl, so it runs in the isolated worker child
(`xlq.intake.worker.Worker.feedback`), never in the watcher itself.
"""

from __future__ import annotations

import math
import os
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


_CELL_RE = re.compile(r"^\$?([A-Z]{1,3})\$?([0-9]{1,7})$")
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_FILLS = {"error": "FFC7CE", "warning": "F8CBAD"}  # warning orange, not the template's input yellow
_INKS = {"error": "9C0006", "warning": "833C0B"}
_EDGES = {"error": "C00000", "warning": "ED7D31"}
_HEADLINE = {"rejected": "C00000", "accepted with errors": "C00000", "accepted with warnings": "9C5700"}


def _text(value: str) -> str:
    return _ILLEGAL.sub("?", value)


def _cells(ref: str | None) -> list[str]:
    """`F14` -> [F14]; `F14:G14` -> [F14, G14] (the two ends of a short range); else []."""
    out = []
    for part in (ref or "").upper().split(":")[:2]:
        match = _CELL_RE.match(part)
        if match is None:
            return []
        out.append(match[1] + match[2])
    return out


def write_feedback(src: str, dst: str, marks: Sequence[Mark], title: str = "", lines: Sequence[str] = ()) -> None:
    """Write the feedback copy of `src` to `dst`: the summary sheet first (and active), every
    flagged cell filled and noted. Runs in the child (it loads an untrusted file with openpyxl).
    Written to a temporary name and renamed, so a half-written copy is never left under the final name."""
    # imported here for start-up time: only the worker child writes feedback (openpyxl takes 0.14 s)
    import openpyxl
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.worksheet.hyperlink import Hyperlink

    workbook = openpyxl.load_workbook(src)
    default = workbook["Return"] if "Return" in workbook.sheetnames else workbook.worksheets[0]
    notes: dict[tuple[str, str], list[Mark]] = {}
    for mark in marks:
        sheet = mark.sheet if mark.sheet in workbook.sheetnames else default.title
        for ref in _cells(mark.cell):
            notes.setdefault((sheet, ref), []).append(mark)
    for (sheet, ref), cell_marks in notes.items():
        try:
            cell = workbook[sheet][ref]
            worst = "error" if any(m.severity == "error" for m in cell_marks) else "warning"
            cell.fill = PatternFill("solid", fgColor=_FILLS[worst])
            edge = Side(style="medium", color=_EDGES[worst])
            cell.border = Border(left=edge, right=edge, top=edge, bottom=edge)
            text = "\n".join(_text(f"{m.title or m.severity}: {m.message}") for m in cell_marks)
            comment = Comment(text[:2000], "xlq")
            comment.width, comment.height = 320, 40 + 16 * min(20, text.count("\n") + len(text) // 50)
            cell.comment = comment
        except (AttributeError, ValueError, KeyError):
            continue  # a merged or otherwise unwritable cell keeps its summary row
    for ws in workbook.worksheets:
        ws.sheet_view.tabSelected = False
    _print_on_a4(default, landscape=True)

    sheet = workbook.create_sheet(SUMMARY_SHEET, 0)
    sheet.sheet_properties.tabColor = "C00000"
    widths = (5, 10, 16, 16, 70)
    for column, width in zip("ABCDE", widths, strict=True):
        sheet.column_dimensions[column].width = width
    headline = sheet.cell(1, 1, _text(title or "What happened to your return"))
    colour = next((c for words, c in _HEADLINE.items() if title.lower().startswith(words)), "1F3864")
    headline.data_type = "s"  # the title starts with the file's name, which may start with "="
    headline.font = Font(bold=True, size=15, color=colour)
    row = 2
    for line in lines:
        row += 1
        if line.startswith("## "):
            row += 1
            heading = sheet.cell(row, 1, _text(line[3:]))
            heading.data_type = "s"  # never a formula, whatever the text starts with
            heading.font = Font(bold=True, size=12, color="005EB8")
            continue
        cell = sheet.cell(row, 1, _text(line))
        cell.data_type = "s"
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=5)
        sheet.row_dimensions[row].height = 15 * max(1, math.ceil(len(line) / 110)) + 3
    row += 1
    header = row
    for n, text in enumerate(("#", "Severity", "Cell (click)", "Indicator", "What is wrong, and what to do"), 1):
        cell = sheet.cell(header, n, text)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="1F3864")
    for number, mark in enumerate(marks, 1):
        row += 1
        refs = _cells(mark.cell)
        where = f"{mark.sheet or default.title}!{mark.cell}" if refs else "whole file"
        message = _text(f"{mark.title}: {mark.message}" if mark.title else mark.message)
        values = (number, mark.severity, where, mark.indicator or "", message)
        for column, value in enumerate(values, 1):
            cell = sheet.cell(row, column, value)
            cell.data_type = "n" if column == 1 else "s"  # never a formula, whatever the text starts with
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        severity = sheet.cell(row, 2)
        if mark.severity in _FILLS:
            severity.fill = PatternFill("solid", fgColor=_FILLS[mark.severity])
            severity.font = Font(bold=True, color=_INKS[mark.severity])
        if refs:
            target = mark.sheet if mark.sheet in workbook.sheetnames else default.title
            link = sheet.cell(row, 3)
            link.hyperlink = Hyperlink(ref=link.coordinate, location=f"'{target}'!{refs[0]}", display=where)
            link.font = Font(color="0563C1", underline="single")
        sheet.row_dimensions[row].height = 15 * max(1, math.ceil(len(message) / 75)) + 3
    sheet.print_title_rows = f"{header}:{header}"
    sheet.freeze_panes = None
    _print_on_a4(sheet, landscape=False)
    sheet.sheet_view.tabSelected = True
    workbook.active = 0
    temporary = Path(dst).with_name("." + Path(dst).name + ".part")
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    workbook.save(temporary)
    os.replace(temporary, dst)


def _print_on_a4(ws, *, landscape: bool) -> None:
    """A4, one page wide, as many pages down as it takes."""
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_margins.left = ws.page_margins.right = 0.5
    ws.page_margins.top = ws.page_margins.bottom = 0.6
