"""Helpers for tests that make, fill and inspect return templates.

They locate everything by the layout contract (header titles, `Code`, the meta sheet), never by
row number, so they keep working when the template's layout moves.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import openpyxl
from openpyxl.worksheet.worksheet import Worksheet
from workspaces import write_workspace

from xlq.core.catalogue import Catalogue, load_catalogue
from xlq.core.config import Workspace
from xlq.template.workbook import HEADERS

SMALL_CATALOGUE = """\
version = "2023.12-test"

[[indicator]]
code = "INC_TOTAL"
domain = "SAFETY"
subdomain = "Patient safety incidents"
name = "New patient safety incidents"
description = "New patient safety incidents including SIs, Never Events and medication incidents"
unit = "count"

[[indicator]]
code = "NEVER"
domain = "SAFETY"
subdomain = "Patient safety incidents"
name = "Never Events"
description = "Number of never events reported in month"
unit = "count"
target = "<= 0"
direction = "lower"

[[indicator]]
code = "MED_NOHARM"
domain = "SAFETY"
subdomain = "Medicines Management"
name = "% medication incidents no harm"
unit = "percent"
direction = "higher"
aggregate = "mean"
weight = "INC_TOTAL"

[[indicator]]
code = "MT_OVERALL"
domain = "WORKFORCE"
subdomain = "Mandatory training"
name = "Overall mandatory training"
description = "Staff compliant / staff required, in line with the Training Needs Analysis"
unit = "ratio"
target = ">= 90%"
direction = "higher"
aggregate = "ratio"

[[indicator]]
code = "MT_12M"
domain = "WORKFORCE"
subdomain = "Mandatory training"
name = "Mandatory training, rolling 12 months"
unit = "ratio"
target = ">= 90%"
aggregate = "rolling12"
source = "MT_OVERALL"

[[indicator]]
code = "SUPERVISION"
domain = "SAFETY"
name = "Safeguarding supervisions (Children)"
description = "% eligible staff (ceased reporting in March 2023)"
unit = "percent"
target = ">= 95%"
active_until = "2023-03"

[[indicator]]
code = "DENT_WAIT"
domain = "EXPERIENCE"
name = "Dental GA waiting time"
description = "Average days from referral to treatment under general anaesthetic"
unit = "days"
reported_by = ["DENT"]
decimals = 1

[[indicator]]
code = "COMPLAINTS"
domain = "EXPERIENCE"
name = "Complaints per 1,000 contacts"
unit = "rate"
required = false
decimals = 2
"""


def make_workspace(root: Path) -> Workspace:
    """The sample trust's workspace without a catalogue.toml (tests load SMALL_CATALOGUE apart)."""
    return write_workspace(root, catalogue=None)[0]


def make_catalogue(path: Path, workspace: Workspace, text: str = SMALL_CATALOGUE) -> Catalogue:
    path.write_text(text, encoding="utf-8")
    return load_catalogue(path, workspace.department_codes)


def locate(ws: Worksheet) -> tuple[int, dict[str, int], dict[str, int]]:
    """(header row, column number by title, row number by indicator code), found by titles."""
    for row in ws.iter_rows():
        titles = {str(c.value).strip(): c.column for c in row if isinstance(c.value, str)}
        if all(t in titles for t in HEADERS):
            header = row[0].row
            codes = {}
            for r in range(header + 1, ws.max_row + 1):
                code = ws.cell(r, titles["Code"]).value
                if isinstance(code, str) and code.strip():
                    codes[code.strip()] = r
            return header, {t: titles[t] for t in HEADERS}, codes
    raise AssertionError(f"no header row with {HEADERS} on sheet {ws.title}")


def contact_cells(ws: Worksheet) -> dict[str, str]:
    """Contact input cells by label: the cell in column B next to the label in column A."""
    found = {}
    for row in ws.iter_rows(max_col=1):
        label = row[0].value
        if label in ("Prepared by", "Email", "Date"):
            found[label] = f"B{row[0].row}"
    return found


def fill_template(path: Path, out: Path, values: Mapping[str, object], contact: Mapping[str, object]) -> Path:
    """Fill a template as a department would with openpyxl: `values` maps a code to a Value,
    or to a (numerator, denominator) pair for ratio rows."""
    wb = openpyxl.load_workbook(path)
    ws = wb["Return"]
    _, cols, rows = locate(ws)
    for code, value in values.items():
        if isinstance(value, tuple):
            ws.cell(rows[code], cols["Numerator"], value[0])
            ws.cell(rows[code], cols["Denominator"], value[1])
        else:
            ws.cell(rows[code], cols["Value"], value)
    cells = contact_cells(ws)
    for label, value in contact.items():
        ws[cells[label]] = value
    wb.save(out)
    return out


def read_meta(path: Path) -> dict[str, str]:
    wb = openpyxl.load_workbook(path)
    return {str(a): str(b) for a, b in wb["xlq_meta"].iter_rows(values_only=True) if a}
