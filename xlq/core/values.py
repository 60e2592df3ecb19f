"""Turn what people type into a cell into numbers, markers or a reason it is neither.

Pure functions, no I/O, and none of them raises on any input: a cell is untrusted text.

Decisions (documented in docs/validation.md):

- Markers are kept apart from numbers and from blank: `N/A` (also n/a, NA, N.A.) means not
  applicable, `TBA` (also TBC) not yet available, `-` (also en/em dash) nothing to report.
  Blank is "not answered". None of them is ever zero.
- Numbers may carry thousands commas (`1,234`), surrounding or non-breaking spaces, a
  leading `+`, a unicode minus. `1,5` is refused: a decimal comma cannot be told from a
  mistyped thousands separator.
- Percent rows store fractions. `85%`, `85 %` and `0.85` are all 85%. A bare number above
  1 and up to 100 is read as percentage points (85 -> 85%) and flagged `percent-assumed`,
  because Excel stores a typed 85% as 0.85 and only an unformatted cell holds 85.
  A bare number from 0 to 1 is a fraction, so a bare 1 is 100% (that is how Excel stores a
  typed 100%, the commonest value in compliance rows). The ambiguous case, a bare number
  that fits the indicator's history better when read as percentage points (1 meaning 1%),
  is flagged `percent-maybe-fraction` by xlq.intake.validate, which has the history.
- The seed writes ratios as `4/5` or `4/5 (80%)`; the stated percent must agree with 4/5
  to within one unit of its last shown digit, or the cell is refused (`ratio-percent-mismatch`).
- Dates, times and TRUE/FALSE where a number belongs are `wrong-type`; Excel error literals
  are `excel-error`; a formula saved without its result is `formula-no-value`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["blank", "marker", "number", "ratio", "invalid"]

EXCEL_ERRORS = ("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA",
                "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!", "#EXTERNAL!")
_MARKERS = {
    "n/a": "N/A", "na": "N/A", "n.a.": "N/A", "n.a": "N/A", "n/a.": "N/A", "not applicable": "N/A",
    "tba": "TBA", "tbc": "TBA", "t.b.a.": "TBA", "t.b.c.": "TBA",
    "-": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-", "--": "-",
}
_SPACES = dict.fromkeys(map(ord, "\u00a0\u2007\u202f\u2009\u200a\u200b\ufeff"), " ")
_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+"
_NUMBER_RE = re.compile(rf"^([+-]?)\s*({_NUMBER})\s*(%?)$")
_RATIO_RE = re.compile(
    rf"^({_NUMBER})\s*/\s*({_NUMBER})\s*(?:\(\s*({_NUMBER})\s*%\s*\)?)?$"
)
_MAX_TEXT = 200


@dataclass(frozen=True)
class Token:
    """One cell, classified.

    number: `number` holds it and `percent` says it was typed with a % sign (85% -> 85.0).
    ratio: `numerator` / `denominator` from `4/5`; `stated` the percent shown in `4/5 (80%)`.
    invalid: `rule` is the xlq.core.rules code explaining why.
    """

    kind: Kind
    number: float | None = None
    percent: bool = False
    marker: str | None = None
    numerator: float | None = None
    denominator: float | None = None
    stated: float | None = None
    rule: str | None = None


BLANK = Token("blank")


def shown(raw: object) -> str:
    """The cell as a person would read it back: 3 not 3.0, dates as ISO."""
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "TRUE" if raw else "FALSE"
    if isinstance(raw, float):
        if math.isfinite(raw) and raw.is_integer() and abs(raw) < 1e15:
            return str(int(raw))
        return repr(raw)
    if isinstance(raw, (dt.date, dt.time)):
        return raw.isoformat()
    return str(raw)


def classify(raw: object, *, error: str | None = None, formula: str | None = None) -> Token:
    """Classify a cell value as the reader returns it (str, float, int, bool, date, None)."""
    if error:
        return Token("invalid", rule="excel-error")
    if isinstance(raw, bool):
        return Token("invalid", rule="wrong-type")
    if isinstance(raw, (dt.date, dt.time, dt.timedelta)):
        return Token("invalid", rule="wrong-type")
    if isinstance(raw, (int, float)):
        number = float(raw)
        if not math.isfinite(number):
            return Token("invalid", rule="not-a-number")
        return Token("number", number=number)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if formula is not None:
            return Token("invalid", rule="formula-no-value")
        return BLANK
    if isinstance(raw, str):
        return parse_text(raw)
    return Token("invalid", rule="not-a-number")


def parse_text(text: str) -> Token:
    """Parse typed text; never raises."""
    cleaned = text.translate(_SPACES).strip()
    if not cleaned:
        return BLANK
    if len(cleaned) > _MAX_TEXT:
        return Token("invalid", rule="not-a-number")
    lowered = cleaned.casefold()
    if lowered in _MARKERS:
        return Token("marker", marker=_MARKERS[lowered])
    if cleaned.upper() in EXCEL_ERRORS:
        return Token("invalid", rule="excel-error")
    cleaned = cleaned.replace("\u2212", "-")
    match = _NUMBER_RE.match(cleaned)
    if match:
        number = _to_float(match.group(2))
        if number is None:
            return Token("invalid", rule="not-a-number")
        return Token("number", number=-number if match.group(1) == "-" else number, percent=bool(match.group(3)))
    match = _RATIO_RE.match(cleaned)
    if match:
        numerator, denominator = _to_float(match.group(1)), _to_float(match.group(2))
        if numerator is None or denominator is None:
            return Token("invalid", rule="not-a-number")
        stated_text = match.group(3)
        token = Token("ratio", numerator=numerator, denominator=denominator,
                      stated=_to_float(stated_text) if stated_text else None)
        if stated_text and not _agrees(numerator, denominator, stated_text):
            return Token("invalid", numerator=numerator, denominator=denominator,
                         stated=token.stated, rule="ratio-percent-mismatch")
        return token
    return Token("invalid", rule="not-a-number")


def _to_float(text: str) -> float | None:
    try:
        number = float(text.replace(",", ""))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _agrees(numerator: float, denominator: float, stated_text: str) -> bool:
    stated = _to_float(stated_text)
    if stated is None:
        return False
    if denominator == 0:
        return numerator == 0 and stated == 0
    decimals = len(stated_text.split(".")[1]) if "." in stated_text else 0
    return abs(numerator / denominator * 100 - stated) <= 10.0 ** -decimals + 1e-9


@dataclass(frozen=True)
class Reading:
    """A token judged for one unit: `value` to keep, or `error` (a rule code) to drop it;
    `warning` is a rule code to flag a kept value."""

    value: float | None = None
    marker: str | None = None
    error: str | None = None
    warning: str | None = None
    blank: bool = False


def for_unit(token: Token, unit: str) -> Reading:
    """Judge a Value-column token for an indicator of `unit` (never a ratio row's parts)."""
    if token.kind == "blank":
        return Reading(blank=True)
    if token.kind == "marker":
        return Reading(marker=token.marker)
    if token.kind == "invalid":
        return Reading(error=token.rule or "not-a-number")
    if unit in ("percent", "ratio"):
        return _percent(token)
    if token.kind == "ratio" or token.percent or token.number is None:
        return Reading(error="not-a-number")
    number = token.number
    if number < 0 and unit != "number":
        return Reading(error="negative-value")
    if unit == "count" and not float(number).is_integer():
        return Reading(error="not-whole-number")
    return Reading(value=number)


def _percent(token: Token) -> Reading:
    if token.kind == "ratio":
        numerator, denominator = token.numerator or 0.0, token.denominator or 0.0
        if denominator == 0:
            return Reading(error="zero-denominator") if numerator > 0 else Reading(value=None)
        if numerator > denominator:
            return Reading(error="numerator-above-denominator")
        return Reading(value=numerator / denominator)
    number = token.number if token.number is not None else math.nan
    if token.percent:
        if not 0 <= number <= 100:
            return Reading(error="percent-out-of-range")
        return Reading(value=number / 100)
    if 0 <= number <= 1:
        return Reading(value=number)
    if 1 < number <= 100:
        return Reading(value=number / 100, warning="percent-assumed")
    return Reading(error="percent-out-of-range")


def whole_part(token: Token, whole: bool = True) -> tuple[float | None, str | None]:
    """A numerator or denominator: a number >= 0 (whole unless the parts are FTE, days or hours),
    or the rule it breaks."""
    if token.kind == "invalid":
        return None, token.rule or "not-a-number"
    if token.kind != "number" or token.percent or token.number is None:
        return None, "not-a-number"
    if token.number < 0:
        return None, "negative-value"
    if whole and not float(token.number).is_integer():
        return None, "not-whole-number"
    return token.number, None
