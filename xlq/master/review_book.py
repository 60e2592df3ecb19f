"""The review workbook (issue 17): `outbox/review.xlsx`, rebuilt with the master.

One row per open finding (no decision yet, or a query still being discussed) with a link to
the cell in the master, and three unlocked inputs: the reviewer's name, a Decision (a list:
Accept, Query, Exclude) and a Note per row; a Sign-off sheet has one unlocked cell per
department and month. Everything else is locked. Each row carries its finding's sealed
identity (`xlq.core.review.sealed_ref`), and a hidden `xlq_review` sheet the workbook's own
seal, so a returned workbook is matched by identity, never by row, and one from another
workspace is refused. Written like the master: XlsxWriter with strings never turned into
formulas or links, to a temporary file that replaces the old one in one step.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xlq.core.catalogue import Catalogue
from xlq.core.config import Workspace
from xlq.core.model import Reconciled
from xlq.core.months import month_label
from xlq.core.review import DECISIONS, REVIEW_TEMPLATE, SIGN_OFF, Query, book_seal, sealed_ref
from xlq.master.plan import SCORECARD, Plan, cell_ref, clean, make_plan, month_key, period_date
from xlq.master.review_state import ReviewState, review_state
from xlq.master.style import Styles, print_setup, wrapped_height
from xlq.master.workbook import WORKBOOK_OPTIONS, write_atomically

if TYPE_CHECKING:
    from xlq.store.db import Store

REVIEW_SHEET = "Review"
SIGN_OFF_SHEET = "Sign-off"
META_SHEET = "xlq_review"
REVIEWER_CELL = (2, 1)
HEADER_ROW = 5
COLUMNS = (  # key, title, width
    ("department", "Department", 12), ("period", "Month", 9), ("indicator", "Indicator", 12),
    ("value", "Value", 12), ("severity", "Severity", 9), ("rule", "Rule", 22), ("message", "Message", 52),
    ("master", "In the master", 14), ("so_far", "So far", 34), ("decision", "Decision", 11),
    ("note", "Note", 40), ("ref", "Ref", 33),
)
SIGN_COLUMNS = (("department", "Department", 12), ("name", "Name", 36), ("period", "Month", 9),
                ("state", "State", 30), ("open", "Open findings", 14), ("sign", "Sign-off", 11))
NOTE_LIMIT = 1000
INPUT = {"bg_color": "#FFF2CC", "border": 1, "border_color": "#BF9000", "locked": False}


def write_review_book(reconciled: Reconciled, state: ReviewState, catalogue: Catalogue, workspace: Workspace,
                      path: Path | None = None, *, built_at: dt.datetime | None = None, plan: Plan | None = None) -> Path:
    """Write the review workbook beside the master (or to `path`); returns where it went. `plan` is
    the master's (its links go to the master's cells), made here when not given."""
    built = (built_at or dt.datetime.now()).replace(microsecond=0, tzinfo=None)
    target = Path(path) if path is not None else workspace.review_path
    return write_atomically(target, lambda tmp: _build(tmp, reconciled, state, catalogue, workspace, built, plan))


def _build(path: Path, reconciled: Reconciled, state: ReviewState, catalogue: Catalogue, workspace: Workspace,
           built: dt.datetime, plan: Plan | None) -> None:
    import xlsxwriter  # start-up: only on a rebuild, as in master/workbook.py (a run with nothing new skips it)

    plan = plan or make_plan(reconciled, catalogue, workspace, built)
    workbook = xlsxwriter.Workbook(str(path), WORKBOOK_OPTIONS)
    try:
        workbook.set_properties({"title": f"Review {month_label(plan.month)}", "author": "xlq",
                                 "company": clean(workspace.organisation, 255)})
        workbook.calc_on_load = False
        st = Styles(workbook)
        review = workbook.add_worksheet(REVIEW_SHEET)
        sign = workbook.add_worksheet(SIGN_OFF_SHEET)
        meta = workbook.add_worksheet(META_SHEET)
        window = set(reconciled.periods)
        items = sorted((i for i in state.open if i.finding.period in window),
                       key=lambda i: (i.finding.department or "", i.finding.period or "", i.finding.indicator or "",
                                      i.finding.rule))
        _write_review(review, st, workspace, plan, state, items)
        _write_sign_off(sign, st, workspace, reconciled, state)
        stamp = built.isoformat()
        for n, (key, value) in enumerate((("template", REVIEW_TEMPLATE), ("organisation", workspace.organisation),
                                          ("built_at", stamp),
                                          ("seal", book_seal(state.token, workspace.organisation, stamp)),
                                          ("period", plan.month or ""))):
            meta.write_string(n, 0, key)
            meta.write_string(n, 1, clean(value, 255))
        meta.hide()
        meta.protect()
        review.activate()
    finally:
        workbook.close()


def _write_review(ws: Any, st: Styles, workspace: Workspace, plan: Any, state: ReviewState, items: list) -> None:
    for n, (_, _, width) in enumerate(COLUMNS):
        ws.set_column(n, n, width)
    col = {key: n for n, (key, _, _) in enumerate(COLUMNS)}
    ws.set_row(0, 26)
    ws.write_string(0, 0, f"Review of flagged figures: {month_label(plan.month)}", st.title())
    ws.write_string(1, 0, clean(workspace.organisation, 255), st.subtitle())
    ws.write_string(REVIEWER_CELL[0], 0, "Reviewer", st(bold=True))
    ws.merge_range(REVIEWER_CELL[0], REVIEWER_CELL[1], REVIEWER_CELL[0], REVIEWER_CELL[1] + 2, "", st(INPUT))
    ws.data_validation(*REVIEWER_CELL, *REVIEWER_CELL, {
        "validate": "length", "criteria": "between", "minimum": 1, "maximum": 80,
        "input_title": "Your name", "input_message": "Decisions are recorded under this name."})
    ws.write_string(3, 0, "Choose a Decision for each row (Accept: the figure stands; Query: ask the department; "
                    "Exclude: leave it out of the organisation figure until corrected), add a Note, sign each "
                    f"department's month off on the {SIGN_OFF_SHEET} sheet, save, and drop this file into "
                    f"{workspace.people_inbox(workspace.review.folder)}", st.small(italic=True))
    for key, title, _ in COLUMNS:
        fmt = st.header(bg_color="#BF9000") if key in ("decision", "note") else st.header()
        ws.write_string(HEADER_ROW, col[key], title, fmt)
    text = st.text(text_wrap=True, valign="top")
    first = HEADER_ROW + 1
    for n, item in enumerate(items):
        row = first + n
        f = item.finding
        cells = {"department": f.department, "indicator": f.indicator, "value": f.value, "severity": f.severity,
                 "rule": f.rule, "message": f.message,
                 "so_far": state.by_id[item.id].text() if item.id in state.by_id else "",
                 "ref": sealed_ref(state.token, item.id)}
        for key, value in cells.items():
            ws.write_string(row, col[key], clean(value), st.text(font_size=8, font_color="#7F7F7F", valign="top")
                            if key == "ref" else text)
        ws.write_datetime(row, col["period"], period_date(f.period), st.text(num_format="mmm-yy", valign="top"))
        if f.indicator in plan.indicator_row and f.period in plan.periods:
            target = cell_ref(plan.indicator_row[f.indicator], plan.layout.col(month_key(f.period)))
            ws.write_url(row, col["master"], f"external:{workspace.master_path.name}#'{SCORECARD}'!{target}",
                         st.link(valign="top"), f"{SCORECARD} {target}", "Open the figure in the master")
        else:
            ws.write_blank(row, col["master"], None, text)
        ws.write_blank(row, col["decision"], None, st(INPUT, valign="top"))
        ws.write_blank(row, col["note"], None, st(INPUT, text_wrap=True, valign="top"))
        ws.set_row(row, wrapped_height([(f.message, 52), (cells["so_far"], 34)]))
    last = first + max(len(items), 1) - 1
    if not items:
        ws.write_string(first, col["message"], "Nothing to review: every finding has a decision.", text)
    else:
        ws.data_validation(first, col["decision"], last, col["decision"], {
            "validate": "list", "source": list(DECISIONS), "error_title": "Decision",
            "error_message": "Choose Accept, Query or Exclude."})
        ws.data_validation(first, col["note"], last, col["note"], {
            "validate": "length", "criteria": "<=", "value": NOTE_LIMIT,
            "error_message": f"A note is at most {NOTE_LIMIT} characters."})
    ws.autofilter(HEADER_ROW, 0, last, len(COLUMNS) - 1)
    ws.freeze_panes(HEADER_ROW + 1, 3)
    ws.protect("", {"autofilter": True, "format_columns": True, "format_rows": True})
    print_setup(ws, 9, area=(last, len(COLUMNS) - 1), header_row=HEADER_ROW, footer="Review")


def _write_sign_off(ws: Any, st: Styles, workspace: Workspace, reconciled: Reconciled, state: ReviewState) -> None:
    for n, (_, _, width) in enumerate(SIGN_COLUMNS):
        ws.set_column(n, n, width)
    ws.set_row(0, 26)
    ws.write_string(0, 0, "Sign-off", st.title())
    ws.write_string(1, 0, "A department's month can be signed off once every finding on it has a decision "
                    "(state 'reviewed'). Choose 'Sign off'; the reviewer's name on the Review sheet signs it.",
                    st.small(italic=True))
    header = 3
    for n, (_, title, _) in enumerate(SIGN_COLUMNS):
        ws.write_string(header, n, title, st.header(bg_color="#BF9000") if n == len(SIGN_COLUMNS) - 1 else st.header())
    open_count: dict[tuple[str, str], int] = {}
    for item in state.open:
        key = (item.finding.department or "", item.finding.period or "")
        if item.id not in state.by_id:
            open_count[key] = open_count.get(key, 0) + 1
    months = reconciled.periods[-2:]
    rows = [(d, p) for p in reversed(months) for d in workspace.department_codes if (d, p) in state.stages]
    text = st.text()
    for n, (dept, period) in enumerate(rows):
        row = header + 1 + n
        info = workspace.department(dept)
        stage = state.stages[(dept, period)]
        ws.write_string(row, 0, dept, st.text(bold=True))
        ws.write_string(row, 1, clean(info.name_in(period) if info else dept, 255), text)
        ws.write_datetime(row, 2, period_date(period), st.text(num_format="mmm-yy"))
        ws.write_string(row, 3, stage, text)
        ws.write_number(row, 4, open_count.get((dept, period), 0), st.text(align="center"))
        if stage.startswith("signed off"):
            ws.write_string(row, 5, "signed off", text)
        else:
            ws.write_blank(row, 5, None, st(INPUT))
            ws.data_validation(row, 5, row, 5, {"validate": "list", "source": [SIGN_OFF],
                                                "error_message": f"Choose '{SIGN_OFF}' or leave it blank."})
    ws.protect("", {"format_columns": True})
    print_setup(ws, 9, area=(header + max(len(rows), 1), len(SIGN_COLUMNS) - 1), header_row=header, footer="Sign-off")


def write_review_outputs(store: Store, reconciled: Reconciled, catalogue: Catalogue, workspace: Workspace, *,
                         built_at: dt.datetime | None = None, plan: Plan | None = None) -> ReviewState:
    """The review workbook, and for each department with open queries its queries workbook in
    `feedback/<DEPT>/` (the department's feedback); rebuilt with the master (`plan`: its plan)."""
    state = review_state(store, reconciled.periods)
    write_review_book(reconciled, state, catalogue, workspace, built_at=built_at, plan=plan)
    for dept, queries in state.queries.items():
        target = workspace.feedback_path / dept / QUERIES_NAME
        write_atomically(target, lambda tmp, dept=dept, queries=queries: _write_queries(tmp, workspace, dept, queries))
    return state


QUERIES_NAME = "Queries from the reviewer.xlsx"


def _write_queries(path: Path, workspace: Workspace, dept: str, queries: list[Query]) -> None:
    """A department's open queries: what was asked about which figure, and any response so far.
    The answer goes into the Queries block of the department's next template."""
    import xlsxwriter  # start-up, as above

    workbook = xlsxwriter.Workbook(str(path), WORKBOOK_OPTIONS)
    try:
        st = Styles(workbook)
        ws = workbook.add_worksheet("Queries")
        for n, width in enumerate((9, 12, 12, 44, 44, 18, 40)):
            ws.set_column(n, n, width)
        info = workspace.department(dept)
        ws.write_string(0, 0, f"Queries from the reviewer: {clean(info.name if info else dept, 200)}", st.title())
        ws.write_string(1, 0, "Answer each query in the Queries block of your next template (the Response column); "
                        "it comes back with your return.", st.small(italic=True))
        titles = ("Month", "Indicator", "Value", "Finding", "Reviewer's question", "Asked", "Response so far")
        for n, title in enumerate(titles):
            ws.write_string(3, n, title, st.header())
        text = st.text(text_wrap=True, valign="top")
        for n, q in enumerate(sorted(queries, key=lambda q: (q.period, q.indicator)), start=4):
            ws.write_datetime(n, 0, period_date(q.period), st.text(num_format="mmm-yy", valign="top"))
            for col, value in enumerate((q.indicator, q.value, q.message, q.note or "(no note)",
                                         f"{q.reviewer}, {q.asked_at[:10]}", q.response), start=1):
                ws.write_string(n, col, clean(value), text)
            ws.set_row(n, wrapped_height([(q.message, 44), (q.note, 44), (q.response, 40)]))
        ws.protect()
    finally:
        workbook.close()
