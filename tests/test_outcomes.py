"""Issue 15: every return's outcome tells the truth, and every department hears it.

Real templates filled and read back, a real store, the real pipeline and CLI; no mocks.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
import time
from pathlib import Path

import openpyxl
import pytest
from returns import fill

from xlq.cli import build_parser, main
from xlq.core.catalogue import load_catalogue
from xlq.core.config import SAMPLE_CONFIG, init_workspace, load_workspace
from xlq.core.model import Checked, Identity, ParsedReturn, Value
from xlq.intake.reader import read_return
from xlq.intake.validate import validate
from xlq.master.reconcile import reconcile
from xlq.store.db import Receipt, Store
from xlq.template.workbook import write_template
from xlq.watch.idle import STALE_MARKER
from xlq.watch.pipeline import Pipeline

PERIOD = "2023-12"
TODAY = dt.date(2024, 1, 15)
RECEIVED = dt.datetime(2024, 1, 8, 10, 30)


@pytest.fixture
def trust(tmp_path: Path):
    root = init_workspace(tmp_path / "ws", SAMPLE_CONFIG.replace('# current = "2023-12"', f'current = "{PERIOD}"'))
    workspace = load_workspace(root)
    return workspace, load_catalogue(workspace.catalogue_path, workspace.department_codes)


def figures(trust, department: str = "LUT", **changes: dict) -> dict[str, dict[str, object]]:
    """A complete return of the real catalogue: ratios 9/10 (sickness in FTE days, with decimals)."""
    workspace, catalogue = trust
    cells: dict[str, dict[str, object]] = {}
    for ind in catalogue.for_department(department, PERIOD, workspace.department_codes):
        if ind.unit == "ratio":
            cells[ind.code] = ({"Numerator": 289.4, "Denominator": 4194.6} if not ind.whole
                               else {"Numerator": 9, "Denominator": 10})
        else:
            cells[ind.code] = {"Value": 0.9 if ind.unit == "percent" else 5}
    for code, cols in changes.items():
        cells[code] = cols
    return cells


def template(trust, department: str = "LUT") -> Path:
    workspace, catalogue = trust
    path = workspace.root / "templates" / PERIOD / f"{department}.xlsx"
    if not path.exists():
        write_template(catalogue, workspace, department, PERIOD, path)
    return path


def drop(trust, name: str, cells, department: str = "LUT") -> Path:
    target = trust[0].root / "inbox" / department / name
    fill(template(trust, department), target, cells)
    old = time.time() - 30
    os.utime(target, (old, old))
    return target


def run(trust):
    with Pipeline(trust[0], catalogue=trust[1], today=TODAY, in_process=True, clock=lambda: RECEIVED) as pipeline:
        return pipeline.run_once(lambda result: None)


def codes_of(trust, unit: str, whole: bool = True, department: str = "LUT") -> list[str]:
    workspace, catalogue = trust
    return [i.code for i in catalogue.for_department(department, PERIOD, workspace.department_codes)
            if i.unit == unit and i.whole == whole and i.required and not i.parts
            and not any(i.code in other.parts for other in catalogue.indicators)]


def cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


# -- one word everywhere ---------------------------------------------------------------------------

@pytest.fixture
def with_errors(trust):
    """A LUT return with three cell errors: text in a count, numerator above denominator, a blank required ratio."""
    count, ratio, blank = codes_of(trust, "count")[0], codes_of(trust, "ratio")[0], codes_of(trust, "ratio")[1]
    cells = figures(trust, **{count: {"Value": "lots"}, ratio: {"Numerator": 200, "Denominator": 194},
                              blank: {"Numerator": None, "Denominator": None}})
    return drop(trust, "LUT December.xlsx", cells), (count, ratio, blank), len(cells)


def test_a_return_with_cell_errors_is_accepted_with_errors_in_every_place(trust, with_errors, capsys) -> None:
    path, dropped, total = with_errors
    root = str(trust[0].root)
    code, out = cli(capsys, "validate", "-w", root, str(path))
    assert code == 1
    assert f"accepted with errors (3 values not used: {', '.join(sorted(dropped, key=list(figures(trust)).index))})" \
        in out
    assert "accepted with warnings" not in out
    code, out = cli(capsys, "validate", "-w", root, "--json", str(path))
    (payload,) = json.loads(out)
    assert payload["outcome"] == "accepted_with_errors" and sorted(payload["not_used"]) == sorted(dropped)
    assert payload["values_used"] == total - 3

    summary = run(trust)
    (result,) = summary.results
    assert result.outcome == "accepted_with_errors" and result.errors == 3
    assert result.line().startswith("accepted with errors") and "1 accepted with errors" in summary.describe()

    code, out = cli(capsys, "status", "-w", root, "--period", PERIOD)
    (line,) = [row for row in out.splitlines() if row.strip().startswith("LUT")]
    assert line.split()[1:6] == ["accepted", "with", "errors", str(total - 3), "3"]
    assert "Used" in out and "Not used" in out
    code, out = cli(capsys, "status", "-w", root, "--period", PERIOD, "--json")
    lut = next(d for d in json.loads(out)["departments"] if d["department"] == "LUT")
    assert (lut["status"], lut["used"], lut["not_used"]) == ("accepted_with_errors", total - 3, 3)
    assert "3 values not used" in lut["reason"]

    book = openpyxl.load_workbook(trust[0].master_path, read_only=True)
    texts = [c for row in book["Submissions"].iter_rows(values_only=True) for c in row if isinstance(c, str)]
    assert "Accepted with errors (3 not used)" in texts


def test_the_feedback_copy_of_an_accepted_with_errors_return_opens_on_what_happened(trust, with_errors) -> None:
    path, dropped, total = with_errors
    run(trust)
    (copy,) = (trust[0].root / "feedback" / "LUT").glob("*.feedback.xlsx")
    book = openpyxl.load_workbook(copy)
    assert book.sheetnames[0] == "What happened" and book.active.title == "What happened"
    summary = book["What happened"]
    text = " ".join(str(c) for row in summary.iter_rows(values_only=True) for c in row if c is not None)
    assert text.startswith("Accepted with errors: LUT December.xlsx")
    assert f"3 of your {total} figures were NOT used" in text and "inbox/LUT/" in text
    assert all(code in text for code in dropped)
    links = {c.hyperlink.location for row in summary.iter_rows() for c in row if c.hyperlink is not None}
    ret = book["Return"]
    marked = {c.coordinate for row in ret.iter_rows() for c in row
              if c.fill is not None and c.fill.fgColor is not None and str(c.fill.fgColor.rgb).endswith("FFC7CE")}
    filled_refs = fill(template(trust), trust[0].root / "refs.xlsx", {})
    count, ratio, blank = dropped
    expected = {filled_refs.ref(count), filled_refs.ref(ratio, "Numerator"), filled_refs.ref(blank, "Numerator"),
                filled_refs.ref(blank, "Denominator")}
    assert expected <= marked
    assert {f"'Return'!{filled_refs.ref(count)}", f"'Return'!{filled_refs.ref(ratio, 'Numerator')}"} <= links
    assert "not a number" in ret[filled_refs.ref(count)].comment.text
    assert "denominator (200 > 194)" in ret[filled_refs.ref(ratio, "Numerator")].comment.text
    for sheet in (summary, ret):
        assert int(sheet.page_setup.paperSize) == 9 and int(sheet.page_setup.fitToWidth) == 1  # A4, one page wide
    assert not (trust[0].root / "archive" / PERIOD / "LUT" / (copy.name)).exists()


def test_a_return_in_the_wrong_folder_hears_about_its_cells_too(trust) -> None:
    count = codes_of(trust, "count")[0]
    target = trust[0].root / "inbox" / "MSK" / "luton.xlsx"
    fill(template(trust), target, figures(trust, **{count: {"Value": "lots"}}))
    os.utime(target, (time.time() - 30, time.time() - 30))
    (result,) = run(trust).results
    assert result.outcome == "rejected" and result.errors == 2
    reason = next((trust[0].root / "rejected").glob("*.reason.txt")).read_text(encoding="utf-8")
    assert "[wrong-department-folder]" in reason and "[not-a-number]" in reason
    (copy,) = (trust[0].root / "feedback" / "LUT").glob("*.feedback.xlsx")
    book = openpyxl.load_workbook(copy)
    text = " ".join(str(c) for row in book["What happened"].iter_rows(values_only=True) for c in row if c is not None)
    assert "Dropped in another department's folder" in text and "'lots' is not a number" in text
    ref = fill(template(trust), trust[0].root / "refs.xlsx", {}).ref(count)
    assert book["Return"][ref].comment is not None


def test_a_clean_return_gets_no_feedback_copy(trust) -> None:
    drop(trust, "clean.xlsx", figures(trust))
    (result,) = run(trust).results
    assert result.outcome in ("accepted", "accepted_with_warnings")
    copies = list((trust[0].root / "feedback").rglob("*.xlsx"))
    assert (result.outcome == "accepted") == (copies == [])


# -- units that fit ----------------------------------------------------------------------------------

def test_sickness_in_fte_days_takes_decimals_in_the_template_and_the_reader(trust) -> None:
    workspace, catalogue = trust
    sick = catalogue["SICK-MONTHLY"]
    assert sick.parts_unit == "fte days" and not sick.whole
    path = template(trust)
    refs = fill(path, workspace.root / "refs.xlsx", {})
    book = openpyxl.load_workbook(path)
    rules_at: dict[str, str] = {}
    for dv in book["Return"].data_validations.dataValidation:
        for rng in dv.sqref.ranges:
            for row in range(rng.min_row, rng.max_row + 1):
                rules_at[f"{openpyxl.utils.get_column_letter(rng.min_col)}{row}"] = dv.formula1
    assert "INT(" not in rules_at[refs.ref("SICK-MONTHLY", "Numerator")]
    assert "INT(" not in rules_at[refs.ref("SICK-MONTHLY", "Denominator")]
    count = codes_of(trust, "count")[0]
    assert "INT(" in rules_at[refs.ref(count)]  # counts of people and events stay whole
    headcount = codes_of(trust, "ratio")[0]
    assert "INT(" in rules_at[refs.ref(headcount, "Numerator")]
    cells = figures(trust, **{"SICK-MONTHLY": {"Numerator": 289.4, "Denominator": 4194.6}, count: {"Value": 12.5}})
    checked = validate(read_return(fill(path, workspace.root / "sick.xlsx", cells).path), catalogue, workspace,
                       today=TODAY)
    values = {v.indicator: v for v in checked.values}
    assert (values["SICK-MONTHLY"].numerator, values["SICK-MONTHLY"].denominator) == (289.4, 4194.6)
    assert values["SICK-MONTHLY"].value == pytest.approx(289.4 / 4194.6)
    assert [(f.rule, f.indicator) for f in checked.findings if f.severity == "error"] == [("not-whole-number", count)]


# -- denominators --------------------------------------------------------------------------------------

def test_a_denominator_far_from_the_departments_history_is_a_warning_naming_both(trust) -> None:
    workspace, catalogue = trust
    ratio = codes_of(trust, "ratio")[0]
    with Store(workspace.store_path) as store:
        for n, (month, (num, den)) in enumerate(zip(("2023-08", "2023-09", "2023-10", "2023-11"),
                                                    ((170, 190), (178, 194), (181, 196), (175, 192)), strict=True)):
            parsed = ParsedReturn(f"h{n}.xlsx", f"{n:064d}", 1, Identity(workspace.organisation, "LUT", month,
                                                                          catalogue.version, "test"))
            store.record(Receipt(f"{n:064d}", f"h{n}.xlsx", "inbox/LUT", f"{month}-28T10:00:00", f"archive/h{n}"),
                         Checked(parsed, (Value(ratio, "LUT", month, num / den, num, den),), (), "accepted"))
        path = fill(template(trust), workspace.root / "x.xlsx",
                    figures(trust, **{ratio: {"Numerator": 92, "Denominator": 100}})).path
        checked = validate(read_return(path), catalogue, workspace, store, today=TODAY)
        again = validate(read_return(fill(template(trust), workspace.root / "y.xlsx",
                                          figures(trust, **{ratio: {"Numerator": 178, "Denominator": 194}})).path),
                         catalogue, workspace, store, today=TODAY)
    (shift,) = [f for f in checked.findings if f.rule == "denominator-shift"]
    assert shift.indicator == ratio and shift.severity == "warning"
    assert "100 this month, usually about 193" in shift.message
    assert ratio in {v.indicator for v in checked.values}
    assert not [f for f in again.findings if f.rule == "denominator-shift"]


# -- import merges ---------------------------------------------------------------------------------------

def write_csv(path: Path, rows: list[dict[str, object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["department", "period", "code", "value", "numerator", "denominator", "comment"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_importing_one_row_supersedes_only_that_value_and_rebuilds_the_master(trust, capsys) -> None:
    workspace, catalogue = trust
    count = codes_of(trust, "count")[0]
    cells = figures(trust)
    drop(trust, "LUT.xlsx", cells)
    run(trust)
    before = workspace.master_path.stat().st_mtime_ns
    csv_path = write_csv(workspace.root / "fix.csv", [{"department": "LUT", "period": PERIOD, "code": count, "value": 7}])
    code, out = cli(capsys, "import", "-w", str(workspace.root), str(csv_path))
    assert code == 0, out
    assert f"line 2: LUT {PERIOD} {count}" in out and "imported" in out and "Imported 1 of 1 row(s)" in out
    with Store(workspace.store_path) as store:
        current = {sv.value.indicator: sv for sv in store.values(department="LUT", period=PERIOD)}
        kinds = {sv.value.indicator: store.submission(sv.submission_id).kind for sv in current.values()}
        assert len(current) == len(cells) and current[count].value.value == 7
        assert kinds[count] == "import" and {k for c, k in kinds.items() if c != count} == {"new"}
        reconciled = reconcile(store, catalogue, workspace, today=TODAY)
    assert reconciled.org[(count, PERIOD)].value == 7
    assert not (workspace.root / STALE_MARKER).exists() and workspace.master_path.stat().st_mtime_ns > before
    code, out = cli(capsys, "history", "-w", str(workspace.root), count.lower())
    assert code == 0 and "(import," in out and "*" in out  # the superseded value stays in the trail
    code, out = cli(capsys, "status", "-w", str(workspace.root), "--period", PERIOD, "--json")
    lut = next(d for d in json.loads(out)["departments"] if d["department"] == "LUT")
    assert lut["used"] == len(cells) and lut["status"] in ("accepted", "accepted_with_warnings")


def test_an_import_with_refused_rows_says_which_and_exits_1(trust, capsys) -> None:
    workspace, _ = trust
    count = codes_of(trust, "count")[0]
    rows = [{"department": "LUT", "period": PERIOD, "code": count, "value": 3}]
    rows += [{"department": "XXX", "period": f"2023-{m:02d}", "code": count, "value": 1} for m in range(1, 9)]
    code, out = cli(capsys, "import", "-w", str(workspace.root), str(write_csv(workspace.root / "h.csv", rows)))
    assert code == 1
    assert sum(" refused: " in line for line in out.splitlines()) == 8 and "Imported 1 of 9 row(s); refused 8" in out
    assert "not in the list" in out  # each refused row says why
    assert (workspace.root / STALE_MARKER).exists() or workspace.master_path.exists()


def test_an_import_row_cannot_forge_a_report_line_or_drive_the_terminal(trust, capsys) -> None:
    workspace, _ = trust
    count = codes_of(trust, "count")[0]
    forged = "LUT\n  line 9: LUT 2023-12 FAKE                   imported\x1b[2J"
    rows = [{"department": forged, "period": PERIOD, "code": count, "value": 3}]
    code, out = cli(capsys, "import", "-w", str(workspace.root), str(write_csv(workspace.root / "f.csv", rows)))
    assert code == 1
    assert "\x1b" not in out and not any(line.startswith("  line 9:") for line in out.splitlines())
    assert len([line for line in out.splitlines() if line.strip()]) == 2  # the refused row and the summary


# -- validate on a department's own machine ------------------------------------------------------------------

def test_validate_outside_a_workspace_checks_against_the_template_itself(trust, tmp_path: Path, monkeypatch,
                                                                          capsys) -> None:
    count = codes_of(trust, "count")[0]
    pc = tmp_path / "department-pc"
    pc.mkdir()
    good = shutil.copy(drop(trust, "good.xlsx", figures(trust)), pc / "good.xlsx")
    shutil.copy(drop(trust, "bad.xlsx", figures(trust, **{count: {"Value": "twelve"}})), pc / "bad.xlsx")
    monkeypatch.chdir(pc)
    code, out = cli(capsys, "validate", "good.xlsx")
    assert code == 0, out
    assert "No xlq workspace here" in out and "Skipped" in out and "outside-history" in out
    assert "xlq init" not in out and "not found" not in out
    code, out = cli(capsys, "validate", "bad.xlsx")
    assert code == 1 and f"accepted with errors (1 value not used: {count})" in out and "not-a-number" in out
    code, out = cli(capsys, "validate", "--json", str(good))
    assert json.loads(out)["skipped_checks"]


# -- the small faults ----------------------------------------------------------------------------------------

def test_small_faults_are_fixed(trust, capsys) -> None:
    workspace, catalogue = trust
    root = str(workspace.root)
    assert main(["status", "-w", root, "--period", "2023-13"]) == 2
    assert "not a month" in capsys.readouterr().err
    assert main(["history", "-w", root, "sick-monthly"]) == 0
    capsys.readouterr()
    main(["template", "-w", root, "--period", "2024-02", "--department", "LUT"])
    assert "later than the month being collected (2023-12)" in capsys.readouterr().err
    ratio = codes_of(trust, "ratio")[0]
    refs = fill(template(trust), workspace.root / "r.xlsx", {})
    path = fill(template(trust), workspace.root / "b.xlsx",
                figures(trust, **{ratio: {"Numerator": None, "Denominator": None}})).path
    (missing,) = [f for f in validate(read_return(path), catalogue, workspace, today=TODAY).findings
                  if f.rule == "required-missing"]
    assert missing.cell == f"{refs.ref(ratio, 'Numerator')}:{refs.ref(ratio, 'Denominator')}"


def test_every_option_has_help_and_every_command_an_example() -> None:
    parser = build_parser()
    assert "thin layer" not in (parser.description or "")
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in commands.items():
        assert "example:" in (sub.epilog or ""), name
        for action in sub._actions:
            assert action.help, (name, action.dest)


def test_a_file_rejected_today_is_listed_only_under_the_month_being_collected(trust, capsys) -> None:
    workspace, _ = trust
    junk = workspace.root / "inbox" / "figures.csv"
    junk.write_text("a,b\n1,2\n", encoding="utf-8")
    os.utime(junk, (time.time() - 30, time.time() - 30))
    run(trust)
    _, december = cli(capsys, "status", "-w", str(workspace.root), "--period", PERIOD)
    _, june = cli(capsys, "status", "-w", str(workspace.root), "--period", "2023-06")
    assert "figures.csv" in december and "figures.csv" not in june


def test_template_instructions_name_the_share_as_people_see_it(trust) -> None:
    workspace, catalogue = trust
    config = workspace.root / "xlq.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        "# inbox = ", "inbox = ").replace("# feedback = ", "feedback = "), encoding="utf-8")
    workspace = load_workspace(workspace.root)
    path = write_template(catalogue, workspace, "LUT", PERIOD, workspace.root / "t.xlsx")
    text = " ".join(str(v) for row in openpyxl.load_workbook(path)["Instructions"].iter_rows(values_only=True)
                    for v in row if v)
    assert "\\\\trust-fs01\\performance\\inbox\\LUT\\" in text and "\\\\trust-fs01\\performance\\feedback\\LUT\\" in text
    assert str(workspace.root) not in text
