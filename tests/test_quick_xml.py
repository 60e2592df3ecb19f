"""xlq.master.quick_xml writes cells and cell notes with exactly the bytes XlsxWriter writes.

Each test writes the same workbook twice, with XlsxWriter's own `Workbook` and with
`QuickWorkbook`, and compares every part of the two packages byte for byte. The cells are of
every kind XlsxWriter writes (the ones quick_xml writes and the ones it leaves to XlsxWriter),
with a cell, row or column format or none, and in constant-memory mode too. The notes cover
what XlsxWriter treats specially: the first row, the sheet's last rows and columns (other
offsets), text needing escapes (markup, quotes, control characters, a literal `_x0041_`,
Unicode non-characters), leading and trailing spaces, several authors and none, visible notes,
colours, fonts, sizes and start cells, notes beside buttons and header images, resized rows and
columns, and more than 1,024 notes on a sheet (the VML's id map takes a range). A new XlsxWriter
that writes either differently fails here.
"""

from __future__ import annotations

import base64
import datetime as dt
import zipfile
from pathlib import Path

import xlsxwriter

from xlq.core.catalogue import load_catalogue
from xlq.core.config import load_workspace
from xlq.master import quick_xml
from xlq.master.quick_xml import QuickWorkbook
from xlq.master.reconcile import reconcile
from xlq.master.workbook import build_workbook
from xlq.store.db import Store

# a 1x1 PNG, for a header image (its VML is a part of its own)
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")

AWKWARD_TEXTS = [
    "plain",
    "a < b & c > d \"quoted\" 'single'",
    "line one\nline two\r\nline three\ttabbed",
    "control \x01\x07\x1f characters",
    "a literal _x0041_ escape and _X0041_",
    " leading space",
    "trailing space ",
    "non-characters \ufffe \uffff",
    "beyond the BMP \U0001F600 and accents éü",
    "=SUM(A1:A2) looks like a formula",
    "",
]


def _parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as package:
        return {name: package.read(name) for name in package.namelist()}


def _write_both(tmp_path: Path, fill, options: dict | None = None) -> tuple[dict[str, bytes], dict[str, bytes]]:
    written = []
    for n, cls in enumerate((xlsxwriter.Workbook, QuickWorkbook)):
        path = tmp_path / f"book{n}.xlsx"
        workbook = cls(str(path), options or {})
        workbook.set_properties({"created": dt.datetime(2024, 1, 20, 9, 0)})
        fill(workbook, tmp_path)
        workbook.close()
        written.append(_parts(path))
    return written[0], written[1]


def _assert_same(plain: dict[str, bytes], noted: dict[str, bytes], *expected: str) -> None:
    assert sorted(noted) == sorted(plain)
    for name in expected:  # the test wrote what it meant to compare
        assert name in plain, sorted(plain)
    differing = [name for name in plain if plain[name] != noted[name]]
    assert differing == []


def _cells_of_every_kind(workbook, _) -> None:
    number = workbook.add_format({"num_format": "0.00", "border": 1})
    date = workbook.add_format({"num_format": "mmm-yy"})
    bold = workbook.add_format({"bold": True, "bg_color": "#FFEB9C"})
    sheet = workbook.add_worksheet("Cells")
    sheet.set_column(6, 6, 12, bold)  # a column format: cells without their own take it
    sheet.set_row(40, 20, date)  # a row format too
    numbers = [0, 1, -1, 7, 0.1 + 0.2, 1 / 3, -2.5e-20, 1.5e20, 123456789012345678, 2**53 + 1, 45901.0]
    for row, value in enumerate(numbers):
        sheet.write_number(row, 0, value, number)
        sheet.write_number(row, 1, value)  # no format: XlsxWriter's own path
        sheet.write_number(row, 6, value)  # the column's format
    texts = [*AWKWARD_TEXTS, "x" * 300, "repeated", "repeated"]
    for row, text in enumerate(texts):
        sheet.write_string(row, 2, text, bold)
        sheet.write_string(row, 3, text)
    sheet.write_datetime(0, 4, dt.date(2025, 9, 1), date)
    sheet.write_datetime(1, 4, dt.datetime(2025, 9, 1, 13, 45, 7, 250000), date)
    sheet.write_datetime(2, 4, dt.time(6, 30), date)
    sheet.write_datetime(3, 4, dt.datetime(1900, 1, 1), date)
    sheet.write_blank(0, 5, None, bold)
    sheet.write_blank(1, 5, None)  # dropped by XlsxWriter: nothing to write
    sheet.write_blank(2, 5, None, number)
    sheet.write_rich_string(4, 4, "plain ", bold, "bold", " plain", number)
    sheet.write_rich_string(5, 4, "a ", bold, "b")
    sheet.write_formula(6, 4, "=A1+A2", number, 3)
    sheet.write_formula(7, 4, '="a"&"b"', None, "ab")
    sheet.write_boolean(8, 4, True, bold)
    sheet.write_boolean(9, 4, False)
    sheet.write_array_formula(10, 4, 11, 4, "{=A1:A2*2}", number)
    sheet.write_url(12, 4, "internal:'Cells'!A1", bold, "a link")
    sheet.write_url(13, 4, "https://example.org/?a=1&b=<2>", None, "a web link", "tip")
    sheet.write_number(40, 1, 5)  # in the formatted row, without a format of its own
    sheet.write_number(40, 2, 5, number)  # its own format wins
    for row in range(100, 1100):  # enough rows for several spans
        sheet.write_number(row, row % 30, row * 1.5, number)
        sheet.write_string(row, 31, f"row {row}", bold)
        sheet.write_blank(row, 32, None, date)


def _left_to_xlsxwriter(monkeypatch) -> list[str]:
    """The kinds of cell XlsxWriter's own `_write_cell` writes from now on."""
    kinds: list[str] = []
    own = xlsxwriter.worksheet.Worksheet._write_cell

    def counted(self, row, col, cell):
        kinds.append(type(cell).__name__)
        own(self, row, col, cell)

    monkeypatch.setattr(xlsxwriter.worksheet.Worksheet, "_write_cell", counted)
    return kinds


def test_cells_of_every_kind_are_written_as_xlsxwriter_writes_them(tmp_path, monkeypatch):
    plain, quick = _write_both(tmp_path, _cells_of_every_kind)
    _assert_same(plain, quick, "xl/worksheets/sheet1.xml", "xl/sharedStrings.xml")
    kinds = _left_to_xlsxwriter(monkeypatch)
    book = QuickWorkbook(str(tmp_path / "counted.xlsx"))
    _cells_of_every_kind(book, tmp_path)
    book.close()
    cells = _parts(tmp_path / "counted.xlsx")["xl/worksheets/sheet1.xml"].count(b"<c r=")
    assert 0 < len(kinds) < cells / 10  # the quick path wrote the rest: every formatted number, date, string, blank
    assert set(kinds) == {"Number", "String", "RichString", "Formula", "ArrayFormula", "Boolean"}  # unformatted, or not quick


def test_in_constant_memory_mode_every_cell_is_left_to_xlsxwriter(tmp_path, monkeypatch):
    plain, quick = _write_both(tmp_path, _cells_of_every_kind, {"constant_memory": True})
    _assert_same(plain, quick, "xl/worksheets/sheet1.xml")
    assert b't="inlineStr"' in quick["xl/worksheets/sheet1.xml"]
    kinds = _left_to_xlsxwriter(monkeypatch)
    book = QuickWorkbook(str(tmp_path / "counted.xlsx"), {"constant_memory": True})
    _cells_of_every_kind(book, tmp_path)
    book.close()
    assert len(kinds) == _parts(tmp_path / "counted.xlsx")["xl/worksheets/sheet1.xml"].count(b"<c r=")


def test_the_installed_xlsxwriter_is_a_version_the_quick_writers_were_checked_against():
    """A new XlsxWriter fails here, on purpose: xlq then writes the master with XlsxWriter alone
    (correct, slower) until the tests of this file pass on it and quick_xml.CHECKED admits it."""
    assert quick_xml.CHECKED, f"XlsxWriter {xlsxwriter.__version__}: not compared with quick_xml's writers yet"


def test_on_an_unchecked_xlsxwriter_everything_is_left_to_it(tmp_path, monkeypatch):
    monkeypatch.setattr(quick_xml, "CHECKED", False)
    kinds = _left_to_xlsxwriter(monkeypatch)
    book = QuickWorkbook(str(tmp_path / "plain.xlsx"))
    _cells_of_every_kind(book, tmp_path)
    book.worksheets()[0].write_comment(0, 0, "a note")
    book.close()
    assert type(book.worksheets()[0]) is xlsxwriter.worksheet.Worksheet
    assert type(book._get_packager()) is xlsxwriter.packager.Packager
    assert len(kinds) == _parts(tmp_path / "plain.xlsx")["xl/worksheets/sheet1.xml"].count(b"<c r=")


def test_notes_of_every_shape_are_written_as_xlsxwriter_writes_them(tmp_path):
    def fill(workbook, _):
        sheet = workbook.add_worksheet("Notes")
        sheet.set_column(2, 4, 30)
        sheet.set_row(5, 40)
        sheet.set_row(6, None, None, {"hidden": True})
        for n, text in enumerate(AWKWARD_TEXTS):
            sheet.write_comment(n, n % 7, text)
        sheet.write_comment(20, 1, "xlq's options", {"author": "xlq", "x_scale": 2.2, "y_scale": 1.75, "font_size": 9})
        sheet.write_comment(21, 1, "another author", {"author": "Someone & co <x>"})
        sheet.write_comment(22, 1, "visible", {"visible": True, "color": "#FF0000"})
        sheet.write_comment(23, 1, "hidden explicitly", {"visible": False, "color": "green"})
        sheet.write_comment(24, 1, "font", {"font_name": "Courier & \"New\"", "font_size": 10.5, "font_family": 3})
        sheet.write_comment(25, 1, "sized", {"width": 333, "height": 111, "x_offset": 7, "y_offset": 9})
        sheet.write_comment(26, 1, "placed", {"start_cell": "H40"})
        sheet.write_comment(27, 1, "placed too", {"start_row": 50, "start_col": 9})
        for row in (1048572, 1048573, 1048574, 1048575):
            for col in (16380, 16381, 16382, 16383):
                sheet.write_comment(row, col, f"edge {row},{col}")
        other = workbook.add_worksheet("Shown")
        other.show_comments()
        other.set_comments_author("Reviewer")
        other.write_comment(3, 3, "shown by the sheet, by the sheet's author")
        other.write_comment(4, 3, "hidden by its own option", {"visible": False, "author": "xlq"})
        workbook.add_worksheet("No notes").write_string(0, 0, "nothing here")

    plain, noted = _write_both(tmp_path, fill)
    _assert_same(plain, noted, "xl/comments1.xml", "xl/comments2.xml", "xl/drawings/vmlDrawing1.vml",
                 "xl/drawings/vmlDrawing2.vml")
    assert b"_x005F_x0041_" in noted["xl/comments1.xml"] and b"<x:Visible/>" in noted["xl/drawings/vmlDrawing2.vml"]


def test_notes_beside_buttons_and_header_images_and_past_1024(tmp_path):
    image = tmp_path / "pixel.png"
    image.write_bytes(PIXEL)

    def fill(workbook, _):
        sheet = workbook.add_worksheet("Many")
        for n in range(2100):  # three 1,024 blocks of shape ids
            sheet.write_comment(n, n % 5, f"note {n}")
        sheet.insert_button(2, 8, {"caption": "Press <me> & go", "macro": "go"})
        sheet.set_header("&L&G", {"image_left": str(image)})
        headed = workbook.add_worksheet("Header only")
        headed.set_header("&C&G", {"image_center": str(image)})
        buttons = workbook.add_worksheet("Button and note")
        buttons.insert_button(1, 1, {"caption": "Only a button"})
        buttons.write_comment(5, 5, "and a note")

    plain, noted = _write_both(tmp_path, fill)
    _assert_same(plain, noted, "xl/comments1.xml", "xl/drawings/vmlDrawing1.vml", "xl/drawings/vmlDrawing2.vml")
    assert b'data="1,2,3"' in noted["xl/drawings/vmlDrawing1.vml"]


def test_the_demo_master_is_the_same_either_way(demo_workspace, tmp_path, monkeypatch):
    """The demo's master as xlq writes it (its notes through quick_xml) against the same
    master written by XlsxWriter alone."""
    workspace = load_workspace(demo_workspace, keep_parsed=False)
    catalogue = load_catalogue(workspace.catalogue_path, workspace.department_codes)
    with Store(workspace.store_path) as store:
        reconciled = reconcile(store, catalogue, workspace, today=dt.date(2024, 1, 20))
    built_at = dt.datetime(2024, 1, 20, 9, 0)
    build_workbook(tmp_path / "noted.xlsx", reconciled, catalogue, workspace, built_at)
    monkeypatch.setattr(quick_xml, "QuickWorkbook", xlsxwriter.Workbook)
    build_workbook(tmp_path / "plain.xlsx", reconciled, catalogue, workspace, built_at)
    plain, noted = _parts(tmp_path / "plain.xlsx"), _parts(tmp_path / "noted.xlsx")
    _assert_same(plain, noted, "xl/comments1.xml", "xl/comments3.xml", "xl/drawings/vmlDrawing3.vml")
