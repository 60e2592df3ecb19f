"""Read one return file into a ParsedReturn; problems become findings, never exceptions.

Order matters for safety: `xlq.intake.sniff` judges the bytes and the zip directory first, and
only a file it passes is opened with python-calamine (about 13x faster than openpyxl on a
typical return; openpyxl is not needed at all). Calamine reads cached values and hidden
sheets; it turns Excel error cells and formulas without a saved result into '', so the
sniffer's scan of the sheet XML (xlq/intake/sheet_scan.py) supplies those (`RawCell.error`, `RawCell.formula`).

Layout is found, never assumed: the table is the first sheet (`Return` preferred) with a
header row holding `Code` and `Value`; columns by title, rows by a non-empty `Code`.
Identity comes from the `xlq_meta` sheet. This process must still be isolated from
untrusted files by the caller (a worker process with limits): the checks here keep known
bombs away from calamine, but a parser bug is still a parser bug.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from python_calamine import CalamineWorkbook, PasswordError

from xlq.core import rules
from xlq.core.model import Finding, Identity, ParsedReturn, RawCell, RawRow
from xlq.core.values import shown
from xlq.intake.sheet_scan import Refused, SheetScan, column_letters
from xlq.intake.sniff import sniff

TEMPLATE_ID = "xlq-return/1"
META_SHEET = "xlq_meta"
TABLE_SHEET = "Return"
QUERIES_SHEET = "Queries"
HEADER_SEARCH_ROWS = 200
CONTACT_LABELS = ("Prepared by", "Email", "Date")
_COLUMNS = frozenset(("code", "value", "numerator", "denominator", "comment"))


def read_return(path: Path | str) -> ParsedReturn:
    """Read `path`; never raises on bad input (unreadable files give file-level findings)."""
    source = Path(path)
    try:
        digest, size = _hash(source)
    except OSError as exc:
        return _failed(source, "", 0, "file-unreadable", exc.strerror or type(exc).__name__)
    try:
        sniffed = sniff(source)
    except Refused as refused:
        return _failed(source, digest, size, refused.rule, refused.value)
    except (OSError, ValueError, MemoryError, RecursionError) as exc:
        return _failed(source, digest, size, "file-unreadable", type(exc).__name__)
    notes: list[Finding] = []
    if sniffed.macros:
        notes.append(rules.finding("macros-ignored", "vbaProject.bin", file=source.name))
    try:
        return _read_workbook(source, digest, size, sniffed.sheets, notes)
    except PasswordError:
        return _failed(source, digest, size, "file-encrypted", "password-protected workbook")
    except Exception as exc:  # calamine raises its own and builtin types for damaged parts
        return _failed(source, digest, size, "file-unreadable", f"{type(exc).__name__}: {str(exc)[:120]}")


def _hash(path: Path) -> tuple[str, int]:
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
            size += len(block)
    return sha.hexdigest(), size


def _failed(path: Path, digest: str, size: int, code: str, value: str) -> ParsedReturn:
    finding = rules.finding(code, value, file=path.name)
    return ParsedReturn(path=str(path), sha256=digest, size=size, identity=None, findings=(finding,))


def _read_workbook(path: Path, digest: str, size: int, scans: list[SheetScan], notes: list[Finding]) -> ParsedReturn:
    with CalamineWorkbook.from_path(str(path)) as book:
        names = list(book.sheet_names)
        identity, meta_problem = _identity(book, names)
        table = _find_table(book, names)
        answers = _answers(book, names, scans)
    findings = list(notes)
    if meta_problem:
        findings.append(rules.finding("not-a-template", meta_problem, file=path.name))
    if table is None:
        if not meta_problem:
            findings.append(rules.finding("not-a-template", "no table with Code and Value columns", file=path.name))
        return ParsedReturn(str(path), digest, size, identity, findings=tuple(findings))
    sheet_name, grid, header_row, columns = table
    scan = next((s for s in scans if s.name == sheet_name), SheetScan(sheet_name, ""))
    scan.note_columns({column_letters(col + 1) for col in columns.values()})
    rows = tuple(_rows(grid, header_row, columns, scan))
    return ParsedReturn(
        path=str(path), sha256=digest, size=size, identity=identity, sheet=sheet_name,
        rows=rows, contact=_contact(grid, header_row), findings=tuple(findings), answers=answers,
    )


def _answers(book: CalamineWorkbook, names: list[str], scans: list[SheetScan]) -> tuple[tuple[str, str], ...]:
    """(Ref, Response) from the template's Queries block (issue 17); a response typed as a
    formula is kept as the formula's text, never its result."""
    if QUERIES_SHEET not in names:
        return ()
    grid = book.get_sheet_by_name(QUERIES_SHEET).to_python(skip_empty_area=False, nrows=2000)
    scan = next((s for s in scans if s.name == QUERIES_SHEET), SheetScan(QUERIES_SHEET, ""))
    for index, row in enumerate(grid[:20]):
        titles = {c.strip().casefold(): n for n, c in enumerate(row) if isinstance(c, str)}
        if "ref" in titles and "response" in titles:
            ref_col, response_col = titles["ref"], titles["response"]
            out = []
            for i in range(index + 1, len(grid)):
                ref = shown(grid[i][ref_col]).strip() if ref_col < len(grid[i]) else ""
                cell = _comment(grid[i], i, response_col, scan)
                text = shown(cell.raw).strip() if cell.raw is not None else ""
                if ref and text:
                    out.append((ref[:64], text[:1000]))
            return tuple(out)
    return ()


def _identity(book: CalamineWorkbook, names: list[str]) -> tuple[Identity | None, str]:
    """Identity from `xlq_meta`; the second item says why the file is not one of ours."""
    if META_SHEET not in names:
        return None, "no xlq_meta sheet"
    pairs: dict[str, str] = {}
    for row in book.get_sheet_by_name(META_SHEET).to_python(skip_empty_area=False, nrows=200):
        if len(row) >= 2 and isinstance(row[0], str) and row[0].strip():
            pairs[row[0].strip().casefold()] = _text(row[1])
    template = pairs.get("template", "")
    if template != TEMPLATE_ID:
        return None, f"template '{template}'" if template else "xlq_meta has no template key"
    return Identity(
        organisation=pairs.get("organisation", ""),
        department=pairs.get("department", ""),
        period=pairs.get("period", ""),
        catalogue_version=pairs.get("catalogue_version", ""),
        template_version=pairs.get("template_version", ""),
    ), ""


def _text(raw: object) -> str:
    """Metadata as text, undoing what a spreadsheet program may have done to it (a period
    turned into a date, a version into a number)."""
    if isinstance(raw, (dt.date, dt.datetime)):
        return f"{raw.year:04d}-{raw.month:02d}"
    return shown(raw).strip()


def _find_table(book: CalamineWorkbook, names: list[str]):
    ordered = [TABLE_SHEET] if TABLE_SHEET in names else []
    ordered += [n for n in names if n not in (TABLE_SHEET, META_SHEET, QUERIES_SHEET)]
    for name in ordered:
        try:
            grid = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        except Exception:  # a chart sheet or a sheet calamine cannot read is simply not the table
            continue
        found = _header(grid)
        if found:
            return name, grid, found[0], found[1]
    return None


def _header(grid: list[list[object]]) -> tuple[int, dict[str, int]] | None:
    for index, row in enumerate(grid[:HEADER_SEARCH_ROWS]):
        titles: dict[str, int] = {}
        for col, cell in enumerate(row):
            if isinstance(cell, str):
                key = cell.strip().casefold()
                if key in _COLUMNS and key not in titles:
                    titles[key] = col
        if "code" in titles and ("value" in titles or "numerator" in titles):
            return index, titles
    return None


def _rows(grid: list[list[object]], header: int, columns: dict[str, int], scan: SheetScan):
    for index in range(header + 1, len(grid)):
        row = grid[index]
        code = _cell(row, index, columns.get("code"), scan)
        if code.is_blank:
            continue
        yield RawRow(
            code=code,
            value=_cell(row, index, columns.get("value"), scan),
            numerator=_cell(row, index, columns.get("numerator"), scan),
            denominator=_cell(row, index, columns.get("denominator"), scan),
            comment=_comment(row, index, columns.get("comment"), scan),
            row=index + 1,
        )


def _cell(row: list[object], index: int, col: int | None, scan: SheetScan) -> RawCell:
    if col is None:
        return RawCell("")
    ref = f"{column_letters(col + 1)}{index + 1}"
    if ref in scan.errors:
        return RawCell(ref, None, error=scan.errors[ref])
    raw = row[col] if col < len(row) else None
    if raw == "" and ref in scan.formulas:
        return RawCell(ref, None, formula=scan.formulas[ref])
    return RawCell(ref, None if raw == "" else raw)


def _comment(row: list[object], index: int, col: int | None, scan: SheetScan) -> RawCell:
    """A comment is text: one typed as a formula is kept as the formula's text, never its result."""
    cell = _cell(row, index, col, scan)
    formula = scan.formula_cells.get(cell.ref) if cell.ref else None
    if formula is not None and cell.formula is None:
        return RawCell(cell.ref, "=" + formula)
    return cell


def _contact(grid: list[list[object]], header: int) -> tuple[tuple[str, str], ...]:
    found: dict[str, str] = {}
    wanted = {label.casefold(): label for label in CONTACT_LABELS}
    for row in grid[:header]:
        if len(row) >= 2 and isinstance(row[0], str):
            label = wanted.get(row[0].strip().rstrip(":").strip().casefold())
            if label and label not in found:
                found[label] = shown(row[1]).strip()
    return tuple((label, found.get(label, "")) for label in CONTACT_LABELS)
