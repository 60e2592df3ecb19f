"""Derive the demo's organisation-level inputs (xlq/data/demo_org.csv) from the seed transcription.

The seed scorecard shows rounded percentages; the demo needs whole numerators and denominators
that reproduce them, plus values for the cells the OCR left illegible, plus 11 months of history
before Dec-22 so the rolling 12-month sickness and turnover figures can be computed. Everything
here is deterministic (no randomness), so re-running the script rewrites the same file.

    python scripts/derive_demo_figures.py            # rewrite xlq/data/demo_org.csv
    python scripts/derive_demo_figures.py --check    # exit 1 if the file would change

Pure standard library on purpose: it reads the catalogue with tomllib, not through xlq.
"""

from __future__ import annotations

import argparse
import calendar
import csv
import io
import sys
import tomllib
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "xlq" / "data"
PERIODS = ["2022-12"] + [f"2023-{m:02d}" for m in range(1, 13)]
HISTORY = [f"2022-{m:02d}" for m in range(1, 12)]
ALL_MONTHS = HISTORY + PERIODS  # 2022-01 .. 2023-12, index 11 = Dec-22
MARKERS = ("N/A", "TBA", "-")

# Cells the seed does not show legibly, and what the demo uses instead (origin "filled").
# Percent texts are fitted to whole numerators like legible ones; "n/d" texts are used as written.
FILLED: dict[str, dict[str, str]] = {
    # total - severe - low - no harm where those are legible; Feb-23 split 7/137 of the remaining 144
    "INC-MODERATE": {"2022-12": "8", "2023-01": "6", "2023-02": "7", "2023-03": "9", "2023-06": "6", "2023-12": "3"},
    "INC-NOHARM": {"2023-02": "137", "2023-07": "142"},  # Jul-23: 174 - 0 - 10 - 22
    "INC-OVERDUE": {"2023-01": "30"},  # OCR "0.5": between Dec-22 20 and Feb-23 40
    "MED-INC": {"2022-12": "21"},  # 86% no harm = 18/21
    "TRN-SGC-L1": {"2022-12": "97%", "2023-07": "97%", "2023-11": "97%"},
    "TRN-SGC-L4": {"2023-02": "86%"},
    "TRN-SGA-L3": {"2022-12": "84%", "2023-04": "87%", "2023-05": "88%", "2023-06": "88%", "2023-11": "84%"},
    "TRN-PREVENT": {"2022-12": "94%", "2023-02": "94%", "2023-03": "94%", "2023-09": "95%"},
    "TRN-CPR": {"2023-02": "88%"},
    "TRN-OMMT-L1": {"2023-05": "67%", "2023-07": "81%", "2023-10": "90%", "2023-11": "91%"},
    "SG-NAI": {"2023-03": "N/A", "2023-04": "4", "2023-05": "6", "2023-06": "3", "2023-07": "4",
               "2023-09": "6", "2023-10": "3", "2023-11": "5", "2023-12": "4"},
    "SG-STRATEGY-LATE": {"2023-11": "24", "2023-12": "12"},  # meetings - attended - cancelled
    "SG-STRATEGY-CANCELLED": {"2023-08": "N/A"},  # blank where the rest of the block is N/A
    "PULSE-TREATMENT": {"2023-08": "84.00%"},  # OCR "15"
    "PULSE-WORK": {"2023-08": "80.00%"},  # OCR "11"
    "COMPLAINTS-CPX-40": {"2023-01": "0/0"},  # OCR "0": no complex responses due
    "PHSO-ACCEPTED": {p: "0" for p in PERIODS if p not in ("2023-01", "2023-05", "2023-07")},
    "CLAIMS-NEW": {"2022-12": "0", "2023-03": "0", "2023-04": "0"},
    "FFT-GOOD": {"2023-12": "96.50%"},  # OCR "1"
    "FFT-POOR": {"2023-12": "1.41%"},  # OCR "0"; 1.40% is not reachable over 2628 answers
    "QEWTT-16-24": {"2023-08": "3"},  # OCR "-"; neighbours 5 and 2, 83 teams responding
}

# Denominators the demo prefers before searching upwards for one that reproduces the figure:
# a share of staff in post for training, a fixed size otherwise. A list gives one per period.
STAFF_SHARE = {
    "TRN-OVERALL": 1.0, "TRN-SGC-L1": 1.0, "TRN-SGC-L2": 0.55, "TRN-SGC-L3": 0.3, "TRN-SGA-L1": 1.0,
    "TRN-SGA-L2": 0.6, "TRN-SGA-L3": 0.25, "TRN-MCA": 0.7, "TRN-DOL": 0.7, "TRN-PREVENT": 1.0,
    "TRN-WRAP": 0.6, "TRN-MOVING-HANDLING": 0.7, "TRN-FIRE": 1.0, "TRN-CPR": 0.6, "TRN-IPC": 1.0,
    "TRN-FTSU": 1.0, "TRN-IG": 1.0, "TRN-PSS-L1": 1.0, "TRN-PSS-L2": 0.65, "TRN-OMMT-L1": 1.0,
    "APPRAISALS": 0.93,
}
FIXED_DEN: dict[str, int | list[int]] = {
    # Level 4 is held by a handful of named professionals; 87% needs 15 (13/15) in Dec-22
    "TRN-SGC-L4": [15, 7, 7, 7, 7, 7, 7, 6, 7, 6, 6, 6, 6],
    "TRN-SG-INDUCTION": 30, "TRN-INDUCTION": 30, "IPC-SPREAD": 2, "IPC-AUDIT": 120,
    "SG-SUPERVISION": 850, "FOI-ON-TIME": [0] * 10 + [20, 24, 32],
    "COMPLAINTS-CPX-40": 4,  # Dec-22 shows only (75%): 3 of 4
}
DEN_FROM_COUNT = {"MED-NOHARM": "MED-INC"}
# FFT percentages are over the responses that answered the question, which can be a few less than
# the "No. of responses to FFT": May-23 (2.00% of 2417) and Nov-23 (95.91% and 1.75% of 1953) are
# not reachable over all responses. Good and poor share one denominator: the largest that works.
FFT = ("FFT-GOOD", "FFT-POOR", "FFT-RESPONSES")

HEADCOUNT_START, HEADCOUNT_GROWTH = 2250, 0.0025  # staff in post Jan-22, growth per month
FTE_PER_HEAD = 0.84
SHORT_SHARE_HISTORY = 0.48


def shown_percent(numerator: int, denominator: int, decimals: int) -> str:
    """The seed's display: half-up rounding of the exact fraction, as Excel shows it."""
    value = Fraction(numerator, denominator) * 100
    scale = 10**decimals
    rounded = (value * scale + Fraction(1, 2)).__floor__()
    whole, frac = divmod(rounded, scale)
    return f"{whole}.{frac:0{decimals}d}%" if decimals else f"{whole}%"


def decimals_of(text: str) -> int:
    number = text.rstrip("%")
    return len(number.split(".")[1]) if "." in number else 0


def band(text: str) -> tuple[Fraction, Fraction]:
    """[low, high) of the fractions that display as `text`."""
    step = Fraction(1, 10 ** decimals_of(text)) / 100
    centre = Fraction(text.rstrip("%")) / 100
    return centre - step / 2, centre + step / 2


def numerator_for(text: str, denominator: int) -> int | None:
    low, high = band(text)
    candidate = -(-low.numerator * denominator // low.denominator)  # ceil(low * den)
    return candidate if Fraction(candidate, denominator) < high else None


def fit_ratio(text: str, start: int, fixed: bool = False) -> tuple[int, int]:
    """The smallest denominator from `start` up (or exactly `start`) that reproduces `text`."""
    for denominator in [start] if fixed else range(max(start, 1), start * 10 + 100):
        numerator = numerator_for(text, denominator)
        if numerator is not None and 0 <= numerator <= denominator:
            return numerator, denominator
    raise SystemExit(f"no numerator over {start} reproduces {text}")


def load() -> tuple[list[dict], dict[tuple[str, str], str]]:
    catalogue = tomllib.loads((DATA / "catalogue.toml").read_text(encoding="utf-8"))["indicator"]
    with open(DATA / "seed.csv", newline="", encoding="utf-8") as handle:
        seed = {(r["code"], r["period"]): r["shown"] for r in csv.DictReader(handle)}
    return catalogue, seed


def active(entry: dict, period: str) -> bool:
    return entry.get("active_from", "0000-00") <= period <= entry.get("active_until", "9999-99")


def seed_series(seed: dict, code: str) -> list[Fraction]:
    return [Fraction(seed[code, p].rstrip("%")) for p in PERIODS]


# ---------------------------------------------------------------------------- turnover
def fit_turnover(seed: dict) -> tuple[list[int], list[int]]:
    """Staff in post and leavers for Jan-22..Dec-23 so 12 * sum(leavers) / sum(staff) matches.

    Leavers Jan..Nov-22 are set so that 2023's leavers come out near 21 a month: the seed's
    month-on-month change in rolling turnover says how many more or fewer left than a year
    before. Each month from Dec-22 then takes the leaver count and staff-in-post (closest to the
    growth trend) that put the rolling figure inside the seed's rounding band.
    """
    rolling = seed_series(seed, "TURNOVER-ROLLING")
    staff = [round(HEADCOUNT_START * (1 + HEADCOUNT_GROWTH) ** i) for i in range(24)]
    avg = sum(staff[:12]) / 12
    leavers = [round(21 - float(rolling[k + 1] - rolling[k]) * avg / 100) for k in range(11)] + [0] * 13
    for t in range(11, 24):
        low, high = band(seed["TURNOVER-ROLLING", ALL_MONTHS[t]])
        others_l = sum(leavers[t - 11 : t])
        others_s = sum(staff[t - 11 : t])
        ideal = float(low + high) / 2 * (others_s + staff[t]) / 12 - others_l
        best = None
        for offset in sorted(range(-60, 61), key=lambda o: (abs(o), o)):
            for count in sorted(range(max(0, int(ideal) - 2), int(ideal) + 3), key=lambda c: (abs(c - ideal), c)):
                if low <= Fraction(12 * (others_l + count), others_s + staff[t] + offset) < high:
                    best = (count, offset)
                    break
            if best:
                break
        if best is None:
            raise SystemExit(f"turnover {ALL_MONTHS[t]}: no fit")
        leavers[t], staff[t] = best[0], staff[t] + best[1]
    return staff, leavers


# ---------------------------------------------------------------------------- sickness
def part_interval(text: str, days: int) -> tuple[int, int]:
    low, high = band(text)
    first = -(-low.numerator * days // low.denominator)
    last = (high.numerator * days - 1) // high.denominator
    return first, last


def _side(seed: dict, index: int, level: Fraction) -> int:
    """+1 for a shown month whose rate is above the Nov-23 rolling level, -1 below, 0 for history."""
    if index < 11:
        return 0
    return 1 if Fraction(seed["SICK-MONTHLY", ALL_MONTHS[index]].rstrip("%")) / 100 >= level else -1


def _total_ranges(seed: dict, days: list[int]) -> dict[int, tuple[int, int]]:
    """For each shown month, the days-lost totals whose short, long and monthly rates all round right."""
    ranges = {}
    for i, period in enumerate(PERIODS, start=11):
        s_lo, s_hi = part_interval(seed["SICK-SHORT", period], days[i])
        l_lo, l_hi = part_interval(seed["SICK-LONG", period], days[i])
        m_lo, m_hi = part_interval(seed["SICK-MONTHLY", period], days[i])
        lo, hi = max(s_lo + l_lo, m_lo), min(s_hi + l_hi, m_hi)
        if lo > hi:
            raise SystemExit(f"sickness {period}: short, long and monthly cannot all round to the seed")
        ranges[i] = (lo, hi)
    return ranges


def fit_sickness(seed: dict, staff: list[int]) -> tuple[list[int], list[int], list[int], list[str]]:
    """Days available, short- and long-term days lost for Jan-22..Dec-23.

    Days available = FTE (a fixed share of staff in post) x calendar days, moved up for shown
    months whose rate is above the Nov-23 rolling level and down for those below, by the smallest
    swing (quarter-point steps) that lets Nov-23's rolling figure fit: with days following the
    trend alone, the shown months' rates average too low. For each shown month
    the short, long and monthly figures each constrain days lost; their intersection is an
    interval of totals. Nov-23's rolling figure uses shown months only, so those totals are
    moved within their intervals until it fits; Dec-23's rolling figure is then pushed as close
    to the seed as those intervals allow. History months Nov-22 back to Jan-22 follow, each
    fixed by the rolling figure of the month that first leaves it out of the window's end.
    Returns the problems found as text (empty when every figure is reproduced).
    """
    base = [staff[i] * FTE_PER_HEAD * calendar.monthrange(int(m[:4]), int(m[5:]))[1] for i, m in enumerate(ALL_MONTHS)]
    nov = band(seed["SICK-ROLLING", "2023-11"])
    for step in range(41):
        swing = Fraction(step, 400)  # 0 .. 10% in quarter-point steps
        days = [round(b * float(1 + swing * _side(seed, i, nov[1]))) for i, b in enumerate(base)]
        ranges = _total_ranges(seed, days)
        window = sum(days[11:23])
        least = ranges[11][0] + sum(ranges[i][0] for i in range(12, 23))
        most = ranges[11][0] + sum(ranges[i][1] for i in range(12, 23))
        if Fraction(least, window) < nov[1] and Fraction(most, window) >= nov[0]:
            break
    else:
        raise SystemExit("sickness: Nov-23 rolling figure out of reach")
    total = [0] * 24
    for i, (lo, hi) in ranges.items():
        total[i] = (lo + hi) // 2
    problems: list[str] = [f"note: days available swing {float(swing):.2%} above/below trend (Dec-22..Dec-23)"]

    def rolling(t: int) -> Fraction:
        return Fraction(sum(total[t - 11 : t + 1]), sum(days[t - 11 : t + 1]))

    # Dec-22 out, Dec-23 in: lowest Dec-22 and highest Dec-23 totals favour the Dec-23 figure.
    total[11], total[23] = ranges[11][0], ranges[23][1]
    low, high = band(seed["SICK-ROLLING", "2023-11"])
    for i in range(12, 23):
        step = 1 if rolling(22) < low else -1
        while not low <= rolling(22) < high and ranges[i][0] <= total[i] + step <= ranges[i][1]:
            total[i] += step
    if not low <= rolling(22) < high:
        raise SystemExit("sickness: Nov-23 rolling figure out of reach")
    for t in (22, 23):
        text = seed["SICK-ROLLING", ALL_MONTHS[t]]
        if shown_percent(rolling(t).numerator, rolling(t).denominator, 2) != text:
            got = shown_percent(rolling(t).numerator, rolling(t).denominator, 2)
            problems.append(f"SICK-ROLLING {ALL_MONTHS[t]}: seed {text}, demo {got}")
    for t in range(21, 10, -1):
        h = t - 11
        low, high = band(seed["SICK-ROLLING", ALL_MONTHS[t]])
        window_days = sum(days[h : t + 1])
        others = sum(total[h + 1 : t + 1])
        ideal = float(low + high) / 2 * window_days - others
        candidates = sorted(range(int(ideal) - 3, int(ideal) + 4), key=lambda c: (abs(c - ideal), c))
        total[h] = next(c for c in candidates if low <= Fraction(others + c, window_days) < high)
    short, long_ = [0] * 24, [0] * 24
    for i in range(24):
        if i < 11:
            short[i] = round(total[i] * SHORT_SHARE_HISTORY)
        else:
            s_lo, s_hi = part_interval(seed["SICK-SHORT", ALL_MONTHS[i]], days[i])
            l_lo, l_hi = part_interval(seed["SICK-LONG", ALL_MONTHS[i]], days[i])
            short[i] = next(s for s in range(s_lo, s_hi + 1) if l_lo <= total[i] - s <= l_hi)
        long_[i] = total[i] - short[i]
    return days, short, long_, problems


# ---------------------------------------------------------------------------- rows
def derive() -> tuple[list[list[str]], list[str]]:
    catalogue, seed = load()
    staff, leavers = fit_turnover(seed)
    days, short, long_, problems = fit_sickness(seed, staff)
    fitted = {
        "TURNOVER-MONTHLY": (leavers, staff),
        "SICK-MONTHLY": ([s + lg for s, lg in zip(short, long_, strict=True)], days),
        "SICK-SHORT": (short, days),
        "SICK-LONG": (long_, days),
    }
    cells = dict(seed)
    cells.update({(code, period): text for code, months in FILLED.items() for period, text in months.items()})
    counts = {key: int(text) for key, text in cells.items() if text.isdigit()}
    for period in PERIODS:
        answered = counts[FFT[2], period]
        while any(numerator_for(cells[code, period], answered) is None for code in FFT[:2]):
            answered -= 1
        for code in FFT[:2]:
            counts[code + "/answered", period] = answered
    rows: list[list[str]] = []
    for entry in catalogue:
        code = entry["code"]
        if entry.get("aggregate") == "rolling12":
            continue
        if code in fitted:
            nums, dens = fitted[code]
            for i, period in enumerate(ALL_MONTHS):
                origin = "history" if i < 11 else ("seed" if (code, period) in seed else "filled")
                rows.append([code, period, "", str(nums[i]), str(dens[i]), "", origin])
            continue
        for k, period in enumerate(PERIODS):
            if not active(entry, period):
                continue
            text, origin = seed.get((code, period)), "seed"
            if text is None:
                text, origin = FILLED.get(code, {}).get(period), "filled"
            if text is None:
                if entry.get("required", True):
                    raise SystemExit(f"{code} {period}: required but neither legible nor filled")
                continue
            rows.append([code, period, *cell(entry, k, text, staff, counts), origin])
    return rows, problems


def cell(entry: dict, k: int, text: str, staff: list[int], counts: dict) -> list[str]:
    """value, numerator, denominator, marker for one organisation-level cell."""
    code, unit = entry["code"], entry["unit"]
    if text in MARKERS:
        return ["", "", "", text]
    if unit == "count":
        return [str(int(text)), "", "", ""]
    if unit == "percent":
        return [_fraction_text(text), "", "", ""]
    if "/" in text:
        numerator, denominator = text.split(" ")[0].split("/")
        return ["", numerator, denominator, ""]
    if code in FFT:
        start, fixed = counts[code + "/answered", PERIODS[k]], True
    elif code in DEN_FROM_COUNT:
        start, fixed = counts[DEN_FROM_COUNT[code], PERIODS[k]], True
    elif code in FIXED_DEN:
        spec = FIXED_DEN[code]
        start, fixed = (spec[k] if isinstance(spec, list) else spec), isinstance(spec, list)
    elif code == "STABILITY":
        start, fixed = staff[max(k - 1, 0)], False  # staff in post about a year earlier
    else:
        start, fixed = round(staff[k + 11] * STAFF_SHARE.get(code, 1.0)), False
    numerator, denominator = fit_ratio(text, start, fixed)
    return ["", str(numerator), str(denominator), ""]


def _fraction_text(text: str) -> str:
    value = Fraction(text.rstrip("%")) / 100
    return f"{float(value):.6g}"


def render(rows: Iterable[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["code", "period", "value", "numerator", "denominator", "marker", "origin"])
    writer.writerows(rows)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if demo_org.csv is out of date")
    args = parser.parse_args(argv)
    rows, problems = derive()
    text = render(rows)
    target = DATA / "demo_org.csv"
    for problem in problems:
        print(problem if problem.startswith("note:") else f"not reproducible: {problem}", file=sys.stderr)
    if args.check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        return 0 if current == text else 1
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
