"""The Queries block of a department's template (issue 17): the reviewer's open questions about
its earlier figures, each with an unlocked Response cell that comes back with the return.

Each row carries the query's sealed reference (`Ref`), so the response is matched to the query
it answers, never by position; the reader finds the block by its `Ref` and `Response` titles.
Everything shown here came from a reviewer or a department, so it is written as plain text:
openpyxl would otherwise store a note starting with '=' as a live formula.
"""

from __future__ import annotations

from collections.abc import Sequence

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.worksheet.datavalidation import DataValidation

from xlq.core.months import month_label
from xlq.core.review import Query

QUERIES_SHEET = "Queries"
TITLES = ("Month", "Indicator", "Value", "Finding", "Reviewer's question", "Asked by", "Response", "Ref")
WIDTHS = (9, 12, 12, 40, 40, 24, 48, 30)
RESPONSE_LIMIT = 1000
_INPUT = PatternFill("solid", fgColor="FFF2CC")
_HEAD = PatternFill("solid", fgColor="1F3864")
_EDGE = Side(style="thin", color="BF8F00")


def _text(ws, row: int, col: int, value: str, **style: object) -> None:
    cell = ws.cell(row, col)
    cell.value = value[:32000]
    cell.data_type = "s"  # never a formula, whatever the text starts with
    for key, item in style.items():
        setattr(cell, key, item)


def write_queries_sheet(wb: Workbook, queries: Sequence[Query], font: str) -> None:
    """Add the Queries sheet (only when there are queries): one row per open query."""
    if not queries:
        return
    ws = wb.create_sheet(QUERIES_SHEET, 1)
    for n, width in enumerate(WIDTHS, start=1):
        ws.column_dimensions[chr(ord("A") + n - 1)].width = width
    _text(ws, 1, 1, "Queries from the reviewer", font=Font(name=font, size=14, bold=True, color="1F3864"))
    _text(ws, 2, 1, "The reviewer has a question about these figures. Type your answer in the yellow Response "
          "cell; it is read with this return and shown to the reviewer.", font=Font(name=font, italic=True, size=9))
    header = 4
    for col, title in enumerate(TITLES, start=1):
        _text(ws, header, col, title, font=Font(name=font, bold=True, color="FFFFFF"), fill=_HEAD)
    wrap = Alignment(wrap_text=True, vertical="top")
    for n, q in enumerate(sorted(queries, key=lambda q: (q.period, q.indicator)), start=header + 1):
        for col, value in enumerate((month_label(q.period), q.indicator, q.value, q.message, q.note or "(no note)",
                                     f"{q.reviewer}, {q.asked_at[:10]}"), start=1):
            _text(ws, n, col, value, alignment=wrap, font=Font(name=font, size=10))
        _text(ws, n, 7, q.response, alignment=wrap, fill=_INPUT, protection=Protection(locked=False),
              border=Border(left=_EDGE, right=_EDGE, top=_EDGE, bottom=_EDGE), font=Font(name=font, size=10))
        _text(ws, n, 8, q.ref, font=Font(name=font, size=8, color="7F7F7F"))
        ws.row_dimensions[n].height = max(30, 13 * (1 + max(len(q.message), len(q.note)) // 45))
    last = header + len(queries)
    check = DataValidation(type="textLength", operator="lessThanOrEqual", formula1=str(RESPONSE_LIMIT),
                           allow_blank=True, showErrorMessage=True, error=f"At most {RESPONSE_LIMIT} characters.")
    check.add(f"G{header + 1}:G{last}")
    ws.add_data_validation(check)
    ws.page_setup.orientation = "landscape"  # one page wide, as the Return sheet prints
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.protection.sheet = True
