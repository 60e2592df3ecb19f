"""The hostile-input corpus: every file a shared folder might receive, written at test time.

`build_corpus(folder, workspace, catalogue)` writes each case into `folder` and returns the
frozen `Case` list saying where it is dropped and what must happen to it. Nothing here is a
committed binary: returns are filled into the real template (xlq.template.workbook via tests/returns.py)
and every other file is made by hand, byte by byte, from the formats' own rules.

The expected outcome is the pipeline's (the watcher and `xlq run`); `validate_outcome` is what
`xlq validate FILE` says when it differs, because a folder's authority exists only in inbox/.
"""

from __future__ import annotations

import io
import os
import random
import struct
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from returns import GOOD, PERIOD, fill, ole_file, real_template, rewrite_member, zip_bomb, zip_with

from xlq.core.catalogue import Catalogue
from xlq.core.config import Workspace

EARLIER = "2023-11"
FUTURE = "2024-06"

# Dangerous text, as a person (or an attacker) might type it into a cell.
HYPERLINK = '=HYPERLINK("http://evil.example/steal","click me")'
DDE = "=cmd|' /C calc'!A0"
PLUS = "+1+cmd|' /C calc'!A0"
MINUS = "-2+3+cmd|' /C calc'!A0"
AT = "@SUM(1+1)*cmd|' /C calc'!A0"
CONTROL = "bell\x07 escape\x1b end"
RTL = "invoice \u202egpj.exe\u202c"
LONG = "L" * 39_990 + "END-OF-IT!"
URL = "http://evil.example/login?next=steal"
DANGEROUS = {"HYPERLINK": HYPERLINK, "DDE": DDE, "PLUS": PLUS, "MINUS": MINUS, "AT": AT, "CONTROL": CONTROL,
             "RTL": RTL, "LONG": LONG, "URL": URL}
"""Placeholder name -> text; the placeholders are swapped into the sheet XML after openpyxl
has saved the workbook, so the text arrives as a plain string cell, exactly as typed."""

FORMULA_NAME = "=1+2 cmd calc @SUM.xlsx"
UNICODE_NAME = "Ünïcødé rëturn — 十二月 ☃.xlsx"
SPACES_NAME = "  return   with   spaces  .xlsx"
LONG_NAME = "Luton quarterly return " + "x" * 200 + ".xlsx"


@dataclass(frozen=True)
class Case:
    """One corpus file: `outcome` accepted | accepted_with_warnings | accepted_with_errors | rejected | ignored;
    `rule` the finding that must be raised (None for a plain acceptance); `value_has` text
    the finding's value must contain, so "password" and ".xls" are told apart."""

    name: str
    filename: str
    path: Path
    outcome: str
    rule: str | None
    how: str
    folder: str | None = "LUT"
    value_has: str = ""
    validate_outcome: str | None = None
    validate_rule: str | None = None
    department: str | None = None
    period: str | None = None

    @property
    def expected_validate(self) -> tuple[str, str | None]:
        outcome = self.validate_outcome or ("rejected" if self.outcome == "ignored" else self.outcome)
        return outcome, self.validate_rule if self.validate_outcome or self.outcome == "ignored" else self.rule

    def drop(self, inbox: Path) -> Path:
        """Copy the case into inbox/<folder>/ under its own name; returns where it landed."""
        target = inbox / (self.folder or "") / self.filename
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.path.read_bytes())
        return target


class _Maker:
    def __init__(self, folder: Path, workspace: Workspace, catalogue: Catalogue) -> None:
        self.folder = folder
        self.workspace = workspace
        self.catalogue = catalogue
        self.cases: list[Case] = []
        (folder / "templates").mkdir(parents=True, exist_ok=True)

    def template(self, department: str, period: str) -> Path:
        path = self.folder / "templates" / f"{department}-{period}.xlsx"
        if not path.exists():
            made = real_template(self.catalogue, self.workspace, path, department, period)
            assert made is not None, "xlq.template.workbook is needed to build the corpus"
        return path

    def filled(self, key: str, department: str, period: str, cells: Mapping[str, Mapping[str, object]] = GOOD,
               meta: Mapping[str, object] | None = None, comment: str = "") -> Path:
        """A real return; `comment` goes in the zip comment so two returns never share bytes."""
        path = fill(self.template(department, period), self.folder / f"{key}.xlsx", cells, meta=meta).path
        with zipfile.ZipFile(path, "a") as archive:
            archive.comment = (comment or key).encode()
        return path

    def add(self, name: str, path: Path, outcome: str, rule: str | None, how: str, **kw: object) -> None:
        kw.setdefault("filename", path.name)
        self.cases.append(Case(name=name, path=path, outcome=outcome, rule=rule, how=how, **kw))  # type: ignore[arg-type]

    def raw(self, name: str, data: bytes) -> Path:
        path = self.folder / name
        path.write_bytes(data)
        return path


def build_corpus(folder: Path, workspace: Workspace, catalogue: Catalogue) -> list[Case]:
    """Write every case into `folder` (a few MB in all, about a second) and describe it."""
    folder.mkdir(parents=True, exist_ok=True)
    m = _Maker(folder, workspace, catalogue)
    _not_workbooks(m)
    _bombs(m)
    _dangerous_text(m)
    _names(m)
    _authority(m)
    names = [c.name for c in m.cases]
    assert len(names) == len(set(names))
    return m.cases


# ---- not workbooks at all, or not ours -------------------------------------------------------

def _not_workbooks(m: _Maker) -> None:
    good = m.filled("for-truncation", "LUT", PERIOD)
    data = good.read_bytes()
    m.add("zero-bytes", m.raw("empty.xlsx", b""), "rejected", "file-empty", "an empty file")
    m.add("truncated-zip", m.raw("truncated.xlsx", data[: len(data) * 2 // 3]), "rejected", "file-incomplete",
          "the first two thirds of a real return (the central directory is missing)")
    m.add("random-bytes", m.raw("random.xlsx", random.Random(8).randbytes(20_000)), "rejected", "file-not-workbook",
          "20 KB of seeded random bytes named .xlsx")
    m.add("docx-renamed", zip_with(m.folder / "minutes.xlsx", _docx()), "rejected", "file-wrong-format",
          "a minimal Word document (word/document.xml) renamed .xlsx", value_has=".docx")
    m.add("password-protected", ole_file(m.folder / "locked.xlsx", "EncryptedPackage"), "rejected", "file-encrypted",
          "an OLE compound file with EncryptionInfo/EncryptedPackage streams, as Excel saves a password-protected workbook",
          value_has="password")
    m.add("legacy-xls", ole_file(m.folder / "old return.xls", "Workbook"), "rejected", "file-wrong-format",
          "an OLE compound file with a Workbook (BIFF8) stream, as Excel 97-2003 saves", value_has=".xls")
    m.add("csv", m.raw("return.csv", b"Code,Value,Comment\r\nINC,12,\r\nTRAIN,95%,\r\n"), "rejected",
          "file-wrong-format", "the return's figures saved as CSV", value_has="CSV")
    m.add("ods", zip_with(m.folder / "return.ods", _ods(), zipfile.ZIP_STORED), "rejected", "file-wrong-format",
          "a minimal OpenDocument spreadsheet (mimetype first, stored)", value_has=".ods")
    macro = m.folder / "macro.xlsm"
    with zipfile.ZipFile(m.filled("macro-source", "ICASH", PERIOD)) as zin, zipfile.ZipFile(macro, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info.filename))
        zout.writestr("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"Attribute VB_Name = \"Evil\"" + bytes(480))
    m.add("xlsm-macros", macro, "accepted_with_warnings", "macros-ignored",
          "a real ICASH return plus xl/vbaProject.bin: read, never run; archived byte-identical",
          folder="ICASH", value_has="vbaProject.bin", department="ICASH", period=PERIOD)


def _docx() -> dict[str, str]:
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    return {
        "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
                               'content-types"><Default Extension="xml" ContentType="application/xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                       'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
                       '2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
        "word/document.xml": f'<?xml version="1.0"?><w:document xmlns:w="{w}"><w:body><w:p><w:r><w:t>Minutes'
                             "</w:t></w:r></w:p></w:body></w:document>",
    }


def _ods() -> dict[str, str]:
    return {
        "mimetype": "application/vnd.oasis.opendocument.spreadsheet",
        "META-INF/manifest.xml": '<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:'
                                 'opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" '
                                 'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
                                 "</manifest:manifest>",
        "content.xml": '<?xml version="1.0"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:'
                       'xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"><office:body>'
                       '<office:spreadsheet><table:table table:name="Return"/></office:spreadsheet></office:body>'
                       "</office:document-content>",
    }


# ---- resource bombs ------------------------------------------------------------------------------

def _bombs(m: _Maker) -> None:
    good = m.filled("bomb-source", "LUT", PERIOD)
    m.add("zip-bomb-declared", _declared_bomb(m.folder / "bomb-declared.xlsx", 4_000_000_000), "rejected",
          "file-too-large", "a 1 KB workbook-shaped zip whose directory declares a 4 GB sheet", value_has="inflates")
    m.add("zip-bomb-inflating", zip_bomb(m.folder / "bomb-inflating.xlsx", 256 << 20), "rejected",
          "file-too-large", "about 250 KB on disk, 256 MB of zeros when inflated")
    m.add("zip-bomb-lying", _lying_bomb(m.folder / "bomb-lying.xlsx", 64 << 20), "rejected", "file-too-large",
          "a sharedStrings part that claims 1 KB in the zip directory and inflates to 64 MB", value_has="inflates")
    m.add("entity-bomb", _entity_bomb(good, m.folder / "laughs.xlsx"), "rejected", "file-unreadable",
          "billion laughs: a DTD with 10 levels of 10 entity references in xl/sharedStrings.xml, "
          "used by a Comment cell")
    m.add("last-cell-xfd1048576", rewrite_member(good, m.folder / "xfd.xlsx", "xl/worksheets/sheet1.xml", lambda xml: xml.replace(
        "</sheetData>", '<row r="1048576"><c r="XFD1048576" t="n"><v>1</v></c></row></sheetData>')),
        "rejected", "file-too-large", "a real return plus one cell at XFD1048576 (calamine would abort the process)",
        value_has="1048576")
    m.add("million-rows", _million_rows(good, m.folder / "million.xlsx"), "rejected", "file-too-large",
          "a real return whose Return sheet continues to row 1,000,000, written streaming (40 MB of XML, 5.6 MB zipped)",
          value_has="100,000 rows")
    m.add("thousands-of-sheets", _many_sheets(m.folder / "sheets.xlsx", 5_000), "rejected", "file-too-large",
          "a workbook of 5,000 worksheets", value_has="parts")


def _declared_bomb(path: Path, declared: int) -> Path:
    """Patch the sizes a zip declares: a reader that trusts the directory would allocate GBs."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", "<worksheet/>")
    return path.write_bytes(_patch_size(buffer.getvalue(), b"xl/worksheets/sheet1.xml", declared)) and path


def _patch_size(data: bytes, name: bytes, size: int) -> bytes:
    """Set the uncompressed size the local header and the central directory give for `name`."""
    patched = bytearray(data)
    for signature, offset, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        start = 0
        while (start := patched.find(signature, start)) >= 0:
            if patched[start + name_at:start + name_at + len(name)] == name:
                struct.pack_into("<I", patched, start + offset, size)
            start += 4
    return bytes(patched)


def _lying_bomb(path: Path, inflated: int) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/sharedStrings.xml", b"<sst>" + b" " * inflated + b"</sst>")
    path.write_bytes(_patch_size(buffer.getvalue(), b"xl/sharedStrings.xml", 1024))
    return path


def _entity_bomb(source: Path, target: Path) -> Path:
    """A shared-strings part as Excel writes it, with billion laughs in its DTD."""
    levels = "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10))
    sst = (f'<?xml version="1.0"?><!DOCTYPE sst [<!ENTITY lol0 "lol">{levels}]>'
           '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">'
           "<si><t>&lol9;</t></si></sst>")
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                                    b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
            elif info.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"</Relationships>", b'<Relationship Id="rIdSst" Type="http://schemas.openxmlformats'
                                    b'.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
                                    b"</Relationships>")
            elif info.filename == "xl/worksheets/sheet1.xml":
                data = _comment_cell_to_shared(data)
            zout.writestr(info.filename, data)
        zout.writestr("xl/sharedStrings.xml", sst)
    return target


def _comment_cell_to_shared(sheet: bytes) -> bytes:
    """Point INC's (empty) Comment cell at shared string 0, so a reader must expand it."""
    text = sheet.decode("utf-8")
    at = text.index(">INC<")
    row = text[text.rfind("<row ", 0, at):].split('r="', 1)[1].split('"', 1)[0]
    empty = f'<c r="J{row}" s="27" t="n" />'
    assert empty in text, "the template's Comment cell moved"
    return text.replace(empty, f'<c r="J{row}" t="s"><v>0</v></c>', 1).encode("utf-8")


def _million_rows(source: Path, target: Path, rows: int = 1_000_000) -> Path:
    """Copy a return, then stream a million extra rows into its sheet without holding them."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename != "xl/worksheets/sheet1.xml":
                zout.writestr(info.filename, data)
                continue
            head, tail = data.decode("utf-8").split("</sheetData>", 1)
            head = head.replace('<dimension ref="', '<dimension old="')
            with zout.open(info.filename, "w", force_zip64=True) as member:
                member.write(head.encode("utf-8"))
                for start in range(100, rows + 1, 10_000):  # varied, so it compresses like real data
                    member.write("".join(f'<row r="{n}"><c><v>{n * 7919 % 10007}</v></c></row>'
                                         for n in range(start, min(start + 10_000, rows + 1))).encode())
                member.write(("</sheetData>" + tail).encode("utf-8"))
    return target


def _many_sheets(path: Path, count: int) -> Path:
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    sheets = "".join(f'<sheet name="S{n}" sheetId="{n}" r:id="rId{n}"/>' for n in range(1, count + 1))
    rels = "".join(f'<Relationship Id="rId{n}" Type="{rel}/worksheet" Target="worksheets/sheet{n}.xml"/>'
                   for n in range(1, count + 1))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", f'<workbook xmlns="{main}" xmlns:r="{rel}"><sheets>{sheets}</sheets></workbook>')
        archive.writestr("xl/_rels/workbook.xml.rels",
                         f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}'
                         "</Relationships>")
        for n in range(1, count + 1):
            archive.writestr(f"xl/worksheets/sheet{n}.xml", f'<worksheet xmlns="{main}"><sheetData/></worksheet>')
    return path


# ---- dangerous text ----------------------------------------------------------------------------

def _placeholder(key: str) -> str:
    return f"@@{key}@@"


def with_text(source: Path, target: Path, texts: Mapping[str, str]) -> Path:
    """Swap placeholders for text in the sheet XML, escaped the way Excel escapes: XML
    entities, and `_xHHHH_` for control characters XML 1.0 cannot hold."""

    def xml_text(text: str) -> str:
        out = escape(text, {'"': "&quot;"})
        return "".join(f"_x{ord(ch):04X}_" if ord(ch) < 32 and ch not in "\t\n\r" else ch for ch in out)

    def edit(xml: str) -> str:
        for key, text in texts.items():
            xml = xml.replace(_placeholder(key), xml_text(text))
        return xml

    return rewrite_member(source, target, "xl/worksheets/sheet1.xml", edit)


def _dangerous_text(m: _Maker) -> None:
    p = _placeholder
    values = {"INC": {"Value": p("HYPERLINK")}, "INC_LOW": {"Value": p("DDE")}, "INC_HIGH": {"Value": p("AT")},
              "TRAIN": {"Value": p("PLUS")}, "SICK": {"Value": p("URL")}, "WAIT": {"Value": p("LONG")},
              "COMPL": {"Numerator": 4, "Denominator": 5, "Comment": p("CONTROL")}}
    source = m.filled("dangerous-values-source", "NORF", EARLIER, values)
    m.add("dangerous-values", with_text(source, m.folder / "dangerous values.xlsx", DANGEROUS),
          "accepted_with_errors", "not-a-number",
          "a NORF return whose Value cells hold formula-like text (=HYPERLINK, =cmd|, +, @), a URL and a "
          "40,000-character string, as string cells", folder="NORF", department="NORF", period=EARLIER)
    comments = {code: dict(cells) for code, cells in GOOD.items()}
    for code, key in zip(("INC", "INC_LOW", "INC_HIGH", "TRAIN", "SICK", "COMPL", "WAIT"),
                         ("HYPERLINK", "DDE", "MINUS", "AT", "RTL", "LONG", "URL"), strict=True):
        comments[code]["Comment"] = p(key) + (" " + p("CONTROL") if key == "MINUS" else "")
    comments["INC"]["Value"] = 14
    comments["INC_LOW"]["Value"] = 12
    source = m.filled("dangerous-comments-source", "NORF", PERIOD, comments)
    m.add("dangerous-comments", with_text(source, m.folder / "dangerous comments.xlsx", DANGEROUS),
          "accepted_with_warnings", "comment-formula-like",
          "a correct NORF return whose Comment cells hold =HYPERLINK, =cmd|, -, @, control characters, an RTL "
          "override, a URL and a 40,000-character string", folder="NORF", department="NORF", period=PERIOD)


# ---- names and paths ---------------------------------------------------------------------------

def _names(m: _Maker) -> None:
    for key, filename, period in (("name-unicode", UNICODE_NAME, "2023-07"), ("name-spaces", SPACES_NAME, "2023-08"),
                                  ("name-very-long", LONG_NAME, "2023-09"), ("name-formula", FORMULA_NAME, "2023-10")):
        path = m.filled(key, "DENT", period, {**GOOD, "WAIT": {"Value": 10 + int(period[-2:])}})
        m.add(key, path, "accepted", None, f"a correct DENT {period} return named {filename!r}", filename=filename,
              folder="DENT", department="DENT", period=period)
    lock = m.raw("lock-file", b"\x0aA. Tester" + bytes(155))
    m.add("office-lock-file", lock, "ignored", None, "a 165-byte Office lock file named ~$Luton.xlsx",
          filename="~$Luton.xlsx", validate_rule="file-not-workbook")
    hidden = m.filled("hidden-source", "LUT", PERIOD, comment="hidden")
    m.add("hidden-file", hidden, "ignored", None, "a real return named .Luton.xlsx (hidden)", filename=".Luton.xlsx",
          validate_outcome="accepted", validate_rule=None)


# ---- authority ---------------------------------------------------------------------------------

def _authority(m: _Maker) -> None:
    luton = m.filled("luton-in-msk", "LUT", PERIOD, comment="luton for msk")
    m.add("other-departments-folder", luton, "rejected", "wrong-department-folder",
          "a correct LUT return dropped in inbox/MSK/", folder="MSK", value_has="LUT",
          validate_outcome="accepted", validate_rule=None)
    claims = m.filled("claims-msk", "LUT", PERIOD, meta={"department": "MSK"})
    m.add("meta-claims-other-department", claims, "rejected", "wrong-department-folder",
          "LUT's template with xlq_meta edited to say MSK, dropped in inbox/LUT/", value_has="MSK",
          validate_outcome="accepted", validate_rule=None)
    future = m.filled("claims-future", "LUT", PERIOD, meta={"period": FUTURE})
    m.add("meta-claims-future-period", future, "rejected", "future-period",
          f"LUT's template with xlq_meta edited to say {FUTURE} (not ended)", value_has=FUTURE)


def drop_all(cases: list[Case], inbox: Path, staging: Path, keep: Callable[[Case], bool] = lambda c: True) -> dict[str, Path]:
    """Land cases in inbox/ the way a copy tool finishes: written beside it, then renamed in."""
    landed: dict[str, Path] = {}
    for case in cases:
        if not keep(case):
            continue
        staged = case.drop(staging / case.name)
        target = inbox / (case.folder or "") / case.filename
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)
        landed[case.name] = target
    return landed
