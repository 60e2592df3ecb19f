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
  its largest row and column, including cells written without an `r` attribute (that scan,
  and the row, column and cell limits it enforces, live in xlq/intake/sheet_scan.py).

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

import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import defusedxml.ElementTree as SafeET

from xlq.intake.sheet_scan import MAX_TAG_BYTES, Refused, SheetScan, scan_plain, scan_stream

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_INFLATED_BYTES = 50 * 1024 * 1024
MAX_RATIO = 200
RATIO_CHECK_FROM = 1024 * 1024
MAX_MEMBERS = 2_000
MAX_SHEETS = 200

OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")
ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_CHUNK = 256 * 1024
_DTDS = tuple("<!DOCTYPE".encode(codec) for codec in ("utf-8", "utf-16-le", "utf-16-be"))
_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"


@dataclass
class Sniffed:
    """A file judged safe to hand to calamine: its sheets in workbook order and notes."""

    sheets: list[SheetScan]
    macros: bool = False



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
    inflated: dict[str, bytes] = {}  # small XML parts as inflated here, so a sheet is inflated once
    for info in infos:
        if info.filename.endswith((".xml", ".rels", ".vml")):
            tail = b""
            kept: list[bytes] | None = [] if info.file_size <= MAX_TAG_BYTES else None
            for chunk in _inflate(archive, info, budget):
                window = tail + chunk
                if any(dtd in window for dtd in _DTDS):
                    raise Refused("file-unreadable", f"{info.filename} declares a DTD, which a workbook never has")
                tail = chunk[-20:]
                if kept is not None:
                    kept.append(chunk)
            if kept is not None:
                inflated[info.filename] = b"".join(kept)
    sheets = _worksheets(archive, inflated)
    if len(sheets) > MAX_SHEETS:
        raise Refused("file-too-large", f"{len(sheets):,} sheets, limit {MAX_SHEETS}")
    for sheet in sheets:
        if sheet.part in names:
            _scan_sheet(archive, archive.getinfo(sheet.part), sheet, inflated.get(sheet.part))
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


def _worksheets(archive: zipfile.ZipFile, inflated: dict[str, bytes]) -> list[SheetScan]:
    """Sheets in workbook order with their XML part, from workbook.xml and its rels."""

    def read(name: str) -> bytes:
        return inflated[name] if name in inflated else archive.read(name)

    try:
        book = SafeET.fromstring(read("xl/workbook.xml"))
        rels_xml = read("xl/_rels/workbook.xml.rels") if "xl/_rels/workbook.xml.rels" in archive.namelist() else b""
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


def _scan_sheet(archive: zipfile.ZipFile, info: zipfile.ZipInfo, sheet: SheetScan, data: bytes | None = None) -> None:
    """Scan the sheet XML: track the largest row/column and note error and formula cells.

    A sheet under MAX_TAG_BYTES written the plain way every spreadsheet program writes it is
    scanned whole with a few regular expressions (about 4x faster: this scan was most of the
    cost of reading a return); anything else, or anything over a limit, goes through the
    streaming tag-by-tag scan, which also words the refusal."""
    chunks = _inflate(archive, info, [MAX_INFLATED_BYTES]) if data is None else iter([data])
    if info.file_size <= MAX_TAG_BYTES:
        data = b"".join(chunks)
        if len(data) <= MAX_TAG_BYTES and scan_plain(data, sheet):
            return
        chunks = iter([data[i:i + _CHUNK] for i in range(0, len(data), _CHUNK)])
    scan_stream(chunks, sheet)
