"""The default catalogue carries every seed row with the seed's targets, and bad files fail in one line."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from xlq.core.catalogue import DEFAULT_CATALOGUE, Target, load_catalogue
from xlq.core.errors import CatalogueError

DEPARTMENTS = ("LUT", "MSK", "ICASH", "DENT", "BEDS", "NORF", "CORP")
CLINICAL = ("LUT", "MSK", "ICASH", "DENT", "BEDS", "NORF")

# Every indicator row of the seed scorecard, in its order (first letters the OCR clipped restored).
SEED_ROWS = [
    "Total number of new Datix incidents reported in month", "Severe harm incidents", "Moderate harm incidents",
    "Low harm incidents", "No harm incidents", "Patient Safety Incident Investigation (PSII) local",
    "Patient Safety Incident Investigation (PSII) national", "Number of never events reported in month",
    "Incidents awaiting closure", "Number of medication incidents reported (CCS)", "% CCS medication incidents no harm",
    "Compliance with spread of infection indicator", "Audit: IPC light compliance (all clinical teams)",
    "No. of new outbreaks declared", "Number of escalations (data pending)",
    "Overall mandatory training", "Safeguarding Children Level 1", "Safeguarding Children Level 2",
    "Safeguarding Children Level 3", "Safeguarding Children Level 4", "Safeguarding induction compliance",
    "Safeguarding Adults Level 1", "Safeguarding Adults Level 2", "Safeguarding Adults Level 3", "Mental Capacity Act",
    "Deprivation of Liberty", "Prevent basic awareness", "WRAP3", "Moving and handling (patients)", "Fire safety",
    "CPR/Resus", "Infection prevention and control (IPaC)", "Freedom To Speak Up", "Information governance",
    "Patient Safety Syllabus Level 1", "Patient Safety Syllabus Level 2", "Oliver McGowan Level 1",
    "Oliver McGowan Level 2 (data pending)", "Trust induction within 3 months",
    "Safeguarding supervisions (Children)", "No. of adult referrals into local authority (s42)", "No. of MASH referrals",
    "No. of adult escalations", "No. of children escalations", "No. of incidents linked to safeguarding",
    "No. of panel meetings linked to safeguarding incidents", "No. of Non Accidental Injuries (NAIs)",
    "Number of Strategy Meetings", "Number of Strategy Meetings attended",
    "Number of Strategy Meetings not attended with late notice (<2 hours)", "Number of Strategy Meetings cancelled",
    "Monthly sickness absence rate", "Short-term sickness absence rate", "Long-term sickness absence rate",
    "Rolling cumulative sickness absence rate", "Rolling year turnover", "Stability", "Appraisals",
    "Recommending CCS as place for treatment", "Recommending CCS as place to work",
    "No. of new FOI's received", "Completed on time", "Still open within time frame", "Late",
    "No. of formal complaints received in month", "Standard complaints responded to within 35 days",
    "Complex complaints responded to within 40 days", "No. of accepted PHSO referrals in month",
    "No. of complaints partially or fully upheld by PHSO in month",
    "Average number of days to respond to formal complaints", "No. of informal complaints received in month",
    "No. of new claims received in month", "Percentage of patients who have a good or very good experience",
    "Percentage of patients who have a poor or very poor experience",
    "No. of responses to FFT", "Total number of patients surveyed", "No. of compliments/positive comments received",
    "No. of patients involved in co-production", "Responses scoring 25+", "Responses scoring 16-24",
    "Responses scoring 10-15", "Responses scoring 0-9", "Number of two consecutive non-responses",
]


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue(departments=DEPARTMENTS)


def test_default_catalogue_has_every_seed_row_in_order_plus_one_hidden_helper(catalogue):
    shown = [i.name for i in catalogue.indicators if i.show]
    assert len(SEED_ROWS) == 83
    assert shown == SEED_ROWS
    assert len(catalogue) == 84
    assert [i.code for i in catalogue.indicators if not i.show] == ["TURNOVER-MONTHLY"]
    assert catalogue.version == "2023.12"


def test_codes_are_unique_uppercase_and_every_indicator_explains_its_ocr_reading(catalogue):
    codes = [i.code for i in catalogue.indicators]
    assert len(set(codes)) == len(codes)
    assert all(c == c.upper() and " " not in c for c in codes)
    for code in ("INC-NEW", "INC-SEVERE", "NEVER-EVENTS", "TRN-OVERALL", "TRN-SGC-L1", "SICK-MONTHLY",
                 "SICK-ROLLING", "TURNOVER-ROLLING", "FFT-GOOD"):
        assert code in catalogue
    for code in ("INC-SEVERE", "INC-OVERDUE", "MED-INC", "TRN-SGC-L1", "TRN-OMMT-L1", "SG-PANELS", "SG-STRATEGY-LATE",
                 "COMPLAINTS-CPX-40", "PATIENTS-SURVEYED", "QEWTT-16-24", "IPC-AUDIT"):
        assert catalogue[code].note, code


def test_domains_follow_the_seed_sections(catalogue):
    assert catalogue.domains() == (
        "SAFETY – Patient safety", "Mandatory training", "Safeguarding", "Workforce/HR", "Freedom of Information",
        "EXPERIENCE – Patient experience", "QEWTT (Quality Early Warning Trigger Tool)",
    )
    assert catalogue["TRN-SGC-L3"].subdomain == "Safeguarding training (Children)"
    assert catalogue["TRN-FIRE"].subdomain == "Fire safety"
    assert catalogue["TURNOVER-ROLLING"].subdomain == "Turnover"
    assert catalogue["TRN-OMMT-L1"].subdomain.endswith("Learning Disability and Autism")


def test_targets_are_parsed_as_the_seed_shows_them(catalogue):
    assert catalogue["NEVER-EVENTS"].target == Target("ceiling", pytest.approx(0.0))
    assert catalogue["PHSO-UPHELD"].target == Target("ceiling", pytest.approx(0.0))
    assert catalogue["INC-NEW"].target == Target("none")
    assert catalogue["SICK-LONG"].target == Target("none")  # "N/A"
    assert catalogue["TURNOVER-ROLLING"].target == Target("none")
    assert catalogue["SICK-MONTHLY"].target == Target("ceiling", pytest.approx(0.045), None, True)
    assert catalogue["SICK-SHORT"].target == Target("ceiling", pytest.approx(0.036), None, True)
    assert catalogue["SICK-ROLLING"].target == Target("ceiling", pytest.approx(0.045), "2024-03", True)
    assert catalogue["TRN-PSS-L1"].target == Target("floor", pytest.approx(0.9), "2024-03", True)
    assert catalogue["TRN-OMMT-L2"].target.text == ">=90% by Mar-2024"
    assert catalogue["TRN-IG"].target.value == pytest.approx(0.95)
    assert catalogue["TRN-PREVENT"].target.value == pytest.approx(0.85)
    assert catalogue["TRN-SG-INDUCTION"].target.value == pytest.approx(1.0)
    assert catalogue["TRN-INDUCTION"].target.value == pytest.approx(0.94)
    assert catalogue["APPRAISALS"].target == Target("floor", pytest.approx(0.92), None, True)
    assert catalogue["STABILITY"].target.value == pytest.approx(0.85)
    assert catalogue["FFT-GOOD"].target == Target("floor", pytest.approx(0.9), None, True)
    trajectory = {"TRN-PSS-L1", "TRN-PSS-L2", "TRN-OMMT-L1", "TRN-OMMT-L2"}
    for indicator in catalogue.indicators:
        if indicator.code.startswith("TRN-"):
            assert indicator.target.kind == "floor", indicator.code
            assert indicator.tolerance == pytest.approx(0.05)
            assert (indicator.target.by == "2024-03") == (indicator.code in trajectory)
            assert indicator.reported_by == ("all",)


def test_directions_say_which_way_is_better(catalogue):
    higher = ["TRN-OVERALL", "TRN-SGC-L4", "STABILITY", "APPRAISALS", "FFT-GOOD", "MED-NOHARM", "FOI-ON-TIME"]
    lower = ["INC-NEW", "INC-SEVERE", "NEVER-EVENTS", "SICK-MONTHLY", "SICK-ROLLING", "TURNOVER-ROLLING",
             "COMPLAINTS-FORMAL", "FFT-POOR", "FOI-LATE", "PHSO-UPHELD", "QEWTT-25PLUS"]
    neither = ["FFT-RESPONSES", "COMPLIMENTS", "SG-MASH", "FOI-NEW", "INC-NOHARM"]
    for codes, direction in ((higher, "higher"), (lower, "lower"), (neither, "neither")):
        assert {c: catalogue[c].direction for c in codes} == dict.fromkeys(codes, direction)
    assert catalogue["SICK-MONTHLY"].tolerance == pytest.approx(0.005)
    assert catalogue["NEVER-EVENTS"].tolerance == 0


def test_aggregation_rules_and_reporting_departments(catalogue):
    for indicator in catalogue.indicators:
        if indicator.unit == "ratio":
            assert indicator.aggregate in ("ratio", "central"), indicator.code
        if indicator.aggregate == "central":
            assert indicator.central == "CORP" and "CORP" in indicator.reported_by
    for code in ("FOI-NEW", "PULSE-WORK", "PSII-LOCAL", "NEVER-EVENTS", "INC-OVERDUE", "COMPLAINTS-FORMAL", "CLAIMS-NEW"):
        assert catalogue[code].aggregate == "central" and catalogue[code].reported_by == ("CORP",)
    for code in ("SG-MASH", "SG-INCIDENTS"):
        indicator = catalogue[code]
        assert indicator.cross_check == "sum" and indicator.reported_by[0] == "CORP" and len(indicator.reported_by) > 1
    assert catalogue["SG-S42"].reported_by == ("LUT", "MSK")
    assert catalogue["INC-NEW"].reported_by == CLINICAL
    assert catalogue["SICK-MONTHLY"].reports("CORP", DEPARTMENTS)
    assert catalogue["INC-NEW"].aggregate == "sum" and catalogue["TRN-OVERALL"].aggregate == "ratio"


def test_parts_and_derived_indicators(catalogue):
    assert catalogue["INC-NEW"].parts == ("INC-SEVERE", "INC-MODERATE", "INC-LOW", "INC-NOHARM")
    assert catalogue["SICK-MONTHLY"].parts == ("SICK-SHORT", "SICK-LONG")
    assert catalogue["SG-STRATEGY"].parts == ("SG-STRATEGY-ATTENDED", "SG-STRATEGY-LATE", "SG-STRATEGY-CANCELLED")
    rolling = catalogue["SICK-ROLLING"]
    assert (rolling.aggregate, rolling.source, rolling.denominator, rolling.derived) == ("rolling12", "SICK-MONTHLY", "sum", True)
    turnover = catalogue["TURNOVER-ROLLING"]
    assert (turnover.source, turnover.denominator) == ("TURNOVER-MONTHLY", "mean")
    assert not catalogue["TURNOVER-MONTHLY"].show and catalogue["TURNOVER-MONTHLY"].unit == "ratio"
    assert [i.code for i in catalogue.indicators if i.derived] == ["SICK-ROLLING", "TURNOVER-ROLLING"]
    assert not rolling.reports("LUT", DEPARTMENTS)


def test_reporting_windows_and_optional_rows(catalogue):
    windows = {
        "SG-SUPERVISION": (None, "2023-02"), "PATIENTS-SURVEYED": (None, "2023-03"), "COMPLAINTS-DAYS": (None, "2022-11"),
        "TRN-PSS-L1": ("2023-03", None), "FOI-NEW": ("2023-10", None), "SG-STRATEGY": ("2023-08", None),
        "COMPLIMENTS": ("2023-03", None), "TRN-OMMT-L1": ("2023-04", None), "SG-MASH": ("2023-03", None),
    }
    assert {c: (catalogue[c].active_from, catalogue[c].active_until) for c in windows} == windows
    assert not catalogue["COMPLAINTS-DAYS"].active("2022-12")
    assert [i.code for i in catalogue.indicators if not i.required] == [
        "SAFER-STAFFING-ESC", "TRN-OMMT-L2", "PULSE-TREATMENT", "PULSE-WORK", "COPRODUCTION"]
    dec = {i.code for i in catalogue.for_department("LUT", "2023-12", DEPARTMENTS)}
    assert "SG-S42" in dec and "PATIENTS-SURVEYED" not in dec and "SICK-ROLLING" not in dec
    assert "SG-S42" not in {i.code for i in catalogue.for_department("ICASH", "2023-12", DEPARTMENTS)}


def test_decimals_match_the_seed_display(catalogue):
    two = {i.code for i in catalogue.indicators if i.decimals == 2}
    assert two == {"SG-SUPERVISION", "SICK-MONTHLY", "SICK-SHORT", "SICK-LONG", "SICK-ROLLING", "TURNOVER-MONTHLY",
                   "TURNOVER-ROLLING", "STABILITY", "APPRAISALS", "PULSE-TREATMENT", "PULSE-WORK", "FFT-GOOD", "FFT-POOR"}


# ---------------------------------------------------------------- loader errors on bad files
def _entries() -> list[dict]:
    return tomllib.loads(DEFAULT_CATALOGUE.read_text(encoding="utf-8"))["indicator"][:12]


def _write(path: Path, entries: list[dict]) -> Path:
    lines = ['version = "test"']
    for entry in entries:
        lines.append("[[indicator]]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in entry.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _error(path: Path) -> str:
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path, DEPARTMENTS)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_a_copy_of_part_of_the_default_catalogue_loads(tmp_path):
    assert len(load_catalogue(_write(tmp_path / "c.toml", _entries()), DEPARTMENTS)) == 12


def test_duplicate_code_is_one_line_naming_file_and_indicator(tmp_path):
    entries = _entries()
    entries[3]["code"] = entries[1]["code"]
    message = _error(_write(tmp_path / "dup.toml", entries))
    assert "indicator INC-SEVERE" in message and "used twice" in message


def test_unknown_unit_names_the_indicator(tmp_path):
    entries = _entries()
    entries[9]["unit"] = "widgets"
    message = _error(_write(tmp_path / "unit.toml", entries))
    assert "indicator MED-INC" in message and "'widgets'" in message


def test_bad_target_names_the_indicator(tmp_path):
    entries = _entries()
    entries[7]["target"] = "about zero"
    message = _error(_write(tmp_path / "target.toml", entries))
    assert "indicator NEVER-EVENTS" in message and "about zero" in message


def test_unknown_reference_names_the_indicator_and_the_reference(tmp_path):
    entries = _entries()
    entries[0]["parts"] = ["INC-SEVERE", "INC-CATASTROPHIC"]
    message = _error(_write(tmp_path / "ref.toml", entries))
    assert "indicator INC-NEW" in message and "INC-CATASTROPHIC" in message


def test_unknown_department_names_the_indicator(tmp_path):
    entries = _entries()
    entries[5]["reported_by"] = ["CORP", "LEEDS"]
    message = _error(_write(tmp_path / "dept.toml", entries))
    assert "indicator PSII-LOCAL" in message and "LEEDS" in message


def test_an_indicator_shows_its_numbers_by_unit_and_decimals():
    catalogue = load_catalogue()
    assert catalogue["TRN-FIRE"].display(0.93) == "93%"
    assert catalogue["SICK-MONTHLY"].display(0.0629) == "6.29%"
    assert catalogue["TRN-FIRE"].display(0.005, min_decimals=2) == "0.50%"
    assert catalogue["INC-NEW"].display(1234.0) == "1,234"
    assert catalogue["INC-NEW"].display(1234.0, grouping=False) == "1234"


def test_month_arithmetic_crosses_years():
    from xlq.core.months import months_apart, months_between, months_ending, shift_period

    assert shift_period("2024-01", -1) == "2023-12" and shift_period("2023-12", 1) == "2024-01"
    assert months_ending("2024-02", 3) == ("2023-12", "2024-01", "2024-02")
    assert months_between("2023-11", "2024-02") == ("2023-11", "2023-12", "2024-01", "2024-02")
    assert months_between("2024-02", "2023-11") == ()
    assert months_apart("2023-11", "2024-02") == 3 and months_apart("2024-02", "2023-11") == -3
