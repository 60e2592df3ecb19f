"""Department return templates: one workbook per department and month.

The template is the first line of data quality. Only the yellow cells can be typed in, each
one validated by its unit the moment it is typed; a checklist at the top counts what is still
empty or out of range; and the identity (organisation, department, period, catalogue version)
lives on a very-hidden sheet and in defined names, so the reader never depends on where rows
are. The layout contract shared with the reader (xlq/intake/reader.py): the header titles
in `HEADERS`, rows found by a non-empty `Code`, and the identity on the `xlq_meta` sheet.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.workbook.protection import WorkbookProtection
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from xlq import __version__
from xlq.core.catalogue import Catalogue, Indicator
from xlq.core.config import Workspace
from xlq.core.months import PERIOD_RE, month_label
from xlq.core.review import Query
from xlq.template.queries import write_queries_sheet
from xlq.template.text import (
    COMMENT_SUGGESTIONS,
    ERRORS,
    MARKER_TEXT,
    PROMPTS,
    UNIT_LABELS,
    instruction_blocks,
)

TEMPLATE_FORMAT = "xlq-return/1"
TEMPLATE_VERSION = __version__
RETURN_SHEET, INSTRUCTIONS_SHEET, META_SHEET, LISTS_SHEET = "Return", "Instructions", "xlq_meta", "xlq_lists"
HEADERS = ("Code", "Indicator", "Unit", "Target", "Last month", "Value", "Numerator", "Denominator", "%", "Comment")
META_KEYS = ("template", "organisation", "department", "period", "catalogue_version", "template_version")
CATALOGUE_KEY = "catalogue"
"""The extra xlq_meta row carrying the department's indicators (JSON), so `xlq validate` can check
a return on the department's own machine, with no workspace (xlq.intake.standalone)."""

_COL = {title: chr(ord("A") + i) for i, title in enumerate(HEADERS)}
_MISSING, _BAD_VALUE, _BAD_RATIO = "K", "L", "M"  # hidden per-row helpers the checklist sums
_WIDTHS = {"A": 13, "B": 52, "C": 11, "D": 12, "E": 11, "F": 12, "G": 12, "H": 13, "I": 9, "J": 44}
_CONTACT_ROWS = {"Prepared by": 6, "Email": 7, "Date": 8}
_HEADER_ROW = 11

INPUT_FILL = PatternFill("solid", fgColor="FFF2CC")
_LOCKED_FILL = PatternFill("solid", fgColor="E7E6E6")
_HEAD_FILL = PatternFill("solid", fgColor="1F3864")
_DOMAIN_FILL = PatternFill("solid", fgColor="005EB8")
_SUB_FILL = PatternFill("solid", fgColor="DCE6F1")
_BOX_FILL = PatternFill("solid", fgColor="F2F2F2")
_GOOD = (PatternFill("solid", fgColor="C6EFCE", bgColor="C6EFCE"), Font(color="006100", bold=True))
_BAD = (PatternFill("solid", fgColor="FFC7CE", bgColor="FFC7CE"), Font(color="9C0006", bold=True))
_THIN = Side(style="thin", color="BFBFBF")
_GRID = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_INPUT_BORDER = Border(*(Side(style="thin", color="BF8F00"),) * 4)
_UNLOCKED = Protection(locked=False)
FONT_NAME = "Arial"  # on every machine or metric-compatible (Liberation Sans); Calibri is not


def _font(**kw: object) -> Font:
    kw.setdefault("size", 10)
    return Font(name=FONT_NAME, **kw)  # type: ignore[arg-type]


_WRAP = Alignment(wrap_text=True, vertical="top")

def write_templates(catalogue: Catalogue, workspace: Workspace, period: str, departments: Sequence[str] | None = None,
                    last_month_for: Callable[[str, str], Mapping[str, str]] | None = None,
                    queries_for: Callable[[str], Sequence[Query]] | None = None) -> list[Path]:
    """Write `templates/YYYY-MM/<CODE>.xlsx` for each department; a department that reports
    nothing in `period` gets no template (an empty form would only invite a 'nothing filled' rejection)."""
    _check_period(period)
    codes = tuple(departments) if departments else workspace.department_codes
    folder = workspace.root / "templates" / period
    written = []
    for code in codes:
        if workspace.department(code) is None:
            raise ValueError(f"unknown department {code!r}; xlq.toml lists {', '.join(workspace.department_codes)}")
        if code not in workspace.departments_in(period) or not catalogue.for_department(
                code, period, workspace.departments_in(period)):
            continue  # a department closed, merged or not yet started that month reports nothing
        last = last_month_for(code, period) if last_month_for else None
        written.append(write_template(catalogue, workspace, code, period, folder / f"{code}.xlsx", last,
                                      queries_for(code) if queries_for else ()))
    return written


def write_template(catalogue: Catalogue, workspace: Workspace, department: str, period: str, path: Path,
                   last_month: Mapping[str, str] | None = None, queries: Sequence[Query] = ()) -> Path:
    """Write one department's return for `period`; `last_month` maps codes to the accepted text
    of the previous period, shown beside each input so a typo stands out; `queries` are the
    reviewer's open questions, answered in the Queries block (issue 17)."""
    _check_period(period)
    dept = workspace.department(department)
    if dept is None:
        raise ValueError(f"unknown department {department!r}; xlq.toml lists {', '.join(workspace.department_codes)}")
    indicators = catalogue.for_department(department, period, workspace.departments_in(period))
    wb = Workbook()
    ws = wb.active
    ws.title = RETURN_SHEET
    first, last = _write_table(ws, indicators, last_month or {})
    _write_header_block(ws, workspace, dept.name, department, period, first, last)
    _write_instructions(wb.create_sheet(INSTRUCTIONS_SHEET), workspace, department, period)
    write_queries_sheet(wb, [q for q in queries if q.period < period], FONT_NAME)
    _write_lists(wb, ws, first, last)
    _write_meta(wb, workspace, department, period, catalogue.version,
                catalogue_json(catalogue.for_department(department, period, workspace.department_codes)))
    wb.security = WorkbookProtection(lockStructure=True)
    wb.properties.title = f"{month_label(period)} scorecard return - {dept.name}"
    wb.properties.creator = f"xlq {__version__}"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".xlq-", suffix=".xlsx", dir=path.parent)
    os.close(fd)
    try:
        wb.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _check_period(period: str) -> None:
    if not PERIOD_RE.match(period):
        raise ValueError(f"period {period!r} is not a month written YYYY-MM")


def _markers(ref: str) -> str:
    return f'OR({ref}="N/A",{ref}="TBA",{ref}="-")'


def _valid(kind: str, ref: str, num: str = "", den: str = "") -> str:
    """The Excel formula that is TRUE when `ref` holds an acceptable entry: a number meeting
    the unit's rule or one of the seed's markers. Custom formulas rather than whole/decimal
    types, because those would refuse N/A and TBA, which the returns legitimately contain."""
    number = {
        "count": f"AND({ref}>=0,{ref}=INT({ref}))",
        "percent": f"AND({ref}>=0,{ref}<=1)",
        "decimal": f"{ref}>=0",
        "numerator": f"AND({ref}>=0,{ref}=INT({ref}),OR(NOT(ISNUMBER({den})),{ref}<={den}))",
        "denominator": f"AND({ref}>=0,{ref}=INT({ref}),OR(NOT(ISNUMBER({num})),{num}<={ref}))",
        "numerator_decimal": f"AND({ref}>=0,OR(NOT(ISNUMBER({den})),{ref}<={den}))",
        "denominator_decimal": f"AND({ref}>=0,OR(NOT(ISNUMBER({num})),{num}<={ref}))",
    }[kind]
    return f"IF(ISNUMBER({ref}),{number},{_markers(ref)})"


def _kind(indicator: Indicator) -> str:
    if indicator.unit == "count" and not indicator.whole:
        return "decimal"
    return indicator.unit if indicator.unit in ("count", "percent") else "decimal"


def _blank(ref: str) -> str:
    return f"LEN(TRIM({ref}))=0"


def _write_table(ws: Worksheet, indicators: Sequence[Indicator], last_month: Mapping[str, str]) -> tuple[int, int]:
    """Write the header row and one row per indicator under domain rows; returns the first and
    last table row so the checklist and validations can span them."""
    for letter, width in _WIDTHS.items():
        ws.column_dimensions[letter].width = width
    ws.column_dimensions["A"].width = max(_WIDTHS["A"], 2 + 0.85 * max((len(i.code) for i in indicators), default=0))
    for letter in (_MISSING, _BAD_VALUE, _BAD_RATIO):
        ws.column_dimensions[letter].hidden = True
    for col, title in enumerate(HEADERS, 1):
        cell = ws.cell(_HEADER_ROW, col, title)
        cell.font, cell.fill, cell.border = _font(bold=True, color="FFFFFF"), _HEAD_FILL, _GRID
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    ws.row_dimensions[_HEADER_ROW].height = 20
    row, domain, subdomain = _HEADER_ROW, None, None
    validations: dict[str, list[tuple[int, int]]] = {}
    for ind in indicators:
        if ind.domain != domain:
            row += 1
            domain, subdomain = ind.domain, None
            _section_row(ws, row, ind.domain, _DOMAIN_FILL, _font(bold=True, color="FFFFFF", size=12))
        if ind.subdomain and ind.subdomain != subdomain:
            row += 1
            subdomain = ind.subdomain
            _section_row(ws, row, ind.subdomain, _SUB_FILL, _font(bold=True, color="1F3864"))
        row += 1
        _indicator_row(ws, row, ind, last_month.get(ind.code))
        if ind.unit == "ratio":  # FTE, days and hours take decimals, as the reader does (Indicator.whole)
            suffix = "" if ind.whole else "_decimal"
            validations.setdefault("numerator" + suffix, []).append((row, row))
            validations.setdefault("denominator" + suffix, []).append((row, row))
        else:
            validations.setdefault(_kind(ind), []).append((row, row))
    first, last = _HEADER_ROW + 1, max(row, _HEADER_ROW + 1)
    for kind, rows in validations.items():
        column = {"numerator": _COL["Numerator"], "denominator": _COL["Denominator"], "numerator_decimal": _COL["Numerator"],
                  "denominator_decimal": _COL["Denominator"]}.get(kind, _COL["Value"])
        for start, end in _runs(rows):
            _add_value_validation(ws, kind, column, start, end)
    _invalid_highlight(ws, first, last)
    ws.freeze_panes = f"C{_HEADER_ROW + 1}"
    ws.print_title_rows = f"{_HEADER_ROW}:{_HEADER_ROW}"
    ws.print_area = f"A1:J{last}"
    return first, last


def _runs(rows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge consecutive rows so each validation covers one block and its relative formula
    has one unambiguous anchor cell (Excel and LibreOffice agree only for single blocks)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(rows):
        if merged and start == merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _section_row(ws: Worksheet, row: int, title: str, fill: PatternFill, font: Font) -> None:
    for col in range(1, len(HEADERS) + 1):
        ws.cell(row, col).fill = fill
    cell = ws.cell(row, 2, title)
    cell.font = font
    ws.row_dimensions[row].height = 18 if fill is _DOMAIN_FILL else 16


def _indicator_row(ws: Worksheet, row: int, ind: Indicator, last: str | None) -> None:
    c = {title: ws.cell(row, col) for col, title in enumerate(HEADERS, 1)}
    c["Code"].value, c["Unit"].value = ind.code, UNIT_LABELS[ind.unit]
    c["Code"].font = _font(size=9, color="595959")
    name = ind.name + ("" if ind.required else " (optional)")
    description = ind.description if ind.description and ind.description != ind.name else ""
    if description:
        c["Indicator"].value = CellRichText(TextBlock(InlineFont(rFont=FONT_NAME, sz=10, b=True), name),
                                            TextBlock(InlineFont(rFont=FONT_NAME, sz=9, color="595959"), "\n" + description))
    else:
        c["Indicator"].value = name
        c["Indicator"].font = _font(bold=True)
    c["Target"].value = ind.target.text.replace(">=", "≥ ").replace("<=", "≤ ")
    c["Last month"].value = _last_month_value(last, ind)
    fmt = ind.number_format(entry=True)
    for title in HEADERS:
        c[title].border = _GRID
        c[title].alignment = _WRAP if title in ("Indicator", "Comment") else Alignment(vertical="center")
        if title not in ("Code", "Indicator", "%"):
            c[title].font = _font()
    c["Last month"].number_format = fmt
    c["Last month"].alignment = Alignment(horizontal="right", vertical="center")
    inputs = ("Numerator", "Denominator") if ind.unit == "ratio" else ("Value",)
    for title in ("Value", "Numerator", "Denominator", "%"):
        c[title].fill = _LOCKED_FILL
    for title in (*inputs, "Comment"):
        c[title].fill, c[title].protection, c[title].border = INPUT_FILL, _UNLOCKED, _INPUT_BORDER
    c["Value"].number_format = fmt
    c["Numerator"].number_format = c["Denominator"].number_format = "#,##0"
    g, h = f"{_COL['Numerator']}{row}", f"{_COL['Denominator']}{row}"
    if ind.unit == "ratio":
        c["%"].value = f'=IF(AND(ISNUMBER({g}),ISNUMBER({h}),N({h})>0),{g}/{h},"")'
        c["%"].number_format, c["%"].font = fmt, _font(bold=True)
        bad = f"OR(AND(NOT({_blank(g)}),NOT({_valid('numerator', g, g, h)})),"
        bad += f"AND(NOT({_blank(h)}),NOT({_valid('denominator', h, g, h)})))"
        ws[f"{_BAD_RATIO}{row}"] = f"=IF({bad},1,0)"
        missing = f"IF(OR({_markers(g)},{_markers(h)}),0,IF(OR({_blank(g)},{_blank(h)}),1,0))"
    else:
        f = f"{_COL['Value']}{row}"
        ws[f"{_BAD_VALUE}{row}"] = f"=IF({_blank(f)},0,IF({_valid(_kind(ind), f)},0,1))"
        missing = f"IF({_blank(f)},1,0)"
    ws[f"{_MISSING}{row}"] = f"={missing}" if ind.required else 0
    width = _WIDTHS["B"] - 2
    name_lines = max(1, math.ceil(len(name) / (width * 0.95)))
    description_lines = math.ceil(len(description) / (width * 1.15)) if description else 0
    ws.row_dimensions[row].height = max(18.0, 13.0 * name_lines + 11.5 * description_lines + 4)


def _last_month_value(text: str | None, ind: Indicator) -> float | str | None:
    """Show last month's figure as a number in the row's format where it is one, else as given (N/A)."""
    if text is None or not str(text).strip():
        return None
    raw = str(text).strip()
    try:
        return float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        return raw


def _add_value_validation(ws: Worksheet, kind: str, column: str, start: int, end: int) -> None:
    ref = f"{column}{start}"
    g, h = f"{_COL['Numerator']}{start}", f"{_COL['Denominator']}{start}"
    title, prompt = PROMPTS[kind]
    dv = DataValidation(
        type="custom", formula1=_valid(kind, ref, g, h), allow_blank=True, showInputMessage=True,
        showErrorMessage=True, errorStyle="stop", promptTitle=title,
        prompt=f"{prompt} If it does not apply type N/A; not available yet, TBA; nothing to report, -. "
               "Explain anything unusual in Comment.",
        errorTitle="Not accepted", error=ERRORS[kind].format(m=MARKER_TEXT),
    )
    dv.add(f"{ref}:{column}{end}" if end > start else ref)
    ws.add_data_validation(dv)


def _invalid_highlight(ws: Worksheet, first: int, last: int) -> None:
    """Turn a typed-over or pasted invalid entry red (pasting bypasses data validation)."""
    fill, font = _BAD
    value, num, den = _COL["Value"], _COL["Numerator"], _COL["Denominator"]
    ws.conditional_formatting.add(f"{value}{first}:{value}{last}",
                                  FormulaRule(formula=[f"${_BAD_VALUE}{first}=1"], fill=fill, font=font))
    ws.conditional_formatting.add(f"{num}{first}:{den}{last}",
                                  FormulaRule(formula=[f"${_BAD_RATIO}{first}=1"], fill=fill, font=font))


def _write_header_block(ws: Worksheet, workspace: Workspace, name: str, code: str, period: str,
                        first: int, last: int) -> None:
    ws.merge_cells("A1:J1")
    ws["A1"] = f"Quality scorecard return - {month_label(period)}"
    ws["A1"].font = _font(bold=True, size=16, color="1F3864")
    ws["A2"] = workspace.organisation
    ws["A2"].font = _font(size=11, color="595959")
    ws.row_dimensions[1].height = 26
    due = workspace.due_date(period)
    facts = (("Department", f"{name} ({code})"), ("Period", month_label(period)),
             ("Due by", f"{due.day} {due:%B %Y}"))
    for row, (label, value) in enumerate(facts, 3):
        ws.cell(row, 1, label).font = _font(bold=True)
        ws.cell(row, 2, value).font = _font(bold=True, size=12 if label != "Due by" else 11)
    for label, row in _CONTACT_ROWS.items():
        ws.cell(row, 1, label).font = _font(bold=True)
        cell = ws.cell(row, 2)
        cell.fill, cell.protection, cell.border = INPUT_FILL, _UNLOCKED, _INPUT_BORDER
        cell.alignment, cell.font = Alignment(horizontal="left"), _font(size=11)
    ws.cell(_CONTACT_ROWS["Date"], 2).number_format = "d mmm yyyy"
    _contact_validation(ws, period)
    key = ws.cell(9, 1)
    key.fill, key.border = INPUT_FILL, _INPUT_BORDER
    ws.cell(9, 2, "Yellow cells are for you to fill in; everything else is locked. See the Instructions sheet.")
    ws.cell(9, 2).font = _font(italic=True, color="595959")
    _write_checklist(ws, code, first, last)
    ws.sheet_view.selection[0].activeCell = f"B{_CONTACT_ROWS['Prepared by']}"
    ws.sheet_view.selection[0].sqref = f"B{_CONTACT_ROWS['Prepared by']}"
    ws.sheet_view.zoomScale = 100
    ws.protection.sheet = True
    ws.protection.formatColumns = ws.protection.formatRows = False
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.oddFooter.left.text = f"{workspace.organisation} - {code} - {month_label(period)}"
    ws.oddFooter.right.text = "Page &P of &N"
    ws.sheet_properties.tabColor = "1F3864"


def _contact_validation(ws: Worksheet, period: str) -> None:
    year, month = (int(p) for p in period.split("-"))
    rules = (
        ("Prepared by", DataValidation(type="textLength", operator="between", formula1="2", formula2="100",
                                       promptTitle="Prepared by", prompt="Your name, so we know whom to ask about this return.",
                                       error="Type your name (2 to 100 characters).")),
        ("Email", DataValidation(type="custom", formula1=f'AND(ISNUMBER(FIND("@",B{_CONTACT_ROWS["Email"]})),'
                                 f'ISERROR(FIND(" ",B{_CONTACT_ROWS["Email"]})))',
                                 promptTitle="Email", prompt="Your work email address, for questions about this return.",
                                 error="Type an email address such as jane.smith@example.nhs.uk (no spaces).")),
        ("Date", DataValidation(type="date", operator="between", formula1=f"DATE({year},{month},1)",
                                formula2=f"DATE({year + 2},{month},1)", promptTitle="Date",
                                prompt="The date you completed the return, e.g. 5/1/2024.",
                                error=f"Type a date on or after 1 {month_label(period)} (the first day of the period).")),
    )
    for label, dv in rules:
        dv.allow_blank, dv.showInputMessage, dv.showErrorMessage = True, True, True
        dv.errorStyle, dv.errorTitle = "stop", "Not accepted"
        dv.add(f"B{_CONTACT_ROWS[label]}")
        ws.add_data_validation(dv)


def _write_checklist(ws: Worksheet, code: str, first: int, last: int) -> None:
    """Live counts, the way government returns show 'still to do' as you type."""
    contact = f"B{_CONTACT_ROWS['Prepared by']}:B{_CONTACT_ROWS['Date']}"
    items = (
        ("Required figures still empty", f"=SUM({_MISSING}{first}:{_MISSING}{last})"),
        ("Figures not accepted (out of range or not a number: red cells)",
         f"=SUM({_BAD_VALUE}{first}:{_BAD_RATIO}{last})"),
        ("Contact details still empty (Prepared by, Email, Date)", f"=COUNTBLANK({contact})"),
    )
    ws.merge_cells("D3:J3")
    ws["D3"] = "Checklist before you send (updates as you type)"
    ws["D3"].font, ws["D3"].fill = _font(bold=True, color="FFFFFF"), _HEAD_FILL
    for row, (label, formula) in enumerate(items, 4):
        ws.merge_cells(f"D{row}:H{row}")
        ws.cell(row, 4, label).font = _font()
        ws.cell(row, 9, formula).alignment = Alignment(horizontal="center")
        ws.cell(row, 10, f'=IF(I{row}=0,"Done","To do")')
        ws.cell(row, 9).font = ws.cell(row, 10).font = _font(bold=True)
    ws.merge_cells("D7:I7")
    ws["D7"] = "Ready to send?"
    ws["D7"].font = _font(bold=True)
    ws["J7"] = f'=IF(I4+I5+I6=0,"Yes: save, drop in inbox/{code}/","Not yet")'
    ws["J7"].font = _font(bold=True)
    ws.merge_cells("D8:J8")
    ws["D8"] = "N/A, TBA and - count as filled; explain them in Comment."
    ws["D8"].font = _font(italic=True, size=9, color="595959")
    for row in range(3, 9):
        for col in range(4, 11):
            cell = ws.cell(row, col)
            cell.border = _GRID
            if row > 3 and not (row in (4, 5, 6, 7) and col >= 9):
                cell.fill = _BOX_FILL
    for row in range(4, 8):
        ws.cell(row, 10).alignment = Alignment(horizontal="center")
    good_fill, good_font = _GOOD
    bad_fill, bad_font = _BAD
    cf = ws.conditional_formatting
    cf.add("I4:J6", FormulaRule(formula=["$I4=0"], fill=good_fill, font=good_font))
    cf.add("I4:J6", FormulaRule(formula=["$I4>0"], fill=bad_fill, font=bad_font))
    cf.add("J7", FormulaRule(formula=["$I$4+$I$5+$I$6=0"], fill=good_fill, font=good_font))
    cf.add("J7", FormulaRule(formula=["$I$4+$I$5+$I$6>0"], fill=bad_fill, font=bad_font))


def _write_lists(wb: Workbook, ws: Worksheet, first: int, last: int) -> None:
    """Suggested comment openers as a drop-down that still allows free text. The list is longer
    than the 255 characters Excel allows inline, so it lives on a hidden sheet."""
    lists = wb.create_sheet(LISTS_SHEET)
    for n, text in enumerate(COMMENT_SUGGESTIONS, 1):
        lists.cell(n, 1, text)
    lists.sheet_state = "hidden"
    lists.protection.sheet = True
    col = _COL["Comment"]
    dv = DataValidation(type="list", formula1=f"{LISTS_SHEET}!$A$1:$A${len(COMMENT_SUGGESTIONS)}", allow_blank=True,
                        showInputMessage=True, showErrorMessage=False, promptTitle="Comment",
                        prompt="Explain anything unusual: why the figure changed, why N/A or TBA. "
                               "Pick a starting phrase from the list or type your own text.",
                        errorTitle="Comment", error="Any text is accepted here.")
    dv.add(f"{col}{first}:{col}{last}")
    ws.add_data_validation(dv)


def _write_meta(wb: Workbook, workspace: Workspace, department: str, period: str, catalogue_version: str,
                indicators: str) -> None:
    meta = wb.create_sheet(META_SHEET)
    values = (TEMPLATE_FORMAT, workspace.organisation, department, period, catalogue_version, TEMPLATE_VERSION)
    for row, (key, value) in enumerate(zip(META_KEYS, values, strict=True), 1):
        meta.cell(row, 1, key)
        meta.cell(row, 2, value).number_format = "@"
        wb.defined_names[f"xlq_{key}"] = DefinedName(f"xlq_{key}", attr_text=f"{META_SHEET}!$B${row}")
    meta.cell(len(META_KEYS) + 1, 1, CATALOGUE_KEY)
    meta.cell(len(META_KEYS) + 1, 2, indicators).number_format = "@"
    meta.column_dimensions["A"].width, meta.column_dimensions["B"].width = 20, 50
    meta.protection.sheet = True
    meta.sheet_state = "veryHidden"


def _write_instructions(ws: Worksheet, workspace: Workspace, code: str, period: str) -> None:
    blocks = instruction_blocks(workspace, code, period)
    ws.column_dimensions["A"].width, ws.column_dimensions["B"].width = 3, 110
    styles = {"title": _font(bold=True, size=15, color="1F3864"), "h": _font(bold=True, size=12, color="005EB8")}
    row = 1
    for kind, text in blocks:
        row += kind == "h"
        cell = ws.cell(row, 2 if kind == "b" else 1, text)
        cell.font = styles.get(kind, _font(size=11))
        if kind == "b":
            ws.cell(row, 1, "•").font = _font(size=11)
            ws.cell(row, 1).alignment = Alignment(horizontal="right", vertical="top")
        elif kind == "p":
            ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=2)
        if kind in ("p", "b"):
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            ws.row_dimensions[row].height = 15 * max(1, math.ceil(len(text) / 125)) + 2
        row += 1
    key = ws.cell(row + 1, 1)
    key.fill, key.border = INPUT_FILL, _INPUT_BORDER
    ws.cell(row + 1, 2, "This colour marks the cells you fill in.").font = _font(italic=True)
    ws.protection.sheet = True
    ws.protection.formatColumns = ws.protection.formatRows = False
    ws.page_setup.orientation = "portrait"
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.sheet_properties.tabColor = "FFC000"


def catalogue_json(indicators: Sequence[Indicator]) -> str:
    """A department's indicators as the template carries them (what validation needs, no more)."""
    keep = ("code", "domain", "subdomain", "name", "unit", "aggregate", "required", "decimals", "parts", "parts_unit")
    return json.dumps([{key: getattr(i, key) for key in keep} for i in indicators], separators=(",", ":"))
