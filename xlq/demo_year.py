"""`xlq demo --through 2024-06`: the demo trust goes on into the 2024-25 financial year.

The seed paper ends at Dec-23; months after it are the same month a year earlier (the trust's
own seasonal pattern), so no figure is invented from nothing. On 2 April 2024 the performance
team types in the new year's catalogue, the way a trust does every April (issue 21):

- new targets from Apr-24: fire safety training 90% -> 95%, overall mandatory training 90% -> 92%;
- WRAP3 training retired (replaced by the Oliver McGowan training, added from Apr-24);
- incidents awaiting closure redefined (open past 60 working days, not past the agreed
  timescale): a new series, so SPC limits restart and the sparkline breaks;
- Community Dental Services (DENT) merged into ICASH from Apr-24.

NORF's March return, sent on the template issued under the old catalogue, is corrected in
April after the change: it is read against the March it reports (its own month's target).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from pathlib import Path

from xlq.core.errors import UsageError
from xlq.core.months import PERIOD_RE, shift_period

NEW_YEAR = "2024-04"
LATEST = "2024-12"
"""The last month `--through` reaches: a year after the seed's months, which it repeats."""
CHANGED_BY = "Performance team (demo)"
CHANGED_AT = dt.datetime(2024, 4, 2, 9, 0)
NEW_VERSION = "2024-25"
TARGETS = {"TRN-FIRE": (">= 90%", ">= 95%"), "TRN-OVERALL": (">= 90%", ">= 92%")}
RETIRED = "TRN-WRAP"
ADDED = "TRN-OLIVER"
REDEFINED = "INC-OVERDUE"
MERGED = ("DENT", "ICASH")
CORRECTED = ("NORF", "2024-03", NEW_YEAR)
"""NORF's March return is sent wrong, then corrected in April on its (older) March template."""

_ADDED_BLOCK = f'''
[[indicator]]
code = "{ADDED}"
domain = "Mandatory training"
subdomain = "Learning disability and autism"
name = "Oliver McGowan training"
description = "% of staff completing the Oliver McGowan Mandatory Training (tier 1)"
unit = "ratio"
target = ">= 60%"
direction = "higher"
tolerance = "5%"
aggregate = "ratio"
reported_by = "all"
active_from = "{NEW_YEAR}"
note = "Added for 2024-25 (xlq demo --through)."
'''


def check_through(through: str, last: str) -> str:
    if not PERIOD_RE.match(through) or not last <= through <= LATEST:
        raise UsageError(f"--through {through!r} must be a month from {last} to {LATEST} (YYYY-MM)")
    return through


def _block(text: str, code: str) -> tuple[int, int]:
    """Start and end of the `[[indicator]]` block whose code is `code`."""
    start = text.index(f'[[indicator]]\ncode = "{code}"')
    end = text.find("\n[[indicator]]", start + 1)
    return start, (end if end != -1 else len(text))


def new_year_catalogue(text: str) -> str:
    """The 2024-25 catalogue.toml from the 2023-24 one."""
    text = re.sub(r'(?m)^version = ".*"$', f'version = "{NEW_VERSION}"', text, count=1)
    for code, (old, new) in TARGETS.items():
        start, end = _block(text, code)
        spans = (f'targets = [\n  {{ from = "2022-04", to = "{shift_period(NEW_YEAR, -1)}", target = "{old}" }},\n'
                 f'  {{ from = "{NEW_YEAR}", target = "{new}" }},\n]')
        text = text[:start] + text[start:end].replace(f'target = "{old}"', spans, 1) + text[end:]
    start, end = _block(text, RETIRED)
    text = text[:end].rstrip("\n") + f'\nretired_from = "{NEW_YEAR}"\n' + _ADDED_BLOCK + text[end:]
    start, end = _block(text, REDEFINED)
    redefined = (f'redefined_from = "{NEW_YEAR}"\nredefinition = "incidents open more than 60 working days '
                 '(was: not closed within the agreed timescale)"\n')
    text = text[:end].rstrip("\n") + "\n" + redefined + text[end:]
    return text


def new_year_config(text: str) -> str:
    """xlq.toml with DENT merged into ICASH from April."""
    merged, into = MERGED
    marker = f'code = "{merged}"\n'
    start = text.index(marker)
    end = text.find("\n[[department]]", start)
    end = end if end != -1 else len(text)
    block = text[start:end].rstrip("\n") + f'\nclosed_from = "{NEW_YEAR}"\nmerged_into = "{into}"\n'
    return text[:start] + block + text[end:]


def change_workspace(root: Path) -> None:
    """Type in the new financial year's catalogue and departments."""
    catalogue = root / "catalogue.toml"
    catalogue.write_text(new_year_catalogue(catalogue.read_text(encoding="utf-8")), encoding="utf-8")
    config = root / "xlq.toml"
    config.write_text(new_year_config(config.read_text(encoding="utf-8")), encoding="utf-8")


def extend_figures(figures: Mapping[tuple[str, str], object], last: str, through: str,
                   make: type) -> dict[tuple[str, str], object]:
    """Organisation figures for the months after the seed: the same month a year earlier, with the
    redefined indicator on its new (narrower) definition and the added one from April."""
    out: dict[tuple[str, str], object] = {}
    period = shift_period(last, 1)
    n = 0
    latest: dict[str, tuple[str, object]] = {}
    for (code, month), figure in sorted(figures.items(), key=lambda item: item[0][1]):
        latest[code] = (month, figure)
    while period <= through:
        for code, (_, newest) in latest.items():
            # the same month a year earlier; a figure the seed lacks then is carried from its last month
            out[(code, period)] = figures.get((code, shift_period(period, -12)), newest)
        if period >= NEW_YEAR:
            old = figures.get((REDEFINED, shift_period(period, -12)))
            value = getattr(old, "value", None)
            if value is not None:
                out[(REDEFINED, period)] = make(value=float(round(value * 0.35)))
            fire = figures.get(("TRN-FIRE", shift_period(period, -12)))
            denominator = getattr(fire, "denominator", None)
            if denominator:
                out[(ADDED, period)] = make(numerator=round(denominator * (0.52 + 0.05 * n)), denominator=denominator)
            n += 1
        period = shift_period(period, 1)
    return out
