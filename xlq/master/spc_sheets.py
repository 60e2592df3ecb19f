"""Statistical process control in the master: the Scorecard's `Variation` and `Assurance`
columns, the summary matrix at its top, and one chart sheet per domain.

The analysis is `xlq.core.spc`'s (NHS England's Making Data Count rules); this module decides what
each indicator is analysed on and where the results go. Decisions a reviewer may ask about:

- The series is the organisation figure per month from `Reconciled.history` (up to two years
  where the store has them) with the shown months on top, so limits rest on 20+ points once
  the store is old enough; limits from fewer than 13 points are marked "(trial)".
- Only indicators the Scorecard shows get SPC (`show = false` ones have no row to put it in).
- 12-month rolling figures get none: neighbouring points share 11 of their 12 months, so the
  trend and shift rules would fire on the rolling itself. Making Data Count advises charting
  the monthly figure instead; the cell says so and names it.
- A domain gets a chart sheet when one of its indicators has a special-cause point in the
  shown months (not only in the latest month: a board asks "what happened in June?" too).
  The chart reads a data block of plain values on its own sheet, so it shows the same in
  every viewer without recalculation.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from xlq.core.catalogue import Indicator
from xlq.core.months import month_label
from xlq.core.spc import (
    BLUE,
    GREY,
    LEGEND,
    MIN_POINTS,
    ORANGE,
    PURPLE,
    TRIAL_BELOW,
    SpcResult,
    colours,
    monthly,
    symbols,
)
from xlq.core.timeline import analyse_in_force, spc_notes
from xlq.master.plan import SCORECARD, Column, Layout, Plan, clean, internal_link, month_key, period_date, plural
from xlq.master.reconcile import SPC_HISTORY
from xlq.master.style import CELL_BORDER, Links, Styles, print_setup, write_note
from xlq.master.style import GREY as INK_GREY

SHEET_PREFIX = "SPC - "
NAME_LIMIT = 31
_BAD_NAME = re.compile(r"[\[\]:*?/\\]")

NOT_ANALYSED = "– Rolling figure"
TRIAL_SUFFIX = " (trial)"  # wraps within the cell; a line break is lost on a linked cell in LibreOffice
RULE_WORDS = {
    "outside_limits": "outside the process limits",
    "trend": "trend",
    "two_of_three": "two of three near a limit",
    "shift": "shift",
}
KIND_WORDS = {"improvement": "improvement", "concern": "concern", "neither_high": "special cause, high",
              "neither_low": "special cause, low"}
KIND_COLOURS = {"improvement": BLUE, "concern": ORANGE, "neither_high": PURPLE, "neither_low": PURPLE}

MATRIX_ROWS = (
    ("improvement", "▲▼ Improvement", BLUE, LEGEND[1][3]),
    ("common_cause", "● Common cause", GREY, LEGEND[0][3]),
    ("concern", "▲▼ Concern", ORANGE, LEGEND[2][3]),
    ("neither", "▲▼ Neither", PURPLE, LEGEND[3][3]),
)
MATRIX_COLUMNS = (
    ("pass", "P Passing", BLUE, LEGEND[5][3]),
    ("hit_and_miss", "? Hit and miss", GREY, LEGEND[7][3]),
    ("fail", "F Failing", ORANGE, LEGEND[6][3]),
    ("none", "No target", None, "No target to judge the process against"),
)

FIRST_BLOCK = 4
CHART_ROWS = 18
CHART_COLUMNS = 10
CHART_COLUMN_WIDTH = 9.14  # 69 pixels
DATA_COLUMNS = (
    Column("month", "Month", 9),
    Column("value", "Value", 11),
    Column("mean", "Mean", 10),
    Column("lower", "Lower limit", 11),
    Column("upper", "Upper limit", 11),
    Column("target", "Target", 10),
    Column("special_a", "", 12),
    Column("special_b", "", 12),
    Column("signal", "Rule that fired (kind)", 32),
)
DATA_FIRST_COL = CHART_COLUMNS + 1
VALUE_COLOUR = "#5B6B82"

log = logging.getLogger("xlq")


def cell_colours(fill: str | None) -> dict[str, Any]:
    """Fill in the guidance's colour, with text dark or light enough to read on it."""
    if fill is None:
        return {"align": "center", "font_size": 9, "font_color": INK_GREY, "text_wrap": True}
    return {"align": "center", "font_size": 9, "bold": True, "text_wrap": True, "bg_color": fill,
            "font_color": "#FFFFFF" if fill == PURPLE else "#000000"}


@dataclass(frozen=True)
class SpcEntry:
    """What the Scorecard shows for one indicator, and where its chart is (if it has one)."""

    indicator: Indicator
    periods: tuple[str, ...]
    result: SpcResult | None
    variation: str
    assurance: str
    variation_fill: str | None
    assurance_fill: str | None
    notes: tuple[str, ...] = ()
    special_shown: tuple[int, ...] = ()
    chart: tuple[str, int] | None = None

    @property
    def analysed(self) -> bool:
        """In the summary matrix: a verdict on variation (not too few points, not a rare event)."""
        return self.result is not None and self.result.variation not in ("none", "rare_event")

    @property
    def variation_class(self) -> str:
        if self.result is None:
            return "none"
        return "neither" if self.result.variation.startswith("neither") else self.result.variation


@dataclass
class SpcPlan:
    entries: dict[str, SpcEntry] = field(default_factory=dict)
    sheets: dict[str, list[str]] = field(default_factory=dict)

    def matrix(self) -> dict[tuple[str, str], int]:
        """(variation class, assurance) -> number of analysed indicators."""
        return {key: len(codes) for key, codes in self.members().items()}

    def members(self) -> dict[tuple[str, str], list[str]]:
        """(variation class, assurance) -> the analysed indicators' codes, in Scorecard order."""
        cells: dict[tuple[str, str], list[str]] = {(r[0], c[0]): [] for r in MATRIX_ROWS for c in MATRIX_COLUMNS}
        for code, entry in self.entries.items():
            if entry.analysed:
                assert entry.result is not None
                cells[(entry.variation_class, entry.result.assurance)].append(code)
        return cells

    def not_analysed(self) -> tuple[int, int, int]:
        """(too few months for a verdict, rare events, rolling figures)."""
        rolling = sum(1 for e in self.entries.values() if e.result is None)
        rare = sum(1 for e in self.entries.values() if e.result is not None and e.result.variation == "rare_event")
        too_few = sum(1 for e in self.entries.values() if e.result is not None and e.result.variation == "none")
        return too_few, rare, rolling


def sheet_name(domain: str, taken: Sequence[str]) -> str:
    """`SPC - <domain>` within Excel's 31 characters and character rules, unique among `taken`."""
    text = _BAD_NAME.sub("-", domain).strip().strip("'").strip()
    shorter = [text, re.split(r"\s+[–-]\s+", text)[0], text.split(" (")[0]]
    name = next((SHEET_PREFIX + t for t in shorter if len(SHEET_PREFIX + t) <= NAME_LIMIT), None)
    if name is None:
        words = (SHEET_PREFIX + shorter[-1])[:NAME_LIMIT + 1].split(" ")
        name = " ".join(words[:-1] if len(words) > 3 else words)[:NAME_LIMIT].rstrip(" -'")
    lower = {t.lower() for t in taken}
    base, n = name, 2
    while name.lower() in lower:
        suffix = f" ({n})"
        name = base[: NAME_LIMIT - len(suffix)].rstrip() + suffix
        n += 1
    return name


def series_for(plan: Plan, code: str) -> list[tuple[str, float]]:
    """The organisation value per month: the stored history with the shown months on top."""
    given = dict(plan.reconciled.history.get(code, ()))
    for period in plan.periods:
        org = plan.reconciled.org.get((code, period))
        if org is not None and org.value is not None:
            given[period] = org.value
    return sorted((p, v) for p, v in given.items() if plan.month is None or p <= plan.month)


def _entry(plan: Plan, ind: Indicator) -> SpcEntry:
    if ind.derived:
        source = f" ({ind.source})" if ind.source else ""
        note = ("No SPC for a 12-month rolling figure: neighbouring months share 11 of their 12 months, so runs "
                f"and trends would come from the rolling itself. Making Data Count charts the monthly figure{source}.")
        return SpcEntry(ind, (), None, NOT_ANALYSED, "", None, None, (note,))
    series = series_for(plan, ind.code)
    result = analyse_in_force(ind, series, plan.workspace.spc)
    periods = tuple(monthly(series)[0])
    variation, assurance = symbols(result)
    v_fill, a_fill = colours(result)
    notes: list[str] = spc_notes(ind, periods)
    limits = result.limits
    if limits is None:
        notes.append(f"Not enough data for process limits: {plural(len(series), 'month')} with a value; limits "
                     "need at least two consecutive months.")
    elif limits.points < MIN_POINTS:
        notes.append(f"Not enough data for a judgement: {plural(limits.points, 'month')} with a value; xlq gives "
                     f"no variation or assurance verdict from fewer than {MIN_POINTS} months.")
    elif result.variation == "rare_event":
        events = sum(1 for v in result.values if v)
        notes.append(f"Rare event: {events} of {plural(limits.points, 'month')} had any. With mostly zero months "
                     "an XmR chart would call every single event 'outside the limits' and every run of zeros a "
                     "'shift', so xlq makes no special-cause call and gives no assurance (docs/spc.md).")
    elif limits.trial:
        variation += TRIAL_SUFFIX
        if assurance:
            assurance += TRIAL_SUFFIX
        notes.append(f"Trial limits from {plural(limits.points, 'month')}: Making Data Count treats limits from "
                     f"fewer than {TRIAL_BELOW} points as provisional.")
    latest = result.latest_index
    if latest is not None and periods[latest] != plan.month:
        notes.append(f"The latest value is for {month_label(periods[latest])}: variation and assurance describe "
                     "that month.")
    if result.target_pending and result.target is not None and result.target.by:
        notes.append(f"Assurance compares the process with the final target ({result.target.text}), not with "
                     "this month's point on the way to it.")
    shown = set(plan.periods)
    special = tuple(i for i in result.special_causes if periods[i] in shown)
    return SpcEntry(ind, periods, result, variation, assurance, v_fill, a_fill, tuple(notes), special)


def block_height(entry: SpcEntry) -> int:
    """Heading, then the chart (and the link under it) beside the data block, then a gap."""
    return 1 + max(CHART_ROWS + 1, len(entry.periods) + 1) + 1


def plan_spc(plan: Plan, taken: Sequence[str] = ()) -> SpcPlan:
    """Every shown indicator's SPC and the chart sheets, decided before any sheet is written
    (the Scorecard links to chart rows)."""
    spc = SpcPlan()
    names = list(taken)
    domain_sheet: dict[str, str] = {}
    next_row: dict[str, int] = {}
    for row in plan.rows:
        ind = row.indicator
        if ind is None:
            continue
        try:
            entry = _entry(plan, ind)
        except (ArithmeticError, ValueError) as exc:  # one indicator's history must not stop the master
            log.warning("no SPC for %s: %s", ind.code, exc)
            why = f"SPC could not be computed for this indicator ({type(exc).__name__}); the figures are shown without it."
            entry = SpcEntry(ind, (), None, NOT_ANALYSED, "", None, None, (why,))
        if entry.special_shown:
            if ind.domain not in domain_sheet:
                name = sheet_name(ind.domain, names)
                names.append(name)
                domain_sheet[ind.domain] = name
                spc.sheets[name] = []
                next_row[name] = FIRST_BLOCK
            name = domain_sheet[ind.domain]
            entry = SpcEntry(**{**entry.__dict__, "chart": (name, next_row[name])})
            spc.sheets[name].append(ind.code)
            next_row[name] += block_height(entry)
        spc.entries[ind.code] = entry
    return spc


# ---------------------------------------------------------------- the Scorecard


def write_spc_cells(ws: Any, plan: Plan, st: Styles, links: Links, row: int, ind: Indicator, spc: SpcPlan) -> None:
    entry = spc.entries.get(ind.code)
    if entry is None:
        return
    v_col, a_col = plan.layout.col("variation"), plan.layout.col("assurance")
    v_fmt = st(CELL_BORDER, cell_colours(entry.variation_fill), {"underline": 1} if entry.chart else {})
    linked = False
    if entry.chart:
        sheet, chart_row = entry.chart
        linked = links.add(row, v_col, internal_link(sheet, chart_row, 0), f"Open the SPC chart on '{sheet}'",
                           clean(entry.variation, 255), v_fmt)
    if not linked:
        ws.write_string(row, v_col, clean(entry.variation, 255), v_fmt)
    ws.write_string(row, a_col, clean(entry.assurance, 255), st(CELL_BORDER, cell_colours(entry.assurance_fill)))
    if entry.notes:
        write_note(ws, row, v_col, f"{ind.code} SPC", list(entry.notes))


def summary_spans(plan: Plan) -> list[tuple[int, int]]:
    """Column spans of the summary matrix (label, then one per assurance), right of the RAG key
    and ending at the Scorecard's last column when the layout has room."""
    first = plan.layout.col(month_key(plan.periods[0]))
    start = max(plan.layout.last - 6, first + 9)
    return [(start, start + 1), (start + 2, start + 3), (start + 4, start + 4), (start + 5, start + 5),
            (start + 6, start + 6)]


def _span(ws: Any, row: int, span: tuple[int, int], text: str, fmt: Any) -> None:
    if span[0] == span[1]:
        ws.write_string(row, span[0], text, fmt)
    else:
        ws.merge_range(row, span[0], row, span[1], text, fmt)


def write_spc_summary(ws: Any, plan: Plan, st: Styles, spc: SpcPlan) -> None:
    """Indicators counted by variation x assurance, the way the public SPC tools summarise a
    board report; the row and column titles double as the legend for the icons."""
    if not plan.periods:
        return
    spans = summary_spans(plan)
    boxed = {"border": 1, "border_color": "#BFBFBF", "font_size": 9, "valign": "vcenter"}
    _span(ws, 0, spans[0], "SPC: latest month", st(boxed, bold=True, align="center", text_wrap=True))
    key = "\n".join(f"{label}: {meaning}" for _, label, _, meaning in LEGEND)
    write_note(ws, 0, spans[0][0], "Making Data Count (statistical process control)",
               [key, f"(trial): limits from fewer than {TRIAL_BELOW} months.",
                "Click a coloured Variation cell for its chart."])
    for (_, label, colour, _), span in zip(MATRIX_COLUMNS, spans[1:], strict=True):
        _span(ws, 0, span, label, st(boxed, cell_colours(colour), align="center"))
    members = spc.members()
    for n, (var, label, colour, meaning) in enumerate(MATRIX_ROWS, start=1):
        _span(ws, n, spans[0], label, st(boxed, cell_colours(colour), align="left"))
        for (ass, a_label, _, a_meaning), span in zip(MATRIX_COLUMNS, spans[1:], strict=True):
            codes = members[(var, ass)]
            fmt = st(boxed, align="center", bold=bool(codes), font_color="#000000" if codes else INK_GREY)
            if span[0] == span[1]:
                ws.write_number(n, span[0], len(codes), fmt)
            else:
                ws.merge_range(n, span[0], n, span[1], len(codes), fmt)
            if codes:  # each count names its indicators
                names = [f"{c} {plan.catalogue[c].name}" for c in codes]
                write_note(ws, n, span[0], f"{label[3:]} × {a_label[2:]}: {plural(len(codes), 'indicator')}",
                           names, f"{meaning}. {a_meaning}.")
    too_few, rare, rolling = spc.not_analysed()
    parts = [f"Rows: is the latest month unusual? Columns: will the target be met? Hover a number for its "
             f"indicators. {plural(sum(len(c) for c in members.values()), 'indicator')} counted"]
    trial = sum(1 for e in spc.entries.values() if e.analysed and e.result is not None and e.result.trial)
    if trial:
        parts.append(f"{trial} on trial limits (< {TRIAL_BELOW} months)")
    if too_few:
        parts.append(f"{too_few} too few months (< {MIN_POINTS}, –)")
    if rare:
        parts.append(f"{rare} rare events (○, no call)")
    if rolling:
        parts.append(f"{rolling} rolling, not charted")
    ws.set_row(5, 24)
    ws.merge_range(5, spans[0][0], 5, spans[-1][1], "; ".join(parts) + ".",
                   st.small(italic=True, text_wrap=True, valign="top"))


def about_rows(plan: Plan, spc: SpcPlan) -> list[tuple[str, str]]:
    settings = plan.workspace.spc
    rebase = ", ".join(f"{code} from {month_label(month)}" for code, month in settings.rebase) or "none"
    charts = ", ".join(spc.sheets) or "none (no special cause in the shown months)"
    return [("SPC", (
        "Variation and Assurance follow NHS England's Making Data Count: an XmR chart per indicator from up to "
        f"{SPC_HISTORY} months of organisation figures, limits at the mean ± 2.66 × the average moving range"
        + (f" of the first {settings.baseline_points} months" if settings.baseline_points else "")
        + f"; special cause: a point outside the limits, {settings.trend_length} points rising or falling, two of "
        f"three beyond two-thirds of the way to a limit, {settings.shift_length} points on one side of the mean. "
        f"Re-based: {rebase}. Chart sheets: {charts}."))]


# ---------------------------------------------------------------- chart sheets


def data_layout() -> Layout:
    spacer = [Column(f"chart:{n}", "", CHART_COLUMN_WIDTH) for n in range(CHART_COLUMNS)]
    return Layout([*spacer, Column("gap", "", 2), *DATA_COLUMNS])


def data_format(ind: Indicator) -> str:
    """One decimal more than the Scorecard shows, so a reader can see why a point is above the mean."""
    return replace(ind, decimals=ind.decimals + 1).number_format()


def highlight_columns(ind: Indicator) -> tuple[tuple[str, str, tuple[str, ...], str], ...]:
    """(column key, title, flag kinds, colour) of the series that mark special-cause points."""
    if ind.direction == "neither":
        return (("special_a", "Special-cause point", ("neither_high", "neither_low"), PURPLE),)
    return (("special_a", "Improvement point", ("improvement",), BLUE), ("special_b", "Concern point", ("concern",),
                                                                          ORANGE))


def write_spc_sheet(ws: Any, name: str, plan: Plan, st: Styles, links: Links, spc: SpcPlan) -> None:
    layout = data_layout()
    for n, column in enumerate(layout.columns):
        ws.set_column(n, n, column.width)
    ws.hide_gridlines(2)
    codes = spc.sheets[name]
    domain = plan.catalogue[codes[0]].domain
    settings = plan.workspace.spc
    ws.set_row(0, 26)
    ws.write_string(0, 0, clean(f"SPC charts: {domain}", 255), st.title())
    ws.set_row(1, 27)
    ws.merge_range(1, 0, 1, layout.last, (
        "XmR charts (NHS England, Making Data Count) for the indicators with a special cause in the months the "
        "Scorecard shows. Process limits: mean ± 2.66 × average moving range. Special cause: a point outside the "
        f"limits; {settings.trend_length} points rising or falling; two of three beyond two-thirds of the way to a "
        f"limit; {settings.shift_length} points on one side of the mean. Marked points: blue improvement, orange "
        "concern, purple special cause where neither direction is better."), st.small(italic=True, text_wrap=True,
                                                                                          valign="top"))
    links.add(2, 0, f"internal:'{SCORECARD}'!A1", "Back to the Scorecard", "← Scorecard",
              st(font_color="#0563C1", underline=1))
    last = FIRST_BLOCK
    breaks = []
    for n, code in enumerate(codes):
        entry = spc.entries[code]
        assert entry.chart is not None and entry.result is not None
        top = entry.chart[1]
        if n and n % 2 == 0:
            breaks.append(top)
        _write_block(ws, name, plan, st, links, layout, entry, top)
        last = top + block_height(entry)
    print_setup(ws, 9, area=(last, layout.last), footer=f"{plan.workspace.organisation}: {name}")
    if breaks:
        ws.set_h_pagebreaks(breaks)


def _write_block(ws: Any, name: str, plan: Plan, st: Styles, links: Links, layout: Layout, entry: SpcEntry,
                 top: int) -> None:
    ind, result = entry.indicator, entry.result
    assert result is not None
    heading = f"{ind.code}  {ind.name}  ·  {entry.variation.replace(TRIAL_SUFFIX, ' (trial)')}"
    if entry.assurance:
        heading += f"  ·  {entry.assurance.replace(TRIAL_SUFFIX, ' (trial)')}"
    ws.set_row(top, 21)
    ws.write_string(top, 0, clean(heading, 255), st.section())
    for col in range(1, layout.last + 1):
        ws.write_blank(top, col, None, st.section())
    back = internal_link(SCORECARD, plan.indicator_row[ind.code], plan.layout.col("variation"))
    links.add(top + 1 + CHART_ROWS, 0, back, "Back to this indicator on the Scorecard",
              f"← {ind.code} on the Scorecard", st(font_color="#0563C1", underline=1, font_size=9))
    header = top + 1
    marks = highlight_columns(ind)
    titles = {c.key: c.title for c in DATA_COLUMNS} | {key: title for key, title, _, _ in marks}
    for column in DATA_COLUMNS:
        ws.write_string(header, layout.col(column.key), titles[column.key], st.header(font_size=9))
    number = st.text(num_format=data_format(ind), align="center", font_size=9)
    as_shown = st.text(num_format=ind.number_format(), align="center", font_size=9)  # counts stay counts
    target = ind.as_of(plan.month or "").target.value if ind.as_of(plan.month or "").target.kind != "none" else None
    in_force = {p: ind.as_of(p).target.value for p in entry.periods}  # each month's own target (issue 21)
    used: set[str] = set()
    for i, period in enumerate(entry.periods):
        row = header + 1 + i
        ws.write_datetime(row, layout.col("month"), period_date(period),
                          st.text(num_format="mmm-yy", align="center", font_size=9))
        value = result.values[i]
        limits = result.limits_at(i)
        flag = result.flags[i]
        cells: dict[str, float | None] = {
            "value": value, "mean": limits.mean if limits else None, "lower": limits.lower if limits else None,
            "upper": limits.upper if limits else None, "target": in_force[period], "special_a": None, "special_b": None}
        for key, _, kinds, _ in marks:
            if flag is not None and flag.kind in kinds:
                cells[key] = value
                used.add(key)
        for key, x in cells.items():
            fmt = as_shown if key in ("value", "special_a", "special_b", "target") else number
            if x is None:
                ws.write_blank(row, layout.col(key), None, fmt)
            else:
                ws.write_number(row, layout.col(key), x, fmt)
        if flag is None:
            ws.write_blank(row, layout.col("signal"), None, st.text(font_size=9))
        else:
            ws.write_string(row, layout.col("signal"),
                            f"{RULE_WORDS[flag.rule].capitalize()} ({KIND_WORDS[flag.kind]})",
                            st.text(font_size=9, font_color=KIND_COLOURS[flag.kind], bold=True))
    _add_chart(ws, name, st, layout, entry, header, [m for m in marks if m[0] in used], target is not None)


def _add_chart(ws: Any, name: str, st: Styles, layout: Layout, entry: SpcEntry, header: int,
               marks: Sequence[tuple[str, str, tuple[str, ...], str]], has_target: bool) -> None:
    """Special-cause points are overlay series of their own (marker only), not per-point
    formats: LibreOffice ignores a line chart's per-point marker colours."""
    ind = entry.indicator
    first, last = header + 1, header + len(entry.periods)

    def ref(key: str) -> list[Any]:
        col = layout.col(key)
        return [name, first, col, last, col]

    chart = st.workbook.add_chart({"type": "line"})
    plain = {"marker": {"type": "none"}, "categories": ref("month")}
    chart.add_series({
        "name": "Monthly value", "categories": ref("month"), "values": ref("value"),
        "line": {"color": VALUE_COLOUR, "width": 1.5},
        "marker": {"type": "circle", "size": 5, "fill": {"color": VALUE_COLOUR}, "border": {"color": VALUE_COLOUR}},
    })
    chart.add_series({**plain, "name": "Mean", "values": ref("mean"), "line": {"color": "#404040", "width": 1.25}})
    chart.add_series({**plain, "name": "Process limits", "values": ref("upper"),
                      "line": {"color": "#7F7F7F", "width": 1.25, "dash_type": "dash"}})
    chart.add_series({**plain, "name": "Lower limit", "values": ref("lower"),
                      "line": {"color": "#7F7F7F", "width": 1.25, "dash_type": "dash"}})
    if has_target:
        chart.add_series({**plain, "name": "Target", "values": ref("target"),
                          "line": {"color": "#C00000", "width": 1.5, "dash_type": "long_dash"}})
    for key, title, _, colour in marks:
        chart.add_series({
            "name": title, "categories": ref("month"), "values": ref(key), "line": {"none": True},
            "marker": {"type": "circle", "size": 8, "fill": {"color": colour}, "border": {"color": colour}},
        })
    title = re.sub(r"!(?=\$?[A-Za-z])", "! ", clean(f"{ind.code}: {ind.name}", 120))  # XlsxWriter reads X!A1 as a ref
    chart.set_title({"name": title, "name_font": {"size": 11, "bold": True}})
    chart.set_x_axis({"num_format": "mmm-yy", "num_font": {"size": 8, "rotation": -45}, "label_position": "low",
                      "line": {"color": "#BFBFBF"}})
    chart.set_y_axis({"num_format": ind.number_format(), "num_font": {"size": 8},
                      "major_gridlines": {"visible": True, "line": {"color": "#E7E6E6"}},
                      "line": {"none": True}})
    chart.set_legend({"position": "bottom", "delete_series": [3], "font": {"size": 8}})
    chart.show_blanks_as("gap")
    chart.set_chartarea({"border": {"color": "#BFBFBF"}})
    chart.set_size({"width": int(CHART_COLUMNS * 69) - 8, "height": CHART_ROWS * 20})
    ws.insert_chart(header, 0, chart, {"x_offset": 4, "y_offset": 2, "object_position": 2})
