"""`xlq export` on a real workspace: markers through CSV, Parquet and xlsx, the wide shape, the
optional packages, and pandas kept out of the commands that do not need it."""

from __future__ import annotations

import csv
import logging
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook
from returns import GOOD, PERIOD, fill, make_workspace, real_template

from xlq.analysis.workspace import open_workspace
from xlq.watch.service import run_once

MARKED = {
    **GOOD,
    "SICK": {"Value": "N/A"}, "WAIT": {"Value": "TBA"}, "INC_HIGH": {"Value": "-"},
    "INC": {"Value": 12, "Comment": "Pressure on the ward – see é note"},
    "TRAIN": {"Value": 0.95, "Comment": "@SUM(1,2) and -1+2 would run in Excel"},
}


@pytest.fixture(scope="module")
def marked(tmp_path_factory) -> Path:
    """A workspace whose LUT return gives every marker, accented text and formula-like comments."""
    root = tmp_path_factory.mktemp("marked") / "ws"
    workspace, catalogue = make_workspace(root)
    template = real_template(catalogue, workspace, root / "LUT-template.xlsx", "LUT", PERIOD)
    fill(template, root / "inbox" / "LUT" / "LUT.xlsx", MARKED)
    summary = run_once(workspace, progress=False, console_level=logging.ERROR)
    assert summary.count("accepted_with_warnings") == 1, summary.describe()  # comment-formula-like, kept as text
    return root


def xlq(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xlq.cli", *args], capture_output=True, text=True, timeout=300)


def _markers(frame: pd.DataFrame) -> dict[str, object]:
    return {str(i): (None if pd.isna(m) else str(m)) for i, m in zip(frame["indicator"], frame["marker"], strict=True)}


def test_the_workspace_gives_all_three_markers(marked):
    values = open_workspace(marked).values()
    assert {k: v for k, v in _markers(values).items() if v} == {"SICK": "N/A", "WAIT": "TBA", "INC_HIGH": "-"}
    assert values.loc[values["marker"].notna(), "value"].isna().all()


def test_markers_survive_a_csv_round_trip(marked, tmp_path):
    done = xlq("export", "values", "--workspace", str(marked), "--output", str(tmp_path / "v.csv"))
    assert done.returncode == 0, done.stderr
    raw = (tmp_path / "v.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw, "UTF-8 with a BOM and CRLF, as Excel expects"
    rows = list(csv.DictReader((tmp_path / "v.csv").open(encoding="utf-8-sig", newline="")))
    by_code = {r["indicator"]: r for r in rows}
    assert {c: by_code[c]["marker"] for c in ("SICK", "WAIT", "INC_HIGH", "INC")} == {
        "SICK": "N/A", "WAIT": "TBA", "INC_HIGH": "-", "INC": ""}
    assert by_code["SICK"]["value"] == "" and by_code["INC"]["value"] == "12.0"
    assert by_code["INC"]["month"] == "2023-12-01" and by_code["INC"]["received_at"].endswith("Z")
    assert by_code["INC"]["comment"] == "Pressure on the ward – see é note"
    assert by_code["TRAIN"]["comment"] == "'@SUM(1,2) and -1+2 would run in Excel", "guarded against formula injection"
    # the way docs/analysis.md reads it back: only an empty cell is missing
    back = pd.read_csv(tmp_path / "v.csv", keep_default_na=False, na_values=[""], parse_dates=["month", "received_at"])
    original = open_workspace(marked).values()
    assert _markers(back) == _markers(original)
    pd.testing.assert_series_equal(back["value"].astype("Float64"), original["value"])
    assert (back["month"].dt.strftime("%Y-%m") == original["month"].astype(str)).all()


def test_markers_and_types_survive_a_parquet_round_trip(marked, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    done = xlq("export", "all", "--workspace", str(marked), "--format", "parquet", "--output", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{t}.parquet" for t in ("values", "organisation", "findings", "submissions", "indicators", "departments"))
    schema = pq.read_schema(tmp_path / "values.parquet")
    assert str(schema.field("month").type) == "date32[day]"
    assert str(schema.field("marker").type).startswith("dictionary")
    assert str(schema.field("received_at").type) == "timestamp[ns, tz=UTC]"
    back = pd.read_parquet(tmp_path / "values.parquet")
    original = open_workspace(marked).values()
    assert _markers(back) == _markers(original)
    pd.testing.assert_series_equal(back["value"], original["value"])
    assert str(back["value"].dtype) == "Float64" and back["value"].isna().sum() == 3
    org = pd.read_parquet(tmp_path / "organisation.parquet")
    assert {str(i): m for i, m in zip(org["indicator"], org["marker"], strict=True) if pd.notna(m)} == {
        "SICK": "N/A", "WAIT": "TBA", "INC_HIGH": "-"}, "one department reports them: the master shows its marker"


def test_xlsx_export_keeps_numbers_markers_and_dates(marked, tmp_path):
    done = xlq("export", "values", "organisation", "--workspace", str(marked), "--output", str(tmp_path / "out.xlsx"))
    assert done.returncode == 0, done.stderr
    book = load_workbook(tmp_path / "out.xlsx")
    assert book.sheetnames == ["values", "organisation"]
    rows = list(book["values"].iter_rows(values_only=True))
    header = rows[0]
    col = {name: header.index(name) for name in ("indicator", "month", "value", "marker", "comment")}
    by_code = {r[col["indicator"]]: r for r in rows[1:]}
    assert by_code["INC_HIGH"][col["marker"]] == "-" and by_code["INC_HIGH"][col["value"]] is None
    assert by_code["INC"][col["value"]] == 12 and by_code["INC"][col["month"]].strftime("%Y-%m-%d") == "2023-12-01"
    assert by_code["TRAIN"][col["comment"]] == "@SUM(1,2) and -1+2 would run in Excel", "text, never a formula"


def test_wide_is_the_scorecard_shape(marked, tmp_path):
    done = xlq("export", "organisation", "--wide", "--workspace", str(marked), "--output", str(tmp_path / "w.csv"))
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader((tmp_path / "w.csv").open(encoding="utf-8-sig", newline="")))
    org = open_workspace(marked).organisation()
    months = [str(m) for m in org["month"].unique()]
    assert rows[0] == ["indicator", "name", *months]
    assert [r[0] for r in rows[1:]] == list(dict.fromkeys(org["indicator"].astype(str)))
    wait = next(r for r in rows if r[0] == "WAIT")
    assert wait[-1] == "TBA" and wait[2:-1] == [""] * 12
    inc = next(r for r in rows if r[0] == "INC")
    assert float(inc[-1]) == org[(org.indicator == "INC") & (org.month == pd.Period(PERIOD, "M"))]["value"].item()
    refused = xlq("export", "organisation", "--wide", "--format", "parquet", "--workspace", str(marked),
                  "--output", str(tmp_path))
    assert refused.returncode == 2 and "one type" in refused.stderr and "Traceback" not in refused.stderr


def test_filters_and_mistakes_on_the_command_line(marked, tmp_path):
    done = xlq("export", "values", "--workspace", str(marked), "--indicator", "SICK", "--indicator", "WAIT",
               "--from", "2023-12", "--to", "2023-12", "--department", "LUT", "--output", str(tmp_path / "two.csv"))
    assert done.returncode == 0, done.stderr
    assert [r["indicator"] for r in csv.DictReader((tmp_path / "two.csv").open(encoding="utf-8-sig"))] == ["SICK", "WAIT"]
    for args, says in ((["values", "--indicator", "NOPE"], "NOPE"), (["tables"], "no table"),
                       (["values", "--from", "Dec 2023"], "not a month"), (["findings", "--wide"], "--wide")):
        bad = xlq("export", *args, "--workspace", str(marked), "--output", str(tmp_path))
        assert bad.returncode == 2 and says in bad.stderr and bad.stderr.count("\n") == 1, bad.stderr


def test_an_output_that_cannot_be_written_is_a_one_line_error(marked):
    inside_a_file = marked / "xlq.toml" / "out" / "values.csv"
    done = xlq("export", "--workspace", str(marked), "--output", str(inside_a_file))
    assert done.returncode == 2 and done.stderr.startswith("xlq: could not write the export: ")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def _blocked(module: str, *args: str) -> subprocess.CompletedProcess:
    """`xlq` run where `module` cannot be imported, as on a machine without that extra installed."""
    code = f"import sys; sys.modules[{module!r}] = None; from xlq.cli import main; sys.exit(main({list(args)!r}))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_without_pyarrow_parquet_is_a_one_line_error(marked, tmp_path):
    done = _blocked("pyarrow", "export", "--workspace", str(marked), "--format", "parquet", "--output", str(tmp_path))
    assert done.returncode == 2 and done.stderr == 'xlq: Parquet needs pyarrow: pip install "xlq[parquet]" ' \
                                                   "(or choose --format csv or xlsx)\n"
    assert not list(tmp_path.iterdir())


def test_without_pandas_export_is_a_one_line_error_and_the_rest_of_xlq_works(marked, tmp_path):
    done = _blocked("pandas", "export", "--workspace", str(marked), "--output", str(tmp_path))
    assert done.returncode == 2 and done.stderr == 'xlq: xlq export needs pandas: pip install "xlq[analysis]"\n'
    status = _blocked("pandas", "status", "--workspace", str(marked))
    assert status.returncode == 0 and "LUT" in status.stdout


def test_the_commands_and_the_watcher_never_import_pandas(marked):
    archived = next((marked / "archive").rglob("*.xlsx"))
    code = (
        "import sys\n"
        "import xlq, xlq.cli, xlq.watch.service, xlq.intake.worker, xlq.analysis.snapshot, xlq.analysis.tables\n"
        "loaded = 'pandas' in sys.modules\n"
        f"status = xlq.cli.main(['validate', '--workspace', {str(marked)!r}, {str(archived)!r}])\n"
        "print(loaded, 'pandas' in sys.modules, 'numpy' in sys.modules, status)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False False False 0"
