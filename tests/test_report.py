"""Findings as people read them: one safe line each, errors first, in sheet order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from xlq.core import rules
from xlq.core.report import findings_table, log_line, plain, sort_findings


def test_plain_shows_control_and_bidi_characters_as_escapes_and_keeps_one_line():
    # newlines too are shown, not turned into spaces: a name with one cannot pass for two lines
    assert plain("a\tb\r\nc\x07d\u202eevil\x1b[2J\x9b") == "a\\tb\\r\\nc\\x07d\\u202eevil\\e[2J\\x9b"


def test_plain_cuts_long_text_with_an_ellipsis():
    cut = plain("x" * 500, 100)
    assert len(cut) == 100 and cut.endswith("…")


@given(st.text())
def test_plain_never_leaves_a_control_or_bidi_character(text):
    out = plain(text, 10_000)
    assert not any(ord(c) < 32 or ord(c) == 127 or 0x202A <= ord(c) <= 0x202E or 0x2066 <= ord(c) <= 0x2069
                   for c in out)


def test_findings_sort_errors_first_then_by_row_not_by_text():
    late = rules.finding("negative-value", "-1", file="a.xlsx", sheet="Return", cell="F20", indicator="A")
    early = rules.finding("not-a-number", "x", file="a.xlsx", sheet="Return", cell="F9", indicator="Z")
    warning = rules.finding("comment-too-long", "1,500", file="a.xlsx", sheet="Return", cell="J2", indicator="B")
    assert [f.cell for f in sort_findings([warning, late, early])] == ["F9", "F20", "J2"]
    table = findings_table([warning, late, early]).splitlines()
    assert table[1].split()[:3] == ["error", "not-a-number", "Return!F9"]


def test_a_log_line_names_severity_rule_department_period_indicator_and_cell():
    finding = rules.finding("negative-value", "-3", department="LUT", period="2023-12", indicator="SG-S42",
                            sheet="Return", cell="F69")
    assert log_line(finding).startswith("ERROR negative-value LUT 2023-12 SG-S42 Return!F69: ")
