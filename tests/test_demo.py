"""`xlq demo` end to end: the master it writes shows the seed's figures, and the faults it plants.

The figures are read back from the written workbook, the way a reviewer sees them, not from
the store, so every stage between a typed template cell and the master cell is covered.
"""

from __future__ import annotations

import csv
import datetime as dt
import subprocess
import sys
import zipfile
from fractions import Fraction
from pathlib import Path

import pytest
from openpyxl import load_workbook
from test_seed_figures import NOT_REPRODUCED, PAIR, decimals_of, percent_text

from xlq.catalogue import DEFAULT_CATALOGUE, load_catalogue
from xlq.config import load_workspace
from xlq.reconcile import reconcile
from xlq.store import Store

MARKERS = {"N/A", "TBA", "-"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "demo"
    result = subprocess.run([sys.executable, "-m", "xlq.cli", "demo", str(root)], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Master scorecard: {root / 'outbox' / 'scorecard.xlsx'}" in result.stdout
    return root


@pytest.fixture(scope="module")
def master(demo):
    return load_workbook(demo / "outbox" / "scorecard.xlsx", data_only=True)


@pytest.fixture(scope="module")
def scorecard_cells(master) -> dict[tuple[str, str], object]:
    """(code, YYYY-MM) -> the value in the Scorecard's month cell."""
    sheet = master["Scorecard"]
    rows = list(sheet.iter_rows(values_only=True))
    header_index = next(i for i, row in enumerate(rows) if "Code" in row and "Trend" in row)
    header = rows[header_index]
    code_col = header.index("Code")
    months = {i: f"{v.year:04d}-{v.month:02d}" for i, v in enumerate(header) if isinstance(v, dt.datetime)}
    assert len(months) == 13
    cells = {}
    for row in rows[header_index + 1:]:
        code = row[code_col]
        if isinstance(code, str) and code:
            for i, period in months.items():
                cells[(code, period)] = row[i]
    return cells


def shown(value: object, seed_text: str) -> str:
    """The master's cell value displayed at the seed's precision."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return value
    match = PAIR.match(seed_text)
    if match:
        percent = match.group(3)
        return percent_text(Fraction(value).limit_denominator(10**6), decimals_of(percent or "0")) if percent else ""
    if seed_text.endswith("%"):
        return percent_text(Fraction(str(value)), decimals_of(seed_text))
    return f"{value:g}" if isinstance(value, float) else str(value)


def expected(seed_text: str) -> str:
    match = PAIR.match(seed_text)
    if match:
        return f"{match.group(3)}%" if match.group(3) else ""
    return seed_text


def test_master_shows_every_legible_seed_figure(scorecard_cells):
    with (DEFAULT_CATALOGUE.parent / "seed.csv").open(newline="", encoding="utf-8") as handle:
        seed = {(r["code"], r["period"]): r["shown"] for r in csv.DictReader(handle)}
    wrong = []
    for (code, period), text in seed.items():
        if (code, period) in NOT_REPRODUCED:
            continue
        got = shown(scorecard_cells.get((code, period)), text)
        if got != expected(text):
            wrong.append(f"{code} {period}: seed {text!r}, master {got!r}")
    assert not wrong, f"{len(wrong)} figures differ:\n" + "\n".join(wrong[:40])
    assert len(seed) > 800


def test_every_shown_indicator_has_a_row_and_a_sparkline(demo, scorecard_cells):
    catalogue = load_catalogue()
    shown_codes = {i.code for i in catalogue.indicators if i.show}
    assert shown_codes <= {code for code, _ in scorecard_cells}
    with zipfile.ZipFile(demo / "outbox" / "scorecard.xlsx") as archive:
        xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert xml.count("<x14:sparkline>") >= len(shown_codes)


def month(value: object) -> str:
    return f"{value.year:04d}-{value.month:02d}" if isinstance(value, dt.datetime) else str(value or "")


def test_the_planted_faults_are_on_the_validation_errors_sheet(master):
    sheet = master["Validation Errors"]
    rows = list(sheet.iter_rows(values_only=True))
    header_index = next(i for i, row in enumerate(rows) if row and "Rule" in row and "Severity" in row)
    header = rows[header_index]
    col = {name: header.index(name) for name in ("Severity", "Rule", "Department", "Period", "Indicator")}
    found = {(r[col["Rule"]], r[col["Department"]], month(r[col["Period"]]), r[col["Indicator"]] or None)
             for r in rows[header_index + 1:] if r[col["Rule"]]}
    for fault in [
        ("percent-out-of-range", "CORP", "2023-08", "PULSE-WORK"),
        ("numerator-above-denominator", "ICASH", "2023-10", "TRN-FIRE"),
        ("not-a-number", "MSK", "2023-12", "INC-NEW"),
        ("return-missing", "DENT", "2023-12", None),
        ("correction", "MSK", "2023-11", None),
    ]:
        assert any(f[:3] == fault[:3] and (fault[3] is None or f[3] == fault[3]) for f in found), fault
    severities = [r[col["Severity"]] for r in rows[header_index + 1:] if r[col["Rule"]]]
    assert severities == sorted(severities, key=["error", "warning", "info"].index), "errors come first"


def test_returns_arrive_before_their_due_date_except_the_missing_one(demo):
    workspace = load_workspace(demo)
    catalogue = load_catalogue(workspace.catalogue_path)
    with Store(workspace.store_path) as store:
        statuses = {key: s.status for key, s in reconcile(store, catalogue, workspace).submissions.items()}
    assert statuses.pop(("DENT", "2023-12")) == "missing"
    assert set(statuses.values()) <= {"accepted", "accepted_with_warnings"}, set(statuses.values())


def test_a_rerun_of_the_demo_replaces_the_old_one(demo):
    result = subprocess.run([sys.executable, "-m", "xlq.cli", "demo", str(demo)], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Returns accepted: 91, rejected: 0" in result.stdout
