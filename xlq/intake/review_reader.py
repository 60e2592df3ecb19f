"""Read a dropped review workbook (issue 17) into a `ReviewReturn`; never raises on bad input.

A review workbook comes back from a person, so it is as untrusted as a return: the same
sniffing (`xlq.intake.sniff`) judges the bytes first, and the caller runs this in the isolated
worker. Layout is found by titles, never by position: the Review sheet's header row holds
`Ref`, `Decision` and `Note`; the Sign-off sheet's `Department`, `Month` and `Sign-off`; the
reviewer's name sits beside the `Reviewer` label. A note typed as a formula is kept as the
formula's text, never its result, and nothing read here is ever written back as a formula.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from python_calamine import CalamineWorkbook, PasswordError

from xlq.core.review import REVIEW_TEMPLATE, DecisionRow, ReviewReturn, SignOffRow
from xlq.core.values import shown
from xlq.intake.sheet_scan import Refused, SheetScan, column_letters
from xlq.intake.sniff import sniff

META_SHEET = "xlq_review"
TEXT_LIMIT = 1000
MAX_ROWS = 20000


def read_review(path: Path | str) -> ReviewReturn:
    """Read `path`; a file that is not a review workbook gives a ReviewReturn with `problem` set."""
    source = Path(path)
    try:
        sniffed = sniff(source)  # first: it refuses a file too large to hash or parse
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
    except Refused as refused:
        return ReviewReturn(str(source), "", problem=f"{refused.rule}: {refused.value}".rstrip(": "))
    except (OSError, ValueError, MemoryError, RecursionError) as exc:
        return ReviewReturn(str(source), "", problem=f"unreadable ({type(exc).__name__})")
    try:
        return _read(source, digest, {s.name: s for s in sniffed.sheets})
    except PasswordError:
        return ReviewReturn(str(source), digest, problem="password-protected workbook")
    except Exception as exc:  # calamine raises its own and builtin types for damaged parts
        return ReviewReturn(str(source), digest, problem=f"unreadable ({type(exc).__name__}: {str(exc)[:120]})")


def _text(raw: object, limit: int = TEXT_LIMIT) -> str:
    return shown(raw).strip()[:limit]


def _read(path: Path, digest: str, scans: dict[str, SheetScan]) -> ReviewReturn:
    with CalamineWorkbook.from_path(str(path)) as book:
        names = list(book.sheet_names)
        if META_SHEET not in names:
            return ReviewReturn(str(path), digest, problem="not a review workbook (no xlq_review sheet)")
        meta = {_text(r[0]).casefold(): _text(r[1], 255) for r in book.get_sheet_by_name(META_SHEET).to_python(nrows=50)
                if len(r) >= 2 and isinstance(r[0], str)}
        if meta.get("template") != REVIEW_TEMPLATE:
            return ReviewReturn(str(path), digest, problem=f"not a review workbook (template {meta.get('template', '')!r})")
        grids = {name: book.get_sheet_by_name(name).to_python(skip_empty_area=False, nrows=MAX_ROWS)
                 for name in names if name != META_SHEET}
    reviewer, decisions, signs = "", [], []
    for name, grid in grids.items():
        scan = scans.get(name, SheetScan(name, ""))
        for row in grid[:20]:
            if row and isinstance(row[0], str) and row[0].strip().casefold() == "reviewer" and len(row) > 1:
                reviewer = reviewer or _text(row[1], 80)
        found = _header(grid, ("ref", "decision", "note"))
        if found is not None:
            header, col = found
            scan.note_columns({column_letters(col["note"] + 1)})  # the sniff leaves formula cells unread until asked
            for index in range(header + 1, len(grid)):
                row = grid[index]
                ref, decision = _cell(row, col["ref"]), _cell(row, col["decision"])
                if ref or decision:
                    note = _formula_text(scan, col["note"], index) or _cell(row, col["note"])
                    decisions.append(DecisionRow(ref[:64], decision[:20], note, index + 1))
        found = _header(grid, ("department", "month", "sign-off"))
        if found is not None:
            header, col = found
            for index in range(header + 1, len(grid)):
                row = grid[index]
                value = _cell(row, col["sign-off"])
                if value:
                    signs.append(SignOffRow(_cell(row, col["department"])[:16], _month(row, col["month"]),
                                            value[:20], index + 1))
    return ReviewReturn(str(path), digest, meta.get("organisation", ""), meta.get("built_at", ""), meta.get("seal", ""),
                        reviewer, tuple(decisions), tuple(signs))


def _header(grid: list[list[object]], wanted: tuple[str, ...]) -> tuple[int, dict[str, int]] | None:
    for index, row in enumerate(grid[:50]):
        titles = {c.strip().casefold(): n for n, c in enumerate(row) if isinstance(c, str)}
        if all(w in titles for w in wanted):
            return index, {w: titles[w] for w in wanted}
    return None


def _cell(row: list[object], col: int) -> str:
    return _text(row[col]) if col < len(row) and row[col] is not None else ""


def _formula_text(scan: SheetScan, col: int, index: int) -> str:
    formula = scan.formula_cells.get(f"{column_letters(col + 1)}{index + 1}")
    return ("=" + formula)[:TEXT_LIMIT] if formula is not None else ""


def _month(row: list[object], col: int) -> str:
    raw = row[col] if col < len(row) else None
    if isinstance(raw, (dt.date, dt.datetime)):
        return f"{raw.year:04d}-{raw.month:02d}"
    return _text(raw, 7)
