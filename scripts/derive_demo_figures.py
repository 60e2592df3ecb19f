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


def _month_range(seed: dict, period: str, days: int) -> tuple[int, int] | None:
    """The days-lost totals whose short, long and monthly rates all round right, if any."""
    s_lo, s_hi = part_interval(seed["SICK-SHORT", period], days)
    l_lo, l_hi = part_interval(seed["SICK-LONG", period], days)
    m_lo, m_hi = part_interval(seed["SICK-MONTHLY", period], days)
    lo, hi = max(s_lo + l_lo, m_lo), min(s_hi + l_hi, m_hi)
    return (lo, hi) if lo <= hi else None


def _total_ranges(seed: dict, days: list[int]) -> dict[int, tuple[int, int] | None]:
    return {i: _month_range(seed, period, days[i]) for i, period in enumerate(PERIODS, start=11)}


def _rate_top(seed: dict, period: str) -> Fraction:
    """The highest monthly rate (exclusive) at which short, long and monthly all still round right."""
    return min(band(seed["SICK-MONTHLY", period])[1],
               band(seed["SICK-SHORT", period])[1] + band(seed["SICK-LONG", period])[1])


def trend_days(staff: list[int]) -> list[float]:
    """Days available Jan-22..Dec-23 if FTE stayed a fixed share of staff in post."""
    return [staff[i] * FTE_PER_HEAD * calendar.monthrange(int(m[:4]), int(m[5:]))[1] for i, m in enumerate(ALL_MONTHS)]


def _shortfall(seed: dict, days: list[int], ranges: dict) -> tuple[int, Fraction]:
    """Days lost the shared months lack, at the top of their ranges, for Nov-23's or Dec-23's
    rolling figure to reach its band (the larger), and that band's floor."""
    tops = sum(ranges[i][1] for i in range(12, 23))
    nov, dec = band(seed["SICK-ROLLING", "2023-11"])[0], band(seed["SICK-ROLLING", "2023-12"])[0]
    return max((-(-nov * sum(days[11:23]) // 1) - ranges[11][0] - tops, nov),
               (-(-dec * sum(days[12:24]) // 1) - ranges[23][1] - tops, dec))


def _swung_days(seed: dict, base: list[float], swing: Fraction) -> list[int]:
    """Days available within `swing` of trend that favour Dec-23's rolling figure over Nov-23's.

    The two windows share Jan..Nov-23; Dec-23's swaps Dec-22 (6.29%) for Dec-23 (6.40%) yet must
    come out 0.07 points higher. So Dec-22 goes to the bottom of its allowance, Dec-23 to the top,
    and the shared months to the bottom too (the fewer shared days, the more the swapped month
    counts). Shared months are then raised, highest rate first, just until both windows can
    reach their bands: the cheapest way, in days, to lift a window's average. History months
    are in neither window and keep the trend.
    """
    def bounds(i: int) -> tuple[int, int]:
        return -(-Fraction(base[i]) * (1 - swing) // 1), (Fraction(base[i]) * (1 + swing)).__floor__()

    def usable(i: int, value: int, step: int) -> int:
        """`value`, or the nearest count towards the allowance's other end whose month range is not
        empty; the end itself when none is (the fit then fails for this swing)."""
        lo, hi = bounds(i)
        while _month_range(seed, ALL_MONTHS[i], value) is None and lo <= value + step <= hi:
            value += step
        return value

    days = [round(b) for b in base]
    days[11], days[23] = usable(11, bounds(11)[0], 1), usable(23, bounds(23)[1], -1)
    for i in range(12, 23):
        days[i] = usable(i, bounds(i)[0], 1)
    order = sorted(range(12, 23), key=lambda i: -_rate_top(seed, ALL_MONTHS[i]))
    while True:
        ranges = _total_ranges(seed, days)
        if any(r is None for r in ranges.values()):
            return days
        need, floor = _shortfall(seed, days, ranges)
        room = [i for i in order if days[i] < bounds(i)[1] and _rate_top(seed, ALL_MONTHS[i]) > floor]
        if need <= 0 or not room:
            return days
        i = room[0]
        step = max(1, -(-need // (_rate_top(seed, ALL_MONTHS[i]) - floor)))
        days[i] = usable(i, min(bounds(i)[1], days[i] + step), -1)


def _spread(total: int, ranges: list[tuple[int, int]]) -> list[int]:
    """`total` split over months, each at the same relative place in its own range."""
    width = sum(hi - lo for lo, hi in ranges)
    share = Fraction(total - sum(lo for lo, _ in ranges), width) if width else Fraction(0)
    parts = [lo + (share * (hi - lo)).__floor__() for lo, hi in ranges]
    for k, (_, hi) in enumerate(ranges):
        step = min(total - sum(parts), hi - parts[k])
        parts[k] += max(step, 0)
    return parts


def _shown_totals(seed: dict, days: list[int]) -> list[int] | None:
    """Days lost for Dec-22..Dec-23 that reproduce every shown rate, or None when `days` cannot."""
    ranges = _total_ranges(seed, days)
    if any(r is None for r in ranges.values()):
        return None
    first, last = ranges[11][0], ranges[23][1]  # Dec-22 low and Dec-23 high favour Dec-23's figure
    shared = [ranges[i] for i in range(12, 23)]
    low, high = sum(lo for lo, _ in shared), sum(hi for _, hi in shared)
    for period, outside in (("2023-11", first), ("2023-12", last)):
        window = sum(days[11:23]) if period == "2023-11" else sum(days[12:24])
        b_lo, b_hi = band(seed["SICK-ROLLING", period])
        low = max(low, -(-b_lo * window // 1) - outside)
        high = min(high, -(-b_hi * window // 1) - 1 - outside)
    if low > high:
        return None
    return [first, *_spread((low + high) // 2, shared), last]


def fit_sickness(seed: dict, staff: list[int]) -> tuple[list[int], list[int], list[int], list[str]]:
    """Days available, short- and long-term days lost for Jan-22..Dec-23.

    Days available follow a trend (FTE, a fixed share of staff in post, x calendar days) except
    where the seed forces otherwise. Its Nov-23 (5.60%) and Dec-23 (5.67%) rolling rates cover
    shown months only, and only unequal days available let them both come from its monthly
    rates; the smallest swing from trend that does (0.1-point steps, the largest deviation of
    any month) is found by trying each in turn. For each shown month the short, long and monthly
    figures each constrain days lost; their intersection is an interval of totals, and the
    shared months' totals are set together so both rolling figures fit. History months Nov-22
    back to Jan-22 keep the trend and follow, each fixed by the rolling figure of the month that
    first leaves it out of the window's end.
    Returns the problems found as text (empty when every figure is reproduced).
    """
    base = trend_days(staff)
    for step in range(501):
        swing = Fraction(step, 1000)
        days = _swung_days(seed, base, swing)
        shown = _shown_totals(seed, days)
        if shown is not None:
            break
    else:
        raise SystemExit("sickness: no days available within 50% of trend reproduce the seed")
    total = [0] * 11 + shown
    problems = [f"note: days available vs trend, largest {float(swing):.1%}; Dec-22..Dec-23: "
                + " ".join(f"{days[i] / base[i] - 1:+.1%}" for i in range(11, 24))]
    for t in range(21, 10, -1):
        h = t - 11
        low, high = band(seed["SICK-ROLLING", ALL_MONTHS[t]])
        window_days = sum(days[h : t + 1])
        others = sum(total[h + 1 : t + 1])
        ideal = float(low + high) / 2 * window_days - others
        candidates = sorted(range(int(ideal) - 3, int(ideal) + 4), key=lambda c: (abs(c - ideal), c))
        total[h] = next(c for c in candidates if low <= Fraction(others + c, window_days) < high)
    for t in range(11, 24):
        got = Fraction(sum(total[t - 11 : t + 1]), sum(days[t - 11 : t + 1]))
        text = seed["SICK-ROLLING", ALL_MONTHS[t]]
        if shown_percent(got.numerator, got.denominator, 2) != text:
            problems.append(f"SICK-ROLLING {ALL_MONTHS[t]}: seed {text}, demo "
                            f"{shown_percent(got.numerator, got.denominator, 2)}")
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
