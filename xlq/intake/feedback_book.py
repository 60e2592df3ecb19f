"""Writing the feedback copy: by editing the return's package, or, when it is not of a shape that
writer knows, by loading it into openpyxl.

Both write exactly `xlq.intake.feedback.lay_out`'s layout. The package writer
(`xlq.intake.feedback_package`) is the usual path: it copies the department's parts as they are
and adds the summary sheet, the styles and the notes, about 40x cheaper than openpyxl's load and
save (issue 20: a copy for every return with a warning made openpyxl the largest cost of a
cold run). openpyxl stays for the packages the package writer refuses (existing notes, a flagged
cell inside a merged range or never written, strict OOXML ...). Both load an untrusted file, so
they run in the isolated worker child, never in the watcher.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from xlq.intake.feedback import EDGES, FILLS, INKS, SUMMARY_SHEET, WIDTHS, FeedbackLayout, Mark, SummaryCell, lay_out
from xlq.intake.feedback_package import NotSpliceable, splice_feedback


def write_feedback(src: str, dst: str, marks: Sequence[Mark], title: str = "", lines: Sequence[str] = ()) -> str:
    """Write the feedback copy of `src` to `dst`: the summary sheet first (and active), every
    flagged cell filled and noted. Written to a temporary name and renamed, so a half-written copy
    is never left under the final name. Returns which writer wrote it: "package", "openpyxl" (a
    package the package writer refused), or "openpyxl, after ..." (the package writer failed)."""
    temporary = Path(dst).with_name("." + Path(dst).name + ".part")
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    try:
        try:
            splice_feedback(src, str(temporary), marks, title, lines)
            writer = "package"
        except MemoryError:
            raise  # the worker's limit: openpyxl would need more, and the worker reports it
        except Exception as exc:  # refused (NotSpliceable), or a shape it misjudged: the copy still gets written
            write_with_openpyxl(src, str(temporary), marks, title, lines)
            writer = "openpyxl" if isinstance(exc, NotSpliceable) else f"openpyxl, after {type(exc).__name__}"
        os.replace(temporary, dst)
    except BaseException:  # no half-written copy is left in the department's folder
        temporary.unlink(missing_ok=True)
        raise
    return writer


def write_with_openpyxl(src: str, dst: str, marks: Sequence[Mark], title: str = "", lines: Sequence[str] = ()) -> None:
    """The copy through openpyxl's load and save: any workbook openpyxl can open."""
    # imported here for start-up time: only the worker child writes feedback (openpyxl takes 0.14 s)
    import openpyxl
    from openpyxl.comments import Comment
    from openpyxl.styles import Border, PatternFill, Side
    from openpyxl.worksheet.hyperlink import Hyperlink

    workbook = openpyxl.load_workbook(src)
    default = workbook["Return"] if "Return" in workbook.sheetnames else workbook.worksheets[0]
    layout = lay_out(marks, title, lines, workbook.sheetnames, default.title)
    for note in layout.notes:
        try:
            cell = workbook[note.sheet][note.ref]
            cell.fill = PatternFill("solid", fgColor=FILLS[note.worst])
            edge = Side(style="medium", color=EDGES[note.worst])
            cell.border = Border(left=edge, right=edge, top=edge, bottom=edge)
            comment = Comment(note.text, "xlq")
            comment.width, comment.height = note.width, note.height
            cell.comment = comment
        except (AttributeError, ValueError, KeyError):
            continue  # a merged or otherwise unwritable cell keeps its summary row
    for ws in workbook.worksheets:
        ws.sheet_view.tabSelected = False
    _print_on_a4(default, landscape=True)

    sheet = workbook.create_sheet(SUMMARY_SHEET, 0)
    sheet.sheet_properties.tabColor = "C00000"
    for column, width in zip("ABCDE", WIDTHS, strict=True):
        sheet.column_dimensions[column].width = width
    for spec in layout.cells:
        cell = sheet.cell(spec.row, spec.column, spec.value)
        cell.data_type = "n" if isinstance(spec.value, int) else "s"  # never a formula, whatever the text starts with
        _style(cell, spec, layout)
    for merge in layout.merges:
        sheet.merge_cells(merge)
    for row, height in layout.heights:
        sheet.row_dimensions[row].height = height
    for ref, location, display in layout.links:
        sheet[ref].hyperlink = Hyperlink(ref=ref, location=location, display=display)
    sheet.print_title_rows = f"{layout.header_row}:{layout.header_row}"
    sheet.freeze_panes = None
    _print_on_a4(sheet, landscape=False)
    sheet.sheet_view.tabSelected = True
    workbook.active = 0
    workbook.save(dst)


def _style(cell, spec: SummaryCell, layout: FeedbackLayout) -> None:
    # imported here for start-up time, as in write_with_openpyxl
    from openpyxl.styles import Alignment, Font, PatternFill

    if spec.style == "headline":
        cell.font = Font(bold=True, size=15, color=layout.headline_colour)
    elif spec.style == "heading":
        cell.font = Font(bold=True, size=12, color="005EB8")
    elif spec.style == "header":
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="1F3864")
    else:
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        if spec.style in FILLS:
            cell.fill = PatternFill("solid", fgColor=FILLS[spec.style])
            cell.font = Font(bold=True, color=INKS[spec.style])
        elif spec.style == "link":
            cell.font = Font(color="0563C1", underline="single")


def _print_on_a4(ws, *, landscape: bool) -> None:
    """A4, one page wide, as many pages down as it takes."""
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_margins.left = ws.page_margins.right = 0.5
    ws.page_margins.top = ws.page_margins.bottom = 0.6
