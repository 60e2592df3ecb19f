"""Department return templates: structure, protection, validation, identity and round trips."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import openpyxl
import pytest
from openpyxl.utils.cell import coordinate_from_string, range_boundaries
from python_calamine import CalamineWorkbook
from template_fixtures import contact_cells, fill_template, locate, make_catalogue, make_workspace, read_meta

from xlq.core.catalogue import DEFAULT_CATALOGUE, load_catalogue
from xlq.template.workbook import (
    HEADERS,
    INPUT_FILL,
    META_KEYS,
    TEMPLATE_FORMAT,
    TEMPLATE_VERSION,
    write_template,
    write_templates,
)

PERIOD = "2023-12"
INPUT_RGB = INPUT_FILL.fgColor.rgb


@pytest.fixture
def workspace(tmp_path):
    return make_workspace(tmp_path / "ws")


@pytest.fixture
def catalogue(tmp_path, workspace):
    return make_catalogue(tmp_path / "catalogue.toml", workspace)


@pytest.fixture
def lut(catalogue, workspace):
    """LUT's December template, with last month's accepted figures shown."""
    last = {"INC_TOTAL": "158", "MED_NOHARM": "0.82", "NEVER": "N/A", "MT_OVERALL": "0.92"}
    return write_template(catalogue, workspace, "LUT", PERIOD, workspace.root / "templates" / PERIOD / "LUT.xlsx", last)


def _cells(ref: str) -> list[str]:
    min_col, min_row, max_col, max_row = range_boundaries(ref)
    return [f"{openpyxl.utils.get_column_letter(c)}{r}" for r in range(min_row, max_row + 1)
            for c in range(min_col, max_col + 1)]


def _validations(ws) -> dict[str, list]:
    by_cell: dict[str, list] = {}
    for dv in ws.data_validations.dataValidation:
        for rng in dv.sqref.ranges:
            for ref in _cells(rng.coord):
                by_cell.setdefault(ref, []).append(dv)
    return by_cell


def _input_cells(ws, catalogue) -> set[str]:
    _, cols, rows = locate(ws)
    letter = {t: openpyxl.utils.get_column_letter(c) for t, c in cols.items()}
    expected = set(contact_cells(ws).values())
    for code, row in rows.items():
        titles = ("Numerator", "Denominator") if catalogue[code].unit == "ratio" else ("Value",)
        expected |= {f"{letter[t]}{row}" for t in (*titles, "Comment")}
    return expected


def test_each_department_gets_exactly_its_active_reported_indicators(catalogue, workspace):
    paths = write_templates(catalogue, workspace, PERIOD)
    assert paths == [workspace.root / "templates" / PERIOD / f"{c}.xlsx" for c in workspace.department_codes]
    for path in paths:
        _, _, rows = locate(openpyxl.load_workbook(path)["Return"])
        expected = [i.code for i in catalogue.for_department(path.stem, PERIOD, workspace.department_codes)]
        assert list(rows) == expected
        assert "MT_12M" not in rows and "SUPERVISION" not in rows
        assert ("DENT_WAIT" in rows) == (path.stem == "DENT")


def test_indicator_active_in_an_earlier_period_appears_in_that_periods_template(catalogue, workspace):
    (path,) = write_templates(catalogue, workspace, "2023-03", departments=["MSK"])
    assert path == workspace.root / "templates" / "2023-03" / "MSK.xlsx"
    assert "SUPERVISION" in locate(openpyxl.load_workbook(path)["Return"])[2]


def test_department_with_nothing_to_report_gets_no_template(tmp_path, workspace):
    only_dental = make_catalogue(tmp_path / "dental.toml", workspace, """\
version = "1"
[[indicator]]
code = "DENT_WAIT"
domain = "EXPERIENCE"
name = "Dental GA waiting time"
unit = "days"
reported_by = ["DENT"]
""")
    assert [p.stem for p in write_templates(only_dental, workspace, PERIOD)] == ["DENT"]


def test_unknown_department_or_malformed_period_is_refused(catalogue, workspace, tmp_path):
    with pytest.raises(ValueError, match="unknown department 'XYZ'"):
        write_templates(catalogue, workspace, PERIOD, departments=["XYZ"])
    with pytest.raises(ValueError, match="YYYY-MM"):
        write_template(catalogue, workspace, "LUT", "2023-13", tmp_path / "x.xlsx")


def test_last_month_is_asked_for_each_department_and_period(catalogue, workspace):
    asked = []

    def last_month_for(dept: str, period: str) -> dict[str, str]:
        asked.append((dept, period))
        return {"INC_TOTAL": "7"} if dept == "MSK" else {}

    write_templates(catalogue, workspace, PERIOD, departments=["MSK", "DENT"], last_month_for=last_month_for)
    assert asked == [("MSK", PERIOD), ("DENT", PERIOD)]
    ws = openpyxl.load_workbook(workspace.root / "templates" / PERIOD / "MSK.xlsx")["Return"]
    _, cols, rows = locate(ws)
    assert ws.cell(rows["INC_TOTAL"], cols["Last month"]).value == 7


def test_return_sheet_is_first_with_one_header_row_of_exactly_the_contract_titles(lut):
    wb = openpyxl.load_workbook(lut)
    assert wb.sheetnames[0] == "Return" and "Instructions" in wb.sheetnames
    ws = wb["Return"]
    header, cols, _ = locate(ws)
    titles = [c.value for c in ws[header] if c.value not in (None, "")]
    assert titles == list(HEADERS)
    assert sum(1 for row in ws.iter_rows(values_only=True) if "Denominator" in row) == 1


def test_header_block_shows_organisation_department_and_period(lut, workspace):
    ws = openpyxl.load_workbook(lut)["Return"]
    header, _, _ = locate(ws)
    above = [str(v) for row in ws.iter_rows(max_row=header - 1, values_only=True) for v in row if v]
    text = " ".join(above)
    assert workspace.organisation in text and "Luton Adult Services (LUT)" in text and "Dec-2023" in text


def test_domain_rows_have_an_empty_code_and_head_their_indicators(lut, catalogue):
    ws = openpyxl.load_workbook(lut)["Return"]
    header, cols, rows = locate(ws)
    domains = {}
    for r in range(header + 1, max(rows.values()) + 1):
        code, name = ws.cell(r, cols["Code"]).value, ws.cell(r, cols["Indicator"]).value
        if code is None and name in catalogue.domains():
            domains[name] = r
    assert set(domains) == {catalogue[c].domain for c in rows}
    for code, row in rows.items():
        own = domains[catalogue[code].domain]
        assert own < row and not any(own < other < row for other in domains.values())


def test_identity_is_on_a_very_hidden_protected_sheet_and_in_defined_names(lut, workspace, catalogue):
    wb = openpyxl.load_workbook(lut)
    meta = wb["xlq_meta"]
    assert meta.sheet_state == "veryHidden" and meta.protection.sheet
    expected = {"template": TEMPLATE_FORMAT, "organisation": workspace.organisation, "department": "LUT",
                "period": PERIOD, "catalogue_version": catalogue.version, "template_version": TEMPLATE_VERSION}
    carried = read_meta(lut)
    indicators = json.loads(carried.pop("catalogue"))  # for `xlq validate` on the department's own machine
    assert carried == expected
    assert [i["code"] for i in indicators] == [i.code for i in catalogue.for_department("LUT", PERIOD,
                                                                                      workspace.department_codes)]
    for key in META_KEYS:
        ((sheet, ref),) = wb.defined_names[f"xlq_{key}"].destinations
        assert sheet == "xlq_meta" and meta[ref.replace("$", "")].value == expected[key]
        assert coordinate_from_string(ref.replace("$", ""))[0] == "B"
    assert wb.security.lockStructure


def test_only_input_cells_are_unlocked_and_all_share_the_input_fill(lut, catalogue):
    ws = openpyxl.load_workbook(lut)["Return"]
    assert ws.protection.sheet and not ws.protection.password
    unlocked = {c.coordinate for row in ws.iter_rows() for c in row if not c.protection.locked}
    assert unlocked == _input_cells(ws, catalogue)
    assert all(ws[ref].fill.fgColor.rgb == INPUT_RGB for ref in unlocked)
    filled_yellow = {c.coordinate for row in ws.iter_rows() for c in row if c.fill.fgColor.rgb == INPUT_RGB}
    legend = filled_yellow - unlocked
    assert len(legend) == 1 and "fill in" in str(ws.cell(ws[next(iter(legend))].row, 2).value)


def test_cells_that_do_not_apply_are_locked_and_grey(lut, catalogue):
    ws = openpyxl.load_workbook(lut)["Return"]
    _, cols, rows = locate(ws)
    for code, row in rows.items():
        idle = ("Value",) if catalogue[code].unit == "ratio" else ("Numerator", "Denominator")
        for title in idle:
            cell = ws.cell(row, cols[title])
            assert cell.protection.locked and cell.fill.fgColor.rgb not in (INPUT_RGB, "00000000")


def test_every_input_cell_has_one_validation_with_an_input_message_and_a_stop_alert(lut, catalogue):
    ws = openpyxl.load_workbook(lut)["Return"]
    by_cell = _validations(ws)
    _, cols, _ = locate(ws)
    comment_col = openpyxl.utils.get_column_letter(cols["Comment"])
    for ref in _input_cells(ws, catalogue):
        (dv,) = by_cell[ref]
        assert dv.showInputMessage and dv.prompt and dv.promptTitle and len(dv.prompt) <= 255
        assert dv.error and len(dv.error) <= 225 and dv.allow_blank
        if not ref.startswith(comment_col):
            assert dv.showErrorMessage and dv.errorStyle == "stop"


def test_value_validation_follows_the_unit_and_admits_the_markers(lut, catalogue):
    ws = openpyxl.load_workbook(lut)["Return"]
    by_cell = _validations(ws)
    _, cols, rows = locate(ws)
    letter = {t: openpyxl.utils.get_column_letter(c) for t, c in cols.items()}
    rules = {
        "INC_TOTAL": ("Value", "=INT("), "MED_NOHARM": ("Value", "<=1)"),
        "COMPLAINTS": ("Value", ">=0,"), "MT_OVERALL": ("Numerator", "<="),
    }
    for code, (title, needle) in rules.items():
        (dv,) = by_cell[f"{letter[title]}{rows[code]}"]
        (block,) = dv.sqref.ranges
        anchor = block.coord.split(":")[0]
        assert dv.type == "custom" and needle in dv.formula1 and f"ISNUMBER({anchor})" in dv.formula1
        assert '"N/A"' in dv.formula1 and '"TBA"' in dv.formula1
    (den,) = by_cell[f"{letter['Denominator']}{rows['MT_OVERALL']}"]
    row = rows["MT_OVERALL"]
    assert f"{letter['Numerator']}{row}<={letter['Denominator']}{row}" in den.formula1
    assert "numerator" in den.error and "denominator" in den.error


def test_contact_fields_are_validated_as_name_email_and_date(lut):
    ws = openpyxl.load_workbook(lut)["Return"]
    by_cell = _validations(ws)
    cells = contact_cells(ws)
    assert [by_cell[cells[k]][0].type for k in ("Prepared by", "Email", "Date")] == ["textLength", "custom", "date"]
    assert '"@"' in by_cell[cells["Email"]][0].formula1


def test_comment_suggestions_over_255_characters_live_on_a_hidden_sheet(lut):
    wb = openpyxl.load_workbook(lut)
    ws = wb["Return"]
    _, cols, rows = locate(ws)
    (dv,) = _validations(ws)[f"{openpyxl.utils.get_column_letter(cols['Comment'])}{min(rows.values())}"]
    assert dv.type == "list" and dv.formula1.startswith("xlq_lists!")
    lists = wb["xlq_lists"]
    assert lists.sheet_state == "hidden"
    items = [v for (v,) in lists.iter_rows(min_col=1, max_col=1, values_only=True) if v]
    assert len(",".join(items)) > 255
    assert len(_cells(dv.formula1.split("!")[1].replace("$", ""))) == len(items)


def test_percent_rows_show_percent_and_ratio_rows_compute_it(lut):
    ws = openpyxl.load_workbook(lut)["Return"]
    _, cols, rows = locate(ws)
    med, mt = rows["MED_NOHARM"], rows["MT_OVERALL"]
    assert ws.cell(med, cols["Value"]).number_format.endswith("%")
    assert ws.cell(med, cols["Last month"]).value == pytest.approx(0.82)
    assert ws.cell(med, cols["Last month"]).number_format.endswith("%")
    assert ws.cell(rows["NEVER"], cols["Last month"]).value == "N/A"
    formula = ws.cell(mt, cols["%"]).value
    assert formula.startswith("=IF(") and f"G{mt}/H{mt}" in formula
    assert ws.cell(mt, cols["%"]).number_format.endswith("%")
    assert ws.cell(rows["INC_TOTAL"], cols["%"]).value is None


def test_print_setup_is_landscape_fit_to_width_with_the_header_repeated(lut):
    ws = openpyxl.load_workbook(lut)["Return"]
    header, _, rows = locate(ws)
    assert ws.page_setup.orientation == "landscape"
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1
    assert ws.page_setup.fitToHeight == 0
    assert ws.print_title_rows.replace("$", "") == f"{header}:{header}"
    assert ws.freeze_panes.endswith(str(header + 1))
    assert ws.column_dimensions["B"].width >= 40


def test_instructions_say_where_to_drop_the_file_whom_to_ask_and_what_markers_mean(lut, workspace):
    ws = openpyxl.load_workbook(lut)["Instructions"]
    text = " ".join(str(v) for row in ws.iter_rows(values_only=True) for v in row if v)
    for needle in ("inbox/LUT/", "luton.adults@example.nhs.uk", workspace.organisation, "N/A", "TBA",
                   "Comment", "without a password", "10 January 2024", "Percent", "feedback/LUT/", "accepted with errors"):
        assert needle in text, needle
    assert str(workspace.root) not in text  # the server's own path means nothing on a department's PC
    assert ws.protection.sheet


def test_a_template_filled_with_openpyxl_reads_back_the_same_values_and_identity(lut, tmp_path):
    values = {"INC_TOTAL": 12, "NEVER": "N/A", "MED_NOHARM": 0.85, "MT_OVERALL": (180, 200), "COMPLAINTS": 1.25}
    contact = {"Prepared by": "Jane Smith", "Email": "jane.smith@example.nhs.uk", "Date": dt.datetime(2024, 1, 5)}
    out = fill_template(lut, tmp_path / "filled.xlsx", values, contact)
    ws = openpyxl.load_workbook(out)["Return"]
    _, cols, rows = locate(ws)
    got = {code: (ws.cell(r, cols["Numerator"]).value, ws.cell(r, cols["Denominator"]).value)
           if code == "MT_OVERALL" else ws.cell(r, cols["Value"]).value for code, r in rows.items()}
    assert got == values
    assert {k: ws[ref].value for k, ref in contact_cells(ws).items()} == contact
    assert read_meta(out)["department"] == "LUT" and read_meta(out)["period"] == PERIOD


def _calamine_table(path: Path) -> tuple[dict[str, list], dict[str, str]]:
    wb = CalamineWorkbook.from_path(str(path))
    rows = wb.get_sheet_by_name("Return").to_python(skip_empty_area=False)
    header = next(i for i, r in enumerate(rows) if list(HEADERS) == [v for v in r if v != ""])
    cols = {title: rows[header].index(title) for title in HEADERS}
    table = {r[cols["Code"]]: r for r in rows[header + 1:] if len(r) > cols["Code"] and r[cols["Code"]]}
    meta = {str(r[0]): str(r[1]) for r in wb.get_sheet_by_name("xlq_meta").to_python() if r and r[0]}
    return {code: [r[cols[t]] for t in ("Value", "Numerator", "Denominator", "%")] for code, r in table.items()}, meta


@pytest.mark.libreoffice
def test_a_filled_template_resaved_by_libreoffice_keeps_values_identity_and_computes_percent(
        lut, tmp_path, libreoffice_convert):
    values = {"INC_TOTAL": 12, "NEVER": "TBA", "MED_NOHARM": 0.85, "MT_OVERALL": (180, 200), "COMPLAINTS": 1.25}
    filled = fill_template(lut, tmp_path / "LUT.xlsx", values, {"Prepared by": "Jane Smith"})
    table, meta = _calamine_table(libreoffice_convert(filled, "xlsx"))
    assert meta == read_meta(lut)
    assert table["INC_TOTAL"][0] == 12 and table["NEVER"][0] == "TBA" and table["COMPLAINTS"][0] == 1.25
    assert table["MED_NOHARM"][0] == pytest.approx(0.85)
    assert table["MT_OVERALL"][1:] == [180, 200, pytest.approx(0.9)]
    resaved = openpyxl.load_workbook(tmp_path / "lo-xlsx" / "LUT.xlsx")
    assert resaved["xlq_meta"].sheet_state in ("hidden", "veryHidden")  # LibreOffice 7.4 saves veryHidden as hidden
    assert resaved["Return"].protection.sheet


def _checklist(path: Path) -> dict[str, object]:
    """Checklist label -> its live count, as LibreOffice calculated it."""
    ws = openpyxl.load_workbook(path, data_only=True)["Return"]
    header, _, _ = locate(ws)
    found = {}
    for row in ws.iter_rows(max_row=header - 1):
        for cell in row:
            if isinstance(cell.value, str) and cell.value.startswith(("Required", "Figures not", "Contact", "Ready")):
                found[cell.value.split(" ")[0]] = [c.value for c in row[cell.column:] if c.value not in (None, "")]
    return found


@pytest.mark.libreoffice
def test_checklist_counts_empty_required_figures_and_values_out_of_range(lut, tmp_path, libreoffice_convert):
    pasted = {"INC_TOTAL": 2.5, "NEVER": -1, "MED_NOHARM": 8.5, "MT_OVERALL": (210, 200)}
    bad = libreoffice_convert(fill_template(lut, tmp_path / "bad.xlsx", pasted, {"Prepared by": "Jane"}), "xlsx")
    counts = _checklist(bad)
    assert counts["Required"] == [0, "Done"]
    assert counts["Figures"] == [4, "To do"]
    assert counts["Contact"] == [2, "To do"]
    assert counts["Ready"] == ["Not yet"]

    good = {"INC_TOTAL": 3, "NEVER": "N/A", "MED_NOHARM": 1, "MT_OVERALL": (0, 0)}
    contact = {"Prepared by": "Jane Smith", "Email": "jane@example.nhs.uk", "Date": dt.datetime(2024, 1, 5)}
    ok = libreoffice_convert(fill_template(lut, tmp_path / "ok.xlsx", good, contact), "xlsx")
    counts = _checklist(ok)
    assert counts["Required"] == [0, "Done"] and counts["Figures"] == [0, "Done"] and counts["Contact"] == [0, "Done"]
    assert counts["Ready"][0].startswith("Yes")

    partial = {"INC_TOTAL": 3, "MT_OVERALL": (5, None)}
    half = libreoffice_convert(fill_template(lut, tmp_path / "half.xlsx", partial, contact), "xlsx")
    assert _checklist(half)["Required"] == [3, "To do"]


@pytest.mark.skipif(not DEFAULT_CATALOGUE.exists(), reason="default catalogue not yet written")
def test_default_catalogue_gives_every_department_exactly_its_indicators(workspace):
    catalogue = load_catalogue(DEFAULT_CATALOGUE, workspace.department_codes)
    paths = write_templates(catalogue, workspace, PERIOD)
    assert paths
    for path in paths:
        wb = openpyxl.load_workbook(path)
        ws = wb["Return"]
        _, _, rows = locate(ws)
        expected = catalogue.for_department(path.stem, PERIOD, workspace.department_codes)
        assert list(rows) == [i.code for i in expected]
        assert not any(catalogue[c].derived for c in rows)
        assert set(_validations(ws)) >= _input_cells(ws, catalogue)
