"""The master's supporting sheets: By Department, Validation Errors, Submissions, About.

The departmental view is one breakdown sheet (indicator x department for the reporting
month, with the organisation's figure and 13-month trend beside it) rather than one sheet
per department: a reviewer asking "which service pulls this figure down?" wants the
departments side by side, most indicators are reported by only a few departments (so
per-department sheets would be mostly blank), and seven more tabs of ~90 rows would bury
the Scorecard. The per-department history stays in the store.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from xlq import __version__
from xlq.core.months import moment_label, month_label
from xlq.master.plan import (
    ABOUT,
    BREAKDOWN,
    ERRORS,
    PERIOD_WIDTH,
    RECEIVED,
    SCORECARD,
    SUBMISSIONS,
    Column,
    Layout,
    Plan,
    cell_ref,
    clean,
    internal_link,
    month_key,
    period_date,
    plural,
    rag_rules,
    submissions_layout,
    thresholds,
)
from xlq.master.style import (
    NAVY,
    STATUS_STYLE,
    Links,
    Styles,
    add_sparklines,
    print_setup,
    wrapped_height,
    write_note,
    write_value,
)
from xlq.store.connection import display_url

ERROR_COLUMNS = (
    Column("severity", "Severity", 9),
    Column("rule", "Rule", 24),
    Column("department", "Department", 12),
    Column("period", "Period", PERIOD_WIDTH),
    Column("indicator", "Indicator", 11),
    Column("file", "Source file", 30),
    Column("cell", "Source cell", 14),
    Column("value", "Value", 18),
    Column("message", "Message", 72),
    Column("master", "Master cell", 18),
    Column("review", "Review", 40),
)
TEXT_COLUMNS = ("severity", "rule", "department", "indicator", "file", "cell", "value", "message", "review")
"""The Validation Errors columns written as text, in the order their strings are first written."""
BREAKDOWN_HEADER = 4


def breakdown_layout(departments: tuple[str, ...], code: float = 9) -> Layout:
    return Layout([
        Column("code", "Code", code), Column("name", "Indicator", 38), Column("target", "Target", 13),
        *(Column(f"dept:{d}", d, 11) for d in departments),
        Column("org", "Organisation", 13), Column("trend", "Trend (13 months)", 17),
    ])


def write_breakdown(ws: Any, plan: Plan, st: Styles, links: Links) -> None:
    from xlsxwriter.utility import quote_sheetname  # start-up: only on a rebuild (xlq/master/workbook.py)

    scorecard = quote_sheetname(SCORECARD)
    layout = breakdown_layout(plan.month_departments, plan.layout.columns[plan.layout.col("code")].width)
    for n, column in enumerate(layout.columns):
        ws.set_column(n, n, column.width)
    ws.hide_gridlines(2)
    month = plan.month
    label = period_date(month).strftime("%B %Y") if month else "no months yet"
    ws.write_string(0, 0, f"Departmental breakdown: {label}", st.title())
    ws.write_string(1, 0, clean(plan.workspace.organisation, 255), st.subtitle())
    ws.write_string(2, 0, "Each department's own figure for the reporting month beside the organisation's. "
                    "Grey: the department does not report this indicator; hatched: its return is missing or "
                    "rejected. The trend is the organisation's, from the Scorecard.", st.small(italic=True))
    header = BREAKDOWN_HEADER
    ws.set_row(header, 56)
    for n, column in enumerate(layout.columns):
        title = column.title
        if column.key.startswith("dept:"):
            dept = plan.workspace.department(column.title)
            title = f"{column.title}\n{dept.name_in(month or '')}" if dept else column.title
        ws.write_string(header, n, clean(title, 255), st.header(font_size=9))
    groups: dict[str, tuple[list[str], list[str]]] = {}
    row = header
    for n, item in enumerate(plan.rows):
        row = header + 1 + n
        if item.kind != "indicator":
            fmt = st.section() if item.kind == "section" else st.subsection()
            ws.write_string(row, 0, clean(item.text, 255), fmt)
            for col in range(1, layout.last + 1):
                ws.write_blank(row, col, None, fmt)
            continue
        ind = item.indicator
        assert ind is not None
        ws.set_row(row, 27)
        ws.write_string(row, layout.col("code"), clean(ind.code, 255), st.text(bold=True, font_color="#595959"))
        ws.write_string(row, layout.col("name"), clean(ind.name, 255), st.text(bold=True))
        ws.write_string(row, layout.col("target"), ind.as_of(month or "").target.text, st.text(align="center"))
        if month is None:
            continue
        reporters = set(plan.reporting_departments(ind))
        for dept in plan.month_departments:
            _write_department_cell(ws, plan, st, links, row, layout.col(f"dept:{dept}"), ind, dept, dept in reporters)
        org = plan.org(ind.code, month)
        flagged = (ind.code, month) in plan.flag_reasons
        write_value(ws, row, layout.col("org"), org.value, org.marker,
                    lambda marker, ind=ind, flagged=flagged: st.value(ind, flagged=flagged, marker=marker))
        limit = thresholds(ind, plan.periods, plan.values(ind.code))[-1]
        first = layout.col(f"dept:{plan.month_departments[0]}") if plan.month_departments else layout.col("org")
        if limit is not None:
            for rule in rag_rules(ind.as_of(month), limit, cell_ref(row, first)):
                ws.conditional_format(row, first, row, layout.col("org"),
                                      {"type": "formula", "criteria": rule.formula, "format": st.rag[rule.colour]})
        ws.write_blank(row, layout.col("trend"), None, st.text())
        source = plan.indicator_row[ind.code]
        lo = plan.layout.col(month_key(plan.periods[0]))
        hi = plan.layout.col(month_key(plan.periods[-1]))
        locations, ranges = groups.setdefault(ind.direction, ([], []))
        locations.append(cell_ref(row, layout.col("trend")))
        ranges.append(f"{scorecard}!{cell_ref(source, lo)}:{cell_ref(source, hi)}")
    for direction, (locations, ranges) in groups.items():
        add_sparklines(ws, direction, locations, ranges)
    ws.freeze_panes(header + 1, layout.col("target") + 1)
    ws.autofilter(header, 0, max(row, header), layout.last)
    print_setup(ws, 8, area=(row, layout.last), header_row=header,
                footer=f"{plan.workspace.organisation}: {BREAKDOWN} {month_label(month)}")


def _write_department_cell(ws: Any, plan: Plan, st: Styles, links: Links, row: int, col: int, ind: Any,
                           dept: str, reports: bool) -> None:
    month = plan.month
    assert month is not None
    value = plan.reconciled.by_department.get((ind.code, dept, month))
    status = plan.reconciled.submissions.get((dept, month))
    no_value = reports and value is None and status is not None and status.status in ("rejected", "missing")
    found = plan.breakdown_findings.get((ind.code, dept), [])
    comment = [f"{dept} comment: {value.comment}"] if value is not None and value.comment else []
    excluded = plan.reconciled.excluded.get((ind.code, dept, month))  # kept, but not in the organisation figure
    comment += [excluded] if excluded else []
    if no_value and not found:
        assert status is not None
        why = f" ({status.reason})" if status.reason else ""
        write_note(ws, row, col, f"{dept} {month_label(month)}: no value", [f"Return {status.status}{why}."])
    elif found:  # the figure stays selectable: the note names the finding's row, no link on it
        target = plan.errors_row(found[0])
        reasons = [plan.findings[i].message for i in found] + comment
        write_note(ws, row, col, f"{dept} {ind.code} {month_label(month)}: flagged", reasons,
                   f"See Validation Errors row {target + 1}.")
    elif comment:
        write_note(ws, row, col, f"{dept} {ind.code} {month_label(month)}", comment)
    write_value(ws, row, col, value.value if value else None, value.marker if value else None,
                lambda marker: st.value(ind, flagged=bool(found or excluded) or no_value, no_value=no_value,
                                        not_reported=not reports, marker=marker))


def write_errors(ws: Any, plan: Plan, st: Styles, links: Links) -> None:
    layout = Layout(ERROR_COLUMNS)
    for n, column in enumerate(layout.columns):
        ws.set_column(n, n, column.width)
    header = plan.errors_first_row - 1
    first = plan.errors_first_row
    months = f"{month_label(plan.periods[0])} to {month_label(plan.month)}" if plan.periods else "no months"
    ws.write_string(0, 0, "Validation errors", st.title())
    ws.write_string(1, 0, f"Every finding for {months}, errors first. 'Master cell' opens the value a finding "
                    "affects; each Scorecard row's Findings cell links back here.", st.small(italic=True))
    rows = max(1, len(plan.findings))
    ws.add_table(header, 0, first + rows - 1, layout.last, {
        "name": "ValidationErrors", "style": "Table Style Light 9", "autofilter": True,
        "columns": [{"header": c.title, "header_format": st.header(align="left")} for c in layout.columns],
    })
    text = st.text()
    if not plan.findings:
        ws.write_string(first, layout.col("message"), "No findings for these months.", text)
    # a row per finding (9,000 at 10,000 returns): what every row shares is looked up once
    columns = [(layout.col(key), layout.columns[layout.col(key)].width) for key in TEXT_COLUMNS]
    period_col, master_col = layout.col("period"), layout.col("master")
    month_format = st.text(num_format="mmm-yy", align="center") if plan.findings else None
    link_format = st.link() if plan.findings else None
    for n, f in enumerate(plan.findings):
        row = first + n
        values = (f.severity, f.rule, f.department, f.indicator, os.path.basename(f.file) if f.file else "",
                  f.location, f.value, f.message,
                  review.text() if (review := plan.reconciled.reviews.get(f)) else "")
        shown: list[tuple[str, float]] = []
        for (col, width), value in zip(columns, values, strict=True):
            value = clean(value)
            ws.write_string(row, col, value, text)
            shown.append((value, width))
        ws.set_row(row, wrapped_height(shown))
        if f.period and len(f.period) == 7 and f.period[4] == "-" and f.period.replace("-", "").isdigit():
            ws.write_datetime(row, period_col, period_date(f.period), month_format)
        else:
            ws.write_string(row, period_col, clean(f.period or ""), text)
        target = plan.finding_target.get(n)
        if target is None:
            ws.write_blank(row, master_col, None, text)
            continue
        sheet, t_row, t_col = target
        where = f"{sheet} {cell_ref(t_row, t_col)}"
        if not links.add(row, master_col, internal_link(sheet, t_row, t_col), f"Open {where}", where, link_format):
            ws.write_string(row, master_col, where, text)
    sev = layout.col("severity")
    for value, colour in (("error", "red"), ("warning", "amber"), ("info", "green")):
        ws.conditional_format(first, sev, first + rows - 1, sev,
                              {"type": "cell", "criteria": "==", "value": f'"{value}"', "format": st.rag[colour]})
    if links.skipped:
        ws.write_string(2, 0, links.notice(), st.small(bold=True, font_color="#C00000"))
    ws.freeze_panes(header + 1, 0)
    print_setup(ws, 9, area=(first + rows - 1, layout.last), header_row=header,
                footer=f"{plan.workspace.organisation}: {ERRORS}")


def write_submissions(ws: Any, plan: Plan, st: Styles, links: Links) -> None:
    layout = submissions_layout(plan.periods)
    for n, column in enumerate(layout.columns):
        ws.set_column(n, n, column.width)
    ws.hide_gridlines(2)
    first = min(plan.submissions_row.values(), default=4)
    header = first - 1
    ws.write_string(0, 0, "Submissions", st.title())
    ws.write_string(1, 0, "Each department's return for each month. Click a rejected or missing month for its "
                    "row on Validation Errors; notes on months not simply accepted say when the return arrived, "
                    "from which file and why.",
                    st.small(italic=True))
    for n, column in enumerate(layout.columns):
        if column.key.startswith("month:"):
            ws.write_datetime(header, n, period_date(column.key[6:]), st.header(num_format="mmm-yy"))
        else:
            ws.write_string(header, n, column.title, st.header())
    subs = plan.reconciled.submissions
    row = header
    for dept, row in plan.submissions_row.items():
        info = plan.workspace.department(dept)
        ws.write_string(row, layout.col("code"), dept, st.text(bold=True))
        ws.write_string(row, layout.col("name"), clean(info.name_in(plan.month or "") if info else dept, 255), st.text())
        labels: list[tuple[str, float]] = [("Accepted with warnings", 12)]  # at least two lines tall
        received = 0
        for period in plan.periods:
            col = layout.col(month_key(period))
            status = subs.get((dept, period))
            if status is None:
                ws.write_blank(row, col, None, st.text())
                continue
            label, fill, font = STATUS_STYLE.get(status.status, (status.status, "#FFFFFF", "#000000"))
            received += status.status in RECEIVED
            found = plan.submission_findings.get((dept, period), [])
            if status.not_used:
                label += f" ({status.not_used} not used)"
            stage = plan.reconciled.stages.get((dept, period), "")
            label += " · signed off" if stage.startswith("signed off") else ""
            labels.append((label, 12))
            fmt = st.text(align="center", bg_color=fill, font_color=font, bold=bool(found), text_wrap=True)
            target = plan.errors_row(found[0]) if found else 0
            if not (found and links.add(row, col, internal_link(ERRORS, target, 0), f"Validation Errors row {target + 1}",
                                        label, fmt)):
                ws.write_string(row, col, label, fmt)
            if status.status != "accepted" or stage:
                lines = [f"Received {moment_label(status.received)}" if status.received else "Not received",
                         *([f"File: {status.file}"] if status.file else []),
                         *([status.reason] if status.reason else []), *([f"Review: {stage}"] if stage else [])]
                write_note(ws, row, col, f"{dept} {month_label(period)}: {label}", lines)
        ws.write_number(row, layout.col("received"), received, st.text(align="center"))
        ws.set_row(row, wrapped_height(labels, line=11.5))
    total = row + 1
    ws.write_string(total, layout.col("name"), "Returns received", st.text(bold=True))
    for period in plan.periods:
        count = sum(1 for d in plan.departments
                    if subs.get((d, period)) and subs[(d, period)].status in RECEIVED)
        ws.write_number(total, layout.col(month_key(period)), count, st.text(bold=True, align="center"))
    key_row = total + 2
    ws.write_string(key_row, 0, "Key", st(bold=True))
    key_col = layout.col("name") + 1
    for n, (label, fill, font) in enumerate(STATUS_STYLE.values()):
        ws.write_string(key_row, key_col + n, label, st.text(align="center", bg_color=fill, font_color=font,
                                                             text_wrap=True))
    ws.set_row(key_row, 27)
    ws.freeze_panes(header + 1, layout.col("name") + 1)
    print_setup(ws, 9, area=(key_row, layout.last), header_row=header,
                footer=f"{plan.workspace.organisation}: {SUBMISSIONS}")


def write_about(ws: Any, plan: Plan, st: Styles, links: dict[str, Links],
                extra: Sequence[tuple[str, str]] = ()) -> None:
    ws.set_column(0, 0, 26)
    ws.set_column(1, 1, 100)
    ws.write_string(0, 0, "About this workbook", st.title())
    received, expected, _ = plan.returns_summary()
    counts = plan.severity_counts()
    months = f"{month_label(plan.periods[0])} to {month_label(plan.month)}" if plan.periods else "none"
    rows = [
        ("Organisation", plan.workspace.organisation),
        ("Workbook", "Integrated Quality Scorecard"),
        ("Reporting month", month_label(plan.month) or "none"),
        ("Months shown", f"{months} ({len(plan.periods)})"),
        ("Built", f"{plan.built_at:%Y-%m-%d %H:%M}"),
        ("Built by", f"xlq {__version__}"),
        ("Catalogue version", plan.catalogue.version),
        ("Catalogue file", plan.catalogue.path),
        ("Workspace", str(plan.workspace.root)),
        ("Store", display_url(plan.workspace.store_url) if plan.workspace.store_url else str(plan.workspace.store_path)),
        ("Files in", f"{plan.reconciled.files_in:,} return files went into these figures"),
        ("Departments", ", ".join(plan.departments)),
        ("Indicators shown", f"{sum(1 for r in plan.rows if r.indicator)} of {len(plan.catalogue)} in the catalogue"),
        ("Returns this month", f"{received} of {expected} received"),
        ("Findings", f"{plural(counts['error'], 'error')}, {plural(counts['warning'], 'warning')}, "
                     f"{counts['info']} for information"),
        ("Sheets", f"{SCORECARD}: organisation figures, RAG against target, trend. {BREAKDOWN}: each "
                   f"department's figure for the reporting month. {ERRORS}: every finding, linked to the cell "
                   f"it affects. {SUBMISSIONS}: which returns arrived. {ABOUT}: this page."),
        ("Markers", "N/A: not applicable. TBA: not yet available. -: nothing to report. A blank is never zero."),
        *extra,
    ]
    for sheet, counter in links.items():
        if counter.skipped:
            rows.append((f"Links on {sheet}", counter.notice()))
    for n, (key, value) in enumerate(rows, start=2):
        ws.write_string(n, 0, key, st(bold=True, font_color=NAVY, valign="top"))
        ws.write_string(n, 1, clean(value), st(text_wrap=True, valign="top"))
        ws.set_row(n, wrapped_height([(value, 100)], minimum=16))
    print_setup(ws, 9)
