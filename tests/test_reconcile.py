"""Reconciliation against hand-computed figures: every aggregation rule, coverage, markers,
missing-vs-zero, cross-checks, derived rolling-year figures and the submissions grid."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path

import pytest
from checked import make_return
from hypothesis import given, settings
from hypothesis import strategies as st
from workspaces import write_workspace

from xlq.core import rules
from xlq.core.catalogue import Catalogue, load_catalogue
from xlq.core.config import Workspace, load_workspace
from xlq.core.model import Checked, Finding, ParsedReturn
from xlq.core.months import months_ending, shift_period
from xlq.master.history import indicator_history
from xlq.master.reconcile import reconcile
from xlq.master.returns import period_status
from xlq.store.db import Store
from xlq.store.records import Receipt

CATALOGUE = """\
version = "t1"

[[indicator]]
code = "FALLS"
domain = "SAFETY"
name = "Falls"
unit = "count"
aggregate = "sum"
reported_by = ["A", "B", "C"]

[[indicator]]
code = "TRAIN"
domain = "Workforce"
name = "Mandatory training"
unit = "ratio"
aggregate = "ratio"

[[indicator]]
code = "STAFF"
domain = "Workforce"
name = "Staff in post"
unit = "count"
aggregate = "sum"
reported_by = ["A", "B"]

[[indicator]]
code = "SAT"
domain = "EXPERIENCE"
name = "Satisfaction"
unit = "percent"
aggregate = "mean"
weight = "STAFF"
reported_by = ["A", "B"]

[[indicator]]
code = "FOI"
domain = "Governance"
name = "FOI requests"
unit = "count"
aggregate = "central"
central = "C"
cross_check = "sum"
tolerance = 1

[[indicator]]
code = "COMPL"
domain = "Governance"
name = "Complaints answered in time"
unit = "ratio"
aggregate = "central"
central = "C"
cross_check = "ratio"
tolerance = "1%"

[[indicator]]
code = "SICK"
domain = "Workforce"
name = "Monthly sickness absence"
unit = "ratio"
aggregate = "ratio"
reported_by = ["A", "B"]

[[indicator]]
code = "SICK12"
domain = "Workforce"
name = "Rolling sickness absence"
unit = "ratio"
aggregate = "rolling12"
source = "SICK"

[[indicator]]
code = "TURN"
domain = "Workforce"
name = "Leavers"
unit = "ratio"
aggregate = "ratio"
reported_by = ["A", "B"]

[[indicator]]
code = "TURN12"
domain = "Workforce"
name = "Rolling year turnover"
unit = "ratio"
aggregate = "rolling12"
source = "TURN"
denominator = "mean"

[[indicator]]
code = "NEW"
domain = "SAFETY"
name = "New this year"
unit = "count"
aggregate = "sum"
reported_by = ["A"]
active_from = "2024-03"
"""

CONFIG = """\
[organisation]
name = "Test Trust"
[calendar]
due_day = 10
current = "2024-03"
[[department]]
code = "A"
name = "Adults"
[[department]]
code = "B"
name = "Children"
[[department]]
code = "C"
name = "Corporate"
"""

LATER = dt.date(2024, 6, 1)


@pytest.fixture
def setup(tmp_path: Path):
    workspace, catalogue = write_workspace(tmp_path, catalogue=CATALOGUE, config=CONFIG)
    with Store(tmp_path / "xlq.sqlite") as store:
        yield store, catalogue, workspace


def drop(store: Store, dept: str, period: str, values: dict[str, object], received: str | None = None, **kw):
    """Store a return received (by default) on the 5th of the next month, before it is due."""
    checked = make_return(dept, period, values, **kw)
    received = received or f"{shift_period(period, 1)}-05T09:00:00"
    name = f"{dept}-{period}.xlsx"
    return store.record(Receipt(checked.parsed.sha256, name, "inbox", received, f"archive/{name}"), checked)


def run(setup, period: str = "2024-03", months: int = 1, today: dt.date = LATER):
    store, catalogue, workspace = setup
    return reconcile(store, catalogue, workspace, period=period, months=months, today=today)


def rules_of(findings, code: str) -> list[Finding]:
    return [f for f in findings if f.rule == code]


# -- sum, missing vs zero, coverage ----------------------------------------------------------------------


def test_sum_adds_the_departments_and_a_missing_one_makes_it_partial(setup) -> None:
    store = setup[0]
    drop(store, "A", "2024-03", {"FALLS": 3})
    drop(store, "B", "2024-03", {"FALLS": 4})
    got = run(setup)
    falls = got.org[("FALLS", "2024-03")]
    assert (falls.value, falls.contributors, falls.expected, falls.partial) == (7.0, 2, 3, True)
    assert falls.flags[0] == "partial: 2 of 3 departments (none from C (return missing))"
    # The missing return is one finding, not one per indicator it leaves partial.
    assert not [f for f in rules_of(got.findings, "partial-coverage") if f.indicator == "FALLS"]
    assert [(f.department, f.period) for f in rules_of(got.findings, "return-missing")] == [("C", "2024-03")]


def test_a_value_dropped_from_a_return_that_arrived_is_a_partial_coverage_finding(setup) -> None:
    store = setup[0]
    drop(store, "A", "2024-03", {"FALLS": 3})
    drop(store, "B", "2024-03", {"FALLS": 4})
    drop(store, "C", "2024-03", {"FALLS": None})
    (partial,) = [f for f in rules_of(run(setup).findings, "partial-coverage") if f.indicator == "FALLS"]
    assert (partial.period, partial.value) == ("2024-03", "2 of 3")


def test_zeros_are_figures_but_blanks_and_absent_returns_are_not(setup) -> None:
    store = setup[0]
    drop(store, "A", "2024-03", {"FALLS": 0})
    drop(store, "B", "2024-03", {"FALLS": 0})
    drop(store, "C", "2024-03", {"FALLS": None})
    falls = run(setup).org[("FALLS", "2024-03")]
    assert (falls.value, falls.contributors, falls.expected) == (0.0, 2, 3)
    assert "C (blank)" in falls.flags[0]
    nobody = run(setup, period="2024-02").org[("FALLS", "2024-02")]
    assert (nobody.value, nobody.contributors, nobody.partial) == (None, 0, False)
    assert nobody.flags == ("no value: none from A (return missing), B (return missing), C (return missing)",)


def test_a_value_dropped_by_validation_is_named_as_the_reason_for_partial_coverage(setup) -> None:
    store = setup[0]
    error = rules.finding("not-a-number", "lots", department="C", period="2024-03", indicator="FALLS", cell="F10")
    drop(store, "A", "2024-03", {"FALLS": 1})
    drop(store, "B", "2024-03", {"FALLS": 2})
    drop(store, "C", "2024-03", {"STAFF": 2}, findings=(error,), outcome="accepted_with_warnings")
    assert "C (not a number)" in run(setup).org[("FALLS", "2024-03")].flags[0]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(0, 10_000)), min_size=3, max_size=3))
def test_sum_is_the_sum_of_what_was_given_and_never_treats_missing_as_zero(given_values: list[int | None]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "xlq.toml").write_text(CONFIG)
        (root / "catalogue.toml").write_text(CATALOGUE)
        workspace = load_workspace(root)
        catalogue = load_catalogue(root / "catalogue.toml")
        with Store(root / "s.sqlite") as store:
            for dept, number in zip("ABC", given_values, strict=True):
                if number is not None:
                    drop(store, dept, "2024-03", {"FALLS": number})
            falls = run((store, catalogue, workspace)).org[("FALLS", "2024-03")]
    present = [n for n in given_values if n is not None]
    assert falls.value == (float(sum(present)) if present else None)
    assert falls.contributors == len(present)


# -- ratio, weighted mean ---------------------------------------------------------------------------------


def test_ratio_divides_summed_numerators_by_summed_denominators_not_a_mean_of_percentages(setup) -> None:
    store = setup[0]
    drop(store, "A", "2024-03", {"TRAIN": (45, 50)})
    drop(store, "B", "2024-03", {"TRAIN": (10, 40)})
    drop(store, "C", "2024-03", {"TRAIN": (0, 10)})
    train = run(setup).org[("TRAIN", "2024-03")]
    assert (train.numerator, train.denominator) == (55.0, 100.0)
    assert train.value == pytest.approx(0.55)  # a mean of 90%, 25% and 0% would be 38.3%
    assert train.flags == ()


def test_ratio_of_nothing_over_nothing_has_no_value(setup) -> None:
    store = setup[0]
    for dept in "ABC":
        drop(store, dept, "2024-03", {"TRAIN": (0, 0)})
    train = run(setup).org[("TRAIN", "2024-03")]
    assert (train.value, train.numerator, train.denominator, train.contributors) == (None, 0.0, 0.0, 3)
    assert train.flags == ("no value: every denominator is 0 (0/0)",)


def test_mean_is_weighted_by_each_departments_weight_indicator(setup) -> None:
    store = setup[0]
    drop(store, "A", "2024-03", {"SAT": 0.8, "STAFF": 100})
    drop(store, "B", "2024-03", {"SAT": 0.6, "STAFF": 300})
    sat = run(setup).org[("SAT", "2024-03")]
    assert sat.value == pytest.approx(0.65)  # (0.8*100 + 0.6*300) / 400; the plain mean would be 0.7
    assert (sat.contributors, sat.expected, sat.flags) == (2, 2, ())


def test_a_department_without_a_weight_is_left_out_of_the_mean_and_flagged(setup) -> None:
    store = setup[0]
    drop(store, "A", "2024-03", {"SAT": 0.8, "STAFF": 100})
    drop(store, "B", "2024-03", {"SAT": 0.6})
    sat = run(setup).org[("SAT", "2024-03")]
    assert sat.value == pytest.approx(0.8)
    assert "left out (no STAFF to weight by): B" in sat.flags


# -- central and cross-checks ---------------------------------------------------------------------------


def test_central_figure_agreeing_with_the_departments_within_tolerance_is_not_flagged(setup) -> None:
    store = setup[0]
    drop(store, "A", "2024-03", {"FOI": 4})
    drop(store, "B", "2024-03", {"FOI": 5})
    drop(store, "C", "2024-03", {"FOI": 10})
    got = run(setup)
    foi = got.org[("FOI", "2024-03")]
    assert (foi.value, foi.contributors, foi.expected, foi.flags) == (10.0, 1, 1, ())
    assert not rules_of(got.findings, "reconcile-difference")


def test_central_figure_differing_from_the_departments_names_both_numbers_and_the_difference(setup) -> None:
    store = setup[0]
    drop(store, "A", "2024-03", {"FOI": 4, "COMPL": (40, 50)})
    drop(store, "B", "2024-03", {"FOI": 5, "COMPL": (45, 50)})
    drop(store, "C", "2024-03", {"FOI": 12, "COMPL": (90, 100)})
    got = run(setup)
    assert got.org[("FOI", "2024-03")].value == 12.0
    differences = {f.indicator: f for f in rules_of(got.findings, "reconcile-difference")}
    assert differences["FOI"].message == "C reports 12, departments 9: difference 3 (tolerance 1)"
    assert differences["COMPL"].message == "C reports 90.00%, departments 85.00%: difference 5.00% (tolerance 1.00%)"
    assert differences["COMPL"].department == "C"
    assert got.org[("COMPL", "2024-03")].flags == ("reconcile-difference: " + differences["COMPL"].message,)
    assert got.org[("COMPL", "2024-03")].value == pytest.approx(0.9)


def test_no_cross_check_is_made_against_an_incomplete_set_of_departments(setup) -> None:
    store = setup[0]
    drop(store, "A", "2024-03", {"FOI": 4})
    drop(store, "C", "2024-03", {"FOI": 12})
    got = run(setup)
    assert got.org[("FOI", "2024-03")].flags == ("cross-check not made: only 1 of 2 departments reported",)
    assert not rules_of(got.findings, "reconcile-difference")


# -- rolling twelve months --------------------------------------------------------------------------------


def test_rolling_sickness_is_twelve_months_of_days_lost_over_days_available(setup) -> None:
    store = setup[0]
    for n, period in enumerate(months_ending("2024-03", 12), start=1):
        drop(store, "A", period, {"SICK": (n, 100)})
        drop(store, "B", period, {"SICK": (2, 100)})
    got = run(setup, months=2)
    sick = got.org[("SICK12", "2024-03")]
    assert (sick.numerator, sick.denominator) == (78.0 + 24.0, 2400.0)
    assert sick.value == pytest.approx(102 / 2400)
    assert sick.flags == ()
    earlier = got.org[("SICK12", "2024-02")]
    assert earlier.value is None
    assert earlier.flags == ("no value: SICK components missing for 1 of 12 months (Mar-2023)",)


def test_rolling_turnover_divides_leavers_by_the_average_headcount(setup) -> None:
    store = setup[0]
    for period in months_ending("2024-03", 12):
        drop(store, "A", period, {"TURN": (1, 100)})
        drop(store, "B", period, {"TURN": (2, 200)})
    turn = run(setup).org[("TURN12", "2024-03")]
    assert (turn.numerator, turn.denominator) == (36.0, 300.0)
    assert turn.value == pytest.approx(0.12)


def test_a_rolling_figure_built_on_a_partial_month_says_so(setup) -> None:
    store = setup[0]
    for period in months_ending("2024-03", 12):
        drop(store, "A", period, {"SICK": (1, 100)})
        if period != "2023-06":
            drop(store, "B", period, {"SICK": (1, 100)})
    sick = run(setup).org[("SICK12", "2024-03")]
    assert sick.value == pytest.approx(23 / 2300)
    assert sick.flags == ("built from partial months: Jun-2023",)


# -- markers -----------------------------------------------------------------------------------------------


def test_the_same_marker_from_everyone_is_the_organisations_marker(setup) -> None:
    store = setup[0]
    for dept in "ABC":
        drop(store, dept, "2024-03", {"FALLS": "N/A"})
    falls = run(setup).org[("FALLS", "2024-03")]
    assert (falls.value, falls.marker, falls.contributors, falls.partial, falls.flags) == (None, "N/A", 3, False, ())


def test_numbers_mixed_with_markers_are_summed_and_flagged(setup) -> None:
    store = setup[0]
    drop(store, "A", "2024-03", {"FALLS": "N/A"})
    drop(store, "B", "2024-03", {"FALLS": 4})
    drop(store, "C", "2024-03", {"FALLS": 5})
    falls = run(setup).org[("FALLS", "2024-03")]
    assert (falls.value, falls.marker, falls.contributors) == (9.0, None, 3)
    assert falls.flags == ("markers: A N/A; figure from the others",)


def test_tba_is_not_yet_a_contribution(setup) -> None:
    store = setup[0]
    drop(store, "A", "2024-03", {"FALLS": "TBA"})
    drop(store, "B", "2024-03", {"FALLS": 4})
    drop(store, "C", "2024-03", {"FALLS": 5})
    falls = run(setup).org[("FALLS", "2024-03")]
    assert (falls.value, falls.contributors, falls.partial) == (9.0, 2, True)
    assert "partial: 2 of 3 departments (none from A (TBA))" in falls.flags


# -- resubmissions and corrections --------------------------------------------------------------------------


def test_a_correction_replaces_the_value_without_double_counting_and_is_flagged(setup) -> None:
    store = setup[0]
    for dept, falls in zip("ABC", (3, 4, 5), strict=True):
        drop(store, dept, "2024-02", {"FALLS": falls})
        drop(store, dept, "2024-03", {"FALLS": 1})
    drop(store, "A", "2024-02", {"FALLS": 6}, received="2024-04-07T11:00:00")
    got = run(setup, months=2)
    feb = got.org[("FALLS", "2024-02")]
    assert feb.value == 15.0
    assert feb.flags == ("corrected: A sent a correction on 2024-04-07 (3 -> 6)",)
    assert got.org[("FALLS", "2024-03")].value == 3.0
    (correction,) = rules_of(got.findings, "correction")
    assert (correction.department, correction.period) == ("A", "2024-02")
    assert got.by_department[("FALLS", "A", "2024-02")].value == 6.0


def test_a_resubmission_and_a_redrop_count_once(setup) -> None:
    store = setup[0]
    drop(store, "A", "2024-03", {"FALLS": 3})
    drop(store, "A", "2024-03", {"FALLS": 3})
    drop(store, "A", "2024-03", {"FALLS": 8}, received="2024-04-06T09:00:00")
    got = run(setup)
    assert got.org[("FALLS", "2024-03")].value == 8.0
    assert sorted(f.rule for f in got.findings if f.department == "A") == ["duplicate-file", "resubmission"]
    (resubmission,) = rules_of(got.findings, "resubmission")
    assert resubmission.value == "A-2024-03.xlsx received 6 Apr 2024 09:00 replaced A-2024-03.xlsx received 5 Apr 2024 09:00"
    assert got.files_in == 3


def test_warnings_on_contributing_values_flag_the_figure_and_superseded_findings_are_gone(setup) -> None:
    store = setup[0]
    warn = rules.finding("outside-history", "30", department="A", period="2024-03", indicator="FALLS", cell="F10")
    old = rules.finding("large-change-unexplained", "3", department="B", period="2024-03", indicator="FALLS")
    drop(store, "A", "2024-03", {"FALLS": 30}, findings=(warn,), outcome="accepted_with_warnings")
    drop(store, "B", "2024-03", {"FALLS": 3}, findings=(old,), outcome="accepted_with_warnings")
    drop(store, "B", "2024-03", {"FALLS": 4}, received="2024-04-06T09:00:00")
    drop(store, "C", "2024-03", {"FALLS": 0})
    got = run(setup)
    assert got.org[("FALLS", "2024-03")].flags == ("warning (A): Outside the usual range",)
    assert warn in got.findings and old not in got.findings


def test_a_carried_comment_names_the_return_it_came_from(setup) -> None:
    store = setup[0]
    warn = rules.finding("outside-history", "30", department="A", period="2024-03", indicator="FALLS")
    drop(store, "A", "2024-03", {"FALLS": 30}, findings=(warn,), comments={"FALLS": "Norovirus outbreak"})
    drop(store, "A", "2024-03", {"FALLS": 30, "STAFF": 5}, received="2024-04-06T09:00:00")
    value = run(setup).by_department[("FALLS", "A", "2024-03")]
    assert value.comment == "Norovirus outbreak [explained in A-2024-03.xlsx, received 2024-04-05]"


def test_an_indicator_has_no_figure_before_it_became_active(setup) -> None:
    store = setup[0]
    drop(store, "A", "2024-03", {"NEW": 2})
    got = run(setup, months=2)
    assert ("NEW", "2024-02") not in got.org
    assert got.org[("NEW", "2024-03")].value == 2.0


# -- submissions grid, status and history ------------------------------------------------------------------


def _grid_story(store: Store) -> None:
    bad = rules.finding("not-a-template", "book1.xlsx", department="C", period="2024-03")
    warn = rules.finding("outside-history", "9", department="A", period="2024-02", indicator="FALLS")
    drop(store, "A", "2024-02", {"FALLS": 9}, findings=(warn,), outcome="accepted_with_warnings")
    drop(store, "A", "2024-03", {"FALLS": 1}, received="2024-04-05T09:00:00")
    drop(store, "B", "2024-03", {"FALLS": 1}, received="2024-04-15T16:30:00")
    drop(store, "C", "2024-03", {}, outcome="rejected", findings=(bad,), received="2024-04-08T10:00:00")


def test_the_submissions_grid_shows_accepted_warned_late_rejected_and_missing(setup) -> None:
    _grid_story(setup[0])
    got = run(setup, months=2)
    grid = {key: status.status for key, status in got.submissions.items()}
    assert grid == {
        ("A", "2024-02"): "accepted_with_warnings", ("B", "2024-02"): "missing", ("C", "2024-02"): "missing",
        ("A", "2024-03"): "accepted", ("B", "2024-03"): "late", ("C", "2024-03"): "rejected",
    }
    assert got.submissions[("C", "2024-03")].reason == rules.RULES["not-a-template"].message
    assert got.submissions[("B", "2024-03")].received == "2024-04-15T16:30:00"
    assert {(f.department, f.period) for f in rules_of(got.findings, "return-missing")} == {("B", "2024-02"),
                                                                                           ("C", "2024-02")}
    (rejected,) = rules_of(got.findings, "return-rejected")
    assert rejected.department == "C" and rejected.value == rules.RULES["not-a-template"].message
    assert [f.department for f in rules_of(got.findings, "return-late")] == ["B"]
    assert rules_of(got.findings, "not-a-template") and rules_of(got.findings, "outside-history")


def test_a_return_not_yet_due_is_missing_without_a_finding(setup) -> None:
    store, catalogue, workspace = setup
    got = run(setup, today=dt.date(2024, 4, 9))
    assert got.submissions[("A", "2024-03")].status == "missing"
    assert not rules_of(got.findings, "return-missing")
    status = period_status(store, catalogue, workspace, today=dt.date(2024, 4, 9))
    assert status.departments[0].reason == "not yet due (due 2024-04-10)"


def test_status_lists_each_department_with_times_reasons_and_every_attempt(setup) -> None:
    store, catalogue, workspace = setup
    _grid_story(store)
    drop(store, "C", "2024-03", {}, outcome="rejected", tag="second try", received="2024-04-09T08:00:00",
         findings=(rules.finding("nothing-filled", department="C", period="2024-03"),))
    status = period_status(store, catalogue, workspace, today=LATER)
    assert (status.period, status.due) == ("2024-03", "2024-04-10")
    rows = {r.department: r for r in status.departments}
    assert (rows["A"].status, rows["A"].received, rows["A"].file) == ("accepted", "2024-04-05T09:00:00", "A-2024-03.xlsx")
    assert rows["B"].status == "late" and "5 day(s) after the due date 2024-04-10" in rows["B"].reason
    assert rows["C"].status == "rejected" and rows["C"].reason == rules.RULES["nothing-filled"].message
    assert len(rows["C"].attempts) == 2
    assert status.counts() == {"accepted": 1, "late": 1, "rejected": 1}
    assert json.loads(json.dumps(status.as_dict()))["counts"]["late"] == 1


def test_history_lists_every_value_stored_with_its_provenance(setup) -> None:
    store, catalogue, workspace = setup
    drop(store, "A", "2024-02", {"FALLS": 3})
    drop(store, "B", "2024-02", {"FALLS": 4})
    drop(store, "A", "2024-02", {"FALLS": 5}, received="2024-03-09T12:00:00")
    history = indicator_history(store, catalogue, workspace, "FALLS", months=2, today=LATER)
    assert history.periods == ("2024-02", "2024-03")
    assert [(o.period, o.value) for o in history.org] == [("2024-02", 9.0), ("2024-03", None)]
    trail = [(e.value.department, e.value.value, e.current, e.kind, e.received_at[:10]) for e in history.entries]
    assert trail == [("A", 3.0, False, "new", "2024-03-05"), ("A", 5.0, True, "resubmission", "2024-03-09"),
                     ("B", 4.0, True, "new", "2024-03-05")]
    assert history.entries[0].location == "archive/A-2024-02.xlsx" and history.entries[0].value.cell == "F10"
    json.dumps(history.as_dict())


def test_the_default_window_is_thirteen_months_ending_at_the_reporting_period(setup) -> None:
    store, catalogue, workspace = setup
    got = reconcile(store, catalogue, workspace, today=LATER)
    assert got.periods == months_ending("2024-03", 13)
    assert got.periods[0] == "2023-03"
    assert isinstance(catalogue, Catalogue) and isinstance(workspace, Workspace)
    assert all(o.value is None for o in got.org.values())


# -- end to end through real workbooks ------------------------------------------------------------------------


def test_real_returns_read_and_validated_reconcile_to_hand_computed_figures(tmp_path: Path) -> None:
    from returns import blank_return, fill, make_workspace

    from xlq.intake.reader import read_return
    from xlq.intake.validate import validate

    workspace, catalogue = make_workspace(tmp_path, current="2023-12")
    figures = {"LUT": {"INC": {"Value": 5}, "TRAIN": {"Value": "91%"}, "COMPL": {"Numerator": 45, "Denominator": 50}},
               "MSK": {"INC": {"Value": 0}, "TRAIN": {"Value": "N/A"}, "COMPL": {"Numerator": 10, "Denominator": 40}}}
    with Store(workspace.store_path) as store:
        for dept, cells in figures.items():
            blank = blank_return(tmp_path / f"blank-{dept}.xlsx", catalogue, workspace, department=dept)
            filled = fill(blank, tmp_path / "inbox" / f"{dept}.xlsx", cells)
            parsed = read_return(filled.path)
            checked = validate(parsed, catalogue, workspace, store, today=dt.date(2024, 1, 8))
            assert checked.outcome != "rejected", checked.findings
            store.record(Receipt(parsed.sha256, filled.path.name, "inbox", "2024-01-08T09:00:00",
                                 f"archive/{filled.path.name}"), checked)
        got = reconcile(store, catalogue, workspace, months=1, today=dt.date(2024, 1, 20))
        assert store.series("COMPL", "LUT", "2024-01") == [("2023-12", 0.9)]
    inc, compl = got.org[("INC", "2023-12")], got.org[("COMPL", "2023-12")]
    assert (inc.value, inc.contributors, inc.expected) == (5.0, 2, 7)
    assert (compl.numerator, compl.denominator) == (55.0, 90.0) and compl.value == pytest.approx(55 / 90)
    assert got.org[("TRAIN", "2023-12")].flags[0] == "markers: MSK N/A; figure from the others"
    lut = got.by_department[("TRAIN", "LUT", "2023-12")]
    assert (lut.value, lut.raw, lut.sheet, bool(lut.cell)) == (0.91, "91%", "Return", True)
    assert {k: s.status for k, s in got.submissions.items() if s.status != "missing"} == {
        ("LUT", "2023-12"): "accepted", ("MSK", "2023-12"): "accepted"}



def test_an_unreadable_file_is_kept_and_reported_although_nobody_knows_whose_it_is(setup) -> None:
    store, catalogue, workspace = setup
    broken = rules.finding("file-unreadable", "bad zip", file="scan.xlsx")
    parsed = ParsedReturn("inbox/scan.xlsx", "e" * 64, 10, None, findings=(broken,))
    result = store.record(Receipt("e" * 64, "scan.xlsx", "inbox", "2024-04-02T10:00:00", "rejected/scan.xlsx"),
                          Checked(parsed, (), (broken,), "rejected"))
    assert result.kind == "new" and store.submission(result.submission_id).department is None  # type: ignore[union-attr]
    status = period_status(store, catalogue, workspace, today=LATER)
    assert [s.original_name for s in status.unidentified] == ["scan.xlsx"]
    assert broken in run(setup).findings
    assert broken not in run(setup, period="2024-05").findings


def test_history_for_spc_reaches_back_before_the_window_without_adding_findings(setup) -> None:
    store = setup[0]
    for n, period in enumerate(("2022-03", "2022-04", "2023-12", "2024-02", "2024-03")):
        drop(store, "A", period, {"FALLS": n + 1})
        drop(store, "B", period, {"FALLS": 10})
    got = run(setup, months=2)
    assert got.periods == ("2024-02", "2024-03")
    # 24 months end at Mar-24 and start at Apr-22: Mar-22 is too old, and only months with a value appear
    assert got.history["FALLS"] == (("2022-04", 12.0), ("2023-12", 13.0), ("2024-02", 14.0), ("2024-03", 15.0))
    assert {f.period for f in got.findings if f.rule == "return-missing"} == {"2024-02", "2024-03"}
    longer = reconcile(*setup, period="2024-03", months=2, today=LATER, history_months=25)
    assert longer.history["FALLS"][0] == ("2022-03", 11.0)
    assert longer.org == got.org and longer.findings == got.findings


def test_a_month_before_the_window_tells_its_findings_once_and_only_when_a_window_figure_uses_it(setup) -> None:
    """Months before the window are figured as they are read and their values let go
    (Context._figure_earlier); a finding of such a month is told only if a figure in the window
    uses that month, and once however many use it."""
    store = setup[0]
    for period in months_ending("2024-03", 15):  # Jan-23 to Mar-24; B leaves SICK blank twice
        drop(store, "A", period, {"SICK": (1, 100)})
        drop(store, "B", period, {"STAFF": 5} if period in ("2023-01", "2023-06") else {"SICK": (1, 100)})
    got = run(setup, months=2)  # Feb-24 and Mar-24: their rolling years reach back to Feb-23
    partial = [f.period for f in got.findings if f.rule == "partial-coverage" and f.indicator == "SICK"]
    assert partial == ["2023-06"]  # Jan-23 is only SPC history
    assert got.org[("SICK12", "2024-03")].flags == ("built from partial months: Jun-2023",)
    assert got.org[("SICK12", "2024-02")].flags == ("built from partial months: Jun-2023",)
    history = dict(got.history["SICK"])
    assert history["2023-01"] == pytest.approx(0.01) and history["2023-06"] == pytest.approx(0.01)
    assert "2022-12" not in history  # before anyone reported: no value, still figured as such
    assert indicator_history(*setup, "SICK12", period="2024-03", months=2, today=LATER).org == tuple(
        got.org[("SICK12", p)] for p in ("2024-02", "2024-03"))
