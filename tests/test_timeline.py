"""The catalogue through time (issue 21): targets in force by month, redefinitions, departments
added mid-year, older templates and `xlq catalogue diff`, on real stores and real workbooks."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pytest
from returns import GOOD, fill, make_workspace
from xlsx_parts import Xlsx, split_ref

from xlq.cli import main
from xlq.core.catalogue import load_catalogue
from xlq.core.config import load_workspace
from xlq.core.months import months_between
from xlq.core.timeline import analyse_in_force
from xlq.importer import import_history
from xlq.master.plan import make_plan
from xlq.master.reconcile import reconcile
from xlq.master.returns import period_status
from xlq.master.workbook import write_scorecard
from xlq.store.db import Store
from xlq.template.workbook import write_template
from xlq.watch.service import run_once

TODAY = dt.date(2024, 8, 1)
NEW_TARGETS = '''targets = [
  { to = "2024-03", target = ">= 90%" },
  { from = "2024-04", target = ">= 95%" },
]'''
FILLS = {"FFC6EFCE": "green", "FFFFEB9C": "amber", "FFFFC7CE": "red"}


def _workspace(root: Path, current: str = "2024-06"):
    workspace, _ = make_workspace(root, current=current)
    return workspace


def _reload(root: Path):
    workspace = load_workspace(root)
    return workspace, load_catalogue(workspace.catalogue_path, workspace.department_codes)


def _import(workspace, rows: list[tuple[str, str, str, object]], name: str = "history.csv") -> None:
    path = workspace.root / name
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["department", "period", "code", "value", "numerator", "denominator", "comment"])
        for dept, period, code, value in rows:
            writer.writerow([dept, period, code, value, "", "", ""])
    import_history(workspace, path)


def _edit_catalogue(root: Path, old: str, new: str, version: str) -> None:
    path = root / "catalogue.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    text = text.replace(old, new, 1).replace('version = "test-1"', f'version = "{version}"')
    path.write_text(text, encoding="utf-8")


def _master(root: Path, period: str, out: str) -> Xlsx:
    workspace, catalogue = _reload(root)
    with Store(workspace.store_path) as store:
        reconciled = reconcile(store, catalogue, workspace, period=period, today=TODAY)
    path = write_scorecard(reconciled, catalogue, workspace, root / out, built_at=dt.datetime(2024, 8, 1, 9))
    return Xlsx(path)


def _row_of(book: Xlsx, code: str) -> int:
    return next(split_ref(ref)[0] for ref, c in book.cells("Scorecard").items() if c.value == code and ref.startswith("A"))


def _month_columns(book: Xlsx) -> dict[str, int]:
    """Month (YYYY-MM) -> zero-based column, from the Scorecard's title row (dates as serials)."""
    out = {}
    for ref, c in book.cells("Scorecard").items():
        row, col = split_ref(ref)
        if row == 7 and c.type is None and c.value and float(c.value) > 40000:
            day = dt.date(1899, 12, 30) + dt.timedelta(days=int(float(c.value)))
            out[f"{day.year:04d}-{day.month:02d}"] = col
    return out


def _colour(book: Xlsx, row: int, col: int) -> str | None:
    """The colour Excel would paint the cell: the conditional-format rule whose formula holds."""
    cells = book.cells("Scorecard")
    ref = next(r for r in cells if split_ref(r) == (row, col))
    value = float(cells[ref].value)
    for sqref, rules in book.conditional_formats("Scorecard").items():
        first, _, last = sqref.partition(":")
        (r0, c0), (r1, c1) = split_ref(first), split_ref(last or first)
        if not (r0 <= row <= r1 and c0 <= col <= c1):
            continue
        for _, formula, fill_colour in rules:
            tests = re.findall(r"[A-Z]+\d+\s*(>=|<=|<|>)\s*(-?[\d.eE-]+)", formula)
            ops = {">=": value.__ge__, "<=": value.__le__, "<": value.__lt__, ">": value.__gt__}
            if all(ops[op](float(num) + 0.0) for op, num in tests):
                return FILLS[fill_colour]
    return None


@pytest.fixture(scope="module")
def target_change(tmp_path_factory) -> dict[str, Xlsx]:
    """TRAIN at 93% every month from Jan-23 to Jun-24: green against 90%, red against 95%."""
    root = tmp_path_factory.mktemp("targets") / "ws"
    workspace = _workspace(root)
    _import(workspace, [("LUT", p, "TRAIN", "93%") for p in months_between("2023-01", "2024-06")])  # TRAIN sums
    before = _master(root, "2024-03", "before.xlsx")  # the board paper of Mar-24, before the change
    _edit_catalogue(root, 'target = ">= 90%"\ndirection = "higher"', NEW_TARGETS + '\ndirection = "higher"', "test-2")
    return {"before": before, "after": _master(root, "2024-06", "after.xlsx"),
            "rebuilt": _master(root, "2024-03", "rebuilt.xlsx")}


def test_each_month_is_coloured_against_the_target_in_force_then(target_change) -> None:
    before, after = target_change["before"], target_change["after"]
    row_before, row_after = _row_of(before, "TRAIN"), _row_of(after, "TRAIN")
    months_before, months_after = _month_columns(before), _month_columns(after)
    assert list(months_after) == list(months_between("2023-06", "2024-06"))
    shared = [m for m in months_after if m in months_before]
    assert shared == list(months_between("2023-06", "2024-03"))
    for month in shared:  # the same colour as in the master built before the change
        assert _colour(after, row_after, months_after[month]) == _colour(before, row_before, months_before[month]) \
            == "green", month
    for month in ("2024-04", "2024-05", "2024-06"):  # 93% against the new 95%
        assert _colour(after, row_after, months_after[month]) == "red", month


def test_the_target_column_shows_the_current_target_and_marks_the_change(target_change) -> None:
    before, after = target_change["before"], target_change["after"]
    target = lambda book: next(c.value for r, c in book.cells("Scorecard").items()  # noqa: E731
                               if split_ref(r) == (_row_of(book, "TRAIN"), 3))
    assert target(before) == ">=90%"
    assert target(after) == ">=95% ▲"
    notes = after.comments("Scorecard")
    row = _row_of(after, "TRAIN")
    april = _month_columns(after)["2024-04"]
    assert any(split_ref(ref) == (row, 3) and "From Apr-2024: >=95% (was >=90%)" in text for ref, text in notes.items())
    assert any(split_ref(ref) == (row, april) and "Target changed from Apr-2024" in text for ref, text in notes.items())


def test_a_board_paper_rebuilt_for_a_past_month_looks_as_it_did(target_change) -> None:
    before, rebuilt = target_change["before"], target_change["rebuilt"]
    row = _row_of(rebuilt, "TRAIN")
    assert [_colour(rebuilt, row, col) for col in _month_columns(rebuilt).values()] == \
        [_colour(before, _row_of(before, "TRAIN"), col) for col in _month_columns(before).values()]
    assert before.conditional_formats("Scorecard") == rebuilt.conditional_formats("Scorecard")


def test_a_redefinition_breaks_the_spc_series_and_the_sparkline(tmp_path) -> None:
    root = tmp_path / "ws"
    workspace = _workspace(root)
    waits = {p: (10 + n % 3 if p < "2024-01" else 30 + n % 4) for n, p in enumerate(months_between("2023-01", "2024-06"))}
    _import(workspace, [("LUT", p, "WAIT", w) for p, w in waits.items()])
    _edit_catalogue(root, 'name = "Average wait"', 'name = "Average wait"\nredefined_from = "2024-01"\n'
                    'redefinition = "from referral, not from triage"', "test-2")
    workspace, catalogue = _reload(root)
    with Store(workspace.store_path) as store:
        reconciled = reconcile(store, catalogue, workspace, period="2024-06", today=TODAY)
    result = analyse_in_force(catalogue["WAIT"], reconciled.history["WAIT"], workspace.spc)
    (start_old, old), (start_new, new) = result.segments
    assert start_new == list(waits).index("2024-01")
    assert old is not None and new is not None and new.mean > old.upper  # new limits, not one mixed series
    book = _master(root, "2024-06", "scorecard.xlsx")
    row = _row_of(book, "WAIT")
    months = _month_columns(book)
    lines = [line for g in book.sparkline_groups("Scorecard") for line in g["sparklines"] if split_ref(line[1])[0] == row]
    assert len(lines) == 1
    data_range = lines[0][0].split("!")[-1]
    first, last = (split_ref(x) for x in data_range.split(":"))
    assert first[1] > max(months.values())  # drawn from the hidden data row, not the month cells
    cells = {split_ref(r)[1]: c for r, c in book.cells("Scorecard").items() if split_ref(r)[0] == row}
    drawn = [cells[col].value if col in cells else None for col in range(first[1], last[1] + 1)]
    gap = list(months).index("2024-01")
    assert drawn[gap] is None and None not in drawn[:gap] + drawn[gap + 1:]  # one empty month between the two
    notes = {split_ref(r): t for r, t in book.comments("Scorecard").items()}
    assert "Redefined from Jan-2024: from referral, not from triage" in notes[(row, months["2024-01"])]
    assert 'hidden="1"' in book.sheet_text("Scorecard")


def test_a_department_added_mid_year_is_not_missing_before_its_start(tmp_path) -> None:
    root = tmp_path / "ws"
    workspace = _workspace(root)
    config = root / "xlq.toml"
    config.write_text(config.read_text(encoding="utf-8") + '\n[[department]]\ncode = "NEWCO"\nname = "New Community '
                      'Service"\nactive_from = "2024-04"\n', encoding="utf-8")
    workspace, catalogue = _reload(root)
    _import(workspace, [(d, p, "TRAIN", "93%") for p in months_between("2023-06", "2024-06")
                        for d in workspace.departments_in(p) if d != "NEWCO"])
    with Store(workspace.store_path) as store:
        march = period_status(store, catalogue, workspace, "2024-03", today=TODAY)
        april = period_status(store, catalogue, workspace, "2024-04", today=TODAY)
        reconciled = reconcile(store, catalogue, workspace, period="2024-06", today=TODAY)
    assert "NEWCO" not in {r.department for r in march.departments}
    assert {r.department: r.status for r in april.departments}["NEWCO"] == "missing"
    missing = {(f.department, f.period) for f in reconciled.findings if f.rule == "return-missing"}
    assert missing == {("NEWCO", p) for p in ("2024-04", "2024-05", "2024-06")}
    assert reconciled.org[("TRAIN", "2024-03")].expected == 7
    assert reconciled.org[("TRAIN", "2024-04")].expected == 8
    plan = make_plan(reconciled, catalogue, workspace, dt.datetime(2024, 8, 1))
    assert (plan.coverage["2024-03"].received, plan.coverage["2024-03"].expected) == (7, 7)
    assert plan.coverage["2024-03"].complete and not plan.coverage["2024-04"].complete


def test_a_merged_department_gets_no_template_and_its_return_is_refused(tmp_path) -> None:
    root = tmp_path / "ws"
    _workspace(root, current="2024-04")
    config = root / "xlq.toml"
    text = config.read_text(encoding="utf-8")
    text = text.replace('code = "DENT"\n', 'code = "DENT"\nclosed_from = "2024-04"\nmerged_into = "ICASH"\n')
    config.write_text(text, encoding="utf-8")
    workspace, catalogue = _reload(root)
    assert "DENT" not in workspace.departments_in("2024-04") and "DENT" in workspace.departments_in("2024-03")
    main(["template", "--workspace", str(root), "--period", "2024-04"])
    assert not (root / "templates" / "2024-04" / "DENT.xlsx").exists()
    assert (root / "templates" / "2024-04" / "ICASH.xlsx").exists()


def test_an_older_template_with_a_changed_target_is_accepted_and_judged_by_its_own_month(tmp_path) -> None:
    root = tmp_path / "ws"
    workspace = _workspace(root, current="2024-04")
    _, catalogue = _reload(root)
    template = write_template(catalogue, workspace, "LUT", "2024-03", root / "templates" / "LUT-2024-03.xlsx")
    # After the template was issued: the 2024-25 targets, and WAIT retired from March
    _edit_catalogue(root, 'target = ">= 90%"\ndirection = "higher"', NEW_TARGETS + '\ndirection = "higher"', "test-2")
    _edit_catalogue(root, 'name = "Average wait"', 'name = "Average wait"\nretired_from = "2024-03"', "test-2")
    cells = {code: dict(cols) for code, cols in GOOD.items()} | {"TRAIN": {"Value": "92%"}}
    (root / "inbox" / "LUT").mkdir(parents=True, exist_ok=True)
    fill(template, root / "inbox" / "LUT" / "march.xlsx", cells)
    run_once(load_workspace(root), progress=False, clock=lambda: dt.datetime(2024, 4, 5, 9, tzinfo=dt.UTC))
    workspace, catalogue = _reload(root)
    with Store(workspace.store_path) as store:
        [sub] = store.submissions(department="LUT", period="2024-03")
        findings = [sf.finding for sf in store.findings([sub.id])]
        values = {sv.value.indicator: sv.value.value for sv in store.values(department="LUT", period="2024-03")}
    assert sub.outcome != "rejected" and sub.catalogue_version == "test-1"
    older = [f for f in findings if f.rule == "older-template"]
    assert len(older) == 1 and "WAIT" in older[0].message and "test-1" in older[0].message
    assert "WAIT" not in values and values["TRAIN"] == pytest.approx(0.92)
    book = _master(root, "2024-04", "judged.xlsx")
    row = _row_of(book, "TRAIN")
    assert _colour(book, row, _month_columns(book)["2024-03"]) == "green"  # 92% against March's 90%, not 95%


def test_catalogue_diff_lists_the_changes_with_who_and_when(tmp_path, monkeypatch, capsys) -> None:
    root = tmp_path / "ws"
    _workspace(root)
    monkeypatch.setenv("XLQ_USER", "alice")
    assert main(["catalogue", "diff", "--workspace", str(root)]) == 0
    capsys.readouterr()
    _edit_catalogue(root, 'target = ">= 90%"\ndirection = "higher"', NEW_TARGETS + '\ndirection = "higher"', "test-2")
    _edit_catalogue(root, 'name = "Average wait"', 'name = "Average wait"\nretired_from = "2024-04"', "test-2")
    config = root / "xlq.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        'code = "DENT"\n', 'code = "DENT"\nclosed_from = "2024-04"\nmerged_into = "ICASH"\n'), encoding="utf-8")
    monkeypatch.setenv("XLQ_USER", "bob")
    assert main(["catalogue", "diff", "--workspace", str(root)]) == 0
    text = capsys.readouterr().out
    assert "version 1  catalogue test-1" in text and "by alice" in text
    assert "version 2  catalogue test-2" in text and "by bob" in text
    for change in ("version test-1 -> test-2", "TRAIN: target >=90% ->", ">=95% from Apr-2024",
                   "WAIT: retired from Apr-2024", "department DENT merged into ICASH from Apr-2024"):
        assert change in text, change
    assert main(["catalogue", "diff", "--json", "--workspace", str(root)]) == 0
    versions = json.loads(capsys.readouterr().out)
    assert [v["recorded_by"] for v in versions] == ["alice", "bob"]  # nothing new: no third version
    assert all(dt.datetime.fromisoformat(v["recorded_at"]) for v in versions)


def test_a_renamed_indicator_keeps_its_history_and_the_old_code_is_findable(tmp_path, capsys) -> None:
    root = tmp_path / "ws"
    workspace = _workspace(root)
    _import(workspace, [("LUT", p, "TRAIN", "93%") for p in months_between("2024-01", "2024-03")])
    path = root / "catalogue.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('code = "TRAIN"', 'code = "TRAIN-ALL"\n'
                                                             'renamed_from = ["TRAIN"]'), encoding="utf-8")
    workspace, catalogue = _reload(root)
    with Store(workspace.store_path) as store:
        reconciled = reconcile(store, catalogue, workspace, period="2024-03", today=TODAY)
    assert reconciled.org[("TRAIN-ALL", "2024-02")].value == pytest.approx(0.93)
    assert main(["history", "TRAIN", "--workspace", str(root)]) == 0
    out = capsys.readouterr().out
    assert "TRAIN was renamed TRAIN-ALL" in out and "(formerly TRAIN)" in out and "2024-02" in out


@pytest.mark.slow
def test_demo_through_the_new_financial_year(tmp_path) -> None:
    from xlq.demo import run_demo

    run_demo(tmp_path / "demo", through="2024-06")
    book = Xlsx(tmp_path / "demo" / "outbox" / "scorecard.xlsx")
    months = _month_columns(book)
    assert list(months) == list(months_between("2023-06", "2024-06"))
    cells = book.cells("Scorecard")
    coverage = {month: next(c.value for r, c in cells.items() if split_ref(r) == (6, col)) for month, col in months.items()}
    assert coverage["2024-04"] == "6 of 6" and coverage["2023-11"] == "7 of 7"
    fire = _row_of(book, "TRN-FIRE")
    assert next(c.value for r, c in cells.items() if split_ref(r) == (fire, 3)) == ">=95% ▲"
    wrap, oliver = _row_of(book, "TRN-WRAP"), _row_of(book, "TRN-OLIVER")
    filled = lambda row: {m for m, col in months.items() if any(  # noqa: E731
        split_ref(r) == (row, col) and c.value is not None for r, c in cells.items())}
    assert filled(wrap) == set(months_between("2023-06", "2024-03"))
    assert filled(oliver) == set(months_between("2024-04", "2024-06"))
    out = tmp_path / "diff.txt"
    shutil.rmtree(tmp_path / "demo" / "inbox", ignore_errors=True)
    with Store(tmp_path / "demo" / "xlq.sqlite") as store:
        from xlq.store.catalogue_versions import diff_text, versions
        out.write_text(diff_text(versions(store)))
    assert "department DENT merged into ICASH from Apr-2024" in out.read_text()


@pytest.mark.parametrize(("spans", "message"), [
    ('[{ from = "2024-04", target = ">= 95%" }, { from = "2024-01", target = ">= 90%" }]', "overlap or are out of order"),
    ('[{ from = "2024-4", target = ">= 95%" }]', "is not YYYY-MM"),
    ('[{ from = "2024-04" }]', "needs 'target'"),
])
def test_targets_that_cannot_be_in_force_are_one_line_errors(tmp_path, spans: str, message: str) -> None:
    from xlq.core.errors import CatalogueError

    root = tmp_path / "ws"
    _workspace(root)
    _edit_catalogue(root, 'target = ">= 90%"\ndirection = "higher"', f"targets = {spans}\ndirection = \"higher\"", "x")
    with pytest.raises(CatalogueError, match=message) as caught:
        _reload(root)
    assert "indicator TRAIN" in str(caught.value) and "\n" not in str(caught.value)


def test_a_merger_needs_its_month(tmp_path) -> None:
    from xlq.core.errors import ConfigError

    root = tmp_path / "ws"
    _workspace(root)
    config = root / "xlq.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('code = "DENT"\n', 'code = "DENT"\nmerged_into = "ICASH"\n'),
                      encoding="utf-8")
    with pytest.raises(ConfigError, match="merged_into needs closed_from"):
        load_workspace(root)


def test_a_renamed_department_goes_by_its_name_in_force(tmp_path) -> None:
    root = tmp_path / "ws"
    _workspace(root)
    config = root / "xlq.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        'code = "NORF"\n', 'code = "NORF"\nrenamed = { "2024-04" = "Norfolk Children and Young People" }\n'),
        encoding="utf-8")
    workspace, catalogue = _reload(root)
    with Store(workspace.store_path) as store:
        names = {p: {r.department: r.name for r in period_status(store, catalogue, workspace, p, today=TODAY).departments}
                 for p in ("2024-03", "2024-04")}
    assert names["2024-03"]["NORF"] == "Norfolk Children's 0-19 Services"
    assert names["2024-04"]["NORF"] == "Norfolk Children and Young People"


def test_an_older_template_is_not_read_for_an_indicator_redefined_since(tmp_path) -> None:
    """The store knows what the template's catalogue version said: a figure measured the old way
    for a month after the redefinition is not mixed into the new series."""
    root = tmp_path / "ws"
    _workspace(root, current="2024-04")
    assert main(["template", "--workspace", str(root), "--period", "2024-03", "--department", "LUT"]) == 0
    _edit_catalogue(root, 'name = "Average wait"', 'name = "Average wait"\nredefined_from = "2024-03"', "test-2")
    cells = {code: dict(cols) for code, cols in GOOD.items()}
    (root / "inbox" / "LUT").mkdir(parents=True, exist_ok=True)
    fill(root / "templates" / "2024-03" / "LUT.xlsx", root / "inbox" / "LUT" / "march.xlsx", cells)
    run_once(load_workspace(root), progress=False, clock=lambda: dt.datetime(2024, 4, 5, 9, tzinfo=dt.UTC))
    workspace, _ = _reload(root)
    with Store(workspace.store_path) as store:
        [sub] = store.submissions(department="LUT", period="2024-03")
        findings = [sf.finding for sf in store.findings([sub.id])]
        values = {sv.value.indicator for sv in store.values(department="LUT", period="2024-03")}
    assert sub.outcome != "rejected"
    [older] = [f for f in findings if f.rule == "older-template"]
    assert "redefined since that template" in older.message and "WAIT" in older.message
    assert "WAIT" not in values and "TRAIN" in values
