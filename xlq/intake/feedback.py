"""The feedback copy: the department's own workbook with each problem cell highlighted and explained.

It loads an untrusted file with openpyxl, so it runs in the isolated worker child
(`xlq.intake.worker.Worker.feedback`), never in the watcher itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Mark:
    """One finding as the feedback copy shows it: a highlighted cell with a comment."""

    severity: str
    message: str
    sheet: str | None = None
    cell: str | None = None
    indicator: str | None = None


_CELL_RE = re.compile(r"^\$?([A-Z]{1,3})\$?([0-9]{1,7})$")
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: str) -> str:
    return _ILLEGAL.sub("?", value)


def write_feedback(src: str, dst: str, marks: Sequence[Mark], title: str = "") -> None:
    """A copy of the department's own workbook with each problem cell highlighted and commented.

    Runs in the child (it loads an untrusted file with openpyxl). Written to a temporary name
    and renamed, so a half-written copy is never left under the final name.
    """
    # imported here for start-up time: only the worker child writes feedback (openpyxl takes 0.14 s)
    import openpyxl
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill

    fills = {"error": PatternFill("solid", fgColor="FFC7CE"), "warning": PatternFill("solid", fgColor="FFEB9C")}
    workbook = openpyxl.load_workbook(src)
    default = workbook["Return"] if "Return" in workbook.sheetnames else workbook.worksheets[0]
    notes: dict[tuple[str, str], list[Mark]] = {}
    for mark in marks:
        match = _CELL_RE.match((mark.cell or "").upper())
        if match is None:
            continue
        sheet = mark.sheet if mark.sheet in workbook.sheetnames else default.title
        notes.setdefault((sheet, match[1] + match[2]), []).append(mark)
    for (sheet, ref), cell_marks in notes.items():
        try:
            cell = workbook[sheet][ref]
            worst = "error" if any(m.severity == "error" for m in cell_marks) else "warning"
            cell.fill = fills[worst]
            text = "\n".join(_text(m.message) for m in cell_marks)
            comment = Comment(text[:2000], "xlq")
            comment.width, comment.height = 320, 40 + 16 * min(20, text.count("\n") + len(text) // 50)
            cell.comment = comment
        except (AttributeError, ValueError, KeyError):
            continue  # a merged or otherwise unwritable cell keeps its sheet-level entry below
    sheet = workbook.create_sheet("Feedback")
    sheet.append([_text(title or "What to fix before you resubmit")])
    sheet["A1"].data_type = "s"  # the title starts with the file's name, which may start with "="
    sheet["A1"].font = Font(bold=True, size=13)
    sheet.append([])
    sheet.append(["Severity", "Where", "Indicator", "What to do"])
    for cell in sheet[3]:
        cell.font = Font(bold=True)
    for mark in sorted(marks, key=lambda m: m.severity != "error"):
        where = f"{mark.sheet or default.title}!{mark.cell}" if mark.cell else "whole file"
        row = [mark.severity, where, mark.indicator or "", _text(mark.message)]
        sheet.append(row)
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        if mark.severity in fills:
            sheet.cell(sheet.max_row, 1).fill = fills[mark.severity]
    for column, width in zip("ABCD", (10, 16, 14, 90), strict=True):
        sheet.column_dimensions[column].width = width
    workbook.active = workbook.sheetnames.index(default.title)
    temporary = Path(dst).with_name("." + Path(dst).name + ".part")
    workbook.save(temporary)
    os.replace(temporary, dst)
