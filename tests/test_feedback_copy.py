"""The feedback copy's two writers write the same workbook, and the fast one knows its limits.

`xlq.intake.feedback_package` edits the return's package; `feedback_book.write_with_openpyxl` is
the reference (issue 15's copy, through openpyxl's load and save). Each test writes real files
both ways and reads them back with openpyxl: the same sheets, cells, formats, notes, links,
merges and print settings. A package the fast writer is not sure of goes to openpyxl, and tags
are matched exactly, whatever a hostile sheet puts in its attributes.
"""

from __future__ import annotations

import re
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from returns import GOOD, fill, make_workspace, real_template, rewrite_member

from xlq.intake.feedback import Mark, clean_text
from xlq.intake.feedback_book import write_feedback, write_with_openpyxl
from xlq.intake.feedback_package import NotSpliceable, splice_feedback
from xlq.intake.reader import read_return

LINES = ("LUT, Dec-2023. Received 2024-01-05 09:30 as LUT December.xlsx.", "## What happened",
         "Your return was accepted with errors: 1 of your 8 figures were NOT used (INC).", "## What to do",
         "Correct each cell marked red & drop it into inbox/LUT/ again <now>.")


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("feedback")
    workspace, catalogue = make_workspace(root / "ws")
    template = real_template(catalogue, workspace, root / "template.xlsx")
    filled = fill(template, root / "filled.xlsx", {**GOOD, "INC": {"Value": "lots"}})
    return {"template": template, "filled": filled, "root": root}


def marks_for(filled) -> tuple[Mark, ...]:
    return (Mark("error", "'lots' is not a number.", "Return", filled.ref("INC"), "INC", "Not a number"),
            Mark("warning", '=HYPERLINK("http://x") looks like a formula', "Return", filled.ref("TRAIN"), "TRAIN",
                 "Large change"),
            Mark("warning", "A second finding on the same cell.", "Return", filled.ref("INC"), "INC", "Outlier"),
            Mark("error", "More than the denominator (5 > 4).", "Return",
                 f"{filled.ref('COMPL', 'Numerator')}:{filled.ref('COMPL', 'Denominator')}", "COMPL"),
            Mark("warning", "On a sheet the workbook lacks: shown on Return.", "Nope", filled.ref("WAIT"), "WAIT"),
            Mark("error", "The period has not ended yet.\x01 <b>&amp;</b>"))


def view(path: Path) -> dict:
    """What a reader of the copy sees, as openpyxl reads it back (colours without their alpha)."""
    def colour(c):
        return None if c is None else (c.rgb[-6:] if isinstance(c.rgb, str) else (c.theme, c.indexed))

    book = openpyxl.load_workbook(path)
    out: dict = {"sheets": [(ws.title, ws.sheet_state, bool(ws.sheet_view.tabSelected)) for ws in book.worksheets],
                 "active": book.active.title, "names": sorted((n, str(d.value)) for n, d in book.defined_names.items()),
                 "local": sorted((ws.title, n, str(d.value)) for ws in book.worksheets for n, d in ws.defined_names.items())}
    for ws in book.worksheets:
        setup = ws.page_setup
        cells = {}
        for row in ws.iter_rows():
            for c in row:
                if isinstance(c, openpyxl.cell.cell.MergedCell):
                    continue
                cells[c.coordinate] = (
                    c.value, c.data_type if c.value is not None else None, c.number_format, c.font.b, c.font.sz,
                    colour(c.font.color), c.font.u, c.fill.fill_type, colour(c.fill.fgColor) if c.fill.fill_type else None,
                    c.border.left.style, colour(c.border.left.color) if c.border.left.style else None,
                    bool(c.alignment.wrap_text), c.alignment.vertical, c.protection.locked,  # false = absent
                    c.comment.text if c.comment else None, (c.hyperlink.location, c.hyperlink.display) if c.hyperlink else None)
        out[ws.title] = {
            "setup": (setup.paperSize, setup.orientation, setup.fitToWidth, setup.fitToHeight,
                      ws.sheet_properties.pageSetUpPr.fitToPage if ws.sheet_properties.pageSetUpPr else None),
            "margins": (ws.page_margins.left, ws.page_margins.right, ws.page_margins.top, ws.page_margins.bottom),
            "tab": colour(ws.sheet_properties.tabColor), "merged": sorted(str(r) for r in ws.merged_cells.ranges),
            "titles": ws.print_title_rows, "protected": ws.protection.sheet,
            "cols": {k: v.width for k, v in ws.column_dimensions.items() if v.customWidth},
            "rows": {k: v.height for k, v in ws.row_dimensions.items() if v.height},
            "validations": len(ws.data_validations.dataValidation), "cells": cells}
    return out


def both(source: Path, tmp_path: Path, marks, title: str = "Accepted with errors: LUT December.xlsx",
         lines=LINES) -> tuple[dict, dict, str]:
    fast, slow = tmp_path / "fast.xlsx", tmp_path / "slow.xlsx"
    writer = write_feedback(str(source), str(fast), marks, title, lines)
    write_with_openpyxl(str(source), str(slow), marks, title, lines)
    return view(fast), view(slow), writer


def test_the_package_writer_writes_what_openpyxl_writes(sources, tmp_path: Path) -> None:
    filled = sources["filled"]
    fast, slow, writer = both(filled.path, tmp_path, marks_for(filled))
    assert writer == "package"
    assert fast == slow
    ret = fast["Return"]["cells"]
    assert ret[filled.ref("INC")][8] == "FFC7CE" and "Not a number" in ret[filled.ref("INC")][14]
    assert "Outlier: A second finding" in ret[filled.ref("INC")][14]
    assert ret[filled.ref("TRAIN")][8] == "F8CBAD" and ret[filled.ref("WAIT")][8] == "F8CBAD"
    assert ret[filled.ref("INC")][13] is False  # an input cell stays unlocked: the department can correct it
    assert fast["sheets"][0] == ("What happened", "visible", True) and fast["active"] == "What happened"
    assert not any(selected for _, _, selected in fast["sheets"][1:])


def test_a_template_straight_from_xlsxwriter_is_written_the_same(sources, tmp_path: Path) -> None:
    filled = sources["filled"]  # the same layout: its refs hold for the blank template
    fast, slow, writer = both(sources["template"], tmp_path, marks_for(filled), title="Rejected: =cmd|' /C calc'!A0")
    assert writer == "package" and fast == slow
    assert fast["What happened"]["cells"]["A1"][:2] == ("Rejected: =cmd|' /C calc'!A0", "s")  # text, never a formula


@pytest.mark.libreoffice
def test_a_return_re_saved_by_libreoffice_is_written_the_same(sources, tmp_path: Path, libreoffice_convert) -> None:
    filled = sources["filled"]
    resaved = libreoffice_convert(filled.path, "xlsx")
    fast, slow, writer = both(resaved, tmp_path, marks_for(filled))
    assert writer == "package" and fast == slow
    rendered = libreoffice_convert(tmp_path / "fast.xlsx", "pdf").read_bytes()
    assert len(re.findall(rb"/Type\s*/Page\b", rendered)) >= 2  # the summary and the Return sheet both print


def test_the_copy_still_reads_as_the_return_it_was(sources, tmp_path: Path) -> None:
    filled = sources["filled"]
    write_feedback(str(filled.path), str(tmp_path / "copy.xlsx"), marks_for(filled), "Rejected", LINES)
    before, after = read_return(filled.path), read_return(tmp_path / "copy.xlsx")
    assert after.rows == before.rows and after.identity == before.identity


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picked=st.lists(st.tuples(st.sampled_from(["error", "warning"]), st.sampled_from(list(GOOD)),
                                 st.sampled_from(["Value", "Numerator", "Denominator", "Comment"]),
                                 st.text(min_size=0, max_size=60)), max_size=6),
       title=st.text(max_size=40))
def test_any_marks_are_written_the_same_both_ways(sources, tmp_path_factory, picked, title) -> None:
    filled = sources["filled"]
    marks = tuple(Mark(severity, message, "Return", filled.ref(code, column), code) for severity, code, column, message
                  in picked)
    fast, slow, writer = both(filled.path, tmp_path_factory.mktemp("any"), marks, title=title)
    assert writer == "package" and fast == slow


def _edit_sheet(source: Path, target: Path, edit) -> Path:
    return rewrite_member(source, target, "xl/worksheets/sheet1.xml", edit)


def test_what_the_package_writer_is_not_sure_of_goes_to_openpyxl(sources, tmp_path: Path) -> None:
    filled = sources["filled"]
    inc = filled.ref("INC")
    with_note = tmp_path / "with-note.xlsx"
    book = openpyxl.load_workbook(filled.path)
    book["Return"]["A1"].comment = openpyxl.comments.Comment("the department's own note", "LUT")
    book.save(with_note)
    merged = tmp_path / "merged.xlsx"
    book = openpyxl.load_workbook(filled.path)
    book["Return"].merge_cells(f"{inc}:{inc[0]}{int(inc[1:]) + 1}".replace(inc[0], chr(ord(inc[0]) - 1), 1))
    book.save(merged)
    commented = _edit_sheet(filled.path, tmp_path / "xml-comment.xlsx",
                            lambda xml: xml.replace("<sheetData>", "<!-- hi --><sheetData>"))
    taken = tmp_path / "taken.xlsx"
    book = openpyxl.load_workbook(filled.path)
    book.create_sheet("What happened")
    book.save(taken)
    cases = {with_note: (Mark("error", "bad", "Return", inc),), merged: (Mark("error", "bad", "Return", inc),),
             commented: (Mark("error", "bad", "Return", inc),), taken: (Mark("error", "bad", "Return", inc),),
             filled.path: (Mark("error", "never written", "Return", "Z999"),)}
    for source, marks in cases.items():
        with pytest.raises(NotSpliceable):
            splice_feedback(str(source), str(tmp_path / "refused.xlsx"), marks, "Rejected", LINES)
        assert write_feedback(str(source), str(tmp_path / "copy.xlsx"), marks, "Rejected", LINES) == "openpyxl"
        copy = openpyxl.load_workbook(tmp_path / "copy.xlsx")
        assert copy.active.title.startswith("What happened")
    assert openpyxl.load_workbook(tmp_path / "copy.xlsx")["Return"]["Z999"].comment.text == "error: never written"


def test_tags_are_matched_exactly_whatever_a_sheet_puts_in_its_attributes(sources, tmp_path: Path) -> None:
    """A hostile sheet cannot steer an edit: a quoted `>` or a look-alike `r="F14"` inside another
    attribute does not move the mark, and every `<` the writer meets starts a real tag."""
    filled = sources["filled"]
    inc, train = filled.ref("INC"), filled.ref("TRAIN")

    def hostile(xml: str) -> str:
        xml = re.sub(rf'<c r="{inc}"', f'<c xlq-test="a>b" r="{inc}"', xml, count=1)
        return re.sub(rf'<c r="{train}"', f"<c r=\"{train}\" decoy='r=\"{inc}\"'", xml, count=1)

    source = _edit_sheet(filled.path, tmp_path / "hostile.xlsx", hostile)
    with zipfile.ZipFile(source) as archive:
        assert "decoy=" in archive.read("xl/worksheets/sheet1.xml").decode()
    fast, slow, writer = both(source, tmp_path, (Mark("error", "bad", "Return", inc),))
    assert writer == "package" and fast == slow
    assert fast["Return"]["cells"][inc][8] == "FFC7CE" and fast["Return"]["cells"][train][8] != "FFC7CE"


def excel_flavoured(source: Path, target: Path) -> Path:
    """The filled return with what Excel's own files carry and openpyxl's do not: markup
    compatibility namespaces, row attributes in them, a code name on a bare `sheetPr`, no page
    margins, and printer settings on the page setup (a relationship part of the sheet's own)."""
    mc = 'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" mc:Ignorable="x14ac"'
    x14ac = 'xmlns:x14ac="http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac"'
    rel = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'

    def sheet(xml: str) -> str:
        xml = xml.replace('<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">',
                          f'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" {rel} {mc} {x14ac}>')
        xml = re.sub(r"<sheetPr>.*?</sheetPr>", '<sheetPr codeName="Sheet1"/>', xml, count=1)
        xml = re.sub(r"<pageMargins[^>]*/>", "", xml, count=1)
        xml = re.sub(r"<pageSetup ([^>]*)/>", r'<pageSetup \1 r:id="rId1"/>', xml, count=1)
        return re.sub(r'<row r="(\d+)"', r'<row r="\1" x14ac:dyDescent="0.25"', xml)

    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = sheet(data.decode()).encode()
            elif info.filename == "[Content_Types].xml":
                data = data.replace(b"<Default ", b'<Default Extension="bin" ContentType="application/'
                                    b'vnd.openxmlformats-officedocument.spreadsheetml.printerSettings"/><Default ', 1)
            zout.writestr(info.filename, data)
        zout.writestr("xl/worksheets/_rels/sheet1.xml.rels", (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" '
            'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/printerSettings" '
            'Target="../printerSettings/printerSettings1.bin"/></Relationships>'))
        zout.writestr("xl/printerSettings/printerSettings1.bin", b"\x00" * 64)
    return target


@pytest.mark.libreoffice
def test_a_return_shaped_like_excel_s_own_files_is_written_the_same(sources, tmp_path: Path, soffice: str) -> None:
    filled = sources["filled"]
    source = excel_flavoured(filled.path, tmp_path / "excel.xlsx")
    fast, slow, writer = both(source, tmp_path, marks_for(filled))
    assert writer == "package" and fast == slow
    with zipfile.ZipFile(tmp_path / "fast.xlsx") as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
        rels = archive.read("xl/worksheets/_rels/sheet1.xml.rels").decode()
        assert archive.read("xl/printerSettings/printerSettings1.bin") == b"\x00" * 64  # copied as it was
    assert 'r:id="rId1"' in re.search(r"<pageSetup [^>]*>", sheet)[0]  # the printer settings kept
    assert "printerSettings" in rels and "/comments" in rels and "/vmlDrawing" in rels
    order = [m[1] for m in re.finditer(r"<(sheetPr|pageMargins|pageSetup|headerFooter|legacyDrawing)\b", sheet)]
    assert order == ["sheetPr", "pageMargins", "pageSetup", "headerFooter", "legacyDrawing"]  # ECMA-376's order
    subprocess.run([soffice, f"-env:UserInstallation=file://{tmp_path}/profile", "--headless", "--convert-to", "pdf",
                    "--outdir", str(tmp_path / "pdf"), str(tmp_path / "fast.xlsx")], check=True, capture_output=True,
                   timeout=180)
    assert (tmp_path / "pdf" / "fast.pdf").stat().st_size > 10_000  # LibreOffice opens and prints it


def test_every_hostile_corpus_file_gets_a_sound_copy_or_none(tmp_path: Path) -> None:
    """Every corpus file the pipeline would write a copy of (tests/corpus: the sniff lets it be
    read) goes through the package writer: a refusal, or a copy whose every XML part is
    well-formed and which openpyxl opens; never a crash of the package writer itself."""
    from corpus.make_corpus import build_corpus

    from xlq.intake.package_xml import Package, well_formed
    from xlq.watch.filing import _UNREADABLE

    workspace, catalogue = make_workspace(tmp_path / "ws")
    cases = build_corpus(tmp_path / "files", workspace, catalogue)
    spliced = refused = 0
    for case in cases:
        if case.path.suffix.lower() not in (".xlsx", ".xlsm") or not zipfile.is_zipfile(case.path):
            continue
        if any(f.rule in _UNREADABLE for f in read_return(case.path).findings):
            continue
        copy = tmp_path / f"{case.name}.feedback.xlsx"
        try:
            splice_feedback(str(case.path), str(copy), (Mark("error", DANGEROUS_TEXT, "Return", "F14"),),
                            f"Rejected: {case.path.name}", LINES)
        except NotSpliceable:
            refused += 1
            continue
        spliced += 1
        package = Package.read(str(copy))
        for name, data in package.parts.items():
            if name.endswith((".xml", ".rels", ".vml")):
                well_formed(name, data)
        book = openpyxl.load_workbook(copy)
        assert book.sheetnames[0] == "What happened", case.name
        assert book["What happened"]["A1"].value == clean_text(f"Rejected: {case.path.name}")  # text, never a formula
    print(f"{spliced} corpus files spliced, {refused} refused")
    assert spliced >= 10, (spliced, refused)  # the corpus's readable returns, through the fast path


DANGEROUS_TEXT = '=HYPERLINK("http://evil.example","x") <b>&amp;</b> \x1b]0;forged\x07 "quoted"'


def test_a_new_relationship_never_takes_an_id_already_used_even_by_an_external_link(sources, tmp_path: Path) -> None:
    filled = sources["filled"]
    external = ('<Relationship Id="rIdXlq1" TargetMode="External" Target="http://evil.example/" '
                'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink"/>')
    source = rewrite_member(filled.path, tmp_path / "external.xlsx", "xl/_rels/workbook.xml.rels",
                            lambda xml: xml.replace("</Relationships>", external + "</Relationships>"))
    assert write_feedback(str(source), str(tmp_path / "copy.xlsx"), marks_for(filled), "Rejected", LINES) == "package"
    with zipfile.ZipFile(tmp_path / "copy.xlsx") as archive:
        ids = re.findall(r'Id="([^"]+)"', archive.read("xl/_rels/workbook.xml.rels").decode())
    assert len(ids) == len(set(ids)) and "rIdXlq1" in ids and "rIdXlq2" in ids
    assert openpyxl.load_workbook(tmp_path / "copy.xlsx").sheetnames[0] == "What happened"


def test_a_copy_that_cannot_be_put_in_place_leaves_no_half_written_file(sources, tmp_path: Path) -> None:
    """The copy is written to a hidden `.part` name and renamed; when the rename fails (here the
    final name is taken by a folder), the department's folder keeps no `.part` file."""
    folder = tmp_path / "feedback" / "LUT"
    taken = folder / "x.feedback.xlsx"
    (taken / "inside").mkdir(parents=True)
    with pytest.raises(OSError):
        write_feedback(str(sources["filled"].path), str(taken), marks_for(sources["filled"]), "Rejected", LINES)
    assert sorted(p.name for p in folder.iterdir()) == ["x.feedback.xlsx"]
