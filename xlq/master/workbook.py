"""The master workbook a board and its reviewers open every month.

Written only by XlsxWriter (openpyxl would drop the sparklines and x14 formats on save; the
cells and notes go through xlq.master.quick_xml: the same bytes as XlsxWriter's, written sooner),
to a temporary file beside the target that then replaces it in one step, so a reader on
the share never sees half a workbook. When the target cannot be replaced (someone has it
open in Excel on Windows), a dated copy is written beside it and the log says so.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xlq import __version__
from xlq.core.catalogue import Catalogue
from xlq.core.config import Workspace
from xlq.core.errors import MasterUnwritable
from xlq.core.model import Reconciled, outcome_words
from xlq.core.months import month_label
from xlq.core.timeline import redefinition_index
from xlq.master.plan import (
    ERRORS,
    SHEETS,
    SUBMISSIONS,
    Plan,
    cell_ref,
    clean,
    internal_link,
    judged_runs,
    make_plan,
    month_key,
    period_date,
    plural,
    rag_rules,
    sparkline_group,
    target_changes,
)
from xlq.master.review_state import signed_off
from xlq.master.sheets import write_about, write_breakdown, write_errors, write_submissions
from xlq.master.spc_sheets import SpcPlan, about_rows, plan_spc, write_spc_cells, write_spc_sheet, write_spc_summary
from xlq.master.style import CELL_BORDER, NO_VALUE_FILL, Links, Styles, add_sparklines, print_setup, write_note, write_value

log = logging.getLogger(__name__)

WORKBOOK_OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
TITLE = "Integrated Quality Scorecard"
SPARK_DATA_GAP = 2
"""A redefined row's sparkline data sits this many columns past the last column, hidden."""


def remove_leftovers(target: Path) -> list[Path]:
    """Delete temporary masters a killed writer left beside `target` (the caller holds the
    workspace, so no writer is running); returns what was removed."""
    removed = []
    for leftover in target.parent.glob(f".{target.stem}-*.xlsx.tmp") if target.parent.is_dir() else ():
        try:
            if leftover.is_file() and not leftover.is_symlink():
                leftover.unlink()
                removed.append(leftover)
        except OSError as exc:
            log.warning("could not remove the left-over temporary master %s: %s", leftover.name, exc)
    if removed:
        log.info("removed %d left-over temporary master file(s) from %s", len(removed), target.parent.name)
    return removed


def write_scorecard(reconciled: Reconciled, catalogue: Catalogue, workspace: Workspace, path: Path | None = None,
                    *, built_at: dt.datetime | None = None, plan: Plan | None = None) -> Path:
    """Write the master and return where it went: `path` (default the workspace's
    outbox/scorecard.xlsx), or a dated copy beside it when `path` cannot be replaced. `plan`
    (`scorecard_plan`) is shared with the review workbook, which links into the same cells."""
    target = Path(path) if path is not None else workspace.master_path
    plan = plan or scorecard_plan(reconciled, catalogue, workspace, built_at)
    return write_atomically(target, lambda tmp: build_workbook(tmp, reconciled, catalogue, workspace, plan.built_at, plan))


def scorecard_plan(reconciled: Reconciled, catalogue: Catalogue, workspace: Workspace,
                   built_at: dt.datetime | None = None) -> Plan:
    """Where everything goes in the master built at `built_at` (default now, local time)."""
    return make_plan(reconciled, catalogue, workspace, _local_naive(built_at))


def write_atomically(target: Path, build: Callable[[Path], object]) -> Path:
    """Have `build` write a workbook to a temporary file beside `target`, then replace `target`
    with it in one step (or write a dated copy when `target` is held open); the master and the
    review workbook are both written this way."""
    # imported here for start-up time: a run with nothing new never writes (XlsxWriter is ~35 ms)
    from xlsxwriter.exceptions import FileCreateError

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=".xlsx.tmp", dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            build(tmp)
            os.chmod(tmp, _file_mode(target))
            return _replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    except (FileCreateError, OSError) as exc:
        raise MasterUnwritable(f"could not write {target} ({exc}); the previous copy is intact and "
                               "the next run rebuilds it") from exc


def _local_naive(moment: dt.datetime | None) -> dt.datetime:
    """Excel has no time zones: show the build time as local wall-clock time."""
    moment = moment or dt.datetime.now()
    if moment.tzinfo is not None:
        moment = moment.astimezone().replace(tzinfo=None)
    return moment.replace(microsecond=0)


def _file_mode(target: Path) -> int:
    """Keep the permissions of the master being replaced; mkstemp's 0600 would lock
    everyone else on the share out of it."""
    try:
        if target.is_file():
            return target.stat().st_mode & 0o777
    except OSError:
        pass
    return 0o644


def _replace(tmp: Path, target: Path) -> Path:
    try:
        os.replace(tmp, target)
        return target
    except OSError as exc:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        dated = target.with_name(f"{target.stem}-{stamp}{target.suffix}")
        n = 2
        while dated.exists():
            dated = target.with_name(f"{target.stem}-{stamp}-{n}{target.suffix}")
            n += 1
        os.replace(tmp, dated)
        log.warning("could not replace %s (%s: %s); wrote %s instead", target, type(exc).__name__, exc, dated)
        return dated


def build_workbook(path: Path, reconciled: Reconciled, catalogue: Catalogue, workspace: Workspace,
                   built_at: dt.datetime, plan: Plan | None = None) -> Plan:
    """Write every sheet to `path` (no atomic replace); returns the plan it followed."""
    from xlq.master.quick_xml import QuickWorkbook  # start-up: XlsxWriter only on a rebuild (see write_atomically)

    plan = plan or make_plan(reconciled, catalogue, workspace, built_at)
    workbook = QuickWorkbook(str(path), WORKBOOK_OPTIONS)
    try:
        workbook.set_properties({
            "title": f"{TITLE} {month_label(plan.month)}".strip(),
            "subject": clean(workspace.organisation, 255),
            "company": clean(workspace.organisation, 255),
            "author": "xlq",
            "comments": f"Built by xlq {__version__} from catalogue {catalogue.version}",
            "created": built_at,
        })
        # No cell holds a formula (RAG rules are conditional formats), so nothing needs a
        # recalculation on open; XlsxWriter asks for one by default, and Excel then offers to
        # save changes to a file nobody changed.
        workbook.calc_on_load = False
        styles = Styles(workbook)
        spc = plan_spc(plan, SHEETS)
        names = [*SHEETS[:2], *spc.sheets, *SHEETS[2:]]  # the charts beside the figures they explain
        sheets = {name: workbook.add_worksheet(name) for name in names}
        links = {name: Links(sheet) for name, sheet in sheets.items()}
        write_scorecard_sheet(sheets[SHEETS[0]], plan, styles, links[SHEETS[0]], spc)
        write_breakdown(sheets[SHEETS[1]], plan, styles, links[SHEETS[1]])
        for name in spc.sheets:
            write_spc_sheet(sheets[name], name, plan, styles, links[name], spc)
        write_errors(sheets[SHEETS[2]], plan, styles, links[SHEETS[2]])
        write_submissions(sheets[SHEETS[3]], plan, styles, links[SHEETS[3]])
        write_about(sheets[SHEETS[4]], plan, styles, links, about_rows(plan, spc))
        sheets[SHEETS[0]].activate()
    finally:
        workbook.close()
    return plan


def _footer(text: str) -> str:
    """Excel header/footer text: `&` starts a code, and the whole is capped at 255."""
    return clean(text, 120).replace("&", "&&")


def write_scorecard_sheet(ws: Any, plan: Plan, st: Styles, links: Links, spc: SpcPlan | None = None) -> None:
    layout, periods = plan.layout, plan.periods
    for n, column in enumerate(layout.columns):
        ws.set_column(n, n, column.width)
    ws.hide_gridlines(2)
    ws.set_zoom(90)
    last_row = _write_rows(ws, plan, st, links, spc)
    _write_title(ws, plan, st, links)
    if plan.periods:
        _write_coverage(ws, plan, st, links)
    if spc is not None:
        write_spc_summary(ws, plan, st, spc)
    header = plan.header_row
    for n, column in enumerate(layout.columns):
        if column.key.startswith("month:"):
            ws.write_datetime(header, n, period_date(column.key[6:]), st.header(num_format="mmm-yy"))
        else:
            ws.write_string(header, n, column.title, st.header())
    ws.set_row(header, 24)
    first_month = layout.col(month_key(periods[0])) if periods else layout.col("target") + 1
    ws.freeze_panes(header + 1, first_month)  # the coverage row above the titles stays in view too
    ws.autofilter(header, 0, max(last_row, header), layout.last)
    print_setup(ws, 8, area=(last_row, layout.last), header_row=(header - 1 if plan.periods else header, header))  # coverage too
    ws.set_header(f"&L&\"Calibri,Bold\"{_footer(plan.workspace.organisation)}&R{_footer(TITLE)} {month_label(plan.month)}")
    ws.set_footer(f"&LBuilt {plan.built_at:%d %b %Y %H:%M}&RPage &P of &N")
    if links.skipped:
        ws.write_string(5, 0, links.notice(), st.small(bold=True, font_color="#C00000"))


def _write_title(ws: Any, plan: Plan, st: Styles, links: Links) -> None:
    ws.set_row(0, 26)
    ws.write_string(0, 0, TITLE, st.title())
    ws.write_string(1, 0, clean(plan.workspace.organisation, 255), st.subtitle())
    month = period_date(plan.month).strftime("%B %Y") if plan.month else "no months yet"
    ws.write_string(2, 0, f"Reporting month: {month}", st(bold=True))
    ws.write_string(2, 2, f"Built {plan.built_at:%d %b %Y %H:%M} from catalogue {plan.catalogue.version}",
                    st.small())
    received, expected, statuses = plan.returns_summary()
    parts = [f"{n} {outcome_words(s)}" for s, n in sorted(statuses.items()) if s != "accepted"]
    detail = f" ({', '.join(parts)})" if parts else ""
    signed = signed_off(plan.reconciled.stages, plan.month)  # shown once reviewers sign months off (issue 17)
    signed_text = f" · {signed} of {expected} signed off by a reviewer" if signed_off(plan.reconciled.stages, None) else ""
    ws.write_string(3, 0, f"Returns for {month_label(plan.month)}: {received} of {expected} received{detail}{signed_text}",
                    st())
    counts = plan.severity_counts()
    text = (f"Findings in these {len(plan.periods)} months: {plural(counts['error'], 'error')} · "
            f"{plural(counts['warning'], 'warning')} · {counts['info']} for information")
    if decided := sum(1 for f in plan.findings if f in plan.reconciled.reviews):
        text += f" · {decided} decided by a reviewer"
    links.add(4, 0, f"internal:'{ERRORS}'!A1", "Open the Validation Errors sheet", text,
              st(font_color="#0563C1", underline=1))
    _write_legend(ws, plan, st)


def _write_legend(ws: Any, plan: Plan, st: Styles) -> None:
    if not plan.periods:
        return
    col = plan.layout.col(month_key(plan.periods[0]))
    boxed = {"border": 1, "border_color": "#BFBFBF", "align": "center", "font_size": 9}
    ws.write_string(0, col, "Key", st(bold=True, font_size=9))
    items = [
        (1, 0, "On target", st(boxed, bg_color="#C6EFCE", font_color="#006100")),
        (1, 3, "Within tolerance (amber)", st(boxed, bg_color="#FFEB9C", font_color="#9C5700")),
        (1, 6, "Off target", st(boxed, bg_color="#FFC7CE", font_color="#9C0006")),
        (2, 0, "Flagged: a finding on this figure", st(boxed, border=2, border_color="#7030A0")),
        (2, 3, "No value: return missing/rejected", st(boxed, pattern=13, fg_color="#A6A6A6", bg_color="#FFFFFF")),
        (2, 6, "N/A, TBA: as reported", st(boxed, font_color="#7F7F7F")),
    ]
    for row, offset, text, fmt in items:
        if col + offset + 2 <= plan.layout.last:
            ws.merge_range(row, col + offset, row, col + offset + 2, "", fmt)
            ws.write_string(row, col + offset, text, fmt)
    note = ("No colour: no target. 'By' targets: each month against the agreed trajectory or baseline, else the "
            "final target. Coverage (who reported) is the row above the months; a blank in a month nothing is due "
            "(quarterly, data pending) is plain.")
    if any(target_changes(r.indicator, plan.periods) for r in plan.rows if r.indicator is not None):
        note += " ▲ after a target: it changed in these months; each month is coloured against the target in force then."
    if col + 8 <= plan.layout.last:  # wrapped within the key, clear of the SPC summary beside it
        ws.merge_range(3, col, 4, col + 8, note, st.small(italic=True, text_wrap=True, valign="top"))
    else:
        ws.write_string(3, col, note, st.small(italic=True))


def _row_height(indicator_name: str, description: str) -> float:
    lines = max(1, -(-len(indicator_name) // 36), -(-len(description) // 50))
    return max(27.0, 13.0 * lines + 4)


def _write_rows(ws: Any, plan: Plan, st: Styles, links: Links, spc: SpcPlan | None) -> int:
    layout = plan.layout
    row = plan.first_row - 1
    groups: dict[str, tuple[list[str], list[str]]] = {}
    for row_n, item in enumerate(plan.rows):
        row = plan.first_row + row_n
        if item.kind == "section":
            ws.set_row(row, 21)
            ws.write_string(row, 0, clean(item.text, 255), st.section())
            for col in range(1, layout.last + 1):
                ws.write_blank(row, col, None, st.section())
            continue
        if item.kind == "subsection":
            ws.write_string(row, 0, clean(item.text, 255), st.subsection())
            for col in range(1, layout.last + 1):
                ws.write_blank(row, col, None, st.subsection())
            continue
        ind = item.indicator
        assert ind is not None
        ws.set_row(row, _row_height(ind.name, ind.description))
        ws.write_string(row, layout.col("code"), clean(ind.code, 255), st.text(bold=True, font_color="#595959"))
        ws.write_string(row, layout.col("name"), clean(ind.name, 255), st.text(bold=True))
        ws.write_string(row, layout.col("description"), clean(ind.description), st.text(font_size=9))
        _write_target(ws, plan, st, row, ind)
        values = plan.values(ind.code)
        for period in plan.periods:
            _write_month(ws, plan, st, links, row, ind, period)
        _add_rag(ws, plan, st, row, ind, values)
        if plan.periods and "trend" in layout:
            first = layout.col(month_key(plan.periods[0]))
            last = layout.col(month_key(plan.periods[-1]))
            trend = layout.col("trend")
            ws.write_blank(row, trend, None, st.text())
            locations, ranges = groups.setdefault(sparkline_group(ind), ([], []))
            locations.append(cell_ref(row, trend))
            ranges.append(_spark_range(ws, plan, row, ind) or f"{cell_ref(row, first)}:{cell_ref(row, last)}")
        if spc is not None and "variation" in layout:
            write_spc_cells(ws, plan, st, links, row, ind, spc)
        if "findings" in layout:
            _write_findings(ws, plan, st, links, row, ind)
    for direction, (locations, ranges) in groups.items():
        add_sparklines(ws, direction, locations, ranges)
    return row


def _write_month(ws: Any, plan: Plan, st: Styles, links: Links, row: int, ind: Any, period: str) -> None:
    """The figure itself is never a link (a click selects it, to copy or chart); the way to
    its findings is the note and the row's Findings column."""
    col = plan.layout.col(month_key(period))
    key = (ind.code, period)
    org = plan.org(ind.code, period)
    reasons = plan.flag_reasons.get(key, [])
    linked = plan.cell_findings.get(key, [])
    no_value = key in plan.empty_absent
    plain = org.value is None and org.marker is None and not ind.due(period)
    write_value(ws, row, col, org.value, org.marker,
                lambda marker: st.value(ind, flagged=bool(reasons), no_value=no_value, marker=marker or plain))
    notes = [f"{ind.code} {month_label(period)}: flagged"] if reasons else []
    if reasons:
        where = f"Validation Errors row {plan.errors_row(linked[0]) + 1} (or the Findings column)." if linked else ""
        write_note(ws, row, col, notes[0], reasons + plan.cell_notes.get(key, []), where)
    elif key in plan.cell_notes:
        write_note(ws, row, col, f"{ind.code} {month_label(period)}", plan.cell_notes[key])


def _write_target(ws: Any, plan: Plan, st: Styles, row: int, ind: Any) -> None:
    """The target in force in the reporting month; marked (and noted) when it changed in the window."""
    col = plan.layout.col("target")
    text = ind.as_of(plan.month).target.text if plan.month else ind.target.text
    changes = target_changes(ind, plan.periods)
    if not changes:
        ws.write_string(row, col, text, st.text(align="center"))
        return
    ws.write_string(row, col, f"{text} ▲" if text != changes[0][1] else text, st.text(align="center", bold=True))
    write_note(ws, row, col, f"{ind.code}: target changed", [
        f"From {month_label(month)}: {now} (was {was})." for month, was, now in changes]
        + ["Each month is coloured against the target in force then."])


def _spark_range(ws: Any, plan: Plan, row: int, ind: Any) -> str | None:
    """A redefined indicator's sparkline: the old and new series with an empty month between them,
    drawn from a data row beside the print area (the two measures are never joined by a line)."""
    index = redefinition_index(ind, plan.periods)
    if index is None:
        return None
    values = plan.values(ind.code)
    col = plan.layout.last + SPARK_DATA_GAP
    for n, value in enumerate([*values[:index], None, *values[index:]]):
        if value is not None:
            ws.write_number(row, col + n, value)
    ws.set_column(col, col + len(values), None, None, {"hidden": True})
    return f"{cell_ref(row, col)}:{cell_ref(row, col + len(values))}"


def _write_findings(ws: Any, plan: Plan, st: Styles, links: Links, row: int, ind: Any) -> None:
    """How many findings the row's shown months carry, linked to the newest one's row."""
    col = plan.layout.col("findings")
    found = sorted({n for p in plan.periods for n in plan.cell_findings.get((ind.code, p), [])})
    if not found:
        ws.write_blank(row, col, None, st.text())
        return
    first = min(found, key=lambda n: (plan.findings[n].severity != "error", n))
    errors = sum(plan.findings[n].severity == "error" for n in found)
    text = plural(len(found), "finding") + (f", {errors} error" + ("s" if errors > 1 else "") if errors else "")
    target = plan.errors_row(first)
    fmt = st.link(font_size=9, align="center", text_wrap=True)
    if not links.add(row, col, internal_link(ERRORS, target, 0), f"Validation Errors row {target + 1}", text, fmt):
        ws.write_string(row, col, text, st.text(font_size=9, align="center"))


def _write_coverage(ws: Any, plan: Plan, st: Styles, links: Links) -> None:
    """One row above the month titles: returns received, once per month, linked to Submissions."""
    row = plan.header_row - 1
    layout = plan.layout
    ws.set_row(row, 18)
    label = st(CELL_BORDER, bold=True, font_size=9, align="right", bg_color="#F2F2F2")
    ws.merge_range(row, 0, row, layout.col("target"), "Returns received (coverage of each month's figures)", label)
    for period in plan.periods:
        col = layout.col(month_key(period))
        cover = plan.coverage[period]
        text = f"{cover.received} of {cover.expected}"
        if cover.complete:
            fmt = st(CELL_BORDER, font_size=9, align="center", bg_color="#F2F2F2")
        else:
            fmt = st(CELL_BORDER, NO_VALUE_FILL, font_size=9, bold=True, align="center", font_color="#9C0006",
                     underline=1)
        dept = cover.absent[0][0] if cover.absent else None
        if dept is not None and dept in plan.submissions_row:
            target_col = plan.submissions_first_col + plan.periods.index(period)
            links.add(row, col, internal_link(SUBMISSIONS, plan.submissions_row[dept], target_col),
                      f"Submissions: {dept} {month_label(period)}", text, fmt)
        else:
            ws.write_string(row, col, text, fmt)
        lines = [f"{d}: return {status}" + (f" ({reason})" if reason else "") for d, status, reason in cover.absent]
        if cover.partial:
            lines.append(f"{plural(len(cover.partial), 'figure')} this month lack these departments' share "
                         f"({', '.join(cover.partial[:6])}{' ...' if len(cover.partial) > 6 else ''}).")
        others = [plan.findings[n] for n in cover.findings if plan.findings[n].rule not in ("return-missing",
                                                                                             "return-rejected")]
        lines += [f"{f.department}: {f.message}" for f in others[:4]]
        lines += [f"Excluded by a reviewer: {d} {code}" for code, d, p in plan.reconciled.excluded if p == period]
        if lines:
            write_note(ws, row, col, f"Returns for {month_label(period)}: {text}", lines,
                       "Click for the Submissions sheet." if dept else "")
    for col in range(layout.col(month_key(plan.periods[-1])) + 1, layout.last + 1):
        ws.write_blank(row, col, None, st(CELL_BORDER, bg_color="#F2F2F2"))


def _add_rag(ws: Any, plan: Plan, st: Styles, row: int, ind: Any, values: list[float | None]) -> None:
    if not plan.periods:
        return
    first = plan.layout.col(month_key(plan.periods[0]))
    for start, end, limit, in_force in judged_runs(ind, plan.periods):
        top_left = cell_ref(row, first + start)
        for rule in rag_rules(in_force, limit, top_left):
            ws.conditional_format(row, first + start, row, first + end,
                                  {"type": "formula", "criteria": rule.formula, "format": st.rag[rule.colour]})
