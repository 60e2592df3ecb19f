"""Scanning one worksheet's XML, without a spreadsheet parser: its extent, error cells, formulas.

`sniff` inflates each worksheet part (under its own limits) and hands the bytes here. The scan
tracks the largest row and column, including cells written without an `r` attribute, and
refuses a sheet whose used box, or declared `<dimension>`, is past MAX_ROW, MAX_COLUMN or
MAX_CELLS, or that holds one cell element over MAX_TAG_BYTES (the limits are explained in
xlq/intake/sniff.py). `Refused` is the exception both raise.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from xlq.core.errors import InputRefused

MAX_ROW = 100_000
MAX_COLUMN = 1_024
MAX_CELLS = 2_000_000
MAX_TAG_BYTES = 1024 * 1024
MAX_SPECIAL_CELLS = 10_000

_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(row|c|dimension)\b([^<>]*)>")
_CLOSE_C = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?c>")
_ATTR = re.compile(rb"""\b(r|t|ref)\s*=\s*["']([^"']*)["']""")
_CELL_REF = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d{1,7})$")
# The fast path (`scan_plain`): no namespace prefixes, and every cell and row tag starts with
# a double-quoted `r` and has no other, so `_ATTR` would read the same reference.
_PREFIXED = re.compile(rb"</?[A-Za-z_][\w.-]*:(?:c|row|dimension|f|v)\b")
_PLAIN_C = re.compile(rb'<c r="\$?([A-Za-z]{1,3})\$?([0-9]{1,7})"([^<>]*)>')  # column, row, the other attributes
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
    pending: tuple[bytes, list[int]] = (b"", [])
    """Error and formula cells `scan_plain` found but has not read yet (the sheet's XML and
    where each cell starts): a return's template carries ~200 formulas in columns the reader
    never asks about, and noting them all was a third of the pre-parse cost. `note_columns`
    reads the ones in the columns asked for."""

    def note_columns(self, letters: set[str]) -> None:
        """Fill `errors`, `formulas` and `formula_cells` for the pending cells in columns
        `letters` (as `scan_stream` fills them for every cell)."""
        data, starts = self.pending
        self.pending = (b"", [])
        wanted = {letter.encode("ascii") for letter in letters}
        for start in starts:  # each a plain cell tag (`scan_plain` saw every one): `<c r="REF" ...>`
            match = _PLAIN_C.match(data, start)
            if match is None or match.group(1).upper() not in wanted or match.group(3).rstrip().endswith(b"/"):
                continue
            close = data.find(b"</c>", match.end())
            if close < 0:
                continue
            body = data[match.end():close]
            kind = dict(_ATTR.findall(match.group(3))).get(b"t", b"")
            if kind == b"e" or b"f" in body:
                ref = data[start + 6:match.start(3) - 1]  # the r attribute's value, as written
                _note_cell(self, ref.decode("ascii", "replace"), kind, body, _PLAIN_V, _PLAIN_F)



@functools.lru_cache(maxsize=1024)
def column_letters(index: int) -> str:
    """1 -> A, 27 -> AA: columns as Excel shows them (asked for each cell the reader keeps)."""
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



def scan_plain(data: bytes, sheet: SheetScan) -> bool:
    """The whole-buffer scan; False (and `sheet` untouched) when the sheet is not plain or
    breaks a limit, so the streaming scan decides. Gives exactly what `scan_stream` gives,
    the error and formula cells once `note_columns` has read those of the columns wanted."""
    if _PREFIXED.search(data):
        return False
    cells = _PLAIN_C.findall(data)
    rows = _PLAIN_ROW.findall(data)
    if len(cells) != len(_ANY_C.findall(data)) or len(rows) != len(_ANY_ROW.findall(data)):
        return False
    cell_attrs = b"<".join(c[2] for c in cells) + b"<"
    if _ANY_R.search(cell_attrs) or _ANY_R.search(b"<".join(r[1] for r in rows)):
        return False  # a second r in some tag
    if len(cells) - cell_attrs.count(b"/<") != data.count(b"</c>"):
        return False  # a cell inside a cell
    dimensions = [dict(_ATTR.findall(attrs)).get(b"ref", b"").decode("ascii", "replace")
                  for attrs in _DIMENSION.findall(data)]
    max_row = max(map(int, {c[1] for c in cells}.union(r[0] for r in rows)), default=0)  # each number once
    max_column = max(map(_column, {c[0] for c in cells}), default=0)
    extents = [_dimension_extent(d) for d in dimensions] + [(max_row, max_column)]
    if any(r > MAX_ROW or c > MAX_COLUMN or r * c > MAX_CELLS for r, c in extents):
        return False
    sheet.max_row, sheet.max_column = max_row, max_column
    if dimensions:
        sheet.dimension = dimensions[-1]
    marks = [m.start() for m in _FORMULA.finditer(data)]
    if _ERROR_TYPE.search(cell_attrs):  # a cell typed t="e" (its tag's attributes are all in there);
        marks += [m.start() for m in _ERROR_TYPE.finditer(data)]  # most sheets have none: 0.15 ms saved
    sheet.pending = (data, sorted({data.rfind(b'<c r="', 0, at) for at in marks} - {-1}))
    return True


@functools.lru_cache(maxsize=4096)
def _column(letters: bytes) -> int:
    return column_index(letters.decode("ascii"))


def scan_stream(chunks: Iterator[bytes], sheet: SheetScan) -> None:
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
                row = _int_or(values.get(b"r"), row + 1)
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


def _int_or(raw: bytes | None, default: int) -> int:
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
