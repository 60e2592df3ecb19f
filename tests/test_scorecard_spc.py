"""SPC in the master: Variation and Assurance cells, the summary matrix and the chart sheets,
checked inside the written workbook against series worked out by hand below."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from workspaces import write_workspace
from xlsx_parts import Xlsx, split_ref

from xlq.core.catalogue import load_catalogue
from xlq.core.config import SAMPLE_CONFIG
from xlq.core.model import OrgValue, Reconciled
from xlq.core.months import months_ending
from xlq.master.plan import SHEETS, cell_ref, make_plan
from xlq.master.spc_sheets import plan_spc, sheet_name
from xlq.master.workbook import write_scorecard

PERIODS = months_ending("2023-12", 13)
BUILT = dt.datetime(2024, 1, 9, 10, 12)
C = {"c": "http://schemas.openxmlformats.org/drawingml/2006/chart",
     "a": "http://schemas.openxmlformats.org/drawingml/2006/main"}

CATALOGUE = """
version = "spc-1"

[[indicator]]
code = "OUT"
domain = "Safety"
name = "Falls with harm"
unit = "count"
target = "<= 60"
direction = "lower"

[[indicator]]
code = "NEUTRAL"
domain = "Safety"
name = "Referrals received"
unit = "count"
target = "none"
direction = "neither"

[[indicator]]
code = "SHIFT"
domain = "Workforce/HR"
name = "Appraisal rate"
unit = "percent"
target = ">= 90%"
direction = "higher"

[[indicator]]
code = "SICKR"
domain = "Workforce/HR"
name = "Monthly sickness absence"
unit = "ratio"
aggregate = "ratio"
target = "none"
direction = "lower"
show = false

[[indicator]]
code = "ROLL"
domain = "Workforce/HR"
name = "Rolling sickness absence"
unit = "ratio"
aggregate = "rolling12"
source = "SICKR"
target = "<= 4.5%"
direction = "lower"

[[indicator]]
code = "FLAT"
domain = "Quality"
name = "Compliance with hand hygiene"
unit = "percent"
target = ">= 95%"
direction = "higher"

[[indicator]]
code = "FEW"
domain = "Quality"
name = "New audit started this month"
unit = "count"
target = "<= 3"
direction = "lower"

[[indicator]]
code = "HID"
domain = "Hidden domain"
name = "Not on the scorecard"
unit = "count"
target = "none"
direction = "lower"
show = false
"""

# Worked by hand (mean, average moving range mR, limits = mean +/- 2.66 mR):
SERIES: dict[str, list[float | None]] = {
    # mean 259/13 = 19.92, mR (11 x 10 + 59)/12 = 14.08, limits -17.54..57.39: 79 is outside, above.
    # Lower is better, so concern; the ceiling 60 is above the upper limit: consistently passing.
    "OUT": [10, 20] * 6 + [79],
    # mean 184/13 = 14.15, mR 1, limits 11.49..16.81: 10 and 11 outside below, a seven-point rise,
    # and the last 16 is one of two of three beyond the 2/3 line (15.93): special cause, high, no direction.
    "NEUTRAL": [10, 11, 12, 13, 14, 15, 16, 15, 16, 15, 16, 15, 16],
    # mean 10.74/13 = 0.8262, mR 0.14/12 = 0.01167, limits 0.7951..0.8572: the last seven points sit above
    # the mean (a shift, improvement); the floor 90% is above the upper limit: consistently failing.
    "SHIFT": [0.80, 0.81] * 3 + [0.84, 0.85, 0.84, 0.85, 0.84, 0.85, 0.84],
    # 100% every month: limits collapse onto the mean, no rule fires; 95% is below them: passing.
    "FLAT": [1.0] * 13,
    # one value: no moving range, so no limits.
    "FEW": [None] * 12 + [2],
    "ROLL": [0.05] * 12 + [0.09],
    "HID": [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 50],
}


def make_reconciled(series=SERIES, history=None) -> Reconciled:
    org = {}
    for code, values in series.items():
        for period, value in zip(PERIODS, values, strict=True):
            if value is not None:
                org[(code, period)] = OrgValue(code, period, float(value), contributors=7, expected=7)
    return Reconciled(PERIODS, org, {}, {}, (), files_in=12, history=history or {})


def make_workspace(root: Path, spc: str = ""):
    config = SAMPLE_CONFIG
    if spc:
        key = spc.split("=")[0].strip()
        config = re.sub(rf"^{key} = .*$", spc, config, flags=re.M) if re.search(rf"^{key} =", config, re.M) \
            else config.replace("[spc]\n", f"[spc]\n{spc}\n")
    return write_workspace(root, catalogue=CATALOGUE, config=config)


@pytest.fixture
def setup(tmp_path):
    return make_workspace(tmp_path / "ws")


@pytest.fixture
def written(setup):
    workspace, catalogue = setup
    return Xlsx(write_scorecard(make_reconciled(), catalogue, workspace, built_at=BUILT))


@pytest.fixture
def plan(setup):
    workspace, catalogue = setup
    return make_plan(make_reconciled(), catalogue, workspace, BUILT)


def spc_cells(book: Xlsx, plan, code: str):
    cells = book.cells("Scorecard")
    row = plan.indicator_row[code]
    variation = cells[cell_ref(row, plan.layout.col("variation"))]
    assurance = cells[cell_ref(row, plan.layout.col("assurance"))]
    return variation, assurance


def fill(book: Xlsx, cell) -> str:
    return book.cell_style(cell.style)["fill"]


def charts(book: Xlsx) -> dict[str, dict]:
    """Chart title -> {"sheet", "anchor", "series": [(name, categories, values)]}."""
    out = {}
    for sheet, part in book.sheet_parts.items():
        drawing = next((t for t in book._rels(part).values() if "/drawings/drawing" in t), None)
        if drawing is None:
            continue
        anchors = ET.fromstring(book.parts[drawing])
        targets = book._rels(drawing)
        for anchor in anchors:
            frm = anchor.find("{*}from")
            chart = next(el for el in anchor.iter() if el.tag.endswith("}chart"))
            root = book.xml(targets[chart.get("{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id")])
            title = "".join(t.text or "" for t in root.find("c:chart/c:title", C).iter(f"{{{C['a']}}}t"))
            series = [(s.findtext("c:tx/c:v", "", C), s.findtext("c:cat/c:numRef/c:f", "", C),
                       s.findtext("c:val/c:numRef/c:f", "", C)) for s in root.iter(f"{{{C['c']}}}ser")]
            row = int(frm.findtext("{*}row")) if frm is not None else -1
            out[title] = {"sheet": sheet, "row": row, "series": series}
    return out


# ------------------------------------------------------------------ the Scorecard cells


@pytest.mark.parametrize(("code", "variation", "v_fill", "assurance", "a_fill"), [
    ("OUT", "▲ Concern (high)", "FFE46C0A", "P Consistently passing", "FF00B0F0"),
    ("NEUTRAL", "▲ Special cause (high)", "FF490092", "", ""),
    ("SHIFT", "▲ Improvement (high)", "FF00B0F0", "F Consistently failing", "FFE46C0A"),
    ("FLAT", "● Common cause", "FFA6A6A6", "P Consistently passing", "FF00B0F0"),
    ("FEW", "– Not enough data", "", "– Not enough data", ""),
    ("ROLL", "– Rolling figure", "", "", ""),
])
def test_variation_and_assurance_cells_show_the_hand_worked_result_in_the_guidance_colours(
        written, plan, code, variation, v_fill, assurance, a_fill):
    v_cell, a_cell = spc_cells(written, plan, code)
    assert (v_cell.type, v_cell.value, fill(written, v_cell)) == ("s", variation, v_fill)
    assert (a_cell.type, a_cell.value or "", fill(written, a_cell)) == ("s", assurance, a_fill)


def test_the_columns_follow_trend_under_their_own_titles(written, plan):
    cells = written.cells("Scorecard")
    header = plan.header_row
    titles = [cells[cell_ref(header, plan.layout.col(k))].value for k in ("trend", "variation", "assurance")]
    assert titles == ["Trend", "Variation", "Assurance"]
    assert plan.layout.col("variation") == plan.layout.col("trend") + 1 == plan.layout.col("assurance") - 1
    assert plan.layout.col("findings") == plan.layout.last


def test_too_few_points_and_rolling_figures_explain_themselves_in_a_note(written, plan):
    notes = written.comments("Scorecard")
    few = notes[cell_ref(plan.indicator_row["FEW"], plan.layout.col("variation"))]
    assert "Not enough data for process limits: 1 month with a value" in few
    roll = notes[cell_ref(plan.indicator_row["ROLL"], plan.layout.col("variation"))]
    assert "12-month rolling figure" in roll and "(SICKR)" in roll
    flat = cell_ref(plan.indicator_row["FLAT"], plan.layout.col("variation"))
    assert flat not in notes  # 13 points: final limits, nothing to explain


def test_hidden_indicators_get_no_spc_and_their_domain_no_chart_sheet(written, plan):
    assert "HID" not in plan.indicator_row
    assert not any("Hidden" in name for name in written.sheet_names)
    assert "Not on the scorecard" not in written.strings


def test_limits_from_fewer_than_thirteen_points_are_marked_trial(tmp_path):
    # Re-based from Jun-23: the last seven months get limits of their own (mean 0.8443, mR 0.01,
    # limits 0.8177..0.8709), where 0.84 / 0.85 alternate without a signal.
    workspace, catalogue = make_workspace(tmp_path / "rebased", 'rebase = { SHIFT = "2023-06" }')
    book = Xlsx(write_scorecard(make_reconciled(), catalogue, workspace, built_at=BUILT))
    plan = make_plan(make_reconciled(), catalogue, workspace, BUILT)
    variation, assurance = spc_cells(book, plan, "SHIFT")
    assert variation.value == "● Common cause (trial)"
    assert assurance.value == "F Consistently failing (trial)"
    note = book.comments("Scorecard")[cell_ref(plan.indicator_row["SHIFT"], plan.layout.col("variation"))]
    assert "Trial limits from 7 months" in note
    summary = next(s for s in book.strings if "4 indicators counted" in s)
    assert "1 on trial limits (< 13 months)" in summary
    assert "SPC - Workforce-HR" not in book.sheet_names  # no special cause left in the domain


def test_run_lengths_come_from_the_workspace_settings(tmp_path):
    # With shift_length 8 the seven points above the mean are no longer a shift; nothing else fires
    # at the last point (0.84 is inside the 2/3 line at 0.8469).
    workspace, catalogue = make_workspace(tmp_path / "eight", "shift_length = 8")
    book = Xlsx(write_scorecard(make_reconciled(), catalogue, workspace, built_at=BUILT))
    plan = make_plan(make_reconciled(), catalogue, workspace, BUILT)
    assert spc_cells(book, plan, "SHIFT")[0].value == "● Common cause"


def test_history_before_the_shown_months_feeds_the_limits(tmp_path, setup):
    workspace, catalogue = setup
    # Ten earlier months at 90%: mean (9 + 13)/23 = 0.9565, mR 0.1/22, upper limit 0.9686, so the
    # window's 100% is outside it: improvement, and the chart shows all 23 months.
    history = {"FLAT": tuple((p, 0.9) for p in months_ending("2022-11", 10))}
    reconciled = make_reconciled(history=history)
    book = Xlsx(write_scorecard(reconciled, catalogue, workspace, tmp_path / "h.xlsx", built_at=BUILT))
    plan = make_plan(reconciled, catalogue, workspace, BUILT)
    variation, assurance = spc_cells(book, plan, "FLAT")
    assert (variation.value, assurance.value) == ("▲ Improvement (high)", "? Hit and miss")
    chart = charts(book)["FLAT: Compliance with hand hygiene"]
    assert chart["sheet"] == "SPC - Quality"
    assert chart["series"][0][2] == "'SPC - Quality'!$M$7:$M$29"  # 23 rows of data


# ------------------------------------------------------------------ summary


def test_summary_counts_indicators_by_variation_and_assurance(written, plan):
    cells = written.cells("Scorecard")
    header = {cells[ref].value: split_ref(ref)[1] for ref in cells
              if split_ref(ref)[0] == 0 and cells[ref].value in ("P Passing", "? Hit and miss", "F Failing", "No target")}
    rows = {cells[ref].value: split_ref(ref)[0] for ref in cells
            if cells[ref].value in ("▲▼ Improvement", "● Common cause", "▲▼ Concern", "▲▼ Neither")
            and split_ref(ref)[0] < plan.header_row}
    assert list(header) == ["P Passing", "? Hit and miss", "F Failing", "No target"]
    assert list(rows) == ["▲▼ Improvement", "● Common cause", "▲▼ Concern", "▲▼ Neither"]
    grid = {(r, c): int(float(cells[cell_ref(rows[r], header[c])].value)) for r in rows for c in header}
    expected = {key: 0 for key in grid}
    expected.update({("▲▼ Improvement", "F Failing"): 1, ("● Common cause", "P Passing"): 1,
                     ("▲▼ Concern", "P Passing"): 1, ("▲▼ Neither", "No target"): 1})
    assert grid == expected
    assert fill(written, cells[cell_ref(rows["▲▼ Concern"], header["P Passing"] - 2)]) == "FFE46C0A"
    assert fill(written, cells[cell_ref(0, header["P Passing"])]) == "FF00B0F0"
    note = next(c.value for c in cells.values() if c.value and "4 indicators counted" in c.value)
    assert note.startswith("Rows: is the latest month unusual? Columns: will the target be met?")
    assert note.endswith("4 indicators counted; 1 too few months (< 6, –); 1 rolling, not charted.")
    notes = written.comments("Scorecard")  # each count names its indicators
    named = notes[cell_ref(rows["▲▼ Concern"], header["P Passing"])]
    assert named.startswith("Concern × Passing: 1 indicator") and "OUT Falls with harm" in named
    for (r, c), count in grid.items():
        ref = cell_ref(rows[r], header[c])
        assert (ref in notes) == bool(count)
    about = written.cells("About")
    spc = next(about[f"B{r}"].value for r in range(3, 30) if f"A{r}" in about and about[f"A{r}"].value == "SPC")
    assert "7 points rising or falling" in spc and "Chart sheets: SPC - Safety, SPC - Workforce-HR." in spc
    assert all(split_ref(ref)[0] < plan.header_row for ref in cells if cells[ref].value == "F Failing")


def test_summary_sits_in_the_title_block_clear_of_the_rag_key(written, plan):
    cells = written.cells("Scorecard")
    label = next(ref for ref, c in cells.items() if c.value == "SPC: latest month")
    row, col = split_ref(label)
    first_month = plan.layout.col("month:2022-12")
    assert row == 0 and col > first_month + 8  # the RAG key uses the first nine month columns
    assert "Making Data Count" in written.comments("Scorecard")[label]


# ------------------------------------------------------------------ chart sheets


def test_chart_sheets_exist_only_for_domains_with_special_cause_in_the_shown_months(written):
    assert written.sheet_names == ["Scorecard", "By Department", "SPC - Safety", "SPC - Workforce-HR",
                                   "Validation Errors", "Submissions", "About"]


def test_each_chart_reads_values_mean_limits_and_target_from_its_data_block(written, plan):
    found = charts(written)
    assert set(found) == {"OUT: Falls with harm", "NEUTRAL: Referrals received", "SHIFT: Appraisal rate"}
    out = found["OUT: Falls with harm"]
    assert (out["sheet"], out["row"]) == ("SPC - Safety", 5)
    sheet = "'SPC - Safety'!"
    assert out["series"] == [
        ("Monthly value", f"{sheet}$L$7:$L$19", f"{sheet}$M$7:$M$19"),
        ("Mean", f"{sheet}$L$7:$L$19", f"{sheet}$N$7:$N$19"),
        ("Process limits", f"{sheet}$L$7:$L$19", f"{sheet}$P$7:$P$19"),
        ("Lower limit", f"{sheet}$L$7:$L$19", f"{sheet}$O$7:$O$19"),
        ("Target", f"{sheet}$L$7:$L$19", f"{sheet}$Q$7:$Q$19"),
        ("Concern point", f"{sheet}$L$7:$L$19", f"{sheet}$S$7:$S$19"),
    ]
    neutral = found["NEUTRAL: Referrals received"]
    assert [s[0] for s in neutral["series"]] == ["Monthly value", "Mean", "Process limits", "Lower limit",
                                                 "Special-cause point"]  # no target; one colour for either side
    shift = found["SHIFT: Appraisal rate"]
    assert [s[0] for s in shift["series"]] == ["Monthly value", "Mean", "Process limits", "Lower limit", "Target",
                                               "Improvement point", "Concern point"]


def test_the_data_block_is_plain_values_with_the_special_cause_points_marked(written):
    cells = written.cells("SPC - Safety")
    assert [cells[f"{c}6"].value for c in "LMNOPQRST"] == [
        "Month", "Value", "Mean", "Lower limit", "Upper limit", "Target", "Improvement point", "Concern point",
        "Rule that fired (kind)"]
    assert float(cells["L7"].value) == 44896 and written.number_format(cells["L7"].style) == "mmm-yy"
    assert [float(cells[f"M{r}"].value) for r in range(7, 20)] == SERIES["OUT"]
    assert float(cells["N7"].value) == pytest.approx(259 / 13)
    assert float(cells["P7"].value) == pytest.approx(259 / 13 + 2.66 * 169 / 12)
    assert 259 / 13 - 2.66 * 169 / 12 < 0 and float(cells["O7"].value) == 0  # a count's limit stops at 0
    assert float(cells["Q19"].value) == 60
    assert float(cells["S19"].value) == 79 and cells["S18"].value is None
    assert cells["T19"].value == "Outside the process limits (concern)"
    assert all(c.formula == "" for c in cells.values())
    shift = written.cells("SPC - Workforce-HR")
    assert shift["T19"].value == "Shift (improvement)" and float(shift["R19"].value) == 0.84


def test_variation_cells_link_to_their_chart_and_charts_link_back(written, plan):
    links = written.hyperlinks("Scorecard")
    found = charts(written)
    for code, title in (("OUT", "OUT: Falls with harm"), ("SHIFT", "SHIFT: Appraisal rate")):
        ref = cell_ref(plan.indicator_row[code], plan.layout.col("variation"))
        sheet, cell = links[ref]["location"].split("!")
        assert sheet.strip("'") == found[title]["sheet"]
        heading_row = split_ref(cell)[0]
        assert written.cells(sheet.strip("'"))[cell].value.startswith(f"{code}  ")
        assert found[title]["row"] == heading_row + 1  # the chart sits under its heading
        back = {r: link for r, link in written.hyperlinks(sheet.strip("'")).items()
                if link["location"] == f"'Scorecard'!{ref}"}
        assert len(back) == 1
    flat = cell_ref(plan.indicator_row["FLAT"], plan.layout.col("variation"))
    assert flat not in links  # no special cause, no chart to open


def test_sheet_names_keep_within_excels_rules():
    assert sheet_name("Workforce/HR", SHEETS) == "SPC - Workforce-HR"
    assert sheet_name("EXPERIENCE – Patient experience", SHEETS) == "SPC - EXPERIENCE"
    assert sheet_name("QEWTT (Quality Early Warning Trigger Tool)", SHEETS) == "SPC - QEWTT"
    assert sheet_name("Safety", ["spc - safety"]) == "SPC - Safety (2)"
    long = sheet_name("A very long domain name without any separator at all", SHEETS)
    assert len(long) <= 31 and long == "SPC - A very long domain name"
    for name in (sheet_name(d, SHEETS) for d in ("a[b]c:d*e?f/g\\h", "'quoted'", "x" * 60)):
        assert len(name) <= 31 and not set(name) & set("[]:*?/\\") and not name.endswith("'")


def test_nothing_on_the_spc_sheets_becomes_a_formula_or_a_link_out(tmp_path):
    hostile = CATALOGUE.replace('name = "Falls with harm"', 'name = "=HYPERLINK(\\"http://x\\") Sheet1!A1"')
    root = tmp_path / "hostile"
    workspace, _ = make_workspace(root)
    (root / "catalogue.toml").write_text(hostile, encoding="utf-8")
    catalogue = load_catalogue(workspace.catalogue_path, workspace.department_codes)
    book = Xlsx(write_scorecard(make_reconciled(), catalogue, workspace, built_at=BUILT))
    for name in book.sheet_names:
        assert "<f>" not in book.sheet_text(name)
        assert all(link["target"] == "" for link in book.hyperlinks(name).values())
    heading = next(c for c in book.cells("SPC - Safety").values() if c.value and c.value.startswith("OUT  "))
    assert heading.type == "s" and "=HYPERLINK" in heading.value
    assert any(t.startswith("OUT: =HYPERLINK") for t in charts(book))  # a literal title, not a cell reference


def test_plan_decides_chart_rows_before_writing(plan):
    spc = plan_spc(plan, SHEETS)
    assert spc.entries["OUT"].chart == ("SPC - Safety", 4)
    first = spc.entries["NEUTRAL"].chart
    assert first is not None and first[0] == "SPC - Safety" and first[1] > 4 + 13
    assert spc.entries["FLAT"].chart is None and spc.entries["FLAT"].special_shown == ()
    assert spc.entries["OUT"].special_shown == (12,)


@pytest.mark.libreoffice
def test_libreoffice_keeps_the_charts_and_prints_the_spc_sheets(written, libreoffice_convert):
    again = Xlsx(libreoffice_convert(written.path, "xlsx"))
    assert set(charts(again)) == set(charts(written))
    pdf = libreoffice_convert(written.path, "pdf")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert "SPC charts: Safety" in text and "SPC: latest month" in text
