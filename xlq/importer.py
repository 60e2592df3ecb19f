"""`xlq import`: figures kept before xlq (old spreadsheets) loaded into the store as history.

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
from pathlib import Path

from xlq.core.catalogue import Catalogue, load_catalogue
from xlq.core.config import Workspace
from xlq.core.errors import InputRefused
from xlq.core.model import Identity, ParsedReturn, RawCell, RawRow
from xlq.intake.validate import validate
from xlq.store.journal import open_store
from xlq.store.records import Receipt

COLUMNS = ("department", "period", "code", "value", "numerator", "denominator", "comment")
_NOT_FOR_IMPORTS = frozenset({"required-missing", "nothing-filled"})


class HistoryImportError(InputRefused):
    """A CSV that cannot be imported; the message is one line for the user."""


def _letter(index: int) -> str:
    return chr(ord("A") + index)


def import_history(workspace: Workspace, path: Path, catalogue: Catalogue | None = None) -> int:
    """Import `path` (columns: department, period, code, value, numerator, denominator, comment);
    returns how many values were stored."""
    catalogue = catalogue or load_catalogue(workspace.catalogue_path, workspace.department_codes)
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

            groups[(row["department"].strip(), row["period"].strip())].append(
                RawRow(cell("code"), cell("value"), cell("numerator"), cell("denominator"), cell("comment"), line))
    content = path.read_bytes()
    stored = 0
    with open_store(workspace.store_path, workspace.root) as store:
        for (department, period), rows in sorted(groups.items()):
            digest = hashlib.sha256(content + f"|{department}|{period}".encode()).hexdigest()
            parsed = ParsedReturn(
                path=str(path), sha256=digest, size=len(content), sheet=path.name, rows=tuple(rows),
                identity=Identity(workspace.organisation, department, period, catalogue.version, "import"),
            )
            checked = validate(parsed, catalogue, workspace, store)
            findings = tuple(f for f in checked.findings if f.rule not in _NOT_FOR_IMPORTS)
            outcome = checked.outcome
            if outcome != "rejected":
                warned = any(f.severity in ("error", "warning") for f in findings)
                outcome = "accepted_with_warnings" if warned else "accepted"
            checked = type(checked)(checked.parsed, checked.values, findings, outcome)
            receipt = Receipt(digest, path.name, "import", dt.datetime.now().isoformat(timespec="seconds"), str(path))
            result = store.record(receipt, checked)
            if result.kind != "duplicate":
                stored += len(checked.values)
    return stored
