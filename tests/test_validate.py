"""Every rule code triggered by a real workbook, asserted as (rule, cell) pairs."""

from __future__ import annotations

import datetime as dt
import os
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from returns import (
    GOOD,
    LUT_CODES,
    Filled,
    blank_return,
    fill,
    make_workspace,
    ole_file,
    real_template,
    rewrite_member,
    zip_bomb,
    zip_with,
)

from xlq.core import rules
from xlq.intake.reader import read_return
from xlq.intake.validate import validate


class Series:
    """History as the store would give it: accepted earlier values, oldest first."""

    def __init__(self, denominators: dict[str, Sequence[float]] | None = None, **series: Sequence[float]) -> None:
        self.data = series
        self.dens = denominators or {}

    def series(self, indicator: str, department: str, before: str) -> list[tuple[str, float]]:
        values = self.data.get(indicator, ())
        return [(f"2023-{m + 1:02d}", v) for m, v in enumerate(values)]

    def denominators(self, indicator: str, department: str, before: str) -> list[tuple[str, float]]:
        return [(f"2023-{m + 1:02d}", v) for m, v in enumerate(self.dens.get(indicator, ()))]


@dataclass
class Env:
    root: Path
    workspace: object
    catalogue: object
    template: Path
    count: list[int] = field(default_factory=lambda: [0])

    def path(self, suffix: str = ".xlsx") -> Path:
        self.count[0] += 1
        return self.root / f"case{self.count[0]}{suffix}"

    def filled(self, changes: dict | None = None, **kwargs) -> Filled:
        cells = {code: dict(cols) for code, cols in GOOD.items()}
        for code, cols in (changes or {}).items():
            cells.setdefault(code, {}).update(cols)
        return fill(self.template, self.path(), cells, **kwargs)

    def layout(self, changes: dict | None = None, **kwargs) -> Filled:
        blank = blank_return(self.path(), self.catalogue, self.workspace, **kwargs)
        cells = {code: dict(cols) for code, cols in GOOD.items()}
        cells.update(changes or {})
        return fill(blank, self.path(), cells)


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Env:
    root = tmp_path_factory.mktemp("validate")
    workspace, catalogue = make_workspace(root / "ws")
    template = real_template(catalogue, workspace, root / "LUT.xlsx") or blank_return(
        root / "LUT.xlsx", catalogue, workspace)
    return Env(root, workspace, catalogue, template)


def at(code: str, column: str = "Value", nth: int = 0) -> Callable[[Filled], str]:
    """Where `fill` (openpyxl, independently of the reader) typed a code's column."""
    def where(filled: Filled) -> str:
        if column == "Code":
            return [ref for c, ref in filled.codes if c == code][nth]
        return filled.ref(code, column)
    return where


@dataclass(frozen=True)
class Case:
    rule: str
    make: Callable[[Env], Filled | Path]
    cells: tuple[Callable[[Filled], str], ...] = ()
    history: Series | None = None
    folder: str | None = None
    adjust: Callable[[object], object] | None = None  # the workspace as in force for this case


def _lut_closed(workspace):
    """LUT merged into BEDS before the return's month (issue 21)."""
    return replace(workspace, departments=tuple(
        replace(d, closed_from="2023-06", merged_into="BEDS") if d.code == "LUT" else d for d in workspace.departments))


def _truncated(env: Env) -> Path:
    data = env.filled().path.read_bytes()
    target = env.path()
    target.write_bytes(data[: len(data) // 2])
    return target


def _bytes(data: bytes, suffix: str = ".xlsx") -> Callable[[Env], Path]:
    def make(env: Env) -> Path:
        target = env.path(suffix)
        target.write_bytes(data)
        return target
    return make


def _docx(env: Env) -> Path:
    return zip_with(env.path(), {"[Content_Types].xml": "<Types/>", "word/document.xml": "<w:document/>"})


def _many_rows(env: Env) -> Path:
    """Rows far past any return (the XFD1048576 bomb itself is only ever given to sniff, in test_reader)."""
    return rewrite_member(env.filled().path, env.path(), "xl/worksheets/sheet1.xml", lambda xml: xml.replace(
        "</sheetData>", '<row r="150000"><c r="B150000" t="n"><v>1</v></c></row></sheetData>'))


def _entity_bomb(env: Env) -> Path:
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheets>&lol2;</sheets></workbook>')
    return rewrite_member(env.filled().path, env.path(), "xl/workbook.xml", lambda xml: bomb)


def _xlsm(env: Env) -> Path:
    source = env.filled().path
    target = env.path(".xlsm")
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info.filename))
        zout.writestr("xl/vbaProject.bin", os.urandom(512))
    return target


CASES = [
    Case("file-empty", _bytes(b"")),
    Case("file-incomplete", _truncated),
    Case("file-not-workbook", _bytes(os.urandom(4096))),
    Case("file-wrong-format", _docx),
    Case("file-wrong-format", _bytes(b"Code,Value\nINC,12\nTRAIN,95%\n", ".csv")),
    Case("file-wrong-format", lambda env: zip_with(env.path(), {
        "mimetype": "application/vnd.oasis.opendocument.spreadsheet", "content.xml": "<office:document-content/>"},
        zipfile.ZIP_STORED)),
    Case("file-wrong-format", lambda env: ole_file(env.path(".xls"), "Workbook")),
    Case("file-encrypted", lambda env: ole_file(env.path(), "EncryptedPackage")),
    Case("file-too-large", lambda env: zip_bomb(env.path())),
    Case("file-too-large", _many_rows),
    Case("file-unreadable", _entity_bomb),
    Case("not-a-template", lambda env: env.layout(meta_state=None)),
    Case("wrong-organisation", lambda env: env.filled(meta={"organisation": "Another NHS Trust"})),
    Case("unknown-department", lambda env: env.filled(meta={"department": "XYZ"})),
    Case("wrong-department-folder", lambda env: env.filled(), folder="MSK"),
    Case("unknown-period", lambda env: env.filled(meta={"period": "2023-13"})),
    Case("future-period", lambda env: env.filled(meta={"period": "2024-02"})),
    Case("catalogue-mismatch", lambda env: env.layout(codes=["OLD1", "OLD2"], meta={"catalogue_version": "test-0"})),
    Case("older-template", lambda env: env.layout(
        codes=[*LUT_CODES[:-1], "OLD1"], meta={"catalogue_version": "test-0"})),
    Case("department-not-in-force", lambda env: env.filled(), adjust=_lut_closed),
    Case("nothing-filled", lambda env: fill(env.template, env.path(), {})),
    Case("macros-ignored", _xlsm),
    Case("not-a-number", lambda env: env.filled({"INC": {"Value": "lots"}}), (at("INC"),)),
    Case("not-whole-number", lambda env: env.filled({"INC": {"Value": 12.5}}), (at("INC"),)),
    Case("negative-value", lambda env: env.filled({"WAIT": {"Value": -3}}), (at("WAIT"),)),
    Case("value-too-large", lambda env: env.filled({"WAIT": {"Value": 1.7e308}}), (at("WAIT"),)),
    Case("percent-out-of-range", lambda env: env.filled({"TRAIN": {"Value": "120%"}}), (at("TRAIN"),)),
    Case("numerator-above-denominator", lambda env: env.filled({"COMPL": {"Numerator": 6, "Denominator": 5}}),
         (at("COMPL", "Numerator"),)),
    Case("zero-denominator", lambda env: env.filled({"COMPL": {"Numerator": 3, "Denominator": 0}}),
         (at("COMPL", "Denominator"),)),
    Case("missing-part", lambda env: env.filled({"COMPL": {"Numerator": 3, "Denominator": None}}),
         (at("COMPL", "Numerator"),)),
    Case("ratio-percent-mismatch", lambda env: env.filled({"COMPL": {"Numerator": None, "Denominator": None,
                                                                     "Value": "4/5 (70%)"}}),
         (at("COMPL"),)),
    Case("excel-error", lambda env: env.filled({"TRAIN": {"Value": "#DIV/0!"}}), (at("TRAIN"),)),
    Case("formula-no-value", lambda env: env.filled({"TRAIN": {"Value": "=F99/2"}}), (at("TRAIN"),)),
    Case("wrong-type", lambda env: env.filled({"INC": {"Value": dt.datetime(2023, 12, 1)}, "WAIT": {"Value": True}}),
         (at("INC"), at("WAIT"),)),
    Case("unknown-indicator", lambda env: env.layout(codes=[*LUT_CODES, "ZZZ"]),
         (at("ZZZ", "Code"),)),
    Case("duplicate-indicator", lambda env: env.layout(codes=[*LUT_CODES, "WAIT"]),
         (at("WAIT", "Code", nth=1),)),
    Case("required-missing", lambda env: env.filled({"TRAIN": {"Value": None}}), (at("TRAIN"),)),
    Case("percent-assumed", lambda env: env.filled({"TRAIN": {"Value": 85}}), (at("TRAIN"),)),
    Case("percent-maybe-fraction", lambda env: env.filled({"SICK": {"Value": 1}}),
         (at("SICK"),), history=Series(SICK=[0.012, 0.011, 0.013, 0.012, 0.010])),
    Case("outside-history", lambda env: env.filled({"WAIT": {"Value": 40, "Comment": "staff shortage"}}),
         (at("WAIT"),), history=Series(WAIT=[17, 18, 16, 17.5, 18, 17, 16.5])),
    Case("large-change-unexplained", lambda env: env.filled({"WAIT": {"Value": 30}}),
         (at("WAIT"),), history=Series(WAIT=[17])),
    Case("denominator-shift", lambda env: env.filled({"COMPL": {"Numerator": 92, "Denominator": 100}}),
         (at("COMPL", "Denominator"),), history=Series(denominators={"COMPL": [178, 194, 188, 201]})),
    Case("parts-do-not-sum", lambda env: env.filled({"INC_HIGH": {"Value": 3}}), (at("INC"),)),
    Case("comment-formula-like", lambda env: env.filled({"INC": {"Comment": "@SUM(A1:A9)"}}),
         (at("INC", "Comment"),)),
    Case("comment-too-long", lambda env: env.filled({"INC": {"Comment": "x" * 1500}}),
         (at("INC", "Comment"),)),
]


def judge(env: Env, case: Case):
    made = case.make(env)
    path = made.path if isinstance(made, Filled) else made
    workspace = case.adjust(env.workspace) if case.adjust else env.workspace
    checked = validate(read_return(path), env.catalogue, workspace, case.history, folder_department=case.folder,
                       today=dt.date(2024, 1, 15))
    cells = {where(made) for where in case.cells} if isinstance(made, Filled) and case.cells else {None}
    return checked, cells


@pytest.mark.parametrize("case", CASES, ids=[f"{c.rule}-{n}" for n, c in enumerate(CASES)])
def test_each_rule_is_raised_at_its_cell(env: Env, case: Case) -> None:
    checked, cells = judge(env, case)
    pairs = {(f.rule, f.cell) for f in checked.findings}
    assert pairs == {(case.rule, cell) for cell in cells}
    rule = rules.RULES[case.rule]
    expected = ("rejected" if case.rule in rules.FILE_RULES else
                "accepted_with_errors" if rule.severity == "error" else "accepted_with_warnings")
    assert checked.outcome == expected, checked.findings
    assert all(f.message and f.severity == rule.severity for f in checked.findings)


def test_every_file_and_cell_rule_has_a_case() -> None:
    covered = {case.rule for case in CASES}
    wanted = {r.code for r in rules.RULES.values() if r.scope in ("file", "cell")}
    assert wanted - covered == set()


def check(env: Env, filled: Filled | Path, history: Series | None = None):
    path = filled.path if isinstance(filled, Filled) else filled
    return validate(read_return(path), env.catalogue, env.workspace, history, today=dt.date(2024, 1, 15))


def test_a_correct_return_is_accepted_without_findings(env: Env) -> None:
    checked = check(env, env.filled())
    assert checked.findings == ()
    assert checked.outcome == "accepted"
    values = {v.indicator: v for v in checked.values}
    assert values["TRAIN"].value == 0.95
    assert values["SICK"].value == pytest.approx(0.045)
    assert (values["COMPL"].value, values["COMPL"].numerator, values["COMPL"].denominator) == (0.8, 4, 5)
    assert (values["INC"].raw, values["COMPL"].raw) == ("12", "4/5")


def test_findings_carry_department_period_indicator_sheet_and_value(env: Env) -> None:
    filled = env.filled({"INC": {"Value": "lots"}})
    (finding,) = check(env, filled).findings
    assert (finding.department, finding.period, finding.indicator, finding.sheet, finding.value) == (
        "LUT", "2023-12", "INC", "Return", "lots")
    assert finding.location == f"Return!{filled.ref('INC')}"
    assert finding.file == filled.path.name


def test_a_cell_error_drops_only_that_value(env: Env) -> None:
    checked = check(env, env.filled({"INC": {"Value": "lots"}}))
    kept = {v.indicator for v in checked.values}
    assert "INC" not in kept and {"TRAIN", "COMPL", "WAIT"} <= kept
    assert checked.outcome == "accepted_with_errors"
    assert checked.not_used == ("INC",)


def test_a_warning_keeps_the_value(env: Env) -> None:
    checked = check(env, env.filled({"TRAIN": {"Value": 85}}))
    assert {v.indicator: v.value for v in checked.values}["TRAIN"] == pytest.approx(0.85)


def test_a_rejected_return_keeps_no_values(env: Env) -> None:
    checked = check(env, env.filled(meta={"department": "XYZ"}))
    assert (checked.outcome, checked.values) == ("rejected", ())


def test_markers_are_answers_distinct_from_blank_and_zero(env: Env) -> None:
    filled = env.filled({"TRAIN": {"Value": "N/A"}, "INC": {"Value": "TBA"}, "WAIT": {"Value": "-"},
                         "COMPL": {"Numerator": 0, "Denominator": 0}, "SICK": {"Value": None}})
    checked = check(env, filled)
    values = {v.indicator: v for v in checked.values}
    assert [(values[c].value, values[c].marker) for c in ("TRAIN", "INC", "WAIT", "SICK")] == [
        (None, "N/A"), (None, "TBA"), (None, "-"), (None, None)]
    assert (values["COMPL"].value, values["COMPL"].numerator, values["COMPL"].denominator) == (None, 0, 0)
    assert checked.findings == ()


def test_the_seed_ratio_notation_in_value_is_accepted(env: Env) -> None:
    checked = check(env, env.filled({"COMPL": {"Numerator": None, "Denominator": None, "Value": "4/5 (80%)"}}))
    compl = {v.indicator: v for v in checked.values}["COMPL"]
    assert (compl.value, compl.numerator, compl.denominator, checked.outcome) == (0.8, 4, 5, "accepted")


def test_an_explained_large_change_is_not_flagged(env: Env) -> None:
    checked = check(env, env.filled({"WAIT": {"Value": 30, "Comment": "new referral route"}}), Series(WAIT=[17]))
    assert checked.findings == ()


def test_a_usual_value_raises_no_history_warning(env: Env) -> None:
    checked = check(env, env.filled({"WAIT": {"Value": 17}}), Series(WAIT=[17, 18, 16, 17.5, 18, 17, 16.5]))
    assert checked.findings == ()


class Gapped:
    """History with three months missing (Jun-Aug), as the store gives it: gaps simply absent."""

    def series(self, indicator: str, department: str, before: str) -> list[tuple[str, float]]:
        if indicator != "WAIT":
            return []
        months = ("2023-01", "2023-02", "2023-03", "2023-04", "2023-05", "2023-09", "2023-10", "2023-11")
        return list(zip(months, (10, 11, 10, 11, 10, 30, 31, 30), strict=True))


def test_history_limits_keep_missing_months_as_gaps_like_the_masters_spc(env: Env) -> None:
    # Moving ranges only between adjacent months: all 1, so limits 17.875 +/- 2.66 and 25 is outside.
    # Bridging the gap (10 -> 30) would widen them to about 8..27.8 and hide it.
    checked = check(env, env.filled({"WAIT": {"Value": 25, "Comment": "new clinic"}}), Gapped())
    assert ("outside-history", "WAIT") in {(f.rule, f.indicator) for f in checked.findings}


def test_small_ratios_raise_no_history_warnings(env: Env) -> None:
    # 1/5 after months near 95%: a drop of 75 points, but five cases are not a trend to judge.
    checked = check(env, env.filled({"COMPL": {"Numerator": 1, "Denominator": 5}}),
                    Series(COMPL=[0.95, 0.96, 0.94, 0.95, 0.96, 0.95]))
    assert checked.findings == ()


def test_an_immaterial_change_is_not_large_even_beyond_the_moving_range_limit(env: Env) -> None:
    # Counts of 1, 1, 1, 1, 2: mean moving range 0.25, limit 0.82; a change of 2 is beyond it but
    # under the material floor of 10, so nobody is asked to explain 2 -> 4.
    checked = check(env, env.filled({"WAIT": {"Value": 4, "Comment": ""}}), Series(WAIT=[1, 1, 1, 1, 2]))
    assert ("large-change-unexplained", "WAIT") not in {(f.rule, f.indicator) for f in checked.findings}


def test_an_old_catalogue_version_with_the_same_codes_is_accepted(env: Env) -> None:
    assert check(env, env.filled(meta={"catalogue_version": "test-0"})).outcome == "accepted"


def test_rows_found_by_code_whatever_the_layout(env: Env) -> None:
    headers = ("Comment", "Code", "Notes", "Indicator", "Value", "Numerator", "Denominator")
    filled = env.layout(codes=[*reversed(LUT_CODES)], header_row=20, first_column=3, headers=headers,
                        meta_state="visible")
    checked = check(env, filled)
    assert checked.outcome == "accepted", checked.findings
    assert {v.indicator: v.cell for v in checked.values}["WAIT"] == filled.ref("WAIT") == "G22"


@pytest.mark.libreoffice
def test_libreoffice_resave_keeps_values_identity_and_error_cells(env: Env, libreoffice_convert) -> None:
    filled = env.filled({"TRAIN": {"Value": "=0.5+0.4"}, "WAIT": {"Value": "=1/0"}})
    converted = libreoffice_convert(filled.path, "xlsx")
    checked = check(env, converted)
    assert {(f.rule, f.cell) for f in checked.findings} == {("excel-error", filled.ref("WAIT"))}
    assert {v.indicator: v.value for v in checked.values}["TRAIN"] == pytest.approx(0.9)


@pytest.mark.libreoffice
def test_libreoffice_resave_of_a_faulty_return_gives_the_same_pairs(env: Env, libreoffice_convert) -> None:
    filled = env.filled({"INC": {"Value": "lots"}, "TRAIN": {"Value": "120%"}, "COMPL": {"Numerator": 6, "Denominator": 5}})
    direct = {(f.rule, f.cell) for f in check(env, filled).findings}
    resaved = {(f.rule, f.cell) for f in check(env, libreoffice_convert(filled.path, "xlsx")).findings}
    assert resaved == direct == {("not-a-number", filled.ref("INC")), ("percent-out-of-range", filled.ref("TRAIN")),
                                 ("numerator-above-denominator", filled.ref("COMPL", "Numerator"))}


def test_check_files_judges_each_file_in_order(env: Env) -> None:
    from xlq.intake.validate import check_files

    good, bad = env.filled().path, env.path()
    bad.write_bytes(b"")
    results = check_files([good, bad], env.catalogue, env.workspace, today=dt.date(2024, 1, 15))
    assert [(path, checked.outcome) for path, checked in results] == [(good, "accepted"), (bad, "rejected")]


def test_a_comment_typed_as_a_formula_is_kept_as_its_text(env: Env) -> None:
    filled = env.filled({"INC": {"Comment": '=HYPERLINK("http://example.com","click")'}})
    checked = check(env, filled)
    assert {(f.rule, f.cell) for f in checked.findings} == {("comment-formula-like", filled.ref("INC", "Comment"))}
    assert {v.indicator: v.comment for v in checked.values}["INC"] == '=HYPERLINK("http://example.com","click")'


@pytest.mark.libreoffice
def test_a_comment_formula_with_a_saved_result_is_still_its_text(env: Env, libreoffice_convert) -> None:
    filled = env.filled({"INC": {"Comment": '=HYPERLINK("http://example.com","click")'}})
    checked = check(env, libreoffice_convert(filled.path, "xlsx"))
    assert {(f.rule, f.cell) for f in checked.findings} == {("comment-formula-like", filled.ref("INC", "Comment"))}
    assert {v.indicator: v.comment for v in checked.values}["INC"] == '=HYPERLINK("http://example.com","click")'


def test_ratio_parts_add_up_by_numerator(tmp_path) -> None:
    workspace, catalogue = make_workspace(tmp_path / "ws")
    toml = (tmp_path / "ws" / "catalogue.toml").read_text()
    toml += """
[[indicator]]
code = "SICK_ALL"
domain = "Workforce"
name = "Sickness"
unit = "ratio"
aggregate = "ratio"
parts = ["SICK_SHORT", "SICK_LONG"]

[[indicator]]
code = "SICK_SHORT"
domain = "Workforce"
name = "Sickness short"
unit = "ratio"
aggregate = "ratio"

[[indicator]]
code = "SICK_LONG"
domain = "Workforce"
name = "Sickness long"
unit = "ratio"
aggregate = "ratio"
"""
    (tmp_path / "ws" / "catalogue.toml").write_text(toml)
    from xlq.core.catalogue import load_catalogue

    catalogue = load_catalogue(tmp_path / "ws" / "catalogue.toml")
    blank = blank_return(tmp_path / "blank.xlsx", catalogue, workspace)
    ok = {**GOOD, "SICK_ALL": {"Numerator": 5, "Denominator": 100}, "SICK_SHORT": {"Numerator": 2, "Denominator": 100},
          "SICK_LONG": {"Numerator": 3, "Denominator": 100}}
    bad = {**ok, "SICK_LONG": {"Numerator": 4, "Denominator": 100}}
    good_file, bad_file = fill(blank, tmp_path / "ok.xlsx", ok), fill(blank, tmp_path / "bad.xlsx", bad)
    today = dt.date(2024, 1, 15)
    assert validate(read_return(good_file.path), catalogue, workspace, today=today).findings == ()
    findings = validate(read_return(bad_file.path), catalogue, workspace, today=today).findings
    assert {(f.rule, f.cell, f.value) for f in findings} == {("parts-do-not-sum", bad_file.ref("SICK_ALL", "Numerator"), "6")}
