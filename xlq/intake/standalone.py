"""`xlq validate` on a department's own machine: no workspace, no store, no `xlq init`.

The template carries what checking needs: its identity (organisation, department, month) and,
in the very-hidden `xlq_meta` sheet, the department's indicators (unit, whether figures are
whole, required, parts). A file is checked against those, so a department sees the same cell
findings the trust will raise; the checks that need the trust's records are skipped and named.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from python_calamine import CalamineWorkbook

from xlq.core.catalogue import Catalogue, Indicator, Target
from xlq.core.config import Department, Workspace
from xlq.core.model import Checked, judge
from xlq.core.rules import FILE_RULES
from xlq.intake.reader import META_SHEET, read_return
from xlq.intake.validate import validate

CATALOGUE_KEY = "catalogue"
SKIPPED = (
    "outside-history, large-change-unexplained, percent-maybe-fraction and denominator-shift "
    "(they compare figures with your department's earlier months, which the trust holds)",
    "wrong-organisation, unknown-department and catalogue-mismatch (the template is checked against itself; "
    "the trust checks it against its current list)",
    "future-period and return-late (they depend on the month the trust is collecting)",
)


@dataclass(frozen=True)
class StandaloneResult:
    path: Path
    checked: Checked
    note: str = ""


def carried_indicators(path: Path) -> tuple[Indicator, ...] | None:
    """The indicators a template carries in xlq_meta, or None when it carries none (an older
    template, or not one of ours)."""
    try:
        book = CalamineWorkbook.from_path(str(path))
        if META_SHEET not in book.sheet_names:
            return None
        rows = book.get_sheet_by_name(META_SHEET).to_python(skip_empty_area=False, nrows=200)
    except Exception:  # the reader's own findings say what is wrong with the file
        return None
    text = next((str(row[1]) for row in rows if len(row) >= 2 and str(row[0]).strip().casefold() == CATALOGUE_KEY), "")
    try:
        entries = json.loads(text) if text else None
    except ValueError:
        return None
    if not isinstance(entries, list):
        return None
    out = []
    for e in entries:
        if not isinstance(e, dict) or not e.get("code"):
            return None
        out.append(Indicator(
            code=str(e["code"]), domain=str(e.get("domain", "")), subdomain=str(e.get("subdomain", "")),
            name=str(e.get("name", "")), description="", unit=e.get("unit", "count"), target=Target("none"),
            direction="neither", tolerance=0.0, aggregate=e.get("aggregate", "sum"), reported_by=("all",),
            parts=tuple(e.get("parts", ())), required=bool(e.get("required", True)),
            decimals=int(e.get("decimals", 0)), parts_unit=str(e.get("parts_unit", "count"))))
    return tuple(out)


def check_standalone(path: Path) -> StandaloneResult:
    """Check one file with no workspace: against the identity and indicators it carries."""
    parsed = read_return(path)
    identity = parsed.identity
    department = identity.department if identity and identity.department else "UNKNOWN"
    workspace = Workspace(root=path.resolve().parent, organisation=identity.organisation if identity else "",
                          departments=(Department(department, department),),
                          current_period=identity.period if identity else None)
    indicators = carried_indicators(path) if identity is not None else None
    if identity is None:
        return StandaloneResult(path, validate(parsed, Catalogue("", ()), workspace, None))
    if indicators is None:
        findings = parsed.findings
        return StandaloneResult(path, Checked(parsed, (), findings, judge(findings, any(
            f.rule in FILE_RULES for f in findings))),
            "this template carries no indicator list (made by an older xlq): only the file-level checks ran")
    catalogue = Catalogue(identity.catalogue_version, indicators)  # type: ignore[union-attr]
    return StandaloneResult(path, validate(parsed, catalogue, workspace, None))
