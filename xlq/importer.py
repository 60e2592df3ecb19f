"""`xlq import`: figures kept before xlq (old spreadsheets) loaded into the store as history.

An imported row merges: it supersedes only its own indicator's current value for that month
(provenance "import"), so a one-row correction never wipes the rest of a department's return.
Rolling indicators need twelve months of components, and validation's history rules need a
past; an organisation adopting xlq has both in old workbooks. Each department and month of
the CSV becomes one submission, judged by the same value rules as a return (a CSV cell is
located as `history.csv!D7`), so an imported figure is as trustworthy as a returned one.
Completeness rules do not apply: an import brings what was kept, not a full return.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from xlq.core import rules
from xlq.core.catalogue import Catalogue, load_catalogue
from xlq.core.config import Workspace
from xlq.core.errors import InputRefused
from xlq.core.model import Checked, Identity, ParsedReturn, RawCell, RawRow, judge
from xlq.core.report import plain
from xlq.core.values import shown
from xlq.intake.validate import validate
from xlq.store.journal import open_store
from xlq.store.records import Receipt
from xlq.watch.idle import STALE_MARKER

COLUMNS = ("department", "period", "code", "value", "numerator", "denominator", "comment")
_NOT_FOR_IMPORTS = frozenset({"required-missing", "nothing-filled"})


class HistoryImportError(InputRefused):
    """A CSV that cannot be imported; the message is one line for the user."""


def _letter(index: int) -> str:
    return chr(ord("A") + index)


@dataclass(frozen=True)
class RowResult:
    """What became of one CSV row: `status` imported, refused or duplicate; `detail` says why."""

    line: int
    department: str
    period: str
    code: str
    status: str
    detail: str = ""

    def text(self) -> str:
        # The CSV's own text, one printable line each: a field cannot write a line of its own.
        fields = (plain(self.department or "?", 20), plain(self.period or "?", 10), plain(self.code or "?", 40))
        where = f"line {self.line}: {' '.join(fields)}"
        return f"  {where:<40} {self.status}" + (f": {plain(self.detail, 300)}" if self.detail else "")


@dataclass(frozen=True)
class ImportReport:
    rows: tuple[RowResult, ...]

    @property
    def imported(self) -> int:
        return sum(1 for r in self.rows if r.status == "imported")

    @property
    def refused(self) -> int:
        return sum(1 for r in self.rows if r.status == "refused")

    def describe(self) -> str:
        lines = [r.text() for r in self.rows]
        duplicates = len(self.rows) - self.imported - self.refused
        lines.append(f"Imported {self.imported} of {len(self.rows)} row(s); refused {self.refused}"
                     + (f"; {duplicates} already imported" if duplicates else ""))
        return "\n".join(lines)


def import_history(workspace: Workspace, path: Path, catalogue: Catalogue | None = None) -> ImportReport:
    """Import `path` (columns: department, period, code, value, numerator, denominator, comment).

    Each row merges into its department's month: it supersedes only the current value of its own
    indicator (provenance "import"), and the rest of the month's return stays current. The master
    is marked out of date (the watch stage's stale marker), so the next `xlq run` rebuilds it."""
    catalogue = catalogue or load_catalogue(workspace.catalogue_path, workspace.department_codes, workspace.cache_dir)
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise HistoryImportError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS[:4] if c not in (reader.fieldnames or ())]
        if missing:
            raise HistoryImportError(f"{path}: missing column(s) {', '.join(missing)}")
        fields = list(reader.fieldnames or ())
        groups: dict[tuple[str, str], list[RawRow]] = defaultdict(list)
        for line, row in enumerate(reader, start=2):
            def cell(name: str, row=row, line=line) -> RawCell:
                if name not in fields:
                    return RawCell("")
                text = (row.get(name) or "").strip()
                return RawCell(f"{_letter(fields.index(name))}{line}", text or None)

            groups[((row["department"] or "").strip(), (row["period"] or "").strip())].append(
                RawRow(cell("code"), cell("value"), cell("numerator"), cell("denominator"), cell("comment"), line))
    content = path.read_bytes()
    results: list[RowResult] = []
    with open_store(workspace.store_target, workspace.root) as store:
        (workspace.root / STALE_MARKER).touch()  # before the first write, as the pipeline does
        for (department, period), rows in sorted(groups.items()):
            digest = hashlib.sha256(content + f"|{department}|{period}".encode()).hexdigest()
            parsed = ParsedReturn(
                path=str(path), sha256=digest, size=len(content), sheet=path.name, rows=tuple(rows),
                identity=Identity(workspace.organisation, department, period, catalogue.version, "import"),
            )
            checked = validate(parsed, catalogue, workspace, store)
            findings = tuple(f for f in checked.findings if f.rule not in _NOT_FOR_IMPORTS)
            outcome = judge(findings, checked.outcome == "rejected")
            checked = type(checked)(checked.parsed, checked.values, findings, outcome)
            receipt = Receipt(digest, path.name, "import", dt.datetime.now().isoformat(timespec="seconds"), str(path))
            recorded = store.record_import(receipt, checked)
            results += _row_results(rows, checked, recorded.kind == "duplicate")
    return ImportReport(tuple(sorted(results, key=lambda r: r.line)))


def _row_results(rows: list[RawRow], checked: Checked, duplicate: bool) -> list[RowResult]:
    identity = checked.parsed.identity
    assert identity is not None
    file_level = [f.message for f in checked.findings if f.rule in rules.FILE_RULES]
    by_line: dict[int, list[str]] = defaultdict(list)
    for f in checked.findings:
        if f.severity == "error" and f.cell and f.rule not in rules.FILE_RULES:
            by_line[int(f.cell.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ") or 0)].append(f.message)
    kept = {v.indicator for v in checked.values}
    out = []
    for row in rows:
        code = shown(row.code.raw).strip()
        if duplicate:
            out.append(RowResult(row.row, identity.department, identity.period, code, "duplicate",
                                 "this file's rows for the month were imported before"))
        elif file_level:
            out.append(RowResult(row.row, identity.department, identity.period, code, "refused", " ".join(file_level)))
        elif by_line.get(row.row) or code not in kept:
            why = " ".join(by_line.get(row.row, [])) or "nothing to import in this row"
            out.append(RowResult(row.row, identity.department, identity.period, code, "refused", why))
        else:
            out.append(RowResult(row.row, identity.department, identity.period, code, "imported"))
    return out
