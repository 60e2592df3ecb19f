"""The indicator catalogue: what each department reports, how it is judged and summed.

It lives in a TOML file an analyst can edit (`catalogue.toml` in the workspace), so a new
indicator needs no code. Loading checks everything a later stage relies on and reports
problems as one-line `CatalogueError`s naming the file and the indicator.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from xlq.core.errors import CatalogueError
from xlq.core.months import PERIOD_RE, month_label, months_between, shift_period
from xlq.core.toml_cache import load_toml

Unit = Literal["count", "percent", "ratio", "rate", "days", "number"]
Direction = Literal["higher", "lower", "neither"]
Aggregate = Literal["sum", "ratio", "mean", "central", "rolling12"]
Frequency = Literal["monthly", "quarterly", "annually", "pending"]

UNITS: tuple[str, ...] = ("count", "percent", "ratio", "rate", "days", "number")
DIRECTIONS: tuple[str, ...] = ("higher", "lower", "neither")
AGGREGATES: tuple[str, ...] = ("sum", "ratio", "mean", "central", "rolling12")
PARTS_UNITS: tuple[str, ...] = ("count", "fte", "days", "fte days", "hours")
"""What a ratio's numerator and denominator (or a count's value) are counted in: people and
events are whole (`count`); FTE, days and hours take decimals (289.4 / 4194.6 FTE days)."""
FREQUENCIES: tuple[str, ...] = ("monthly", "quarterly", "annually", "pending")
_TARGET_RE = re.compile(
    r"^\s*(?P<op>>=|<=|=)?\s*(?P<num>-?\d+(?:\.\d+)?)\s*(?P<pct>%)?\s*(?:by\s+(?P<by>\d{4}-\d{2}))?\s*$"
)

DEFAULT_CATALOGUE = Path(__file__).parent.parent / "data" / "catalogue.toml"



@dataclass(frozen=True)
class Target:
    """A target as the seed states it: a floor ("90%"), a ceiling ("0"), or none.

    `by` (YYYY-MM) makes it a deadline target such as "90% by March 2024". `milestones`
    are the points the board agreed on the way, oldest first: a trajectory (one per month)
    or a baseline (one point); a month between two points is judged against the straight
    line joining them, ending at the target on its date. Percent targets are fractions (0.9).
    """

    kind: Literal["floor", "ceiling", "none"]
    value: float | None = None
    by: str | None = None
    percent: bool = False
    milestones: tuple[tuple[str, float], ...] = ()

    def at(self, period: str) -> float | None:
        """The figure a month is judged against. It depends on the month alone, never on
        which months a report shows: without an agreed trajectory or baseline, a deadline
        target is judged at its final value in every month (nobody agreed a slower path);
        before the first agreed point, likewise."""
        if self.kind == "none" or self.value is None:
            return None
        if not self.by or period >= self.by or not self.milestones or period < self.milestones[0][0]:
            return self.value
        points = [*self.milestones, (self.by, self.value)]
        for (start, low), (end, high) in zip(points, points[1:], strict=False):
            if start <= period < end:
                span = len(months_between(start, end)) - 1
                done = len(months_between(start, period)) - 1
                return low + (high - low) * done / span if span else high
        return self.value

    @property
    def text(self) -> str:
        if self.kind == "none" or self.value is None:
            return "No target"
        number = f"{self.value * 100:g}%" if self.percent else f"{self.value:g}"
        sign = ">=" if self.kind == "floor" else "<="
        return f"{sign}{number}" + (f" by {month_label(self.by)}" if self.by else "")

    @property
    def agreed_path(self) -> str:
        """How months before the deadline are judged, in words for notes and the legend."""
        if not self.by:
            return ""
        if not self.milestones:
            return f"no agreed trajectory: every month is judged against {self.text}"
        first, value = self.milestones[0]
        shown = f"{value * 100:g}%" if self.percent else f"{value:g}"
        kind = "trajectory" if len(self.milestones) > 1 else "baseline"
        return f"agreed {kind} from {shown} in {month_label(first)} to {self.text}"


@dataclass(frozen=True)
class TargetSpan:
    """One target in force from a month (`start`, None: always before) to a month (`end`, inclusive)."""

    start: str | None
    end: str | None
    target: Target
    tolerance: float

    def covers(self, period: str) -> bool:
        return (self.start is None or period >= self.start) and (self.end is None or period <= self.end)


@dataclass(frozen=True)
class Indicator:
    """One row of the scorecard and of each reporting department's template."""

    code: str
    domain: str
    subdomain: str
    name: str
    description: str
    unit: Unit
    target: Target
    direction: Direction
    tolerance: float
    aggregate: Aggregate
    reported_by: tuple[str, ...]
    weight: str | None = None
    central: str | None = None
    cross_check: str | None = None
    source: str | None = None
    denominator: Literal["sum", "mean"] = "sum"
    parts: tuple[str, ...] = ()
    required: bool = True
    active_from: str | None = None
    active_until: str | None = None
    decimals: int = 0
    maximum: float | None = None
    """`max` in the catalogue: the largest value (or numerator, denominator) that is believable."""
    show: bool = True
    note: str = ""
    parts_unit: str = "count"
    frequency: Frequency = "monthly"
    targets: tuple[TargetSpan, ...] = ()
    """Targets in force by month (issue 21); empty: `target` and `tolerance` hold every month."""
    redefined_from: str | None = None
    redefinition: str = ""
    renamed_from: tuple[str, ...] = ()

    def as_of(self, period: str) -> Indicator:
        """This indicator with the target and tolerance in force in `period` (`xlq.core.timeline`)."""
        if not self.targets:
            return self
        span = next((s for s in reversed(self.targets) if s.covers(period)), None)
        if span is None:  # before the first target: the first; after the last has ended: the last
            span = self.targets[0] if period < (self.targets[0].start or "") else self.targets[-1]
        return replace(self, target=span.target, tolerance=span.tolerance, targets=())

    @property
    def whole(self) -> bool:
        """Its figures (a count, or a ratio's numerator and denominator) must be whole numbers."""
        return self.parts_unit == "count" and self.unit in ("count", "ratio")

    @property
    def is_percent(self) -> bool:
        """Percent and ratio values are fractions shown as percentages."""
        return self.unit in ("percent", "ratio")

    @property
    def derived(self) -> bool:
        """Derived indicators are computed from stored components, never typed in."""
        return self.aggregate == "rolling12"

    def display(self, number: float, *, min_decimals: int = 0, grouping: bool = True) -> str:
        """How this indicator's numbers read as text: 93%, 6.29%, 1,234. `min_decimals` keeps a
        fraction of a percentage point visible (a tolerance of 0.5%); `grouping=False` gives
        text a template can read back as a number."""
        if self.is_percent:
            return f"{number * 100:.{max(self.decimals, min_decimals)}f}%"
        sep = "," if grouping else ""
        if self.decimals:
            return f"{number:{sep}.{self.decimals}f}"
        rounded = round(float(number), 6)
        return f"{int(rounded):{sep}d}" if rounded.is_integer() else f"{rounded:{sep}}"

    def number_format(self, *, entry: bool = False) -> str:
        """The Excel number format for this indicator (the one place xlq builds one): `0.0%`
        for percent-like values, `#,##0` or `#,##0.00` otherwise, with `decimals` places.
        `entry` gives the format of a template cell a department types into, where a count
        stays whole and a number without stated decimals shows what was typed (General)."""
        decimals = "." + "0" * self.decimals if self.decimals > 0 else ""
        if self.is_percent:
            return f"0{decimals}%"
        if entry and self.unit == "count":
            return "#,##0"
        if entry and not decimals:
            return "General"
        return f"#,##0{decimals}"

    def reports(self, department: str, all_departments: tuple[str, ...] = ()) -> bool:
        if self.derived:
            return False
        if self.reported_by == ("all",):
            return department in all_departments if all_departments else True
        return department in self.reported_by

    def active(self, period: str) -> bool:
        return (self.active_from is None or period >= self.active_from) and (
            self.active_until is None or period <= self.active_until
        )

    def due(self, period: str) -> bool:
        """A value is expected this month: a blank in a month nothing is due (a quarterly
        survey between collections, a row whose data is pending) is plain, not a problem."""
        return self.frequency == "monthly" and self.active(period)


@dataclass(frozen=True)
class Catalogue:
    """The loaded catalogue; indicators keep the file's order, which is the scorecard's."""

    version: str
    indicators: tuple[Indicator, ...]
    path: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_code", {i.code: i for i in self.indicators})
        object.__setattr__(self, "_aliases", {old: i.code for i in self.indicators for old in i.renamed_from})

    def resolve(self, code: str) -> str:
        """The current code for `code`: an indicator's own code, or the code it was renamed to."""
        return code if code in self else self._aliases.get(code, code)  # type: ignore[attr-defined]

    def __getitem__(self, code: str) -> Indicator:
        return self._by_code[code]  # type: ignore[attr-defined]

    def __contains__(self, code: object) -> bool:
        return code in self._by_code  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self.indicators)

    def read_by(self, indicators: Sequence[Indicator]) -> frozenset[str]:
        """The codes whose stored values the organisation figures of `indicators` read: their own,
        the weights they weight by, a rolling figure's source (and what that reads), and the old
        codes of any renamed (`xlq history` reads only these)."""
        codes: set[str] = set()
        todo = [i.code for i in indicators]
        while todo:
            code = todo.pop()
            if code in codes or code not in self:
                continue
            codes.add(code)
            indicator = self[code]
            codes.update(indicator.renamed_from)
            todo += [c for c in (indicator.weight, indicator.source) if c]
        return frozenset(codes)

    def domains(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(i.domain for i in self.indicators))

    def for_department(self, department: str, period: str, departments: tuple[str, ...] = ()) -> tuple[Indicator, ...]:
        """The indicators a department's template for `period` asks for."""
        return tuple(i for i in self.indicators if i.reports(department, departments) and i.active(period))


def parse_target(text: str, unit: str) -> Target:
    """Parse the catalogue's target notation: `none`, `>= 90%`, `<= 0`, `>= 90% by 2024-03`.

    A bare number is a floor for percent-like units and a ceiling otherwise, matching how
    the seed writes "90%" (a floor) and "0" (never events: a ceiling).
    """
    cleaned = text.strip().lower()
    if cleaned in ("", "none", "no target", "n/a"):
        return Target("none")
    match = _TARGET_RE.match(cleaned)
    if not match:
        raise ValueError(f"target {text!r} is not 'none', '>= N', '<= N' or '>= N% by YYYY-MM'")
    percent = bool(match["pct"])
    number = float(match["num"]) / (100 if percent else 1)
    op = match["op"]
    kind: Literal["floor", "ceiling"]
    if op == ">=":
        kind = "floor"
    elif op == "<=":
        kind = "ceiling"
    else:
        kind = "floor" if unit in ("percent", "ratio") and number > 0 else "ceiling"
    by = match["by"]
    if by and not PERIOD_RE.match(by):
        raise ValueError(f"target date {by!r} is not YYYY-MM")
    return Target(kind, number, by, percent)


def parse_amount(text: str | float | int) -> float:
    """Tolerances use the target's notation: `2%` is two percentage points (0.02)."""
    if isinstance(text, (int, float)):
        return float(text)
    cleaned = text.strip()
    if cleaned.endswith("%"):
        return float(cleaned[:-1]) / 100
    return float(cleaned or 0)


def load_catalogue(path: Path | str | None = None, departments: tuple[str, ...] = (),
                   cache: Path | None = None) -> Catalogue:
    """Load and check a catalogue; `departments` (from xlq.toml) checks `reported_by`; `cache`
    (a workspace's `Workspace.cache_dir`) keeps what the text parsed to (core/toml_cache.py)."""
    source = Path(path) if path else DEFAULT_CATALOGUE
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogueError(f"{source}: catalogue file not found") from None
    return parse_catalogue(text, source, departments, cache)


def parse_catalogue(text: str, source: Path | str = "catalogue.toml", departments: tuple[str, ...] = (),
                    cache: Path | None = None) -> Catalogue:
    """A catalogue from its TOML text (a stored catalogue version reads back through this)."""
    source = Path(source)
    try:
        data = load_toml(text, cache, "catalogue")
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{source}: {exc}") from None
    version = str(data.get("version", "")).strip()
    if not version:
        raise CatalogueError(f"{source}: missing top-level key 'version'")
    entries = data.get("indicator")
    if not isinstance(entries, list) or not entries:
        raise CatalogueError(f"{source}: no [[indicator]] entries")
    indicators = tuple(_indicator(source, n, entry) for n, entry in enumerate(entries, 1))
    catalogue = Catalogue(version, indicators, str(source))
    _check_references(source, catalogue, departments)
    return catalogue


_FIELDS = {
    "code", "domain", "subdomain", "name", "description", "unit", "target", "direction", "tolerance",
    "aggregate", "reported_by", "weight", "central", "cross_check", "source", "denominator", "parts",
    "required", "active_from", "active_until", "decimals", "show", "note", "max", "frequency", "trajectory",
    "baseline", "targets", "retired_from", "redefined_from", "redefinition", "renamed_from", "parts_unit",
}


def _indicator(source: Path, number: int, entry: dict) -> Indicator:
    code = str(entry.get("code", "")).strip()
    where = f"{source}: indicator {code or '#' + str(number)}"

    def fail(message: str) -> CatalogueError:
        return CatalogueError(f"{where}: {message}")

    if not code:
        raise fail("missing 'code'")
    unknown = set(entry) - _FIELDS
    if unknown:
        raise fail(f"unknown key(s) {', '.join(sorted(unknown))}")
    for key in ("domain", "name", "unit"):
        if not str(entry.get(key, "")).strip():
            raise fail(f"missing '{key}'")
    unit = entry["unit"]
    if unit not in UNITS:
        raise fail(f"unit {unit!r} is not one of {', '.join(UNITS)}")
    direction = entry.get("direction", "neither")
    if direction not in DIRECTIONS:
        raise fail(f"direction {direction!r} is not one of {', '.join(DIRECTIONS)}")
    aggregate = entry.get("aggregate", "sum")
    if aggregate not in AGGREGATES:
        raise fail(f"aggregate {aggregate!r} is not one of {', '.join(AGGREGATES)}")
    try:
        target = parse_target(str(entry.get("target", "none")), unit)
        tolerance = parse_amount(entry.get("tolerance", 0))
        target = _with_milestones(target, entry.get("trajectory"), entry.get("baseline"))
    except ValueError as exc:
        raise fail(str(exc)) from None
    frequency = entry.get("frequency", "monthly")
    if frequency not in FREQUENCIES:
        raise fail(f"frequency {frequency!r} is not one of {', '.join(FREQUENCIES)}")
    if aggregate == "ratio" and unit != "ratio":
        raise fail("aggregate 'ratio' needs unit 'ratio' (numerator and denominator)")
    if aggregate == "mean" and not entry.get("weight"):
        raise fail("aggregate 'mean' needs 'weight' (the indicator whose value weights each department)")
    if aggregate == "central" and not entry.get("central"):
        raise fail("aggregate 'central' needs 'central' (the department that reports it)")
    if aggregate == "rolling12" and not entry.get("source"):
        raise fail("aggregate 'rolling12' needs 'source' (the monthly ratio indicator)")
    if entry.get("denominator", "sum") not in ("sum", "mean"):
        raise fail("denominator must be 'sum' or 'mean'")
    if entry.get("cross_check") not in (None, "", "sum", "ratio"):
        raise fail("cross_check must be 'sum' or 'ratio'")
    for key in ("active_from", "active_until", "retired_from", "redefined_from"):
        if entry.get(key) and not PERIOD_RE.match(str(entry[key])):
            raise fail(f"{key} {entry[key]!r} is not YYYY-MM")
    targets = _target_spans(entry.get("targets"), unit, tolerance, fail)
    if targets:
        target, tolerance = targets[-1].target, targets[-1].tolerance
    active_until = entry.get("active_until") or None
    if entry.get("retired_from"):
        active_until = shift_period(str(entry["retired_from"]), -1)
    parts_unit = str(entry.get("parts_unit", "days" if unit == "days" else "count")).strip().lower()
    if parts_unit not in PARTS_UNITS:
        raise fail(f"parts_unit {parts_unit!r} is not one of {', '.join(PARTS_UNITS)}")
    reported = entry.get("reported_by", "all")
    reported_by = ("all",) if reported == "all" else tuple(str(d) for d in reported)
    if not reported_by:
        raise fail("reported_by is empty")
    return Indicator(
        code=code,
        domain=str(entry["domain"]).strip(),
        subdomain=str(entry.get("subdomain", "")).strip(),
        name=str(entry["name"]).strip(),
        description=str(entry.get("description", "")).strip(),
        unit=unit,
        target=target,
        direction=direction,
        tolerance=tolerance,
        aggregate=aggregate,
        reported_by=reported_by,
        weight=entry.get("weight") or None,
        central=entry.get("central") or None,
        cross_check=entry.get("cross_check") or None,
        source=entry.get("source") or None,
        denominator=entry.get("denominator", "sum"),
        parts=tuple(entry.get("parts", ())),
        required=bool(entry.get("required", True)),
        active_from=entry.get("active_from") or None,
        active_until=active_until,
        decimals=int(entry.get("decimals", 0)),
        maximum=float(entry["max"]) if "max" in entry else None,
        show=bool(entry.get("show", True)),
        note=str(entry.get("note", "")).strip(),
        parts_unit=parts_unit,
        frequency=frequency,
        targets=targets,
        redefined_from=entry.get("redefined_from") or None,
        redefinition=str(entry.get("redefinition", "")).strip(),
        renamed_from=tuple(str(c) for c in entry.get("renamed_from", ())),
    )


def _target_spans(spans: object, unit: str, tolerance: float, fail) -> tuple[TargetSpan, ...]:
    """`targets = [{ from = "2023-04", to = "2024-03", target = ">= 90%" }, { from = "2024-04", ... }]`:
    oldest first, not overlapping; each may give its own `tolerance`, `trajectory` or `baseline`."""
    if spans is None:
        return ()
    if not isinstance(spans, list) or not spans:
        raise fail("targets must be a list of { from = \"YYYY-MM\", target = ... }")
    out: list[TargetSpan] = []
    for span in spans:
        if not isinstance(span, dict) or "target" not in span or set(span) - {"from", "to", "target", "tolerance",
                                                                                "trajectory", "baseline"}:
            raise fail("each of targets needs 'target' and may give from, to, tolerance, trajectory, baseline")
        start, end = span.get("from"), span.get("to")
        for month in (start, end):
            if month is not None and not PERIOD_RE.match(str(month)):
                raise fail(f"targets month {month!r} is not YYYY-MM")
        try:
            target = _with_milestones(parse_target(str(span["target"]), unit), span.get("trajectory"), span.get("baseline"))
            own = parse_amount(span["tolerance"]) if "tolerance" in span else tolerance
        except ValueError as exc:
            raise fail(str(exc)) from None
        if out and (start is None or (out[-1].end or out[-1].start or "") >= start):
            raise fail(f"targets overlap or are out of order at {start or 'the start'}")
        out.append(TargetSpan(start, end, target, own))
    return tuple(out)


def _with_milestones(target: Target, trajectory: object, baseline: object) -> Target:
    """`trajectory = { "2023-06" = "70%", ... }` or `baseline = { month = "2023-03", value = "46%" }`."""
    if trajectory is None and baseline is None:
        return target
    if not target.by:
        raise ValueError("trajectory and baseline need a target with a date ('>= 90% by 2024-03')")
    if trajectory is not None and baseline is not None:
        raise ValueError("give a trajectory or a baseline, not both")
    if baseline is not None:
        if not isinstance(baseline, dict) or set(baseline) != {"month", "value"}:
            raise ValueError("baseline must be { month = \"YYYY-MM\", value = ... }")
        trajectory = {baseline["month"]: baseline["value"]}
    if not isinstance(trajectory, dict) or not trajectory:
        raise ValueError("trajectory must be a table of \"YYYY-MM\" = value")
    points = []
    for month, amount in sorted(trajectory.items()):
        if not PERIOD_RE.match(str(month)) or str(month) >= target.by:
            raise ValueError(f"trajectory month {month!r} is not YYYY-MM before {target.by}")
        points.append((str(month), parse_amount(amount)))
    return replace(target, milestones=tuple(points))


def _check_references(source: Path, catalogue: Catalogue, departments: tuple[str, ...]) -> None:
    seen: set[str] = set()
    known = set(departments)  # a set: a large trust names hundreds of departments on each indicator
    for indicator in catalogue.indicators:
        if indicator.code in seen:
            raise CatalogueError(f"{source}: indicator {indicator.code}: code is used twice")
        seen.add(indicator.code)
    for indicator in catalogue.indicators:
        where = f"{source}: indicator {indicator.code}"
        for old in indicator.renamed_from:
            if old in catalogue:
                raise CatalogueError(f"{where}: renamed_from {old!r} is still an indicator's code")
        for ref in (indicator.weight, indicator.source, *indicator.parts):
            if ref and ref not in catalogue:
                raise CatalogueError(f"{where}: refers to unknown indicator {ref!r}")
        if indicator.source and catalogue[indicator.source].unit != "ratio":
            raise CatalogueError(f"{where}: source {indicator.source} must be a ratio indicator")
        if departments:
            named = [d for d in (*indicator.reported_by, indicator.central) if d and d != "all"]
            for dept in named:
                if dept not in known:
                    raise CatalogueError(f"{where}: unknown department {dept!r} (not in xlq.toml)")
