"""xlq.master.note_parts writes cell notes with exactly the bytes XlsxWriter writes.

Each test writes the same workbook twice, with XlsxWriter's own `Workbook` and with
`NotedWorkbook`, and compares every part of the two packages byte for byte. The notes cover
what XlsxWriter treats specially: the first row, the sheet's last rows and columns (other
offsets), text needing escapes (markup, quotes, control characters, a literal `_x0041_`,
Unicode non-characters), leading and trailing spaces, several authors and none, visible notes,
colours, fonts, sizes and start cells, notes beside buttons and header images, resized rows and
columns, and more than 1,024 notes on a sheet (the VML's id map takes a range). A new XlsxWriter
that writes notes differently fails here.
"""

from __future__ import annotations

import base64
import datetime as dt
import zipfile
from pathlib import Path

import xlsxwriter

from xlq.core.catalogue import load_catalogue
from xlq.core.config import load_workspace
from xlq.master import note_parts
from xlq.master.note_parts import NotedWorkbook
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


def _write_both(tmp_path: Path, fill) -> tuple[dict[str, bytes], dict[str, bytes]]:
    written = []
    for n, cls in enumerate((xlsxwriter.Workbook, NotedWorkbook)):
        path = tmp_path / f"book{n}.xlsx"
        workbook = cls(str(path))
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
    """The demo's master as xlq writes it (its notes through note_parts) against the same
    master written by XlsxWriter alone."""
    workspace = load_workspace(demo_workspace, keep_parsed=False)
    catalogue = load_catalogue(workspace.catalogue_path, workspace.department_codes)
    with Store(workspace.store_path) as store:
        reconciled = reconcile(store, catalogue, workspace, today=dt.date(2024, 1, 20))
    built_at = dt.datetime(2024, 1, 20, 9, 0)
    build_workbook(tmp_path / "noted.xlsx", reconciled, catalogue, workspace, built_at)
    monkeypatch.setattr(note_parts, "NotedWorkbook", xlsxwriter.Workbook)
    build_workbook(tmp_path / "plain.xlsx", reconciled, catalogue, workspace, built_at)
    plain, noted = _parts(tmp_path / "plain.xlsx"), _parts(tmp_path / "noted.xlsx")
    _assert_same(plain, noted, "xl/comments1.xml", "xl/comments3.xml", "xl/drawings/vmlDrawing3.vml")
