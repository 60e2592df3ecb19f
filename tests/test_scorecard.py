"""The master workbook: what a board opens, checked part by part inside the written file."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from workspaces import write_workspace
from xlsx_parts import Xlsx, split_ref

from xlq.core import rules
from xlq.core.catalogue import load_catalogue
from xlq.core.model import OrgValue, Reconciled, SubmissionStatus, Value
from xlq.master.plan import (
    LINK_LIMIT,
    NOTE_LIMIT,
    SHEETS,
    URL_LIMIT,
    Column,
    cell_ref,
    clean,
    make_plan,
    month_key,
    scorecard_layout,
    thresholds,
)
from xlq.master.style import Links, wrapped_height
from xlq.master.workbook import write_scorecard

PERIODS = tuple(f"{y}-{m:02d}" for y, m in [(2022, 12)] + [(2023, n) for n in range(1, 13)])
BUILT = dt.datetime(2024, 1, 9, 10, 12)
HEADER_ROW = 8  # 1-based row of the Scorecard's column titles (the coverage row is above it)

CATALOGUE = """
version = "test-1"

[[indicator]]
code = "INC"
domain = "SAFETY"
subdomain = "Incidents"
name = "New patient safety incidents"
description = "Including SIs, Never Events and medication incidents"
unit = "count"
target = "none"
direction = "neither"

[[indicator]]
code = "NEV"
domain = "SAFETY"
subdomain = "Incidents"
name = "Never events"
description = "Number of never events reported in month"
unit = "count"
target = "<= 0"
direction = "lower"

[[indicator]]
code = "IPC"
domain = "SAFETY"
subdomain = "Infection Prevention & Control"
name = "Compliance with spread of infection indicator"
unit = "percent"
target = ">= 100%"
direction = "higher"
reported_by = ["LUT", "MSK"]

[[indicator]]
code = "MT"
domain = "Mandatory training"
name = "Overall mandatory training"
description = "In line with Trust Training Needs Analysis"
unit = "percent"
target = ">= 90%"
tolerance = "5%"
direction = "higher"

[[indicator]]
code = "PSS1"
domain = "Mandatory training"
name = "Patient Safety Syllabus level 1"
description = "% of staff undertaking Patient Safety Syllabus training (all staff)"
unit = "percent"
target = ">= 90% by 2024-03"
tolerance = "5%"
direction = "higher"

[[indicator]]
code = "SICK"
domain = "Workforce/HR"
subdomain = "Sickness"
name = "Monthly sickness absence rate"
unit = "ratio"
target = "<= 4.5%"
tolerance = "0.5%"
direction = "lower"
aggregate = "ratio"
decimals = 2

[[indicator]]
code = "DAYS"
domain = "EXPERIENCE"
subdomain = "Formal complaints"
name = "Average days to respond to formal complaints"
unit = "days"
target = "none"
direction = "lower"
decimals = 1
reported_by = ["CORP"]

[[indicator]]
code = "HIDDEN"
domain = "EXPERIENCE"
name = "Not shown on the scorecard"
unit = "count"
show = false
"""

SERIES: dict[str, list[float | str | None]] = {
    "INC": [173, 156, 156, 121, 145, 192, 139, 174, 198, 174, 200, None, 158],
    "NEV": [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
    "IPC": ["N/A", "N/A", "N/A", "N/A", "N/A", 1.0, "N/A", "N/A", "N/A", 1.0, 1.0, "N/A", "TBA"],
    "MT": [0.93, 0.92, 0.93, 0.93, 0.94, 0.91, 0.87, 0.90, 0.93, 0.91, 0.84, 0.93, 0.92],
    "PSS1": [None, None, None, 0.46, 0.69, 0.78, 0.83, 0.89, 0.91, 0.94, 0.95, 0.95, 0.95],
    "SICK": [0.0629, 0.0582, 0.058, 0.0417, 0.049, 0.0486, 0.0499, 0.0517, 0.0565, 0.0625, 0.061, 0.0698, 0.064],
    "DAYS": [31.5, 28, 40.2, 35, 29.9, 33, 30, 27.5, 26, 25, 31, 30, 28.4],
}


@pytest.fixture
def workspace(tmp_path: Path):
    return write_workspace(tmp_path / "ws", catalogue=CATALOGUE)[0]


@pytest.fixture
def catalogue(workspace):
    return load_catalogue(workspace.catalogue_path, workspace.department_codes)


def make_reconciled(workspace, extra_findings=()) -> Reconciled:
    org = {}
    for code, series in SERIES.items():
        for period, raw in zip(PERIODS, series, strict=True):
            if isinstance(raw, str):
                org[(code, period)] = OrgValue(code, period, None, marker=raw, contributors=2, expected=2)
            elif raw is not None:
                org[(code, period)] = OrgValue(code, period, float(raw), contributors=7, expected=7)
    org[("MT", "2023-06")] = OrgValue("MT", "2023-06", 0.91, contributors=5, expected=7,
                                      flags=("Partial coverage: 5 of 7 departments contributed.",))
    org[("DAYS", "2023-03")] = OrgValue("DAYS", "2023-03", 40.2, contributors=1, expected=1,
                                        flags=("Corrected by a later return (resubmitted 2023-05-02).",))
    subs = {}
    for dept in workspace.department_codes:
        for period in PERIODS:
            subs[(dept, period)] = SubmissionStatus(dept, period, "accepted", f"{period}-28T09:00:00", f"{dept}.xlsx")
    subs[("DENT", "2023-11")] = SubmissionStatus("DENT", "2023-11", "missing")
    subs[("ICASH", "2023-12")] = SubmissionStatus("ICASH", "2023-12", "rejected", "2024-01-05T10:00:00",
                                                  "icash dec.xlsx", "The workbook is password protected.")
    subs[("MSK", "2023-10")] = SubmissionStatus("MSK", "2023-10", "accepted_with_warnings", "2023-11-08T12:00:00")
    subs[("BEDS", "2023-09")] = SubmissionStatus("BEDS", "2023-09", "late", "2023-10-20T12:00:00")
    by_dept = {
        ("MT", d, "2023-12"): Value("MT", d, "2023-12", v, cell="F20")
        for d, v in [("LUT", 0.95), ("MSK", 0.86), ("DENT", 0.91), ("BEDS", 0.93), ("NORF", 0.90), ("CORP", 0.97)]
    }
    by_dept[("IPC", "LUT", "2023-12")] = Value("IPC", "LUT", "2023-12", None, marker="TBA", comment="=cmd|' /C calc'!A0")
    findings = [
        rules.finding("percent-assumed", "91", department="MSK", period="2023-06", indicator="MT",
                      sheet="Return", cell="F20", file="/inbox/MSK/msk june.xlsx"),
        rules.finding("not-a-number", "=HYPERLINK(\"http://evil.example\",\"click\")", department="MSK",
                      period="2023-12", indicator="MT", sheet="Return", cell="F20", file="=evil().xlsx"),
        rules.finding("correction", "resubmitted 2023-05-02", department="CORP", period="2023-03", indicator="DAYS"),
        rules.finding("return-rejected", "password protected", department="ICASH", period="2023-12",
                      file="icash dec.xlsx"),
        rules.finding("file-unreadable", "not a zip file", file="garbage.xlsx"),
        rules.finding("not-a-number", "old", department="LUT", period="2021-01", indicator="MT"),
        *extra_findings,
    ]
    return Reconciled(PERIODS, org, by_dept, subs, tuple(findings), files_in=95)


@pytest.fixture
def written(tmp_path, workspace, catalogue):
    path = write_scorecard(make_reconciled(workspace), catalogue, workspace, built_at=BUILT)
    return Xlsx(path)


@pytest.fixture
def plan(workspace, catalogue):
    return make_plan(make_reconciled(workspace), catalogue, workspace, BUILT)


def month_cells(plan, code: str) -> tuple[int, int, int]:
    """(row, first month col, last month col), zero-based, of an indicator on the Scorecard."""
    row = plan.indicator_row[code]
    return row, plan.layout.col(month_key(PERIODS[0])), plan.layout.col(month_key(PERIODS[-1]))


# ------------------------------------------------------------------ layout


def test_golden_structure_pins_sheets_header_panes_and_print_titles(written):
    # No SAFETY chart: its never-events count is a rare event (no special-cause call) and IPC
    # has too few numeric months for a verdict.
    assert written.sheet_names == ["Scorecard", "By Department", "SPC - Mandatory training",
                                   "SPC - Workforce-HR", "Validation Errors", "Submissions", "About"]
    assert written.active_sheet() == "Scorecard"
    cells = written.cells("Scorecard")
    header = [cells[f"{c}{HEADER_ROW}"] for c in "ABCDEFGHIJKLMNOPQRSTU"]
    assert [c.value for c in header[:4]] == ["Code", "Indicator", "Description", "Target"]
    assert [c.value for c in header[-4:]] == ["Trend", "Variation", "Assurance", "Findings"]
    months = header[4:17]
    assert [written.number_format(c.style) for c in months] == ["mmm-yy"] * 13
    assert all(c.type is None for c in months)  # real dates, not text
    assert float(months[0].value) == 44896  # 2022-12-01 as an Excel serial date
    assert float(months[-1].value) == 45261  # 2023-12-01
    assert written.pane("Scorecard") == {"xSplit": "4", "ySplit": str(HEADER_ROW), "topLeftCell": f"E{HEADER_ROW + 1}",
                                         "activePane": "bottomRight", "state": "frozen"}
    names = written.defined_names()
    assert names["_xlnm.Print_Titles@Scorecard"] == f"Scorecard!${HEADER_ROW - 1}:${HEADER_ROW}"
    assert names["_xlnm._FilterDatabase@Scorecard"].startswith(f"Scorecard!$A${HEADER_ROW}:$U$")
    setup = written.sheet("Scorecard").find("m:pageSetup", {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"})
    assert setup.get("paperSize") == "8" and setup.get("orientation") == "landscape"
    assert setup.get("fitToHeight") == "0"
    assert cells["A1"].value == "Integrated Quality Scorecard"
    assert cells["A2"].value == "Cambridgeshire Community Services NHS Trust"
    assert cells["A3"].value == "Reporting month: December 2023"


def test_indicators_sit_under_domain_and_subdomain_rows_in_catalogue_order(written, plan):
    cells = written.cells("Scorecard")
    column_a = [cells[f"A{r}"].value for r in range(HEADER_ROW + 1, HEADER_ROW + 1 + len(plan.rows))]
    assert column_a == ["SAFETY", "Incidents", "INC", "NEV", "Infection Prevention & Control", "IPC",
                        "Mandatory training", "MT", "PSS1", "Workforce/HR", "Sickness", "SICK",
                        "EXPERIENCE", "Formal complaints", "DAYS"]
    assert "HIDDEN" not in column_a


@given(st.text())
def test_clean_leaves_no_control_bidi_or_lone_surrogate_and_keeps_plain_text_as_it_is(text):
    # the master writer skips the replacing for plain ASCII text: both paths must hold this
    out = clean(text, 10_000)
    assert not any((ord(c) < 32 and c not in "\t\n\r") or ord(c) == 127 or 0x202A <= ord(c) <= 0x202E
                   or 0x2066 <= ord(c) <= 0x2069 for c in out)
    out.encode("utf-8")  # a lone surrogate would raise here, and XlsxWriter would fail on it
    assert len(out) == len(text)  # one "?" for each character replaced, nothing dropped
    if text.isascii() and text.isprintable():
        assert out == text


@given(st.lists(st.tuples(st.text(alphabet="ab \n", max_size=300), st.integers(1, 80)), max_size=6))
def test_a_row_is_tall_enough_for_its_wrapped_text(cells):
    # the writer skips counting short one-line cells: the height must still fit the tallest cell
    lines = max([1, *(sum(1 + len(part) // max(1, int(w * 1.2) - 3) for part in t.split("\n")) for t, w in cells)])
    assert wrapped_height([(t, float(w)) for t, w in cells]) == max(15.0, min(409.0, lines * 12.75 + 3))


def test_layout_takes_more_columns_without_renumbering_the_rest():
    base = scorecard_layout(PERIODS, tail=(Column("trend", "Trend", 17),))
    wider = scorecard_layout(PERIODS)  # with the SPC Variation and Assurance columns
    assert wider.col("trend") == base.col("trend") == 17
    assert (wider.col("variation"), wider.col("assurance")) == (18, 19)
    assert wider.col(month_key("2023-12")) == base.col(month_key("2023-12")) == 16


def test_title_block_counts_returns_and_findings(written):
    cells = written.cells("Scorecard")
    assert cells["A4"].value == "Returns for Dec-2023: 6 of 7 received (1 rejected)"
    assert cells["A5"].value.startswith("Findings in these 13 months: 4 errors · 1 warning · 1 for information")
    assert written.hyperlinks("Scorecard")["A5"]["location"] == "'Validation Errors'!A1"


# ------------------------------------------------------------------ values


def test_values_are_numbers_formatted_by_unit_and_markers_are_text(written, plan):
    cells = written.cells("Scorecard")
    expected_format = {"INC": "#,##0", "NEV": "#,##0", "MT": "0%", "PSS1": "0%", "SICK": "0.00%", "DAYS": "#,##0.0"}
    for code, fmt in expected_format.items():
        row, first, _ = month_cells(plan, code)
        cell = cells[cell_ref(row, first + 12)]
        assert cell.type is None and cell.formula == ""
        assert float(cell.value) == pytest.approx(SERIES[code][12])
        assert written.number_format(cell.style) == fmt
    row, first, _ = month_cells(plan, "IPC")
    assert cells[cell_ref(row, first)].type == "s" and cells[cell_ref(row, first)].value == "N/A"
    assert cells[cell_ref(row, first + 12)].value == "TBA"
    row, first, _ = month_cells(plan, "PSS1")
    assert cells[cell_ref(row, first)].value is None  # blank stays blank, never zero


# ------------------------------------------------------------------ sparklines


def test_each_indicator_has_one_sparkline_over_its_own_months_in_trend(written, plan):
    trend = plan.layout.col("trend")
    found = {sqref: f for group in written.sparkline_groups("Scorecard") for f, sqref in group["sparklines"]}
    expected = {}
    for code, row in plan.indicator_row.items():
        _, first, last = month_cells(plan, code)
        expected[cell_ref(row, trend)] = f"Scorecard!{cell_ref(row, first)}:{cell_ref(row, last)}"
    assert found == expected


def test_sparklines_are_grouped_by_direction_with_high_and_low_colours_to_match(written, plan):
    groups = written.sparkline_groups("Scorecard")
    assert len(groups) == 3  # one add_sparkline call per direction
    trend = plan.layout.col("trend")
    by_location = {}
    for group in groups:
        assert group["attrs"]["displayEmptyCellsAs"] == "gap"
        assert {group["attrs"].get(k) for k in ("high", "low", "last")} == {"1"}
        assert "markers" not in group["attrs"]
        for _, sqref in group["sparklines"]:
            by_location[sqref] = group["colours"]
    higher = by_location[cell_ref(plan.indicator_row["MT"], trend)]
    lower = by_location[cell_ref(plan.indicator_row["SICK"], trend)]
    neither = by_location[cell_ref(plan.indicator_row["INC"], trend)]
    assert (higher["colorHigh"], higher["colorLow"]) == ("FF00B050", "FFC00000")
    assert (lower["colorHigh"], lower["colorLow"]) == ("FFC00000", "FF00B050")
    assert neither["colorHigh"] == neither["colorLow"] == "FF7F7F7F"


# ------------------------------------------------------------------ RAG


def test_floor_target_is_green_amber_red_with_the_tolerance_as_amber(written, plan):
    row, first, last = month_cells(plan, "MT")
    rules_ = written.conditional_formats("Scorecard")[f"{cell_ref(row, first)}:{cell_ref(row, last)}"]
    top = cell_ref(row, first)
    assert rules_ == [
        ("expression", f"AND(ISNUMBER({top}),{top}>=0.9)", "FFC6EFCE"),
        ("expression", f"AND(ISNUMBER({top}),{top}>=0.85,{top}<0.9)", "FFFFEB9C"),
        ("expression", f"AND(ISNUMBER({top}),{top}<0.85)", "FFFFC7CE"),
    ]


def test_ceiling_target_reverses_the_comparisons(written, plan):
    row, first, last = month_cells(plan, "SICK")
    top = cell_ref(row, first)
    assert written.conditional_formats("Scorecard")[f"{top}:{cell_ref(row, last)}"] == [
        ("expression", f"AND(ISNUMBER({top}),{top}<=0.045)", "FFC6EFCE"),
        ("expression", f"AND(ISNUMBER({top}),{top}>0.045,{top}<=0.05)", "FFFFEB9C"),
        ("expression", f"AND(ISNUMBER({top}),{top}>0.05)", "FFFFC7CE"),
    ]
    row, first, last = month_cells(plan, "NEV")  # no tolerance: no amber
    top = cell_ref(row, first)
    assert [r[2] for r in written.conditional_formats("Scorecard")[f"{top}:{cell_ref(row, last)}"]] == \
        ["FFC6EFCE", "FFFFC7CE"]


def test_no_target_means_no_colour(written, plan):
    formats = written.conditional_formats("Scorecard")
    for code in ("INC", "DAYS"):
        row, _, _ = month_cells(plan, code)
        assert not [sqref for sqref in formats if split_ref(sqref.split(":")[0])[0] == row]


def test_by_date_target_without_an_agreed_path_is_judged_against_the_target_every_month(written, plan, catalogue):
    limits = thresholds(catalogue["PSS1"], PERIODS)
    assert limits == [0.9] * 13  # 46% in Mar-23 is red against "90% by Mar-2024", not green
    row, first, _ = month_cells(plan, "PSS1")
    formats = written.conditional_formats("Scorecard")
    (sqref,) = [ref for ref in formats if split_ref(ref.split(":")[0]) == (row, first)]
    green, amber, red = formats[sqref]
    top = cell_ref(row, first)
    assert green[1] == f"AND(ISNUMBER({top}),{top}>=0.9)" and red[1] == f"AND(ISNUMBER({top}),{top}<0.85)"


def test_an_agreed_trajectory_or_baseline_sets_each_months_threshold_from_the_month_alone(tmp_path, workspace):
    text = CATALOGUE.replace('target = ">= 90% by 2024-03"', 'target = ">= 90% by 2024-03"\n'
                             'baseline = { month = "2023-03", value = "46%" }')
    path = tmp_path / "baseline.toml"
    path.write_text(text, encoding="utf-8")
    pss = load_catalogue(path, workspace.department_codes)["PSS1"]
    limits = thresholds(pss, PERIODS)
    assert limits[:3] == [0.9] * 3  # before the agreed baseline: the target itself
    assert limits[3] == pytest.approx(0.46) and limits[12] == pytest.approx(0.46 + 0.44 * 9 / 12)
    later = (*PERIODS[1:], "2024-01")
    assert thresholds(pss, later)[:-1] == limits[1:]  # the window moved; no month changed its threshold
    assert pss.target.at("2024-03") == pss.target.at("2025-01") == 0.9
    path.write_text(CATALOGUE.replace('target = ">= 90% by 2024-03"', 'target = ">= 90% by 2024-03"\n'
                                      'trajectory = { "2023-06" = "60%", "2023-12" = "80%" }'), encoding="utf-8")
    pss = load_catalogue(path, workspace.department_codes)["PSS1"]
    assert pss.target.at("2023-09") == pytest.approx(0.7) and pss.target.at("2024-02") == pytest.approx(0.8 + 0.1 * 2 / 3)


# ------------------------------------------------------------------ flags and links


def test_flagged_cells_have_a_border_and_a_note_but_no_link_so_the_figure_stays_selectable(written, plan):
    cells = written.cells("Scorecard")
    notes = written.comments("Scorecard")
    links = written.hyperlinks("Scorecard")
    errors = written.cells("Validation Errors")
    row, first, _ = month_cells(plan, "MT")
    june = cell_ref(row, first + PERIODS.index("2023-06"))
    assert written.cell_style(cells[june].style)["border"] == "medium FF7030A0"
    assert "MSK: '91' was read as 91%" in notes[june]
    assert "Partial coverage" not in notes[june]  # coverage is the month's, in the coverage row
    assert june not in links
    month_refs = {cell_ref(row, first + n) for n in range(13)}
    assert not month_refs & set(links)
    findings = cell_ref(row, plan.layout.col("findings"))
    assert cells[findings].value.startswith("2 findings")
    target_row = links[findings]["location"].split("!A")[1]
    assert errors[f"E{target_row}"].value == "MT"
    unflagged = cell_ref(row, first)
    assert unflagged not in notes and unflagged not in links
    assert written.cell_style(cells[unflagged].style)["border"] == "thin FFBFBFBF"


def test_every_finding_row_links_to_its_master_cell_and_that_row_links_back(written, plan):
    errors = written.cells("Validation Errors")
    scorecard = written.hyperlinks("Scorecard")
    back = {"Submissions": written.hyperlinks("Submissions")}
    findings_col = plan.layout.col("findings")
    linked = 0
    for ref, link in written.hyperlinks("Validation Errors").items():
        assert ref.startswith("J") and link["target"] == ""  # internal only, nothing external
        sheet, cell = link["location"].split("!")
        sheet = sheet.strip("'")
        assert errors[ref].value == f"{sheet} {cell}"
        if sheet == "Scorecard":  # the figure is not a link; its row's Findings cell is
            cell = cell_ref(split_ref(cell)[0], findings_col)
            returned = scorecard[cell]["location"]
            assert errors[f"E{returned.split('!A')[1]}"].value == errors[f"E{ref[1:]}"].value
        else:
            returned = back[sheet][cell]["location"]
            assert errors[f"J{returned.split('!A')[1]}"].value == f"{sheet} {cell}"
        linked += 1
    assert linked == 5  # all but the unidentified file, which has no cell in the master


def test_a_missing_return_is_coverage_shown_once_per_month_not_a_flag_on_every_cell(written, plan):
    cells = written.cells("Scorecard")
    notes = written.comments("Scorecard")
    row, first, _ = month_cells(plan, "INC")
    ref = cell_ref(row, first + PERIODS.index("2023-11"))
    style = written.cell_style(cells[ref].style)
    assert style["border"] != "medium FF7030A0" and ref not in notes
    cover = cell_ref(HEADER_ROW - 2, first + PERIODS.index("2023-11"))
    assert cells[cover].value == "6 of 7"
    assert "DENT: return missing" in notes[cover]
    assert written.hyperlinks("Scorecard")[cover]["location"].startswith("'Submissions'!")
    assert cells[cell_ref(HEADER_ROW - 2, first)].value == "7 of 7"
    flagged = [k for k in plan.flag_reasons if k[1] == "2023-11"]
    assert not flagged


def test_validation_errors_is_a_filtered_table_errors_first_with_synthesised_missing_rows(written):
    (table,) = written.tables("Validation Errors")
    names = [c.get("name") for c in table.iter("{http://schemas.openxmlformats.org/spreadsheetml/2006/main}tableColumn")]
    assert names == ["Severity", "Rule", "Department", "Period", "Indicator", "Source file", "Source cell",
                     "Value", "Message", "Master cell", "Review"]
    assert table.find("{http://schemas.openxmlformats.org/spreadsheetml/2006/main}autoFilter") is not None
    assert table.get("ref") == "A4:K10"
    cells = written.cells("Validation Errors")
    severities = [cells[f"A{r}"].value for r in range(5, 11)]
    assert severities == ["error"] * 4 + ["warning", "info"]
    rows = {(cells[f"B{r}"].value, cells[f"C{r}"].value) for r in range(5, 11)}
    assert ("return-missing", "DENT") in rows  # the store reported it missing without a finding
    assert ("return-rejected", "ICASH") in rows
    assert ("file-unreadable", "") in rows  # unidentified files are listed too
    assert not any(cells[f"D{r}"].value == "44197" for r in range(5, 11))  # Jan-21  # outside the shown months


def test_text_that_looks_like_a_formula_or_link_stays_plain_text(written):
    for name in SHEETS:
        assert "<f>" not in written.sheet_text(name)
        assert all(link["target"] == "" for link in written.hyperlinks(name).values())
    cells = written.cells("Validation Errors")
    row = next(r for r in range(5, 11) if cells[f"H{r}"].value.startswith("=HYPERLINK"))
    assert cells[f"H{row}"].type == "s"
    assert cells[f"F{row}"].value == "=evil().xlsx" and cells[f"F{row}"].type == "s"
    dept_notes = written.comments("By Department")
    assert any("=cmd|' /C calc'!A0" in text for text in dept_notes.values())


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=0, max_size=3000))
def test_any_text_from_a_return_is_written_as_a_cut_string(tmp_path, workspace, catalogue, text):
    finding = rules.finding("not-a-number", text, department="LUT", period="2023-12", indicator="INC",
                            file=text[:200] or None, cell="F9")
    path = write_scorecard(make_reconciled(workspace, [finding]), catalogue, workspace,
                           tmp_path / "prop" / "m.xlsx", built_at=BUILT)
    book = Xlsx(path)
    cells = book.cells("Validation Errors")
    row = next(r for r in range(5, 13) if cells[f"B{r}"].value == "not-a-number" and cells[f"C{r}"].value == "LUT")
    shown = cells.get(f"H{row}")
    assert "<f>" not in book.sheet_text("Validation Errors")
    if text.strip():
        assert shown is not None and shown.type == "s"
        assert len(shown.value) <= 1000
        if len(text) > 1000:
            assert shown.value.endswith("[cut]")


def test_over_long_values_and_notes_are_cut_with_a_visible_flag(tmp_path, workspace, catalogue):
    long = "x" * 5000
    finding = rules.finding("reconcile-difference", long, department="CORP", period="2023-12", indicator="DAYS")
    reconciled = make_reconciled(workspace, [finding])
    reconciled.org[("DAYS", "2023-12")] = OrgValue("DAYS", "2023-12", 28.4, flags=(long,))
    path = write_scorecard(reconciled, catalogue, workspace, built_at=BUILT)
    book = Xlsx(path)
    cells = book.cells("Validation Errors")
    values = [c.value for ref, c in cells.items() if ref.startswith("H") and c.value and c.value.startswith("xxx")]
    assert values and all(v.endswith(" [cut]") and len(v) == 1000 for v in values)
    note = next(t for t in book.comments("Scorecard").values() if "xxxx" in t)
    assert len(note) <= NOTE_LIMIT and note.endswith("[cut]")


def test_links_past_excels_limit_are_skipped_and_reported(tmp_path):
    workbook = xlsxwriter.Workbook(str(tmp_path / "limit.xlsx"))
    sheet = workbook.add_worksheet("S")
    links = Links(sheet, count=LINK_LIMIT - 1)
    assert links.add(0, 0, "internal:'S'!A2")
    assert not links.add(1, 0, "internal:'S'!A3")
    assert not links.add(2, 0, "internal:'S'!" + "A" * URL_LIMIT)
    workbook.close()
    assert links.skipped == 2
    assert links.notice() == "2 links were left out from cell A2 on: Excel allows 65,530 links per sheet."
    assert list(Xlsx(tmp_path / "limit.xlsx").hyperlinks("S")) == ["A1"]


@pytest.mark.slow
def test_a_master_with_more_findings_than_excel_has_links_says_where_links_stop(workspace, catalogue):
    extra = [rules.finding("outside-history", n, department="LUT", period="2023-05", indicator="INC", cell=f"F{n}")
             for n in range(LINK_LIMIT)]
    path = write_scorecard(make_reconciled(workspace, extra), catalogue, workspace, built_at=BUILT)
    book = Xlsx(path)
    links = book.hyperlinks("Validation Errors")
    assert len(links) == LINK_LIMIT
    rows = sorted(split_ref(ref)[0] + 1 for ref in links)
    notice = next(s for s in book.strings if "links were left out" in s)
    first_unlinked = int(notice.split(" from cell J")[1].split(" ")[0])
    assert first_unlinked > rows[-1]
    assert notice == f"5 links were left out from cell J{first_unlinked} on: Excel allows 65,530 links per sheet."
    about = book.cells("About")
    assert any(c.value == notice for ref, c in about.items() if ref.startswith("B"))


# ------------------------------------------------------------------ other sheets


def test_submissions_grid_shows_each_status_coloured(written, plan):
    cells = written.cells("Submissions")
    row = plan.submissions_row
    col = plan.submissions_first_col
    assert cells[cell_ref(row["DENT"], col + PERIODS.index("2023-11"))].value == "Missing"
    rejected = cells[cell_ref(row["ICASH"], col + 12)]
    assert rejected.value == "Rejected"
    assert written.cell_style(rejected.style)["fill"] == "FFFFC7CE"
    assert cells[cell_ref(row["MSK"], col + PERIODS.index("2023-10"))].value == "Accepted with warnings"
    assert cells[cell_ref(row["BEDS"], col + PERIODS.index("2023-09"))].value == "Late"
    assert written.cell_style(cells[cell_ref(row["LUT"], col)].style)["fill"] == "FFC6EFCE"
    note = written.comments("Submissions")[cell_ref(row["ICASH"], col + 12)]
    assert "icash dec.xlsx" in note and "password protected" in note
    assert written.hyperlinks("Submissions")[cell_ref(row["ICASH"], col + 12)]["location"].startswith(
        "'Validation Errors'!A")


def test_breakdown_shows_each_departments_figure_beside_the_organisations(written, plan):
    cells = written.cells("By Department")
    header = {cells[ref].value.split("\n")[0]: split_ref(ref)[1] for ref in cells if split_ref(ref)[0] == 4}
    assert list(header)[:3] == ["Code", "Indicator", "Target"]
    assert list(header)[-2:] == ["Organisation", "Trend (13 months)"]
    mt_row = next(split_ref(ref)[0] for ref, c in cells.items() if c.value == "MT" and ref.startswith("A"))
    assert float(cells[cell_ref(mt_row, header["LUT"])].value) == 0.95
    assert float(cells[cell_ref(mt_row, header["Organisation"])].value) == 0.92
    ipc_row = next(split_ref(ref)[0] for ref, c in cells.items() if c.value == "IPC" and ref.startswith("A"))
    assert written.cell_style(cells[cell_ref(ipc_row, header["DENT"])].style)["fill"] == "FFF2F2F2"  # not reported
    assert cells[cell_ref(ipc_row, header["LUT"])].value == "TBA"
    formats = written.conditional_formats("By Department")
    assert f"{cell_ref(mt_row, header['LUT'])}:{cell_ref(mt_row, header['Organisation'])}" in formats
    sparks = {sqref: f for g in written.sparkline_groups("By Department") for f, sqref in g["sparklines"]}
    row, first, last = month_cells(plan, "MT")
    assert sparks[cell_ref(mt_row, header["Trend (13 months)"])] == f"Scorecard!{cell_ref(row, first)}:{cell_ref(row, last)}"


def test_about_names_catalogue_build_time_workspace_and_files_in(written, workspace):
    cells = written.cells("About")
    about = {cells[f"A{r}"].value: cells[f"B{r}"].value for r in range(3, 30) if f"A{r}" in cells}
    assert about["Catalogue version"] == "test-1"
    assert about["Built"] == "2024-01-09 10:12"
    assert about["Workspace"] == str(workspace.root)
    assert about["Files in"].startswith("95 ")


def test_a_workspace_without_months_still_gets_a_master(tmp_path, workspace, catalogue):
    path = write_scorecard(Reconciled(()), catalogue, workspace, built_at=BUILT)
    book = Xlsx(path)
    assert book.sheet_names == list(SHEETS)
    assert book.sparkline_groups("Scorecard") == []


# ------------------------------------------------------------------ safe replacement


def test_master_replaces_the_old_one_atomically_and_keeps_its_permissions(workspace, catalogue):
    target = workspace.master_path
    target.parent.mkdir(parents=True)
    target.write_bytes(b"old master")
    os.chmod(target, 0o664)
    path = write_scorecard(make_reconciled(workspace), catalogue, workspace, built_at=BUILT)
    assert path == target
    assert Xlsx(path).sheet_names[0] == "Scorecard"
    assert oct(target.stat().st_mode & 0o777) == oct(0o664)
    assert sorted(p.name for p in target.parent.iterdir()) == ["scorecard.xlsx"]  # no temp file left


def test_a_target_that_cannot_be_replaced_gets_a_dated_copy_beside_it(workspace, catalogue, caplog):
    target = workspace.master_path
    (target / "locked").mkdir(parents=True)  # a non-empty directory cannot be replaced by a file
    with caplog.at_level(logging.WARNING, logger="xlq.master.workbook"):
        path = write_scorecard(make_reconciled(workspace), catalogue, workspace, built_at=BUILT)
    assert path.parent == target.parent and path != target
    assert path.name.startswith("scorecard-") and path.suffix == ".xlsx"
    dt.datetime.strptime(path.stem[len("scorecard-"):][:15], "%Y%m%d-%H%M%S")
    assert Xlsx(path).sheet_names[0] == "Scorecard"
    assert (target / "locked").is_dir()
    assert f"could not replace {target}" in caplog.text and str(path) in caplog.text
    assert sorted(p.name for p in target.parent.iterdir()) == sorted(["scorecard.xlsx", path.name])


# ------------------------------------------------------------------ rendering


@pytest.mark.libreoffice
def test_libreoffice_renders_the_master_and_keeps_its_sparklines(written, libreoffice_convert):
    pdf = libreoffice_convert(written.path, "pdf")
    assert pdf.stat().st_size > 10_000
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert "Integrated Quality Scorecard" in text and "Overall mandatory training" in text
    again = Xlsx(libreoffice_convert(written.path, "xlsx"))
    assert len([s for g in again.sparkline_groups("Scorecard") for s in g["sparklines"]]) == 7
