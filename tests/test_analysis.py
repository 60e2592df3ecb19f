"""xlq.analysis on the demo workspace: the tables against the store they are read from and the
master they must agree with, read back the way an analyst would see them."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook
from python_calamine import CalamineWorkbook

from xlq.analysis.snapshot import SnapshotStore
from xlq.analysis.tables import AnalysisError
from xlq.analysis.workspace import open_workspace
from xlq.core.config import load_workspace
from xlq.core.toml_cache import CACHE_DIR
from xlq.master.style import RAG
from xlq.store.db import Store, StoreError

pytestmark = pytest.mark.filterwarnings("ignore:Sparkline Group extension:UserWarning")  # openpyxl only reads here


@pytest.fixture(scope="module")
def ws(demo_workspace):
    return open_workspace(demo_workspace)


def _py(value: object) -> object:
    """A DataFrame cell as a plain Python value (<NA> as None)."""
    if value is pd.NA or value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, pd.Period):
        return str(value)
    return value.item() if hasattr(value, "item") else value


def _utc(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.astimezone()).astimezone(dt.UTC)


def _store_rows(demo, *, current: bool) -> list[tuple]:
    with Store(load_workspace(demo).store_path) as store:
        subs = {s.id: s for s in store.submissions()}
        stored = store.values(current=current)
    rows = []
    for sv in stored:
        v, sub = sv.value, subs[sv.submission_id]
        kind = "import" if sub.arrived_in == "import" else "correction" if sub.kind == "correction" else "return"
        rows.append((v.department, v.period, v.indicator, v.value, v.numerator, v.denominator, v.marker, sv.current,
                     kind, sv.submission_id, sv.file, v.sheet, v.cell, _utc(sv.received_at), v.raw, v.comment,
                     sv.comment_from, sub.superseded_by))
    return sorted(rows, key=lambda r: (r[1], r[0], r[2], r[9]))


def _frame_rows(frame: pd.DataFrame) -> list[tuple]:
    return [tuple(_py(x) for x in row) for row in frame.itertuples(index=False, name=None)]


def test_values_equal_the_store_row_for_row_with_their_provenance(ws, demo_workspace):
    values = ws.values()
    expected = _store_rows(demo_workspace, current=True)
    assert len(expected) > 4000
    assert _frame_rows(values) == expected
    assert set(values["kind"]) == {"import", "return", "correction"}
    assert values["current"].all()


def test_superseded_values_are_there_on_request_and_name_what_replaced_them(ws, demo_workspace):
    everything = ws.values(superseded=True)
    assert _frame_rows(everything) == _store_rows(demo_workspace, current=False)
    msk = everything[(everything.department == "MSK") & (everything.month == pd.Period("2023-11", "M"))
                     & (everything.indicator == "INC-NEW")]
    old, new = msk.sort_values("submission_id").itertuples(index=False)
    assert not old.current and old.superseded_by == new.submission_id
    assert new.current and new.kind == "correction" and "(corrected)" in new.file


def test_dtypes_are_the_documented_ones(ws):
    values = ws.values()
    assert str(values["month"].dtype) == "period[M]"
    assert all(str(values[c].dtype) == "Float64" for c in ("value", "numerator", "denominator"))
    assert list(values["department"].cat.categories[:7]) == ["LUT", "MSK", "ICASH", "DENT", "BEDS", "NORF", "CORP"]
    assert list(values["marker"].cat.categories) == ["N/A", "TBA", "-"]
    assert str(values["received_at"].dtype) == "datetime64[ns, UTC]"
    assert str(values["submission_id"].dtype) == "Int64"
    marked = values[values["marker"].notna()]
    assert len(marked) > 100 and marked["value"].isna().all(), "a marker is never a number"
    blank = values[values["marker"].isna() & values["value"].isna() & values["numerator"].isna()]
    assert len(blank) and (blank["raw"] == "").all(), "a blank is missing, not a marker and not 0"
    findings = ws.findings()
    assert findings["severity"].cat.ordered and list(findings["severity"].cat.categories) == ["error", "warning", "info"]


def test_filters_give_what_filtering_the_whole_table_gives(ws):
    whole = ws.values()
    picked = ws.values(start="2023-01", end=pd.Period("2023-03", "M"), departments=["LUT", "NORF"],
                       indicators="SICK-MONTHLY")
    mask = ((whole.month >= pd.Period("2023-01", "M")) & (whole.month <= pd.Period("2023-03", "M"))
            & whole.department.isin(["LUT", "NORF"]) & (whole.indicator == "SICK-MONTHLY"))
    assert len(picked) == 6
    assert _frame_rows(picked) == _frame_rows(whole[mask])
    submissions = ws.submissions(start=dt.date(2023, 12, 1), departments="LUT")
    assert list(submissions["month"].astype(str)) == ["2023-12"] and list(submissions["department"]) == ["LUT"]
    with pytest.raises(AnalysisError, match="NOPE"):
        ws.values(departments="NOPE")
    with pytest.raises(AnalysisError, match="not a month"):
        ws.values(start="2023-13")


def _scorecard(path, master, codes: set[str]) -> tuple[dict[tuple[str, str], object], dict[tuple[str, str], object]]:
    """(code, month) -> the Scorecard cell's value, and -> the cell itself (for its note and
    colour), for the rows whose first column holds an indicator code (the others are domain
    headings). Values are read with calamine: openpyxl shows a blank cell that carries a link
    as the link's target."""
    grid = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Scorecard").to_python(skip_empty_area=False)
    sheet = master["Scorecard"]
    rows = list(sheet.iter_rows())
    header = next(r for r in rows if any(c.value == "Code" for c in r) and any(c.value == "Trend" for c in r))
    code_col = next(c.column for c in header if c.value == "Code")
    months = {c.column: f"{c.value.year:04d}-{c.value.month:02d}" for c in header if isinstance(c.value, dt.datetime)}
    assert len(months) == 13
    values, cells = {}, {}
    for row in rows[header[0].row:]:
        code = sheet.cell(row[0].row, code_col).value
        if code in codes:
            for col, period in months.items():
                cell = sheet.cell(row[0].row, col)
                value = grid[cell.row - 1][cell.column - 1]
                values[(code, period)], cells[(code, period)] = None if value == "" else value, cell
    return values, cells


def _rag_from_conditional_formats(master) -> dict[str, str]:
    """Cell reference -> the colour the master's conditional formats give it, by evaluating
    each rule's AND(ISNUMBER(X), X>=n, ...) formula against the cell's value."""
    sheet = master["Scorecard"]
    fills = {props["bg_color"].lstrip("#").upper(): name for name, props in RAG.items()}
    colour: dict[str, str] = {}
    for cf in sheet.conditional_formatting:
        for rule in cf.rules:
            dxf = master._differential_styles[rule.dxfId]
            name = fills[(dxf.fill.bgColor.rgb or dxf.fill.fgColor.rgb)[-6:].upper()]
            tests = re.findall(r"[A-Z]+\d+(>=|<=|>|<)(-?[0-9.]+(?:[Ee][-+]?\d+)?)", rule.formula[0])
            assert tests, rule.formula
            for cells in cf.sqref.ranges:
                for row in sheet.iter_rows(min_row=cells.min_row, max_row=cells.max_row, min_col=cells.min_col,
                                           max_col=cells.max_col):
                    for cell in row:
                        x = cell.value
                        if isinstance(x, (int, float)) and all(
                                {">=": x >= float(n), "<=": x <= float(n), ">": x > float(n), "<": x < float(n)}[op]
                                for op, n in tests):
                            assert cell.coordinate not in colour, f"{cell.coordinate}: two rules match"
                            colour[cell.coordinate] = name
    return colour


def test_organisation_equals_the_scorecard_sheet_cell_for_cell(ws, demo_workspace):
    org = ws.organisation()
    path = demo_workspace / "outbox" / "scorecard.xlsx"
    master = load_workbook(path)
    shown, cells = _scorecard(path, master, {i.code for i in ws.catalogue.indicators})
    colours = _rag_from_conditional_formats(master)
    assert org["month"].nunique() == 13
    assert len(org) == len(shown) and org["indicator"].astype(str).unique().tolist() == list(dict.fromkeys(c for c, _ in shown))
    wrong = []
    for row in org.itertuples(index=False):
        key = (str(row.indicator), str(row.month))
        value, marker = _py(row.value), _py(row.marker)
        want = float(f"{value:.16G}") if value is not None else marker  # XlsxWriter writes numbers at 16 digits
        if shown[key] != want:
            wrong.append(f"{key}: master {shown[key]!r}, organisation() {want!r}")
        cell = cells[key]
        if colours.get(cell.coordinate) != _py(row.rag):
            wrong.append(f"{key}: master colours {colours.get(cell.coordinate)}, organisation() says {_py(row.rag)}")
        if (row.flagged or bool(row.remarks)) != (cell.comment is not None):
            wrong.append(f"{key}: flagged {row.flagged}, remarks {row.remarks!r}, master note {cell.comment is not None}")
        elif cell.comment is not None and not cell.comment.text.endswith("[cut]"):
            lines = [r for r in (row.notes.split("\n") + row.remarks.split("\n")) if r]
            missing = [r for r in lines if f"• {r}" not in cell.comment.text]
            if missing:
                wrong.append(f"{key}: note lacks {missing}")
    assert not wrong, f"{len(wrong)} cells differ:\n" + "\n".join(wrong[:30])
    assert {"green", "amber", "red"} <= set(colours.values())
    partial = org[org["partial"]]
    assert len(partial) > 30 and (partial["contributing"] < partial["expected"]).all()
    assert (org.loc[org["value"].notna(), "expected"] > 0).all()


def test_a_wider_window_keeps_the_figures_of_the_months_the_master_shows(ws):
    master_window = ws.organisation()
    two_years = ws.organisation(start="2022-01", end="2023-12")
    assert two_years["month"].nunique() == 24
    same = two_years[two_years["month"] >= pd.Period("2022-12", "M")].reset_index(drop=True)
    pd.testing.assert_series_equal(same["value"], master_window["value"])


def test_snapshot_reads_without_writing_and_refuses_to_write(demo_workspace):
    store_path = load_workspace(demo_workspace).store_path
    before = hashlib.sha256(store_path.read_bytes()).hexdigest()
    with open_workspace(demo_workspace).snapshot() as snap:
        values, submissions = snap.values(), snap.submissions()
        assert set(values["submission_id"]) <= set(submissions["submission_id"])
    with SnapshotStore(store_path) as store, pytest.raises(StoreError, match="read-only"):
        store.rows("DELETE FROM findings")
    assert hashlib.sha256(store_path.read_bytes()).hexdigest() == before


def test_opening_a_workspace_for_analysis_writes_nothing_into_it(tmp_path):
    from returns import make_workspace

    root = make_workspace(tmp_path / "ws")[0].root
    shutil.rmtree(root / CACHE_DIR, ignore_errors=True)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    workspace = open_workspace(root)
    assert workspace.catalogue.indicators and workspace.config.department_codes
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_a_workspace_with_no_store_yet_says_so(tmp_path):
    from returns import make_workspace

    make_workspace(tmp_path / "ws")
    with pytest.raises(StoreError, match="no store here yet"):
        open_workspace(tmp_path / "ws").values()


def test_the_worked_example_in_the_docs_prints_what_the_docs_say(demo_workspace):
    docs = (Path(__file__).resolve().parents[1] / "docs" / "analysis.md").read_text(encoding="utf-8")
    section = docs.split("## A worked example")[1]
    code, printed = re.findall(r"```(?:python)?\n(.*?)```", section, re.S)[:2]
    done = subprocess.run([sys.executable, "-c", code], cwd=demo_workspace.parent, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.rstrip() == printed.rstrip(), done.stdout
    assert done.stdout.rstrip().endswith("matches the master: True")
