"""Parsing what people type: numbers, percents, ratios, markers; never an exception."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xlq.core.values import Token, classify, for_unit, parse_text, shown, whole_part


@given(st.text())
def test_parse_text_never_raises_on_any_text(text: str) -> None:
    token = parse_text(text)
    assert token.kind in ("blank", "marker", "number", "ratio", "invalid")
    for unit in ("count", "percent", "ratio", "rate", "days", "number"):
        reading = for_unit(token, unit)
        assert reading.value is None or math.isfinite(reading.value)
    whole_part(token)


@given(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.dates(), st.datetimes(),
                 st.times(), st.timedeltas(), st.binary()))
def test_classify_never_raises_on_any_cell_value(raw: object) -> None:
    for unit in ("count", "percent"):
        for_unit(classify(raw), unit)
    shown(raw)


@given(st.integers(min_value=0, max_value=10**12))
def test_thousands_commas_read_back_the_number(number: int) -> None:
    assert parse_text(f"{number:,}").number == number


@pytest.mark.parametrize(("text", "unit", "value", "marker", "error", "warning"), [
    ("0.85", "percent", 0.85, None, None, None),
    ("85%", "percent", 0.85, None, None, None),
    ("85 %", "percent", 0.85, None, None, None),
    ("\u00a085%\u00a0", "percent", 0.85, None, None, None),
    ("85", "percent", 0.85, None, None, "percent-assumed"),
    ("1", "percent", 1.0, None, None, None),
    ("0", "percent", 0.0, None, None, None),
    ("100", "percent", 1.0, None, None, "percent-assumed"),
    ("101", "percent", None, None, "percent-out-of-range", None),
    ("120%", "percent", None, None, "percent-out-of-range", None),
    ("-5%", "percent", None, None, "percent-out-of-range", None),
    ("4/5", "percent", 0.8, None, None, None),
    ("4/5 (80%)", "percent", 0.8, None, None, None),
    ("5/9 (55.56%", "percent", 5 / 9, None, None, None),
    ("2/3 (67%)", "percent", 2 / 3, None, None, None),
    ("4/5 (70%)", "percent", None, None, "ratio-percent-mismatch", None),
    ("6/5", "percent", None, None, "numerator-above-denominator", None),
    ("3/0", "percent", None, None, "zero-denominator", None),
    ("1,234", "count", 1234, None, None, None),
    (" 12 ", "count", 12, None, None, None),
    ("+4", "count", 4, None, None, None),
    ("12.5", "count", None, None, "not-whole-number", None),
    ("-3", "count", None, None, "negative-value", None),
    ("\u22123", "number", -3, None, None, None),
    ("-3", "number", -3, None, None, None),
    ("12.5", "days", 12.5, None, None, None),
    ("85%", "count", None, None, "not-a-number", None),
    ("4/5", "count", None, None, "not-a-number", None),
    ("1,5", "count", None, None, "not-a-number", None),
    ("twelve", "count", None, None, "not-a-number", None),
    ("1e3", "count", None, None, "not-a-number", None),
    ("#DIV/0!", "count", None, None, "excel-error", None),
    ("#n/a", "count", None, None, "excel-error", None),
    ("N/A", "count", None, "N/A", None, None),
    ("n/a", "percent", None, "N/A", None, None),
    ("TBA", "count", None, "TBA", None, None),
    ("tbc", "count", None, "TBA", None, None),
    ("-", "count", None, "-", None, None),
    ("\u2013", "percent", None, "-", None, None),
])
def test_typed_text_is_read_as_documented(text, unit, value, marker, error, warning) -> None:
    reading = for_unit(parse_text(text), unit)
    assert (reading.marker, reading.error, reading.warning) == (marker, error, warning)
    assert reading.value == pytest.approx(value) if value is not None else reading.value is None


@pytest.mark.parametrize("text", ["", "   ", "\u00a0", "\t"])
def test_blank_is_blank_not_zero(text: str) -> None:
    reading = for_unit(parse_text(text), "count")
    assert reading.blank and reading.value is None and reading.marker is None


@pytest.mark.parametrize(("raw", "rule"), [
    (True, "wrong-type"), (dt.date(2023, 12, 1), "wrong-type"), (dt.datetime(2023, 12, 1, 9), "wrong-type"),
    (dt.time(9, 30), "wrong-type"), (dt.timedelta(hours=3), "wrong-type"), (float("nan"), "not-a-number"),
    (float("inf"), "not-a-number"), (b"12", "not-a-number"),
])
def test_cell_values_that_are_not_numbers(raw: object, rule: str) -> None:
    assert classify(raw).rule == rule


def test_excel_error_and_formula_without_value_are_told_apart_from_blank() -> None:
    assert classify(None, error="#REF!").rule == "excel-error"
    assert classify("", formula="SUM(F1:F3)").rule == "formula-no-value"
    assert classify(None).kind == "blank"


def test_numbers_from_the_reader_keep_ints_honest() -> None:
    assert (shown(3.0), shown(3.5), shown(0.1), shown(None), shown(True)) == ("3", "3.5", "0.1", "", "TRUE")
    assert classify(12.0) == Token("number", number=12.0)


def test_ratio_parts_must_be_whole_and_not_negative() -> None:
    assert whole_part(parse_text("4")) == (4, None)
    assert whole_part(parse_text("4.5"))[1] == "not-whole-number"
    assert whole_part(parse_text("-1"))[1] == "negative-value"
    assert whole_part(parse_text("40%"))[1] == "not-a-number"
    assert whole_part(classify(None, error="#N/A"))[1] == "excel-error"
