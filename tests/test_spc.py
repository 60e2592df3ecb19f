"""SPC analysis: every Making Data Count rule and status on series worked by hand.

Cases re-used from NHSRplotthedots's own test suite (github.com/nhs-r-community/NHSRplotthedots):
- tests/testthat/test-ptd_spc_standard.R with its snapshot tests/testthat/_snaps/ptd_spc_standard.md
  (set.seed(123); rnorm(20) limits, with y[15] <- 10 screened and unscreened; two points close to
  the limits on opposite sides of the mean are common cause);
- tests/testthat/_snaps/ptd_spc.md (summary: all 20 points common cause; the two facets of 10 points,
  here as two rebase segments);
- tests/testthat/test-ptd_calculate_point_type.R (ptd_seven_point_trend, ptd_part_of_seven_trend,
  ptd_seven_point_one_side_mean, ptd_two_in_three, ptd_part_of_two_in_three vectors);
- tests/testthat/test-ptd_calculate_assurance_type.R (limits 1-3, 5-7, 1-5 against target 4; the
  latest rebase group decides);
- tests/testthat/test-ptd_add_short_group_warnings.R with R/ptd_add_short_group_warnings.R
  (trial limits below 13 points; a short rebase group of 5 among longer ones);
- issue #167 (0:7 and 0:-7: every point of an 8-point trend is special cause) and
  issue #171 (a trend's colour follows its direction, not the side of the mean).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from workspaces import write_workspace

from xlq.core.catalogue import Target
from xlq.core.config import SpcSettings
from xlq.core.spc import (
    BLUE,
    GREY,
    LEGEND,
    MIN_POINTS,
    ORANGE,
    PURPLE,
    Limits,
    analyse,
    analyse_indicator,
    assurance,
    colours,
    monthly,
    rebase_index_for,
    rule_shift,
    rule_trend,
    rule_two_of_three,
    symbols,
    xmr_limits,
)

approx = pytest.approx

# BASE: 14 points alternating 12, 10. Mean 11; 13 moving ranges of 2, so mean mR 2.
# Limits 11 +/- 2.66*2 = 11 +/- 5.32 -> [5.68, 16.32]; 2/3 lines 11 +/- 3.5467 -> [7.4533, 14.5467].
# It ends on 10 (below the mean). With baseline_points=14 later points are judged against these.
BASE = [12.0, 10.0] * 7
FIXED = SpcSettings(trend_length=6, shift_length=7, baseline_points=14)
PTD = SpcSettings(trend_length=7, shift_length=7)  # NHSRplotthedots counts 7 for both runs

# The seed's monthly series, Dec-22..Dec-23, as fractions (how xlq stores percentages).
SICKNESS = [6.29, 5.82, 5.80, 4.17, 4.90, 4.86, 4.99, 5.17, 5.65, 6.25, 6.10, 6.98, 6.40]
APPRAISALS = [89.47, 88.20, 90.05, 89.81, 89.44, 87.88, 88.23, 89.17, 89.50, 89.78, 90.69, 88.90, 90.61]

# set.seed(123); rnorm(20) in R (values printed in _snaps/ptd_spc_standard.md and well known).
RNORM = [
    -0.56047565, -0.23017749, 1.55870831, 0.07050839, 0.12928774, 1.71506499, 0.46091621, -1.26506123,
    -0.68685285, -0.44566197, 1.22408180, 0.35981383, 0.40077145, 0.11068272, -0.55584113, 1.78691314,
    0.49785048, -1.96661716, 0.70135590, -0.47279140,
]


def pct(values: list[float]) -> list[float]:
    return [v / 100 for v in values]


def rules_of(result) -> list[str | None]:
    return [f.rule if f else None for f in result.flags]


# ---------------------------------------------------------------- limits


def test_limits_are_mean_plus_minus_2_66_average_moving_ranges():
    limits = xmr_limits(BASE)
    assert limits == Limits(11.0, 11 - 5.32, 11 + 5.32, 2.0, 14, False)
    assert limits.upper_two_thirds == approx(11 + 2 / 3 * 5.32)
    assert limits.lower_two_thirds == approx(11 - 2 / 3 * 5.32)


def test_baseline_fixes_limits_on_the_first_points():
    # Only the first 3 observed points: 1, 3, 2 -> mean 2, mRs 2, 1 -> 1.5.
    limits = xmr_limits([1, 3, 2, 50, 60], baseline=3)
    assert (limits.mean, limits.mr_mean, limits.points) == (2.0, 1.5, 3)


def test_missing_month_breaks_the_moving_range_instead_of_bridging_it():
    # 10, 12, -, 30, 32: mRs only 12-10 and 32-30 (both 2); the 30-12 jump spans two months.
    limits = xmr_limits([10, 12, None, 30, 32])
    assert limits.mean == 21.0
    assert limits.mr_mean == 2.0
    assert limits.points == 4


def test_baseline_counts_observed_points_not_months():
    # First 3 observed: 10, 12, 11 (the gap does not use up the baseline); only 12->11 is a mR.
    limits = xmr_limits([10, None, 12, 11, 50], baseline=3)
    assert (limits.mean, limits.mr_mean) == (11.0, 1.0)


def test_nan_counts_as_missing():
    assert xmr_limits([1.0, math.nan, 2.0]) is None
    assert xmr_limits([1.0, 3.0, math.nan]).mean == 2.0


@pytest.mark.parametrize("values", [[], [5.0], [None, None], [5.0, None, 6.0]])
def test_too_few_points_give_no_limits(values):
    assert xmr_limits(values) is None


def test_limits_under_13_points_are_trial():
    # R/ptd_add_short_group_warnings.R: warning_threshold defaults to 13 (n < 13 -> trial).
    assert xmr_limits(BASE[:12]).trial is True
    assert xmr_limits(BASE[:12] + [12.0]).trial is False
    assert xmr_limits([5.0, 6.0]).trial is True


def test_rnorm_limits_match_nhsrplotthedots_snapshot():
    # _snaps/ptd_spc_standard.md, r1: mean_col 0.1416238, lpl -3.01138, upl 3.294627 (no mR screened).
    for screen in (False, True):
        limits = xmr_limits(RNORM, screen_outliers=screen)
        assert (limits.mean, limits.lower, limits.upper) == (
            approx(0.1416238, abs=1e-7), approx(-3.01138, abs=1e-5), approx(3.294627, abs=1e-6))


def test_outlier_screening_matches_nhsrplotthedots_and_is_off_by_default():
    # _snaps/ptd_spc_standard.md: data$y[15] <- 10; r2 screened, r3 not.
    y = list(RNORM)
    y[14] = 10.0
    screened = xmr_limits(y, screen_outliers=True)
    plain = xmr_limits(y)
    assert screened.mean == plain.mean == approx(0.6694159, abs=1e-7)
    assert (screened.lower, screened.upper) == (approx(-2.383666, abs=1e-6), approx(3.722497, abs=1e-6))
    assert (plain.lower, plain.upper) == (approx(-4.596625, abs=1e-6), approx(5.935457, abs=1e-6))
    result = analyse(y, "higher", None, PTD, screen_outliers=True)
    assert result.flags[14].rule == "outside_limits" and result.flags[14].kind == "improvement"


# ---------------------------------------------------------------- the four rules, worked by hand


@pytest.mark.parametrize(
    ("direction", "kind"), [("higher", "improvement"), ("lower", "concern"), ("neither", "neither_high")]
)
def test_point_above_the_upper_limit_is_special_cause_by_direction(direction, kind):
    # 17 > 16.32.
    result = analyse([*BASE, 17.0], direction, None, FIXED)
    assert result.special_causes == (14,)
    assert result.flags[14].rule == "outside_limits" and result.flags[14].high
    assert result.variation == kind


@pytest.mark.parametrize(("direction", "kind"), [("higher", "concern"), ("lower", "improvement"), ("neither", "neither_low")])
def test_point_below_the_lower_limit_is_special_cause_by_direction(direction, kind):
    # 5 < 5.68.
    result = analyse([*BASE, 5.0], direction, None, FIXED)
    assert result.flags[14].rule == "outside_limits" and not result.flags[14].high
    assert result.variation == kind


def test_point_on_the_limit_is_not_outside():
    # NHSRplotthedots compares strictly (y > upl).
    result = analyse([*BASE, 16.32], "higher", None, FIXED)
    assert result.flags[14] is None


def test_two_of_three_beyond_two_thirds_flags_only_the_close_points():
    # 10 | 15, 13, 15: all three above 11; 15 is beyond 14.5467 and inside 16.32, 13 is not.
    result = analyse([*BASE, 15.0, 13.0, 15.0], "higher", None, FIXED)
    assert rules_of(result)[14:] == ["two_of_three", None, "two_of_three"]
    assert result.variation == "improvement"
    assert analyse([*BASE, 15.0, 13.0, 15.0], "lower", None, FIXED).variation == "concern"


def test_two_of_three_on_opposite_sides_is_common_cause():
    # 15 is close above (>14.5467), 7 close below (<7.4533): not the same side.
    result = analyse([*BASE, 15.0, 7.0], "higher", None, FIXED)
    assert result.special_causes == ()
    assert result.variation == "common_cause"


def test_point_outside_the_limits_does_not_count_towards_two_of_three():
    # 15 close, 17 outside (not "close": R close_to_limits = !outside_limits & ...), 13 not close.
    result = analyse([*BASE, 15.0, 17.0, 13.0], "higher", None, FIXED)
    assert rules_of(result)[14:] == [None, "outside_limits", None]


def test_seven_points_on_one_side_of_the_mean_are_a_shift():
    # 10 (below) | 12, 13, 12, 13, 12, 13, 12: seven above 11, none close (13 < 14.5467), no trend.
    tail = [12.0, 13.0] * 3 + [12.0]
    result = analyse([*BASE, *tail], "lower", None, FIXED)
    assert rules_of(result)[14:] == ["shift"] * 7
    assert result.variation == "concern"
    assert analyse([*BASE, *tail[:6]], "lower", None, FIXED).special_causes == ()
    shorter = SpcSettings(trend_length=6, shift_length=6, baseline_points=14)
    assert analyse([*BASE, *tail[:6]], "lower", None, shorter).variation == "concern"


def test_point_on_the_mean_breaks_a_shift():
    # 12, 13, 12 | 11 (on the mean) | 13, 12, 13, 12: runs of 3 and 4.
    result = analyse([*BASE, 12.0, 13.0, 12.0, 11.0, 13.0, 12.0, 13.0, 12.0], "higher", None, FIXED)
    assert result.special_causes == ()


def test_six_points_rising_are_a_trend_with_the_default_length():
    # 10 (last baseline point), 10.5, 11, 11.5, 12, 12.5: six points, five rises; 12.5 not close.
    result = analyse([*BASE, 10.5, 11.0, 11.5, 12.0, 12.5], "higher", None, FIXED)
    assert result.special_causes == (13, 14, 15, 16, 17, 18)
    assert {result.flags[i].rule for i in result.special_causes} == {"trend"}
    assert result.variation == "improvement"
    assert analyse([*BASE, 10.5, 11.0, 11.5, 12.0, 12.5], "lower", None, FIXED).variation == "concern"
    seven = SpcSettings(trend_length=7, shift_length=7, baseline_points=14)
    assert analyse([*BASE, 10.5, 11.0, 11.5, 12.0, 12.5], "higher", None, seven).variation == "common_cause"


def test_equal_consecutive_values_break_a_trend():
    # 10, 10.5, 11 | 11, 11.5, 12, 12.5: the repeated 11 splits it into runs of 3 and 4 points.
    result = analyse([*BASE, 10.5, 11.0, 11.0, 11.5, 12.0, 12.5], "higher", None, FIXED)
    assert result.special_causes == ()


def test_trend_colour_follows_its_direction_not_the_side_of_the_mean():
    # Issue #171. 14, 13.5, 13, 12.5, 12, 11.5: six falling points, all above the mean 11.
    result = analyse([*BASE, 14.0, 13.5, 13.0, 12.5, 12.0, 11.5], "higher", None, FIXED)
    assert rules_of(result)[14:] == ["trend"] * 6
    assert not result.flags[19].high
    assert result.variation == "concern"


def test_outside_limits_takes_priority_over_a_trend():
    # 10, 11, 12, 13, 14, 15, 17 rise; 17 > 16.32 is outside; 15 is close but 2-of-3 ranks lower.
    result = analyse([*BASE, 11.0, 12.0, 13.0, 14.0, 15.0, 17.0], "higher", None, FIXED)
    assert rules_of(result)[13:] == ["trend"] * 6 + ["outside_limits"]


def test_trend_takes_priority_over_two_of_three():
    # 10, 11, 12, 13, 14, 14.8, 15.5 rise six times; 14.8 and 15.5 are also close (beyond 14.5467,
    # inside 16.32) in the all-above window 14, 14.8, 15.5, but the trend ranks higher.
    result = analyse([*BASE, 11.0, 12.0, 13.0, 14.0, 14.8, 15.5], "higher", None, FIXED)
    assert rules_of(result)[13:] == ["trend"] * 7
    assert rule_two_of_three([False, True, True], [1, 1, 1]) == [0, 1, 1]


def test_two_of_three_takes_priority_over_a_shift():
    # Seven above the mean; 15s at 18 and 20 are close and share a same-side window.
    result = analyse([*BASE, 12.0, 13.0, 12.0, 13.0, 15.0, 12.0, 15.0], "higher", None, FIXED)
    assert rules_of(result)[14:] == ["shift"] * 4 + ["two_of_three", "shift", "two_of_three"]


def test_common_cause_when_no_rule_fires():
    result = analyse(BASE, "higher", None, FIXED)
    assert result.special_causes == ()
    assert result.variation == "common_cause"


# ---------------------------------------------------------------- NHSRplotthedots's own cases


def test_part_of_seven_point_trend_vectors():
    # test-ptd_calculate_point_type.R: ptd_seven_point_trend + ptd_part_of_seven_trend.
    assert rule_trend([], 7) == []
    assert rule_trend([1, 2, 3, 4, 5, 6], 7) == [0] * 6
    assert rule_trend([1, 2, 3, 3, 4, 5, 6], 7) == [0] * 7
    assert rule_trend([1, 2, 3, 4, 5, 6, 7], 7) == [1] * 7
    assert rule_trend([2, 1, 2, 3, 4, 5, 6, 7, 3], 7) == [0] + [1] * 7 + [0]
    assert rule_trend([7, 6, 5, 4, 3, 2, 1], 7) == [-1] * 7
    assert rule_trend([2, 7, 6, 5, 4, 3, 2, 1, 3], 7) == [0] + [-1] * 7 + [0]


def test_trend_turning_point_takes_the_later_trend():
    # ptd_special_cause_type: "if a point is part of a trend either side, use right side".
    assert rule_trend([1, 2, 3, 4, 5, 6, 7, 6, 5, 4, 3, 2, 1], 7) == [1] * 6 + [-1] * 7


def test_seven_points_one_side_of_mean_vectors():
    # test-ptd_calculate_point_type.R: ptd_seven_point_one_side_mean, then ptd_part_of_seven_trend.
    assert rule_shift([], 7) == []
    assert rule_shift([1] * 6, 7) == [0] * 6
    assert rule_shift([1] * 6 + [-1], 7) == [0] * 7
    assert rule_shift([1] * 8 + [-1], 7) == [1] * 8 + [0]
    assert rule_shift([-1] * 8 + [1], 7) == [-1] * 8 + [0]
    assert rule_shift([1, 1, 1, 0, 1, 1, 1, 1], 7) == [0] * 8


def test_two_in_three_vectors():
    # test-ptd_calculate_point_type.R: ptd_two_in_three + ptd_part_of_two_in_three.
    same = [1] * 7
    assert rule_two_of_three([], []) == []
    assert rule_two_of_three([True, False, True], [1, 1, 1]) == [1, 0, 1]
    assert rule_two_of_three([False, True, True], [1, 1, 1]) == [0, 1, 1]
    assert rule_two_of_three([True, True, False], [1, 1, 1]) == [1, 1, 0]
    assert rule_two_of_three([0, 0, 1, 0, 1, 0, 0], same) == [0, 0, 1, 0, 1, 0, 0]
    assert rule_two_of_three([0, 0, 1, 1, 0, 0, 0], same) == [0, 0, 1, 1, 0, 0, 0]
    assert rule_two_of_three([1, 0, 0, 1], [1] * 4) == [0] * 4
    assert rule_two_of_three([1, 0, 0, 1, 1], [1] * 5) == [0, 0, 0, 1, 1]
    assert rule_two_of_three([True, False, True], [-1, -1, -1]) == [-1, 0, -1]


def test_two_in_three_opposite_sides_vectors():
    # test-ptd_calculate_point_type.R: "...when points are on opposite sides of the mean".
    assert rule_two_of_three([1, 0, 1], [1, -1, 1]) == [0] * 3
    assert rule_two_of_three([0, 1, 1], [1, -1, 1]) == [0] * 3
    assert rule_two_of_three([1, 1, 0], [1, -1, 1]) == [0] * 3
    assert rule_two_of_three([0, 0, 1, 0, 1, 0, 0], [1, -1, 1, -1, 1, -1, 1]) == [0] * 7
    assert rule_two_of_three([0, 0, 1, 1, 0, 0, 0], [-1, 1, -1, 1, -1, 1, -1]) == [0] * 7


@pytest.mark.parametrize("screen", [True, False])
def test_close_points_on_opposite_sides_are_common_cause(screen):
    # test-ptd_spc_standard.R: 1, -1 x 8 with [15] = 5.5, [16] = -5.5. Mean 0. Screened (the R
    # default): mRs 13 x 2 + 6.5 (11 dropped, >= 3.267 x 2.9) -> 2.3214; upl 6.175, 2/3 line 4.117.
    # Unscreened: mR 43.5/15 = 2.9; upl 7.714, 2/3 line 5.143. Either way 5.5 and -5.5 are close.
    data = [1.0, -1.0] * 8
    data[14], data[15] = 5.5, -5.5
    result = analyse(data, "higher", None, PTD, screen_outliers=screen)
    assert result.limits.mean == approx(0.0, abs=1e-12)
    expected_upper = 2.66 * (32.5 / 14 if screen else 43.5 / 15)
    assert result.limits.upper == approx(expected_upper)
    assert result.limits.upper_two_thirds < 5.5 < result.limits.upper
    assert result.flags[14:] == (None, None)
    assert result.variation == "common_cause"


def test_rnorm_series_is_all_common_cause_with_target_within_limits():
    # _snaps/ptd_spc.md summary: n 20, common_cause 20; target 0.5 lies inside [-3.01, 3.29].
    result = analyse(RNORM, "higher", Target("floor", 0.5), PTD, screen_outliers=True)
    assert result.special_causes == ()
    assert result.variation == "common_cause"
    assert result.assurance == "hit_and_miss"


def test_rebase_segments_match_nhsrplotthedots_facets():
    # _snaps/ptd_spc.md: facets of the first and last 10 points: 0.0746 [-2.60, 2.75], 0.209 [-3.28, 3.70].
    result = analyse(RNORM, "higher", None, PTD, rebase_index=10, screen_outliers=True)
    (s0, first), (s1, second) = result.segments
    assert (s0, s1) == (0, 10)
    assert (first.mean, first.lower, first.upper) == (approx(0.0746, abs=5e-5), approx(-2.60, abs=5e-3), approx(2.75, abs=5e-3))
    assert (second.mean, second.lower, second.upper) == (approx(0.209, abs=5e-4), approx(-3.28, abs=5e-3), approx(3.70, abs=5e-3))
    assert result.limits is second and result.limits_at(3) is first
    assert first.trial and second.trial
    assert result.special_causes == ()


def test_issue_167_every_point_of_an_eight_point_trend_is_special_cause():
    # 0..7: mean 3.5, mR 1, limits [0.84, 6.16]: 0 and 7 are outside, 1..6 are the rising trend.
    up = analyse(list(range(8)), "higher", None, PTD)
    assert rules_of(up) == ["outside_limits"] + ["trend"] * 6 + ["outside_limits"]
    assert [f.kind for f in up.flags] == ["concern"] + ["improvement"] * 7
    down = analyse([-v for v in range(8)], "higher", None, PTD)
    assert len(down.special_causes) == 8
    assert [f.kind for f in down.flags] == ["improvement"] + ["concern"] * 7


@pytest.mark.parametrize(
    ("lower", "mean", "upper", "floor", "ceiling"),
    [(1, 2, 3, "fail", "pass"), (5, 6, 7, "pass", "fail"), (1, 4, 5, "hit_and_miss", "hit_and_miss")],
)
def test_assurance_cases_from_nhsrplotthedots(lower, mean, upper, floor, ceiling):
    # test-ptd_calculate_assurance_type.R, target 4: "increase" = floor, "decrease" = ceiling.
    limits = Limits(mean, lower, upper, (upper - mean) / 2.66, 20, False)
    assert assurance(limits, Target("floor", 4)) == floor
    assert assurance(limits, Target("ceiling", 4)) == ceiling


def test_assurance_uses_the_latest_rebase_segment():
    # test-ptd_calculate_assurance_type.R "when rebase": the last group's limits decide.
    # 1, 3 x 7: mean 2, mR 2 -> [-3.32, 7.32]; 10, 11 x 7: mean 10.5, mR 1 -> [7.84, 13.16].
    values = [1.0, 3.0] * 7 + [10.0, 11.0] * 7
    assert analyse(values, "higher", Target("floor", 4), PTD, rebase_index=14).assurance == "pass"
    # One chart: mean 175/28 = 6.25, mR (26 + 7 + 13)/27 = 1.7037 -> [1.72, 10.78] holds 4.
    assert analyse(values, "higher", Target("floor", 4), PTD).assurance == "hit_and_miss"


def test_short_rebase_group_has_trial_limits():
    # test-ptd_add_short_group_warnings.R: groups of 35 and 5 points; only the 5 are short.
    values = [12.0, 10.0] * 20
    result = analyse(values, "higher", None, PTD, rebase_index=35)
    assert [limits.trial for _, limits in result.segments] == [False, True]
    assert result.trial


# ---------------------------------------------------------------- the seed's series


def test_seed_sickness_absence():
    # Mean 73.38/13 = 5.644615%; mRs .47 .02 1.63 .73 .04 .13 .18 .48 .60 .15 .88 .58 = 5.89 -> 0.490833%.
    # Limits 5.644615 -/+ 1.305617 -> [4.338998%, 6.950232%]; 2/3 lines [4.774204%, 6.515026%].
    # Mar-23 4.17 < 4.339: below (lower is better: improvement); Nov-23 6.98 > 6.950: above (concern).
    # No close points inside the limits, longest rise 4.86..6.25 is 5 points, longest side-run 5.
    # Dec-23 6.40: common cause. The 4.5% ceiling lies inside the limits: hit and miss.
    result = analyse(pct(SICKNESS), "lower", Target("ceiling", 0.045, percent=True), SpcSettings())
    limits = result.limits
    assert limits.mean == approx(0.05644615, abs=1e-8)
    assert limits.mr_mean == approx(0.00490833, abs=1e-8)
    assert (limits.lower, limits.upper) == (approx(0.04338998, abs=1e-8), approx(0.06950232, abs=1e-8))
    assert limits.points == 13 and not limits.trial
    assert result.special_causes == (3, 11)
    assert (result.flags[3].kind, result.flags[11].kind) == ("improvement", "concern")
    assert result.variation == "common_cause"
    assert result.assurance == "hit_and_miss"
    assert symbols(result) == ("● Common cause", "? Hit and miss")
    assert colours(result) == (GREY, GREY)


def test_seed_sickness_absence_with_nhsrplotthedots_screening():
    # 1.63 >= 3.267 x 0.490833 = 1.6036 is screened: mR 4.26/11 = 0.387273%, limits [4.614470%, 6.674760%],
    # 2/3 lines [4.957852%, 6.331378%]. 4.5% is now below the lower limit: consistently failing.
    # 4.90 and 4.86 are close below with 4.17 (outside) in the same all-below window: 2 of 3.
    result = analyse(pct(SICKNESS), "lower", Target("ceiling", 0.045), SpcSettings(), screen_outliers=True)
    assert (result.limits.lower, result.limits.upper) == (approx(0.04614470, abs=1e-8), approx(0.06674760, abs=1e-8))
    assert rules_of(result)[3:6] == ["outside_limits", "two_of_three", "two_of_three"]
    assert result.special_causes == (3, 4, 5, 11)
    assert result.variation == "common_cause"
    assert result.assurance == "fail"


def test_seed_appraisals():
    # Mean 1161.73/13 = 89.363846%; mRs sum 11.60 -> 0.966667%; limits 89.363846 -/+ 2.571333
    # -> [86.792513%, 91.935179%]. The 92% floor is above the upper limit: consistently failing.
    # 87.88, 88.23, 89.17, 89.50, 89.78, 90.69 (Jun..Nov-23) rise six times in a row: a trend
    # with the default length 6 (improvement, higher is better); 88.90 ends it, so Dec-23
    # (90.61) is common cause. NHSRplotthedots's 7-point trend (xlq's default) finds nothing.
    result = analyse(pct(APPRAISALS), "higher", Target("floor", 0.92, percent=True), SpcSettings(trend_length=6))
    limits = result.limits
    assert limits.mean == approx(0.89363846, abs=1e-8)
    assert limits.mr_mean == approx(0.00966667, abs=1e-8)
    assert (limits.lower, limits.upper) == (approx(0.86792513, abs=1e-8), approx(0.91935179, abs=1e-8))
    assert result.special_causes == (5, 6, 7, 8, 9, 10)
    assert {result.flags[i].kind for i in result.special_causes} == {"improvement"}
    assert result.variation == "common_cause"
    assert result.assurance == "fail"
    assert symbols(result) == ("● Common cause", "F Consistently failing")
    assert colours(result) == (GREY, ORANGE)
    assert analyse(pct(APPRAISALS), "higher", None, PTD).special_causes == ()
    assert analyse(pct(APPRAISALS), "higher", None, SpcSettings()).special_causes == ()


# ---------------------------------------------------------------- edge cases


def test_flat_series_collapses_limits_without_calling_points_special():
    result = analyse([1.0] * 13, "higher", Target("floor", 1.0), SpcSettings())
    limits = result.limits
    assert (limits.mean, limits.lower, limits.upper, limits.mr_mean) == (1.0, 1.0, 1.0, 0.0)
    assert limits.collapsed
    assert result.special_causes == ()
    assert result.variation == "common_cause"
    assert result.assurance == "pass"  # every point meets ">= 100%"


def test_zero_moving_range_across_a_gap_does_not_flag_every_point():
    # 1.0, 1.0, 1.0, -, 0.95, 0.95, 0.95: every moving range is 0 (none spans the gap), so the
    # limits collapse onto the mean 0.975 with no estimate of variation; no point is "outside".
    result = analyse([1.0, 1.0, 1.0, None, 0.95, 0.95, 0.95], "higher", None, SpcSettings())
    assert result.limits.collapsed and result.limits.mean == approx(0.975)
    assert result.special_causes == ()
    assert result.variation == "common_cause"


@pytest.mark.parametrize(
    ("target", "expected"),
    [(Target("floor", 0.01), "pass"), (Target("floor", 0.015), "pass"), (Target("floor", 0.02), "fail"),
     (Target("ceiling", 0.015), "pass"), (Target("ceiling", 0.01), "fail")],
)
def test_flat_series_of_awkward_floats_is_not_split_by_rounding(target, expected):
    # fsum([0.015] * 13) / 13 is not exactly 0.015: without a tolerance every point would sit
    # "above" (or "below") the mean and the thirteen would read as a shift.
    assert math.fsum([0.015] * 13) / 13 != 0.015
    result = analyse([0.015] * 13, "higher", target, SpcSettings())
    assert result.special_causes == ()
    assert result.assurance == expected


def test_flat_series_then_a_drop_is_a_signal():
    # 1.0 x 12 then 0.9: mean 12.9/13 = 0.992308, mR 0.1/12 = 0.008333, lower 0.970141.
    # 0.9 is below; the twelve 1.0s sit above the mean: a shift.
    result = analyse([1.0] * 12 + [0.9], "higher", None, SpcSettings())
    assert result.limits.lower == approx(0.970141, abs=1e-6)
    assert rules_of(result) == ["shift"] * 12 + ["outside_limits"]
    assert result.variation == "concern"


@pytest.mark.parametrize("values", [[], [None], [5.0], [5.0, None, 6.0]])
def test_too_few_points_give_no_variation_or_assurance(values):
    result = analyse(values, "higher", Target("floor", 1), SpcSettings())
    assert (result.variation, result.assurance) == ("none", "none")
    assert result.limits is None


def test_too_few_points_give_limits_but_no_verdict_and_six_give_one():
    # 5, 6: mean 5.5, mR 1 -> [2.84, 8.16]; a floor of 10 is above the upper limit, but two
    # points are below MIN_POINTS: no variation, no assurance, no special cause.
    result = analyse([5.0, 6.0], "higher", Target("floor", 10), SpcSettings())
    assert result.trial and result.limits is not None
    assert (result.variation, result.assurance) == ("none", "none")
    five = analyse([5.0, 6.0, 5.0, 6.0, 30.0], "higher", Target("floor", 10), SpcSettings())
    assert MIN_POINTS == 6 and (five.variation, five.assurance, five.special_causes) == ("none", "none", ())
    six = analyse([5.0, 6.0, 5.0, 6.0, 5.0, 6.0], "higher", Target("floor", 10), SpcSettings())
    assert (six.variation, six.assurance) == ("common_cause", "fail")


def test_runs_skip_missing_months():
    # Seven observed points above the mean with a gap in the middle are still a shift.
    values = [*BASE, 12.0, 13.0, None, 12.0, 13.0, 12.0, 13.0, 12.0]
    result = analyse(values, "higher", None, FIXED)
    assert rules_of(result)[14:] == ["shift", "shift", None, "shift", "shift", "shift", "shift", "shift"]


def test_latest_point_is_the_last_observed_month():
    result = analyse([*BASE, 17.0, None], "higher", Target("floor", 5), FIXED)
    assert result.latest_index == 14
    assert result.variation == "improvement"
    assert result.assurance == "pass"


def test_rebase_gives_the_new_service_its_own_limits():
    # 10, 12 x 7 then 20, 22 x 7: as one chart the second half is all special cause; rebased at
    # 14 the new segment has mean 21, mR 2 -> [15.68, 26.32] and the latest point is common cause.
    values = [10.0, 12.0] * 7 + [20.0, 22.0] * 7
    assert analyse(values, "higher", None, SpcSettings()).variation == "improvement"
    result = analyse(values, "higher", None, SpcSettings(), rebase_index=14)
    assert result.limits.mean == 21.0 and result.limits.lower == approx(15.68)
    assert result.special_causes == ()
    assert result.variation == "common_cause"


def test_rebase_on_the_latest_month_leaves_too_few_points():
    result = analyse([*BASE, 30.0], "higher", None, SpcSettings(), rebase_index=14)
    assert result.limits is None
    assert result.variation == "none"


def test_target_changing_over_time_is_judged_as_in_force_at_the_latest_point():
    # BASE limits [5.68, 16.32]; floor 5 passes, floor 20 fails; the last month's target decides.
    targets = [Target("floor", 5.0)] * 10 + [Target("floor", 20.0)] * 4
    result = analyse(BASE, "higher", targets, SpcSettings())
    assert result.target == Target("floor", 20.0)
    assert result.assurance == "fail"
    assert analyse(BASE, "higher", targets[::-1], SpcSettings()).assurance == "pass"
    assert analyse(BASE, "higher", [*targets[:-1], None], SpcSettings()).assurance == "none"


def test_trajectory_target_is_pending_before_its_date():
    periods, _ = monthly([("2023-01", 0.0), ("2024-02", 0.0)])
    target = Target("floor", 20.0, by="2024-03")
    result = analyse(BASE, "higher", target, SpcSettings(), periods=periods)
    assert (result.assurance, result.target_pending) == ("fail", True)
    later, _ = monthly([("2023-02", 0.0), ("2024-03", 0.0)])
    assert analyse(BASE, "higher", target, SpcSettings(), periods=later).target_pending is False


def test_direction_neither_still_gets_assurance_from_the_targets_side():
    result = analyse(BASE, "neither", Target("ceiling", 20.0), SpcSettings())
    assert result.assurance == "pass"


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="direction"):
        analyse(BASE, "up", None, SpcSettings())
    with pytest.raises(ValueError, match="periods"):
        analyse(BASE, "higher", None, SpcSettings(), periods=["2023-01"])
    with pytest.raises(ValueError, match="targets"):
        analyse(BASE, "higher", [None], SpcSettings())
    with pytest.raises(ValueError, match="trend_length"):
        analyse(BASE, "higher", None, SpcSettings(trend_length=1))


@given(
    st.lists(st.one_of(st.none(), st.floats(min_value=-1e6, max_value=1e6)), max_size=40),
    st.sampled_from(["higher", "lower", "neither"]),
)
def test_any_series_gives_aligned_flags_and_a_consistent_status(values, direction):
    result = analyse(values, direction, Target("floor", 0.0), SpcSettings())
    assert len(result.flags) == len(values)
    assert all(flag is None for flag, v in zip(result.flags, values, strict=True) if v is None)
    too_few = result.limits is None or result.limits.points < MIN_POINTS
    assert too_few == (result.variation == "none") == (result.assurance == "none")
    if result.limits is not None:
        assert result.limits.lower <= result.limits.mean <= result.limits.upper
        assert all(f.kind != "none" for f in result.flags if f)


# ---------------------------------------------------------------- symbols, helpers, real files


@pytest.mark.parametrize(
    ("values", "direction", "text", "colour"),
    [
        ([*BASE, 17.0], "higher", "▲ Improvement (high)", BLUE),
        ([*BASE, 5.0], "lower", "▼ Improvement (low)", BLUE),
        ([*BASE, 17.0], "lower", "▲ Concern (high)", ORANGE),
        ([*BASE, 5.0], "higher", "▼ Concern (low)", ORANGE),
        ([*BASE, 17.0], "neither", "▲ Special cause (high)", PURPLE),
        ([*BASE, 5.0], "neither", "▼ Special cause (low)", PURPLE),
        ([5.0], "higher", "– Not enough data", None),
    ],
)
def test_variation_symbols_and_colours(values, direction, text, colour):
    result = analyse(values, direction, None, FIXED)
    assert symbols(result)[0] == text
    assert colours(result)[0] == colour


def test_assurance_symbols():
    assert symbols(analyse(BASE, "higher", Target("floor", 5.0), FIXED))[1] == "P Consistently passing"
    assert colours(analyse(BASE, "higher", Target("floor", 5.0), FIXED))[1] == BLUE
    assert symbols(analyse(BASE, "higher", None, FIXED))[1] == ""
    assert symbols(analyse([5.0], "higher", Target("floor", 5.0), FIXED))[1] == "– Not enough data"
    assert {row[2] for row in LEGEND} == {GREY, BLUE, ORANGE, PURPLE}


def test_monthly_fills_missing_months_with_none():
    periods, values = monthly([("2023-11", 1.0), ("2024-02", 4.0), ("2023-12", 2.0)])
    assert periods == ["2023-11", "2023-12", "2024-01", "2024-02"]
    assert values == [1.0, 2.0, None, 4.0]
    assert monthly([]) == ([], [])


def test_indicator_from_real_catalogue_and_workspace_files(tmp_path: Path):
    workspace, catalogue = write_workspace(
        tmp_path,
        catalogue='version = "t1"\n'
                  "[[indicator]]\n"
                  'code = "SICK"\ndomain = "Workforce"\nname = "Sickness absence"\nunit = "percent"\n'
                  'direction = "lower"\ntarget = "<= 4.5%"\naggregate = "sum"\n',
        config='[organisation]\nname = "Test Trust"\n'
               '[[department]]\ncode = "CORP"\nname = "Corporate"\n'
               '[spc]\ntrend_length = 6\nshift_length = 7\nrebase = { SICK = "2023-06" }\n',
    )
    assert catalogue is not None
    indicator = catalogue["SICK"]
    periods = ["2022-12"] + [f"2023-{m:02d}" for m in range(1, 13)]
    series = [(p, v) for p, v in zip(periods, pct(SICKNESS), strict=True) if p != "2023-03"]

    assert rebase_index_for("SICK", periods, workspace.spc) == 6
    assert rebase_index_for("OTHER", periods, workspace.spc) is None
    assert rebase_index_for("SICK", ["2023-06", "2023-07"], workspace.spc) is None  # from the start: no rebase
    assert rebase_index_for("SICK", ["2023-04", "2023-05"], workspace.spc) is None  # not reached yet
    result = analyse_indicator(indicator, series, workspace.spc)
    assert result.values[3] is None  # Mar-23 left out of the series stays a gap
    assert [start for start, _ in result.segments] == [0, 6]
    # Segment from Jun-23 (index 6): 4.99 5.17 5.65 6.25 6.10 6.98 6.40 -> mean 41.54/7 = 5.934286%,
    # mRs .18 .48 .60 .15 .88 .58 = 2.87/6 = 0.478333%, limits 5.934286 -/+ 1.272367 -> [4.661919%, 7.206653%],
    # 2/3 lines [5.086042%, 6.782530%]: 4.99 and 6.98 are close but each alone in its window.
    # 7 points: trial limits. The 4.5% ceiling is below the lower limit: consistently failing.
    assert result.limits.mean == approx(0.05934286, abs=1e-8)
    assert (result.limits.lower, result.limits.upper) == (approx(0.04661919, abs=1e-8), approx(0.07206653, abs=1e-8))
    assert result.limits.trial
    assert (result.variation, result.assurance) == ("common_cause", "fail")
    # Dec-22..May-23 without Mar: 6.29 5.82 5.80 - 4.90 4.86 -> mean 27.67/5 = 5.534%, mRs .47 .02 .04
    # (none across the gap) = 0.176667%, limits [5.064067%, 6.003933%]: 6.29, 4.90 and 4.86 are outside.
    first = result.segments[0][1]
    assert (first.lower, first.upper) == (approx(0.05064067, abs=1e-8), approx(0.06003933, abs=1e-8))
    assert first.points == 5 and result.special_causes == ()  # below MIN_POINTS: no calls in that segment
    assert result.target == indicator.target
