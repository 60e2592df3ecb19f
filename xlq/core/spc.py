"""Statistical process control for the scorecard: XmR charts read the Making Data Count way.

NHS boards are asked to judge a monthly indicator by its variation (is the latest month a
signal or noise?) and its assurance (will the process, as it runs now, meet the target?)
rather than by one month's red/amber/green. This module is the analysis; the workbook
writer only shows `SpcResult.variation`, `SpcResult.assurance` and the limits.

Sources (the rules below follow them; where xlq decides something they leave open, it says so):

- NHS England / NHS Improvement, "Making data count" and "Making data count: strengthening
  your decisions" (#plotthedots): XmR chart, process limits at mean +/- 2.66 x mean moving
  range, the four special-cause rules in priority order, variation and assurance icons.
- NHSRplotthedots (github.com/nhs-r-community/NHSRplotthedots), the NHS-R public implementation:
  `R/ptd_spc_standard.R` (limits, "close to limits" = beyond 2/3 of the way, strictly inside the
  limits), `R/ptd_calculate_point_type.R` (rules, their priority and point types),
  `R/ptd_calculate_assurance_type.R` (assurance from the last point's limits),
  `R/ptd_add_short_group_warnings.R` (trial limits below 13 points), `R/ptd_spc_colours.R`
  (colours); issues #167/#171 (trend direction, not side of the mean, decides a trend's
  colour), #202 (the MDC Excel tool allows 6 or 7 points for runs; NHSRplotthedots uses 7),
  #90 and PR #81 (screening moving ranges is an NHSRplotthedots default that departs from the
  MDC Excel tool).

Rules, in priority order (a point takes the first that includes it):

1. `outside_limits`: strictly above the upper or below the lower process limit.
2. `trend`: `trend_length` points in a row each higher (or each lower) than the one before.
   The count is of points, so 6 means five rises. Equal consecutive values break a trend
   (NHSRplotthedots: `ptd_seven_point_trend(c(1:3, 3:6))` finds none). A trend's colour comes
   from its direction, not from the side of the mean; a point where a rising trend turns into
   a falling one takes the later trend (NHSRplotthedots "use right side").
3. `two_of_three`: in three consecutive points all on the same side of the mean, at least two
   are beyond the 2/3 line but inside the limits; only those close points are flagged.
4. `shift`: `shift_length` points in a row on the same side of the mean; a point on the mean
   breaks the run.

NHSRplotthedots uses 7 for both runs; `SpcSettings` defaults to 6 for a trend and 7 for a shift.
`analyse` uses whatever the settings say.

Edge cases (xlq's decisions):

- Missing months (None, NaN) are kept in place. A moving range is taken only between two
  adjacent months that are both present, as NHSRplotthedots's `c(NA, abs(diff(y)))` does; a
  range across a gap would span two months and overstate month-to-month variation. The run
  rules read the observed points in time order: a missing month neither breaks nor extends a
  run. A missing month gets no flag.
- Too few points: limits need at least two observed points and one moving range, else
  `xmr_limits` returns None and variation/assurance are "none". Limits from fewer than 13
  points are trial limits (`Limits.trial`), still used for the rules, as NHSRplotthedots does.
- A flat series (zero average moving range, e.g. 100% every month): the limits collapse onto
  the mean. A zero-width band carries no estimate of common-cause variation, so the
  outside-limits and two-of-three rules are not applied to it; the trend and shift rules still
  are (a flat series has neither: equal values break trends and points on the mean break
  shifts). Assurance still compares the target with the collapsed limits.
- Values within a relative 1e-9 of the mean or of a limit count as on it, so a flat series of
  0.97s is not split by floating-point rounding.
- Baseline: the first `baseline` observed points (per segment after a rebase) set the mean and
  the limits; later points are judged against them (NHSRplotthedots `fix_after_n_points`).
- Rebase: each segment from a rebase index on gets its own limits and its own rules.
- The latest point is the last observed one; `latest_index` says which month that is.
- Assurance uses the limits of the latest point's segment and the target in force at the
  latest point. `target` may be one `Target` or one per month (a target that changes over
  time). The passing side comes from the target itself (floor: at or above; ceiling: at or
  below), so a target equal to a limit passes, and an indicator with direction "neither" but a
  floor or ceiling still gets assurance (NHSRplotthedots infers the side from the improvement
  direction and gives no assurance for "neutral").
- A trajectory target ("90% by 2024-03") is judged at its value; when `periods` show the
  latest month is before its date, `target_pending` is True so the workbook can say so.
- Bounds: limits never pass what the measure can be (`bounds`): not below 0 for counts,
  rates, days and percentages, not above 100% for a percentage. The two-thirds lines stay
  at two-thirds of the unbounded width (2/3 x 2.66 x mean moving range from the mean).
- Too few points: with fewer than MIN_POINTS observed points behind the limits there is no
  verdict at all (variation and assurance "none", no special-cause points): the run rules
  cannot fire yet and the average moving range rests on a handful of ranges.
- Rare events (`is_rare`): a count that is zero in at least half of its months (severe harm,
  never events) gets no special-cause call and no assurance, only the "rare_event" label.
  An XmR (or Poisson c-chart) limit for a mean near 0 sits below 1, so every single event
  would be "outside the limits" and every run of zeros a "shift"; Making Data Count points
  to time-between-events (g or t charts) for such data, which xlq does not draw. docs/spc.md.
- Moving-range screening (drop ranges >= 3.267 x the average, then re-average) is off by
  default, matching the MDC Excel tool and the plain formula; `screen_outliers=True` gives
  NHSRplotthedots's default.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from xlq.core.catalogue import DIRECTIONS, Indicator, Target
from xlq.core.config import SpcSettings
from xlq.core.months import PERIOD_RE, months_between

LIMIT_FACTOR = 2.66
SCREEN_FACTOR = 3.267
TRIAL_BELOW = 13
MIN_POINTS = 6
"""Fewer observed points than this behind the limits give no verdict (module notes)."""
RARE_ZERO_SHARE = 0.5
_REL_TOL = 1e-9

Rule = Literal["outside_limits", "trend", "two_of_three", "shift"]
RULES: tuple[Rule, ...] = ("outside_limits", "trend", "two_of_three", "shift")
Variation = Literal["common_cause", "improvement", "concern", "neither_high", "neither_low", "rare_event", "none"]
Assurance = Literal["pass", "fail", "hit_and_miss", "none"]

GREY = "#A6A6A6"
BLUE = "#00B0F0"
ORANGE = "#E46C0A"
PURPLE = "#490092"

VARIATION_COLOURS: dict[str, str | None] = {
    "common_cause": GREY,
    "improvement": BLUE,
    "concern": ORANGE,
    "neither_high": PURPLE,
    "neither_low": PURPLE,
    "rare_event": None,
    "none": None,
}
ASSURANCE_COLOURS: dict[str, str | None] = {"pass": BLUE, "fail": ORANGE, "hit_and_miss": GREY, "none": None}

# Only Windows Glyph List 4 characters, so Calibri/Arial in Excel and LibreOffice show them.
VARIATION_LABELS: dict[tuple[str, bool | None], tuple[str, str]] = {
    ("common_cause", None): ("●", "Common cause"),
    ("improvement", True): ("▲", "Improvement (high)"),
    ("improvement", False): ("▼", "Improvement (low)"),
    ("concern", True): ("▲", "Concern (high)"),
    ("concern", False): ("▼", "Concern (low)"),
    ("neither_high", True): ("▲", "Special cause (high)"),
    ("neither_low", False): ("▼", "Special cause (low)"),
    ("rare_event", None): ("○", "Rare event"),
    ("none", None): ("–", "Not enough data"),
}
ASSURANCE_LABELS: dict[str, tuple[str, str]] = {
    "pass": ("P", "Consistently passing"),
    "fail": ("F", "Consistently failing"),
    "hit_and_miss": ("?", "Hit and miss"),
}

LEGEND: tuple[tuple[str, str, str, str], ...] = (
    ("Variation", "● Common cause", GREY, "No signal: the latest month is within normal variation"),
    ("Variation", "▲/▼ Improvement", BLUE, "Special cause in the good direction (high or low)"),
    ("Variation", "▲/▼ Concern", ORANGE, "Special cause in the bad direction (high or low)"),
    ("Variation", "▲/▼ Special cause", PURPLE, "Special cause where neither direction is better"),
    ("Variation", "○ Rare event", GREY, "Mostly zero months: no special-cause call (see the cell's note)"),
    ("Assurance", "P Consistently passing", BLUE, "Target lies outside the process limits on the passing side"),
    ("Assurance", "F Consistently failing", ORANGE, "Target lies outside the process limits on the failing side"),
    ("Assurance", "? Hit and miss", GREY, "Target lies within the process limits: it will be met some months"),
)


@dataclass(frozen=True)
class Limits:
    """An individuals (XmR) chart's centre line and process limits."""

    mean: float
    lower: float
    upper: float
    mr_mean: float
    points: int
    trial: bool

    @property
    def upper_two_thirds(self) -> float:
        return self.mean + LIMIT_FACTOR * self.mr_mean * 2 / 3

    @property
    def lower_two_thirds(self) -> float:
        return self.mean - LIMIT_FACTOR * self.mr_mean * 2 / 3

    def bounded(self, low: float | None, high: float | None) -> Limits:
        """The same limits kept within what the measure can be (0 to 100% for a percentage)."""
        lower = self.lower if low is None else max(self.lower, min(low, self.mean))
        upper = self.upper if high is None else min(self.upper, max(high, self.mean))
        return Limits(self.mean, lower, upper, self.mr_mean, self.points, self.trial)

    @property
    def collapsed(self) -> bool:
        """Zero average moving range: the limits sit on the mean (a flat series)."""
        return self.mr_mean == 0


@dataclass(frozen=True)
class Flag:
    """Why one point is special cause: the rule, which way, and what that means here."""

    rule: Rule
    high: bool
    kind: Variation


@dataclass(frozen=True)
class SpcResult:
    values: tuple[float | None, ...]
    direction: str
    segments: tuple[tuple[int, Limits | None], ...]
    flags: tuple[Flag | None, ...]
    variation: Variation
    assurance: Assurance
    latest_index: int | None
    target: Target | None = None
    target_pending: bool = False

    def segment_at(self, index: int) -> int:
        """Position in `segments` of the segment holding point `index`."""
        position = 0
        for n, (start, _) in enumerate(self.segments):
            if start <= index:
                position = n
        return position

    def limits_at(self, index: int) -> Limits | None:
        return self.segments[self.segment_at(index)][1] if self.segments else None

    @property
    def limits(self) -> Limits | None:
        """The limits the latest point is judged against (those of the last segment if none)."""
        if not self.segments:
            return None
        if self.latest_index is None:
            return self.segments[-1][1]
        return self.limits_at(self.latest_index)

    @property
    def trial(self) -> bool:
        return self.limits is not None and self.limits.trial

    @property
    def latest_flag(self) -> Flag | None:
        return None if self.latest_index is None else self.flags[self.latest_index]

    @property
    def special_causes(self) -> tuple[int, ...]:
        return tuple(i for i, flag in enumerate(self.flags) if flag is not None)


def _clean(value: float | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _tol(reference: float) -> float:
    return _REL_TOL * max(1.0, abs(reference))


def _side(value: float, mean: float) -> int:
    difference = value - mean
    if abs(difference) <= _tol(mean):
        return 0
    return 1 if difference > 0 else -1


def xmr_limits(values: Sequence[float | None], baseline: int = 0, *, screen_outliers: bool = False) -> Limits | None:
    """Mean and process limits from the first `baseline` observed points (0: all of them).

    Moving ranges are taken only between adjacent positions that are both present; None when
    there are fewer than two observed points or no moving range.
    """
    cleaned = [_clean(v) for v in values]
    observed = [i for i, v in enumerate(cleaned) if v is not None]
    if baseline > 0:
        observed = observed[:baseline]
    used = set(observed)
    if len(observed) < 2:
        return None
    points = [cleaned[i] for i in observed]
    ranges = [abs(cleaned[i] - cleaned[i - 1]) for i in observed if i - 1 in used]  # type: ignore[operator]
    if not ranges:
        return None
    mean = math.fsum(points) / len(points)  # type: ignore[arg-type]
    mr_mean = math.fsum(ranges) / len(ranges)
    if screen_outliers and mr_mean > 0:
        kept = [r for r in ranges if r < SCREEN_FACTOR * mr_mean]
        mr_mean = math.fsum(kept) / len(kept) if kept else mr_mean
    if mr_mean <= _tol(mean):
        mr_mean = 0.0
    width = LIMIT_FACTOR * mr_mean
    return Limits(mean, mean - width, mean + width, mr_mean, len(points), len(points) < TRIAL_BELOW)


def rule_trend(values: Sequence[float], length: int) -> list[int]:
    """+1/-1 for each point in a run of `length` or more points each above/below the previous."""
    marks = [0] * len(values)
    if length < 2 or len(values) < length:
        return marks
    steps = [(b > a) - (b < a) for a, b in zip(values, values[1:], strict=False)]
    start = 0
    while start < len(steps):
        end = start
        while end + 1 < len(steps) and steps[end + 1] == steps[start]:
            end += 1
        if steps[start] != 0 and end - start + 2 >= length:
            for i in range(start, end + 2):
                marks[i] = steps[start]
        start = end + 1
    return marks


def rule_shift(sides: Sequence[int], length: int) -> list[int]:
    """+1/-1 for each point in a run of `length` or more points on one side of the mean."""
    marks = [0] * len(sides)
    start = 0
    while start < len(sides):
        end = start
        while end + 1 < len(sides) and sides[end + 1] == sides[start]:
            end += 1
        if sides[start] != 0 and end - start + 1 >= length:
            for i in range(start, end + 1):
                marks[i] = sides[start]
        start = end + 1
    return marks


def rule_two_of_three(close: Sequence[bool], sides: Sequence[int]) -> list[int]:
    """+1/-1 for each close-to-limit point that is one of two or three in three consecutive
    points all on the same side of the mean."""
    marks = [0] * len(close)
    for start in range(len(close) - 2):
        window = range(start, start + 3)
        side = sides[start]
        if side != 0 and all(sides[i] == side for i in window) and sum(bool(close[i]) for i in window) >= 2:
            for i in window:
                if close[i]:
                    marks[i] = side
    return marks


def _kind(high: bool, direction: str) -> Variation:
    if direction == "higher":
        return "improvement" if high else "concern"
    if direction == "lower":
        return "concern" if high else "improvement"
    return "neither_high" if high else "neither_low"


def _flag_segment(values: Sequence[float | None], limits: Limits, settings: SpcSettings, direction: str) -> list[Flag | None]:
    positions = [i for i, v in enumerate(values) if v is not None]
    ys: list[float] = [values[i] for i in positions]  # type: ignore[misc]
    sides = [_side(y, limits.mean) for y in ys]
    if limits.collapsed:
        outside = [0] * len(ys)
        close = [False] * len(ys)
    else:
        upper, lower = limits.upper + _tol(limits.upper), limits.lower - _tol(limits.lower)
        outside = [1 if y > upper else -1 if y < lower else 0 for y in ys]
        high, low = limits.upper_two_thirds + _tol(limits.mean), limits.lower_two_thirds - _tol(limits.mean)
        close = [not outside[n] and (y > high or y < low) for n, y in enumerate(ys)]
    by_rule: dict[Rule, list[int]] = {
        "outside_limits": outside,
        "trend": rule_trend(ys, settings.trend_length),
        "two_of_three": rule_two_of_three(close, sides),
        "shift": rule_shift(sides, settings.shift_length),
    }
    flags: list[Flag | None] = [None] * len(values)
    for n, position in enumerate(positions):
        for rule in RULES:
            mark = by_rule[rule][n]
            if mark:
                flags[position] = Flag(rule, mark > 0, _kind(mark > 0, direction))
                break
    return flags


def assurance(limits: Limits | None, target: Target | None) -> Assurance:
    """Where the target sits against the process limits: outside on the passing side, outside
    on the failing side, or within (hit and miss)."""
    if limits is None or target is None or target.kind == "none" or target.value is None:
        return "none"
    value = target.value
    tol = _tol(value)
    if target.kind == "floor":
        if limits.lower >= value - tol:
            return "pass"
        if limits.upper < value - tol:
            return "fail"
    else:
        if limits.upper <= value + tol:
            return "pass"
        if limits.lower > value + tol:
            return "fail"
    return "hit_and_miss"


def analyse(
    values: Sequence[float | None],
    direction: str,
    target: Target | Sequence[Target | None] | None,
    settings: SpcSettings,
    rebase_index: int | Sequence[int] | None = None,
    periods: Sequence[str] | None = None,
    *,
    screen_outliers: bool = False,
    bounds: tuple[float | None, float | None] = (None, None),
    rare: bool = False,
) -> SpcResult:
    """Limits, special-cause flags, and the latest point's variation and assurance.

    `values` are monthly, oldest first, None for a missing month. `rebase_index` starts a new
    segment (its own limits) at that position. `periods` (YYYY-MM, aligned with `values`) are
    only needed to tell whether a trajectory target is due yet.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction {direction!r} is not one of {', '.join(DIRECTIONS)}")
    if settings.trend_length < 2 or settings.shift_length < 2:
        raise ValueError("spc trend_length and shift_length must be at least 2")
    cleaned = tuple(_clean(v) for v in values)
    count = len(cleaned)
    if periods is not None and len(periods) != count:
        raise ValueError(f"{len(periods)} periods for {count} values")
    targets: Sequence[Target | None] | None = None
    if target is not None and not isinstance(target, Target):
        targets = tuple(target)
        if len(targets) != count:
            raise ValueError(f"{len(targets)} targets for {count} values")

    requested = () if rebase_index is None else (rebase_index,) if isinstance(rebase_index, int) else tuple(rebase_index)
    starts = sorted({0, *(i for i in requested if 0 < i < count)})
    segments: list[tuple[int, Limits | None]] = []
    flags: list[Flag | None] = []
    for start, end in zip(starts, [*starts[1:], count], strict=True):
        part = cleaned[start:end]
        limits = xmr_limits(part, settings.baseline_points, screen_outliers=screen_outliers)
        if limits is not None:
            limits = limits.bounded(*bounds)
        segments.append((start, limits))
        judged = limits is not None and limits.points >= MIN_POINTS and not rare
        flags.extend(_flag_segment(part, limits, settings, direction) if judged else [None] * len(part))  # type: ignore[arg-type]

    latest = max((i for i, v in enumerate(cleaned) if v is not None), default=None)
    if latest is None:
        return SpcResult(cleaned, direction, tuple(segments) if count else (), tuple(flags), "none", "none", None)
    limits = next(lim for start, lim in reversed(segments) if start <= latest)
    flag = flags[latest]
    variation: Variation = ("none" if limits is None or limits.points < MIN_POINTS else "rare_event" if rare
                            else flag.kind if flag else "common_cause")
    in_force = targets[latest] if targets is not None else target
    if in_force is not None and not isinstance(in_force, Target):
        raise ValueError(f"target {in_force!r} is not a catalogue Target")
    pending = bool(in_force is not None and in_force.by and periods is not None and periods[latest] < in_force.by)
    verdict = assurance(limits, in_force) if variation not in ("none", "rare_event") else "none"
    return SpcResult(cleaned, direction, tuple(segments), tuple(flags), variation, verdict, latest, in_force, pending)


def bounds_for(indicator: Indicator) -> tuple[float | None, float | None]:
    """What the measure can be: counts, rates, days and percentages are never negative and a
    percentage never passes 100%."""
    low = 0.0 if indicator.unit in ("count", "percent", "ratio", "rate", "days") else None
    return low, 1.0 if indicator.is_percent else None


def is_rare(indicator: Indicator, values: Sequence[float | None]) -> bool:
    """A count that is zero in at least half of its observed months (module notes)."""
    seen = [v for v in values if v is not None]
    return indicator.unit == "count" and bool(seen) and sum(1 for v in seen if v == 0) >= RARE_ZERO_SHARE * len(seen)


def monthly(series: Sequence[tuple[str, float | None]]) -> tuple[list[str], list[float | None]]:
    """Spread (period, value) pairs, oldest first, over every month between the first and the
    last, with None for months not in the series (so gaps stay gaps, see the module notes)."""
    if not series:
        return [], []
    given = {period: value for period, value in series}
    for period in given:
        if not PERIOD_RE.match(period):
            raise ValueError(f"period {period!r} is not YYYY-MM")
    periods = list(months_between(min(given), max(given)))
    return periods, [given.get(p) for p in periods]


def rebase_index_for(code: str, periods: Sequence[str], settings: SpcSettings) -> int | None:
    """Position of the first month at or after the rebase month `xlq.toml` gives for `code`."""
    month = dict(settings.rebase).get(code)
    if month is None:
        return None
    index = next((i for i, p in enumerate(periods) if p >= month), None)
    return index if index else None


def analyse_indicator(
    indicator: Indicator, series: Sequence[tuple[str, float | None]], settings: SpcSettings, *, screen_outliers: bool = False
) -> SpcResult:
    """`analyse` for one catalogue indicator's monthly (period, value) history."""
    periods, values = monthly(series)
    return analyse(
        values,
        indicator.direction,
        indicator.target,
        settings,
        rebase_index_for(indicator.code, periods, settings),
        periods,
        screen_outliers=screen_outliers,
        bounds=bounds_for(indicator),
        rare=is_rare(indicator, values),
    )


def symbols(result: SpcResult) -> tuple[str, str]:
    """Text for the Variation and Assurance cells: an icon-style character and plain words."""
    flag = result.latest_flag
    high = flag.high if flag is not None and result.variation not in ("common_cause", "rare_event", "none") else None
    mark, words = VARIATION_LABELS[(result.variation, high)]
    variation_text = f"{mark} {words}"
    if result.assurance in ASSURANCE_LABELS:
        mark, words = ASSURANCE_LABELS[result.assurance]
        assurance_text = f"{mark} {words}"
    elif result.target is not None and result.target.kind != "none" and result.latest_index is not None:
        assurance_text = "– Not enough data"
    else:
        assurance_text = ""
    return variation_text, assurance_text


def colours(result: SpcResult) -> tuple[str | None, str | None]:
    """Font/fill colours for the Variation and Assurance cells (None: leave uncoloured)."""
    return VARIATION_COLOURS[result.variation], ASSURANCE_COLOURS[result.assurance]
