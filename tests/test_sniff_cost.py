"""The cheaper pre-parse checks let nothing through that the full ones stopped, and read the same.

Issue 20 made `sniff` inflate each sheet once (the DTD pass keeps small parts for the sheet
scan) and read error and formula cells only in the table's columns (`SheetScan.note_columns`)
instead of every one of the ~200 template formulas. The reference here is the check as it was
before any fast path: every sheet inflated on its own and scanned tag by tag (`scan_stream`,
unchanged), every special cell noted; setting `sniff.MAX_TAG_BYTES` below every size selects it.

Every hostile corpus file (tests/corpus) and a set of hand-mutated sheets go through both: each
file refused by the reference is refused by the new checks with the same rule, and every file
read by both gives the same ParsedReturn (values, error cells, formulas, findings).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from corpus.make_corpus import build_corpus
from returns import GOOD, fill, make_workspace, real_template, rewrite_member

from xlq.intake import sniff as sniff_module
from xlq.intake.reader import read_return
from xlq.intake.sheet_scan import Refused, SheetScan, scan_plain, scan_stream
from xlq.intake.sniff import sniff

SHEET = "xl/worksheets/sheet1.xml"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("sniff-cost")
    workspace, catalogue = make_workspace(root / "ws")
    cases = build_corpus(root / "corpus", workspace, catalogue)
    template = real_template(catalogue, workspace, root / "LUT.xlsx")
    good = fill(template, root / "good.xlsx", GOOD).path
    row = read_return(good).rows[0]
    value, comment = row.value.ref, row.comment.ref
    other = f"M{row.row}"  # a column the table does not use

    def cell(ref: str, body: str, attrs: str = "") -> str:
        return f'<c r="{ref}"{attrs}>{body}</c>'

    def put(ref: str, new: str):
        def edit(xml: str) -> str:
            pattern = rf'<c r="{ref}"[^>]*?(?:/>|>.*?</c>)'
            if re.search(pattern, xml):
                return re.sub(pattern, new, xml, count=1)
            return xml.replace("</sheetData>", f'<row r="999">{new}</row></sheetData>')
        return edit

    mutations = {
        "error-in-value": put(value, cell(value, "<v>#DIV/0!</v>", ' t="e"')),
        "formula-without-result": put(value, cell(value, "<f>1/0</f>")),
        "formula-with-result": put(value, cell(value, "<f>2+3</f><v>5</v>")),
        "formula-in-comment": put(comment, cell(comment, "<f>\"a\"&amp;\"b\"</f><v>ab</v>", ' t="str"')),
        "error-elsewhere": put(other, cell(other, "<v>#N/A</v>", ' t="e"')),
        "dollar-ref": put(value, f'<c r="${value[0]}${value[1:]}" t="e"><v>#REF!</v></c>'),
        "lowercase-ref": put(value, f'<c r="{value.lower()}" t="e"><v>#REF!</v></c>'),
        "prefixed-tags": lambda xml: xml.replace("<c ", "<x:c ", 3).replace("</c>", "</x:c>", 3),
        "cells-without-r": lambda xml: xml.replace("</sheetData>", "<row>" + "<c><v>1</v></c>" * 5 + "</row></sheetData>"),
        "second-r": put(value, f'<c r="{value}" r="A1"><v>1</v></c>'),
        "nested-cell": put(value, f'<c r="{value}"><c r="XFD1048576"><v>1</v></c></c>'),
        "far-cell": lambda xml: xml.replace("</sheetData>", '<row r="90000"><c r="AMJ90000"><v>1</v></c></row></sheetData>'),
        "far-row-no-cell": lambda xml: xml.replace("</sheetData>", '<row r="100001"/></sheetData>'),
        "huge-dimension": lambda xml: re.sub(r'<dimension ref="[^"]*"', '<dimension ref="A1:ZZ99999"', xml, count=1),
        "single-quoted": lambda xml: xml.replace("<row r=\"12\"", "<row r='12'", 1),
    }
    mutated = [rewrite_member(good, root / f"{name}.xlsx", SHEET, edit) for name, edit in mutations.items()]
    return [c.path for c in cases if c.path.is_file()] + [good, *mutated]


def _reference(monkeypatch: pytest.MonkeyPatch, call):
    with monkeypatch.context() as patched:
        patched.setattr(sniff_module, "MAX_TAG_BYTES", -1)  # no part kept, every sheet streamed
        return call()


def _outcome(call) -> tuple[str, str]:
    try:
        call()
    except Refused as refused:
        return "refused", refused.rule
    return "passed", ""


def test_every_file_refused_before_is_refused_now_with_the_same_rule(files, monkeypatch) -> None:
    refused = 0
    for path in files:
        before = _reference(monkeypatch, lambda path=path: _outcome(lambda: sniff(path)))
        now = _outcome(lambda path=path: sniff(path))
        assert now == before, path.name
        refused += before[0] == "refused"
    assert refused >= 10, "the corpus's hostile files are refused"


def test_every_file_reads_the_same_as_before(files, monkeypatch) -> None:
    special = 0
    for path in files:
        before = _reference(monkeypatch, lambda path=path: read_return(path))
        now = read_return(path)
        assert now == before, path.name
        special += any(r.value.error or r.value.formula or str(r.comment.raw).startswith("=") for r in now.rows)
    assert special >= 3, "error cells, formulas without a result and formula comments reach the reader as before"


def test_the_plain_scan_notes_what_the_streaming_scan_notes_in_the_columns_asked_for(files) -> None:
    import zipfile

    compared = 0
    for path in files:
        try:
            with zipfile.ZipFile(path) as archive:
                data = archive.read(SHEET) if SHEET in archive.namelist() else None
        except (zipfile.BadZipFile, OSError, ValueError):
            continue
        if not data or len(data) > 1 << 20:
            continue
        plain, stream = SheetScan("Return", SHEET), SheetScan("Return", SHEET)
        try:
            scan_stream(iter([data]), stream)
        except Refused:
            assert not scan_plain(data, plain), path.name
            continue
        if not scan_plain(data, plain):
            continue
        plain.note_columns({c for ref in stream.formula_cells | stream.errors for c in [re.sub(r"[^A-Za-z]", "", ref).upper()]})
        for field in ("max_row", "max_column", "dimension", "errors", "formulas", "formula_cells"):
            assert getattr(plain, field) == getattr(stream, field), (path.name, field)
        compared += 1
    assert compared >= 10
