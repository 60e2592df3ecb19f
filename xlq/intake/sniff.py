"""Cheap checks on an untrusted file before any spreadsheet parser touches it.

A shared folder receives anything, and the parsers are not safe on hostile input:
python-calamine aborts the whole process (uncatchably) on a 5 KB workbook with a cell at
XFD1048576, and no reader limits how far a zip member inflates. So before calamine opens
a file this module decides, from bytes and the zip directory alone, what the file is and
whether it is small enough to parse:

- the first bytes tell zip, OLE (password-protected OOXML *or* legacy .xls/.doc), text and
  the rest apart; an OLE file is told apart by the stream names in its directory;
- a zip must be complete and be a SpreadsheetML package, not .docx/.pptx/.ods/.xlsb;
- every XML part is actually inflated here (with a hard cap, so a member that lies about
  its size in the zip directory is caught) and every worksheet is scanned, streaming, for
  its largest row and column, including cells written without an `r` attribute.

Limits (module constants, chosen for returns of a few hundred rows that weigh ~12 KB):

MAX_FILE_BYTES      20 MB on disk.
MAX_INFLATED_BYTES  50 MB for all members together, as declared and as actually inflated.
MAX_RATIO           200:1 compression for any member over 1 MB inflated (Excel XML is ~10-30:1).
MAX_MEMBERS         2,000 zip members.
MAX_SHEETS          200 sheets.
MAX_ROW             100,000 rows; MAX_COLUMN 1,024 columns (AMJ); and the used box of any
MAX_CELLS           worksheet (last row x last column) at most 2,000,000 cells, which keeps
                    calamine's dense grid under ~100 MB. A declared `<dimension>` beyond
                    these limits is refused as well, so no reader that trusts it can be fed.
MAX_TAG_BYTES       1 MB for one cell element: a longer one is not a spreadsheet a person made.

Office Open XML parts never carry a DTD (ECMA-376 Part 2 tells consumers to treat one as an
error), so a part that declares one (billion laughs, external entities) is refused here rather
than left to each parser's own defences.

Macros are never run: calamine does not execute VBA. An .xlsm is read and flagged.
"""

from __future__ import annotations

import functools
import html
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import defusedxml.ElementTree as SafeET

from xlq.core.errors import InputRefused

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_INFLATED_BYTES = 50 * 1024 * 1024
MAX_RATIO = 200
RATIO_CHECK_FROM = 1024 * 1024
MAX_MEMBERS = 2_000
MAX_SHEETS = 200
MAX_ROW = 100_000
MAX_COLUMN = 1_024
MAX_CELLS = 2_000_000
MAX_TAG_BYTES = 1024 * 1024
MAX_SPECIAL_CELLS = 10_000

OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")
ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_CHUNK = 256 * 1024
_DTDS = tuple("<!DOCTYPE".encode(codec) for codec in ("utf-8", "utf-16-le", "utf-16-be"))
_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"

_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(row|c|dimension)\b([^<>]*)>")
_CLOSE_C = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?c>")
_ATTR = re.compile(rb"""\b(r|t|ref)\s*=\s*["']([^"']*)["']""")
_CELL_REF = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d{1,7})$")
# The fast path (`_scan_plain`): no namespace prefixes, and every cell and row tag starts with
# a double-quoted `r` and has no other, so `_ATTR` would read the same reference.
_PREFIXED = re.compile(rb"</?[A-Za-z_][\w.-]*:(?:c|row|dimension|f|v)\b")
_PLAIN_C = re.compile(rb'<c r="(\$?([A-Za-z]{1,3})\$?([0-9]{1,7}))"([^<>]*)>')
_PLAIN_ROW = re.compile(rb'<row r="([0-9]{1,7})"([^<>]*)>')
_ANY_C = re.compile(rb"<c\b")
_ANY_ROW = re.compile(rb"<row\b")
_ANY_R = re.compile(rb"r\s*=")  # finds every r `_ATTR` would, and more: only ever stricter
_DIMENSION = re.compile(rb"<dimension\b([^<>]*)>")
_FORMULA = re.compile(rb"<f\b")
_ERROR_TYPE = re.compile(rb"""t\s*=\s*["']e["']""")  # a superset of the cells typed t="e"
_PLAIN_V = re.compile(rb"<v\b[^>]*?(?:/>|>(.*?)</v>)", re.S)  # `_V` and `_F` where nothing has a prefix
_PLAIN_F = re.compile(rb"<f\b[^>]*?(?:/>|>(.*?)</f>)", re.S)
_V = re.compile(rb"<(?:[\w.-]+:)?v\b[^>]*?(?:/>|>(.*?)</(?:[\w.-]+:)?v>)", re.S)
_F = re.compile(rb"<(?:[\w.-]+:)?f\b[^>]*?(?:/>|>(.*?)</(?:[\w.-]+:)?f>)", re.S)


class Refused(InputRefused):
    """The file must not reach a parser; `rule` is a file-level code from xlq.core.rules."""

    def __init__(self, rule: str, value: str = "") -> None:
        super().__init__(f"{rule}: {value}")
        self.rule = rule
        self.value = value


@dataclass
class SheetScan:
    """What a worksheet's XML holds, found without a spreadsheet parser.

    `errors` maps a cell ref to its Excel error literal (calamine turns them into '');
    `formulas` maps a cell ref to the formula text of cells saved without a result;
    `formula_cells` holds every formula cell's text, result or not.
    """

    name: str
    part: str
    max_row: int = 0
    max_column: int = 0
    dimension: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    formulas: dict[str, str] = field(default_factory=dict)
    formula_cells: dict[str, str] = field(default_factory=dict)


@dataclass
class Sniffed:
    """A file judged safe to hand to calamine: its sheets in workbook order and notes."""

    sheets: list[SheetScan]
    macros: bool = False


def column_letters(index: int) -> str:
    """1 -> A, 27 -> AA: columns as Excel shows them."""
    letters = ""
    while index > 0:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def column_index(letters: str) -> int:
    number = 0
    for char in letters.upper():
        number = number * 26 + ord(char) - 64
    return number


def sniff(path: Path) -> Sniffed:
    """Judge `path`; raise `Refused` with the file-level rule when it must not be parsed."""
    size = path.stat().st_size
    if size == 0:
        raise Refused("file-empty")
    if size > MAX_FILE_BYTES:
        raise Refused("file-too-large", f"{size:,} bytes on disk, limit {MAX_FILE_BYTES:,}")
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(OLE_MAGIC):
        raise Refused(*_ole_kind(path))
    if head.startswith((ZIP_MAGIC, EMPTY_ZIP_MAGIC)):
        if not zipfile.is_zipfile(path):
            raise Refused("file-incomplete", "cut short")
        return _sniff_zip(path)
    raise Refused(*_other_kind(path, head))


def _ole_kind(path: Path) -> tuple[str, str]:
    """Password-protected OOXML and legacy Office files are both OLE compound files.

    Their directory entries carry UTF-16LE stream names; an encrypted workbook has an
    `EncryptedPackage` stream, a legacy workbook a `Workbook` (BIFF8) or `Book` (BIFF5) one.
    Searching the (size-limited) file for those names avoids walking the sector chains.
    """
    data = path.read_bytes()

    def has(name: str) -> bool:
        return name.encode("utf-16-le") in data

    if has("EncryptedPackage") or has("EncryptionInfo"):
        return "file-encrypted", "password-protected workbook"
    if has("Workbook") or has("Book"):
        return "file-wrong-format", "legacy Excel 97-2003 (.xls)"
    if has("WordDocument"):
        return "file-wrong-format", "Word 97-2003 (.doc)"
    if has("PowerPoint Document"):
        return "file-wrong-format", "PowerPoint 97-2003 (.ppt)"
    return "file-not-workbook", "an OLE compound file"


def _other_kind(path: Path, head: bytes) -> tuple[str, str]:
    with path.open("rb") as handle:
        sample = handle.read(64 * 1024)
    lowered = sample.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if lowered.startswith((b"<html", b"<!doctype html", b"<table")):
        return "file-wrong-format", "web page (HTML saved as a spreadsheet)"
    if lowered.startswith(b"<?xml") and b"urn:schemas-microsoft-com:office:spreadsheet" in lowered:
        return "file-wrong-format", "Excel 2003 XML spreadsheet"
    if lowered.startswith(b"%pdf"):
        return "file-wrong-format", "PDF"
    if _looks_like_text(sample) and (path.suffix.lower() in (".csv", ".txt", ".tsv") or _looks_delimited(sample)):
        return "file-wrong-format", "CSV (comma-separated text)"
    return "file-not-workbook", ""


def _looks_like_text(sample: bytes) -> bool:
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:
            try:
                sample.decode("cp1252")
            except UnicodeDecodeError:
                return False
    return True


def _looks_delimited(sample: bytes) -> bool:
    lines = [line for line in sample.splitlines()[:20] if line.strip()]
    delimited = sum(1 for line in lines if b"," in line or b";" in line or b"\t" in line)
    return bool(lines) and delimited >= max(1, len(lines) // 2)


def _sniff_zip(path: Path) -> Sniffed:
    try:
        with zipfile.ZipFile(path) as archive:
            return _check_package(path, archive)
    except Refused:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, struct.error, OSError, NotImplementedError, ValueError) as exc:
        raise Refused("file-unreadable", f"damaged zip: {exc}") from None


def _check_package(path: Path, archive: zipfile.ZipFile) -> Sniffed:
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise Refused("file-too-large", f"{len(infos):,} parts in the package, limit {MAX_MEMBERS:,}")
    names = {info.filename for info in infos}
    kind = _package_kind(archive, names)
    if kind:
        raise Refused("file-wrong-format", kind)
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        raise Refused("file-not-workbook", "a zip archive")
    declared = 0
    for info in infos:
        declared += info.file_size
        if declared > MAX_INFLATED_BYTES:
            raise Refused("file-too-large", f"inflates to over {MAX_INFLATED_BYTES // 2**20} MB")
        if info.file_size > RATIO_CHECK_FROM and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise Refused("file-too-large", f"{info.filename} is compressed {info.file_size // max(info.compress_size, 1)}:1")
        if info.flag_bits & 0x1:
            raise Refused("file-encrypted", "zip-encrypted part")
    budget = [MAX_INFLATED_BYTES]
    for info in infos:
        if info.filename.endswith((".xml", ".rels", ".vml")):
            tail = b""
            for chunk in _inflate(archive, info, budget):
                window = tail + chunk
                if any(dtd in window for dtd in _DTDS):
                    raise Refused("file-unreadable", f"{info.filename} declares a DTD, which a workbook never has")
                tail = chunk[-20:]
    sheets = _worksheets(archive)
    if len(sheets) > MAX_SHEETS:
        raise Refused("file-too-large", f"{len(sheets):,} sheets, limit {MAX_SHEETS}")
    for sheet in sheets:
        if sheet.part in names:
            _scan_sheet(archive, archive.getinfo(sheet.part), sheet)
    macros = any(name.lower().endswith("vbaproject.bin") for name in names)
    return Sniffed(sheets, macros)


def _package_kind(archive: zipfile.ZipFile, names: set[str]) -> str:
    if "mimetype" in names:
        info = archive.getinfo("mimetype")
        mime = archive.read(info).decode("ascii", "replace").strip() if info.file_size < 200 else ""
        if "opendocument.spreadsheet" in mime:
            return "OpenDocument spreadsheet (.ods)"
        if "opendocument.text" in mime:
            return "OpenDocument text (.odt)"
        return f"OpenDocument ({mime or 'unknown'})"
    if "word/document.xml" in names:
        return "Word document (.docx)"
    if "ppt/presentation.xml" in names:
        return "PowerPoint presentation (.pptx)"
    if "xl/workbook.bin" in names:
        return "Excel binary workbook (.xlsb)"
    return ""


def _inflate(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: list[int]) -> Iterator[bytes]:
    """Yield the member's real inflated bytes, charging them to `budget`.

    The zip directory's sizes are only claims; this decompresses the raw stream itself, so
    a member that inflates past what it declares (or past the budget) is refused before a
    parser that trusts the claim sees it.
    """
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise Refused("file-unreadable", f"{info.filename} uses an unsupported compression")
    fp = archive.fp
    assert fp is not None
    fp.seek(info.header_offset)
    header = fp.read(30)
    if len(header) != 30 or header[:4] != ZIP_MAGIC:
        raise Refused("file-unreadable", f"{info.filename}: bad local header")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    fp.seek(info.header_offset + 30 + name_len + extra_len)
    remaining = info.compress_size
    inflater = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    produced = 0
    while remaining > 0:
        raw = fp.read(min(_CHUNK, remaining))
        if not raw:
            raise Refused("file-incomplete", "cut short")
        remaining -= len(raw)
        pending = raw
        while pending:
            if inflater is None:
                out, pending = pending, b""
            else:
                out = inflater.decompress(pending, _CHUNK)
                pending = inflater.unconsumed_tail
            produced += len(out)
            budget[0] -= len(out)
            if budget[0] < 0 or produced > max(info.file_size, 0) + _CHUNK:
                raise Refused("file-too-large", f"{info.filename} inflates past its stated size or the limit")
            if out:
                yield out
            if inflater is not None and inflater.eof:
                pending = b""
                remaining = 0
    if inflater is not None:
        tail = inflater.flush()
        produced += len(tail)
        budget[0] -= len(tail)
        if budget[0] < 0:
            raise Refused("file-too-large", f"{info.filename} inflates past the limit")
        if tail:
            yield tail


def _worksheets(archive: zipfile.ZipFile) -> list[SheetScan]:
    """Sheets in workbook order with their XML part, from workbook.xml and its rels."""
    try:
        book = SafeET.fromstring(archive.read("xl/workbook.xml"))
        rels_xml = archive.read("xl/_rels/workbook.xml.rels") if "xl/_rels/workbook.xml.rels" in archive.namelist() else b""
        rels = SafeET.fromstring(rels_xml) if rels_xml else None
    except Exception as exc:  # defusedxml raises several types for entity tricks and bad XML
        raise Refused("file-unreadable", f"workbook.xml: {type(exc).__name__}") from None
    targets: dict[str, str] = {}
    if rels is not None:
        for rel in rels.iter(f"{{{_PKG_REL_NS}}}Relationship"):
            target = rel.get("Target", "")
            target = target.lstrip("/") if target.startswith("/") else "xl/" + target
            targets[rel.get("Id", "")] = _normalise_part(target)
    sheets = []
    for sheet in book.iter(f"{{{_MAIN_NS}}}sheet"):
        rid = sheet.get(f"{{{_REL_NS}}}id", "")
        sheets.append(SheetScan(name=sheet.get("name", ""), part=targets.get(rid, "")))
        if len(sheets) > MAX_SHEETS:
            break
    return sheets


def _normalise_part(target: str) -> str:
    parts: list[str] = []
    for piece in target.split("/"):
        if piece == "..":
            if parts:
                parts.pop()
        elif piece and piece != ".":
            parts.append(piece)
    return "/".join(parts)


def _scan_sheet(archive: zipfile.ZipFile, info: zipfile.ZipInfo, sheet: SheetScan) -> None:
    """Scan the sheet XML: track the largest row/column and note error and formula cells.

    A sheet under MAX_TAG_BYTES written the plain way every spreadsheet program writes it is
    scanned whole with a few regular expressions (about 4x faster: this scan was most of the
    cost of reading a return); anything else, or anything over a limit, goes through the
    streaming tag-by-tag scan, which also words the refusal."""
    chunks = _inflate(archive, info, [MAX_INFLATED_BYTES])
    if info.file_size <= MAX_TAG_BYTES:
        data = b"".join(chunks)
        if len(data) <= MAX_TAG_BYTES and _scan_plain(data, sheet):
            return
        chunks = iter([data[i:i + _CHUNK] for i in range(0, len(data), _CHUNK)])
    _scan_stream(chunks, sheet)


def _scan_plain(data: bytes, sheet: SheetScan) -> bool:
    """The whole-buffer scan; False (and `sheet` untouched) when the sheet is not plain or
    breaks a limit, so the streaming scan decides. Gives exactly what `_scan_stream` gives."""
    if _PREFIXED.search(data):
        return False
    cells = _PLAIN_C.findall(data)
    rows = _PLAIN_ROW.findall(data)
    if len(cells) != len(_ANY_C.findall(data)) or len(rows) != len(_ANY_ROW.findall(data)):
        return False
    cell_attrs = b"<".join(c[3] for c in cells) + b"<"
    if _ANY_R.search(cell_attrs) or _ANY_R.search(b"<".join(r[1] for r in rows)):
        return False  # a second r in some tag
    if len(cells) - cell_attrs.count(b"/<") != data.count(b"</c>"):
        return False  # a cell inside a cell
    dimensions = [dict(_ATTR.findall(attrs)).get(b"ref", b"").decode("ascii", "replace")
                  for attrs in _DIMENSION.findall(data)]
    max_row = max(max((int(r[0]) for r in rows), default=0), max((int(c[2]) for c in cells), default=0))
    max_column = max(map(_column, {c[1] for c in cells}), default=0)
    extents = [_dimension_extent(d) for d in dimensions] + [(max_row, max_column)]
    if any(r > MAX_ROW or c > MAX_COLUMN or r * c > MAX_CELLS for r, c in extents):
        return False
    sheet.max_row, sheet.max_column = max_row, max_column
    if dimensions:
        sheet.dimension = dimensions[-1]
    marks = [m.start() for m in _FORMULA.finditer(data)] + [m.start() for m in _ERROR_TYPE.finditer(data)]
    starts = sorted({data.rfind(b'<c r="', 0, at) for at in marks} - {-1})
    for start in starts:
        match = _TAG.match(data, start)
        if match is None or match.group(2).rstrip().endswith(b"/"):
            continue
        close = data.find(b"</c>", match.end())
        if close < 0:
            continue
        body = data[match.end():close]
        values = dict(_ATTR.findall(match.group(2)))
        kind = values.get(b"t", b"")
        if kind == b"e" or b"f" in body:
            _note_cell(sheet, values[b"r"].decode("ascii", "replace"), kind, body, _PLAIN_V, _PLAIN_F)
    return True


@functools.lru_cache(maxsize=4096)
def _column(letters: bytes) -> int:
    return column_index(letters.decode("ascii"))


def _scan_stream(chunks: Iterator[bytes], sheet: SheetScan) -> None:
    row = 0
    column = 0
    carry = b""
    for chunk in chunks:
        buffer = carry + chunk
        position = 0
        incomplete = -1
        for match in _TAG.finditer(buffer):
            tag, attrs = match.group(1), match.group(2)
            end = match.end()
            body = None
            if tag == b"c" and not attrs.rstrip().endswith(b"/"):
                close = _CLOSE_C.search(buffer, end)
                if close is None:
                    incomplete = match.start()
                    break
                body = buffer[end:close.start()]
                end = close.end()
            values = dict(_ATTR.findall(attrs)) if attrs.strip() else {}
            if tag == b"row":
                row = _number(values.get(b"r"), row + 1)
                column = 0
                sheet.max_row = max(sheet.max_row, row)
            elif tag == b"c":
                ref = values.get(b"r", b"").decode("ascii", "replace")
                parsed = _CELL_REF.match(ref) if ref else None
                if parsed:
                    column = column_index(parsed.group(1))
                    row = max(row, int(parsed.group(2)))
                    sheet.max_row = max(sheet.max_row, row)
                else:
                    column += 1
                    ref = f"{column_letters(column)}{max(row, 1)}"
                sheet.max_column = max(sheet.max_column, column)
                kind = values.get(b"t", b"")
                if body is not None and (kind == b"e" or b"f" in body):
                    _note_cell(sheet, ref, kind, body)
            else:
                sheet.dimension = values.get(b"ref", b"").decode("ascii", "replace")
                _check_box(sheet, *_dimension_extent(sheet.dimension))
            _check_box(sheet, sheet.max_row, sheet.max_column)
            position = end
        if incomplete >= 0:
            carry = buffer[incomplete:]
        else:
            last_open = buffer.rfind(b"<", position)
            carry = buffer[last_open:] if last_open >= 0 else b""
        if len(carry) > MAX_TAG_BYTES:
            raise Refused("file-too-large", f"sheet '{sheet.name}' has a cell over {MAX_TAG_BYTES // 2**20} MB")


def _number(raw: bytes | None, default: int) -> int:
    try:
        return int(raw) if raw else default
    except ValueError:
        return default


def _dimension_extent(ref: str) -> tuple[int, int]:
    last = ref.split(":")[-1]
    match = _CELL_REF.match(last.strip())
    if not match:
        return 0, 0
    return int(match.group(2)), column_index(match.group(1))


def _check_box(sheet: SheetScan, rows: int, columns: int) -> None:
    if rows > MAX_ROW or columns > MAX_COLUMN or rows * columns > MAX_CELLS:
        raise Refused(
            "file-too-large",
            f"sheet '{sheet.name}' reaches {column_letters(columns)}{rows}; limit {MAX_ROW:,} rows, "
            f"{MAX_COLUMN:,} columns, {MAX_CELLS:,} cells",
        )


def _note_cell(sheet: SheetScan, ref: str, kind: bytes, body: bytes, v: re.Pattern[bytes] = _V,
               f: re.Pattern[bytes] = _F) -> None:
    if len(sheet.errors) + len(sheet.formula_cells) >= MAX_SPECIAL_CELLS:
        return
    value = v.search(body)
    cached = value.group(1) if value else None
    if kind == b"e" and cached:
        sheet.errors[ref] = cached.decode("utf-8", "replace").strip()
        return
    formula = f.search(body)
    if formula:
        text = html.unescape((formula.group(1) or b"").decode("utf-8", "replace"))
        sheet.formula_cells[ref] = text
        if not cached and kind not in (b"str", b"inlineStr", b"s"):
            sheet.formulas[ref] = text
