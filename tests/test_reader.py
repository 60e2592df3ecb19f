"""Reading returns: layout found by titles and codes, cell types as calamine gives them, and
hostile files refused before any parser sees them.

Files that would crash calamine (a cell at XFD1048576) are only ever given to `sniff`.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import struct
import zipfile
from pathlib import Path

import openpyxl
import pytest
from returns import GOOD, LUT_CODES, blank_return, fill, make_workspace, ole_file, real_template, rewrite_member, zip_with

from xlq.intake import sheet_scan
from xlq.intake import sniff as sniff_module
from xlq.intake.reader import read_return
from xlq.intake.sheet_scan import Refused
from xlq.intake.sniff import sniff


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("reader")
    workspace, catalogue = make_workspace(root / "ws")
    template = real_template(catalogue, workspace, root / "LUT.xlsx") or blank_return(root / "LUT.xlsx", catalogue, workspace)
    good = fill(template, root / "good.xlsx", GOOD)
    return root, workspace, catalogue, template, good


def rules_of(path: Path) -> list[str]:
    return [f.rule for f in read_return(path).findings]


def refused(path: Path) -> str:
    with pytest.raises(Refused) as info:
        sniff(path)
    return info.value.rule


def test_a_filled_template_reads_identity_rows_and_contact(made) -> None:
    _, workspace, catalogue, _, good = made
    parsed = read_return(good.path)
    assert parsed.findings == ()
    assert parsed.identity is not None
    assert (parsed.identity.organisation, parsed.identity.department, parsed.identity.period,
            parsed.identity.catalogue_version) == (workspace.organisation, "LUT", "2023-12", catalogue.version)
    assert [row.code.raw for row in parsed.rows] == list(LUT_CODES)
    assert {row.code.raw: row.value.ref for row in parsed.rows}["TRAIN"] == good.ref("TRAIN")
    assert dict(parsed.contact) == {"Prepared by": "A. Tester", "Email": "a.tester@example.nhs.uk", "Date": "2024-01-05"}
    assert parsed.size == good.path.stat().st_size and len(parsed.sha256) == 64


def test_cell_types_come_through_as_typed(made) -> None:
    root, _, _, template, _ = made
    filled = fill(template, root / "types.xlsx", {
        "INC": {"Value": 12}, "WAIT": {"Value": 17.25}, "TRAIN": {"Value": "#REF!"}, "SICK": {"Value": "=F1*2"},
        "INC_LOW": {"Value": dt.datetime(2023, 12, 4)}, "INC_HIGH": {"Value": False}, "COMPL": {"Value": " N/A "}})
    rows = {row.code.raw: row for row in read_return(filled.path).rows}
    assert rows["INC"].value.raw == 12 and rows["WAIT"].value.raw == 17.25
    assert (rows["TRAIN"].value.error, rows["TRAIN"].value.raw) == ("#REF!", None)
    assert (rows["SICK"].value.formula, rows["SICK"].value.is_blank) == ("F1*2", False)
    assert rows["INC_LOW"].value.raw == dt.date(2023, 12, 4)
    assert rows["INC_HIGH"].value.raw is False
    assert rows["COMPL"].value.raw == " N/A "
    assert rows["COMPL"].numerator.is_blank and rows["COMPL"].numerator.ref == filled.ref("COMPL", "Numerator")


def test_section_rows_and_blank_codes_are_skipped(made) -> None:
    root, workspace, catalogue, _, _ = made
    path = blank_return(root / "sections.xlsx", catalogue, workspace)
    parsed = read_return(path)
    assert [row.code.raw for row in parsed.rows] == list(LUT_CODES)


def test_table_on_a_renamed_sheet_is_still_found(made) -> None:
    root, workspace, catalogue, _, _ = made
    path = blank_return(root / "renamed.xlsx", catalogue, workspace, table_sheet="Sheet1", meta_state="hidden")
    parsed = read_return(path)
    assert (parsed.sheet, len(parsed.rows), parsed.findings) == ("Sheet1", len(LUT_CODES), ())


def test_a_workbook_without_metadata_is_not_a_template(made) -> None:
    root, workspace, catalogue, _, _ = made
    assert rules_of(blank_return(root / "nometa.xlsx", catalogue, workspace, meta_state=None)) == ["not-a-template"]


def test_a_workbook_without_the_table_is_not_a_template(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    wb.active["A1"] = "Budget"
    wb.save(tmp_path / "other.xlsx")
    assert rules_of(tmp_path / "other.xlsx") == ["not-a-template"]


def test_metadata_a_spreadsheet_program_turned_into_a_date_is_read_back(made) -> None:
    root, _, _, template, _ = made
    filled = fill(template, root / "dated.xlsx", GOOD, meta={"period": dt.datetime(2023, 12, 1)})
    assert read_return(filled.path).identity.period == "2023-12"


def test_macros_are_flagged_and_the_rest_is_read(made, tmp_path: Path) -> None:
    _, _, _, _, good = made
    target = tmp_path / "macro.xlsm"
    with zipfile.ZipFile(good.path) as zin, zipfile.ZipFile(target, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info.filename))
        zout.writestr("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0" + bytes(508))
    parsed = read_return(target)
    assert [f.rule for f in parsed.findings] == ["macros-ignored"]
    assert len(parsed.rows) == len(LUT_CODES)


@pytest.mark.parametrize(("name", "data", "rule"), [
    ("empty.xlsx", b"", "file-empty"),
    ("random.xlsx", random.Random(4).randbytes(5000), "file-not-workbook"),
    ("notes.txt.xlsx", b"Code;Value\nINC;12\n", "file-wrong-format"),
    ("export.csv", b"Code,Value\r\nINC,12\r\n", "file-wrong-format"),
    ("page.xls", b"<html><body><table><tr><td>1</td></tr></table></body></html>", "file-wrong-format"),
    ("doc.xlsx", b"%PDF-1.7\n", "file-wrong-format"),
])
def test_files_that_are_not_workbooks(tmp_path: Path, name: str, data: bytes, rule: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert rules_of(path) == [rule]


def test_a_half_copied_workbook_is_incomplete(made, tmp_path: Path) -> None:
    data = made[4].path.read_bytes()
    (tmp_path / "half.xlsx").write_bytes(data[: len(data) * 2 // 3])
    assert rules_of(tmp_path / "half.xlsx") == ["file-incomplete"]


@pytest.mark.parametrize(("members", "kind"), [
    ({"[Content_Types].xml": "<Types/>", "word/document.xml": "<w:document/>"}, ".docx"),
    ({"[Content_Types].xml": "<Types/>", "ppt/presentation.xml": "<p/>"}, ".pptx"),
    ({"mimetype": "application/vnd.oasis.opendocument.spreadsheet", "content.xml": "<x/>"}, ".ods"),
    ({"[Content_Types].xml": "<Types/>", "xl/workbook.bin": "\0"}, ".xlsb"),
])
def test_other_office_packages_say_which_format_they_are(tmp_path: Path, members, kind: str) -> None:
    parsed = read_return(zip_with(tmp_path / "renamed.xlsx", members))
    assert [f.rule for f in parsed.findings] == ["file-wrong-format"]
    assert kind in parsed.findings[0].value


def test_a_plain_zip_is_not_a_workbook(tmp_path: Path) -> None:
    assert rules_of(zip_with(tmp_path / "a.xlsx", {"readme.txt": "hello"})) == ["file-not-workbook"]


def test_password_protected_and_legacy_xls_are_told_apart(tmp_path: Path) -> None:
    encrypted = read_return(ole_file(tmp_path / "locked.xlsx", "EncryptedPackage")).findings
    legacy = read_return(ole_file(tmp_path / "old.xls", "Workbook")).findings
    assert [(f.rule, f.value) for f in encrypted] == [("file-encrypted", "password-protected workbook")]
    assert [(f.rule, f.value) for f in legacy] == [("file-wrong-format", "legacy Excel 97-2003 (.xls)")]


@pytest.mark.libreoffice
def test_real_xls_and_ods_from_libreoffice_are_refused_with_their_format(made, libreoffice_convert) -> None:
    good = made[4].path
    xls = read_return(libreoffice_convert(good, "xls")).findings
    ods = read_return(libreoffice_convert(good, "ods")).findings
    assert [(f.rule, f.value) for f in xls] == [("file-wrong-format", "legacy Excel 97-2003 (.xls)")]
    assert [(f.rule, f.value) for f in ods] == [("file-wrong-format", "OpenDocument spreadsheet (.ods)")]


@pytest.mark.libreoffice
def test_a_libreoffice_resaved_template_keeps_its_hidden_identity(made, libreoffice_convert) -> None:
    good = made[4]
    parsed = read_return(libreoffice_convert(good.path, "xlsx"))
    assert parsed.findings == () and parsed.identity == read_return(good.path).identity
    assert {row.code.raw: row.value.ref for row in parsed.rows}["WAIT"] == good.ref("WAIT")


# ---- resource bombs: only ever given to sniff or read_return after sniff has refused them ----

def _sheet_with(made, tmp_path: Path, name: str, edit) -> Path:
    return rewrite_member(made[4].path, tmp_path / name, "xl/worksheets/sheet1.xml", edit)


def test_a_cell_at_xfd1048576_is_refused_before_calamine(made, tmp_path: Path) -> None:
    path = _sheet_with(made, tmp_path, "huge.xlsx", lambda xml: xml.replace(
        "</sheetData>", '<row r="1048576"><c r="XFD1048576" t="n"><v>1</v></c></row></sheetData>'))
    assert path.stat().st_size < 60_000
    assert refused(path) == "file-too-large"


def test_a_huge_declared_dimension_is_refused(made, tmp_path: Path) -> None:
    path = _sheet_with(made, tmp_path, "dim.xlsx",
                       lambda xml: xml.replace("<dimension ref=", '<dimension ref="A1:XFD1048576" old=', 1))
    assert refused(path) == "file-too-large"


def test_cells_without_references_are_counted_too(made, tmp_path: Path) -> None:
    cells = "<c><v>1</v></c>" * (sheet_scan.MAX_COLUMN + 1)
    path = _sheet_with(made, tmp_path, "wide.xlsx", lambda xml: xml.replace("</sheetData>", f"<row>{cells}</row></sheetData>"))
    assert refused(path) == "file-too-large"


def test_a_zip_bomb_is_refused_from_its_directory(tmp_path: Path) -> None:
    from returns import zip_bomb
    path = zip_bomb(tmp_path / "bomb.xlsx", inflated=sniff_module.MAX_INFLATED_BYTES + (1 << 20))
    assert path.stat().st_size < 200_000
    assert rules_of(path) == ["file-too-large"]


def test_a_member_lying_about_its_size_is_caught_while_inflating(tmp_path: Path) -> None:
    """The zip directory claims 1 KB; the data inflates to 60 MB. Only real inflation tells."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/sharedStrings.xml", b"<sst>" + b" " * (60 << 20) + b"</sst>")
    data = bytearray(buffer.getvalue())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            name_at = start + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at:name_at + 20] == b"xl/sharedStrings.xml":
                struct.pack_into("<I", data, start + offset, 1024)
            start += 4
    (tmp_path / "liar.xlsx").write_bytes(bytes(data))
    assert refused(tmp_path / "liar.xlsx") == "file-too-large"


def test_entity_bombs_are_never_expanded(made, tmp_path: Path) -> None:
    levels = "".join(f'<!ENTITY e{n} "{f"&e{n - 1};" * 6}">' for n in range(1, 6))
    dtd = f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e0 "aaaaaaaaaa">{levels}]>'
    workbook = rewrite_member(made[4].path, tmp_path / "wb.xlsx", "xl/workbook.xml",
                              lambda xml: dtd + xml.split("?>", 1)[-1].replace("Return", "&e5;"))
    assert rules_of(workbook) == ["file-unreadable"]
    sheet = rewrite_member(made[4].path, tmp_path / "sheet.xlsx", "xl/worksheets/sheet1.xml",
                           lambda xml: dtd + xml.split("?>", 1)[-1].replace(">INC<", ">&e5;<"))
    parsed = read_return(sheet)
    assert not any("aaaa" in str(row.code.raw) for row in parsed.rows)


def test_too_many_sheets_are_refused(tmp_path: Path) -> None:
    sheets = "".join(f'<sheet name="S{n}" sheetId="{n}" r:id="rId{n}"/>' for n in range(1, sniff_module.MAX_SHEETS + 2))
    workbook = ('<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
                f"<sheets>{sheets}</sheets></workbook>")
    path = zip_with(tmp_path / "sheets.xlsx", {"[Content_Types].xml": "<Types/>", "xl/workbook.xml": workbook})
    assert rules_of(path) == ["file-too-large"]


def test_damaged_workbooks_never_raise(made, tmp_path: Path) -> None:
    """Random byte flips in a real return: every outcome is a ParsedReturn, never an exception."""
    data = made[4].path.read_bytes()
    rng = random.Random(8)
    seen = set()
    for n in range(60):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 12)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        path = tmp_path / f"damaged{n}.xlsx"
        path.write_bytes(bytes(damaged))
        parsed = read_return(path)
        seen.update(f.rule for f in parsed.findings)
        assert parsed.findings or parsed.rows
    assert "file-unreadable" in seen


def test_a_missing_file_is_a_finding(tmp_path: Path) -> None:
    assert rules_of(tmp_path / "gone.xlsx") == ["file-unreadable"]
