"""`xlq export`: the analysis tables as CSV, Parquet or a plain xlsx, for people who do not write Python.

- CSV: UTF-8 with a byte-order mark (Excel otherwise reads it as the local code page and
  garbles "–" and "é"), CRLF line ends, months as ISO dates (`2023-12-01`, the first of the
  month), times as ISO 8601 UTC (`2024-01-09T09:30:00Z`), a blank cell for a missing value
  and the marker text (`N/A`, `TBA`, `-`) where one was given. Text that Excel would run as
  a formula (starting `=`, `+`, `@` or `-` followed by more than a number) is written with
  a leading `'`, the usual guard against formula injection from a returned comment.
- Parquet (needs pyarrow: `pip install "xlq[parquet]"`): typed columns, months as `date32`,
  categoricals as dictionaries (factors in R), times as UTC timestamps.
- xlsx: one sheet per table, written by XlsxWriter with no formula or link conversion.

Each file is written beside its target and renamed into place, so a Power BI refresh or an
R script reading the previous export never sees half a file.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from xlq.analysis.tables import FORMATS, TABLES, AnalysisError
from xlq.analysis.workspace import Workspace

WIDE = ("values", "organisation")
EXCEL_ROWS = 1_048_576
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?%?$")


def wide(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The scorecard's shape: one row per indicator (per department and indicator for
    `values`), one column per month; a cell is the number, else the marker, else blank."""
    if name not in WIDE:
        raise AnalysisError(f"--wide pivots {' and '.join(WIDE)} only, not {name}")
    if name == "values" and not frame["current"].all():
        raise AnalysisError("--wide shows current values only (a superseded value would need a second cell)")
    index = ["department", "indicator"] if name == "values" else ["indicator", "name"]
    cell = frame["value"].astype(object).where(frame["value"].notna(), frame["marker"].astype(object))
    cell = cell.where(pd.notna(cell), None)
    shaped = frame[index + ["month"]].assign(cell=cell)
    out = shaped.pivot(index=index, columns="month", values="cell")
    out = out.reindex(columns=sorted(frame["month"].unique()))
    out.columns = [str(p) for p in out.columns]
    out = out.reset_index()
    if name == "organisation":
        order = {code: n for n, code in enumerate(frame["indicator"].astype(str).unique())}
        out = out.sort_values("indicator", key=lambda s: s.astype(str).map(order), kind="stable")
    else:
        out = out.dropna(how="all", subset=[c for c in out.columns if c not in index])
    out = out.reset_index(drop=True)
    for column in index:
        out[column] = out[column].astype(frame[column].dtype)
    return out


def _guard(text: object) -> object:
    """Keep a CSV cell from being run as a formula when Excel opens it."""
    if not isinstance(text, str) or not text or text == "-":
        return text
    if text[0] in "=+@\t\r" or (text[0] == "-" and not _NUMBER.match(text)):
        return "'" + text
    return text


def _utc_text(moment: object) -> object:
    if moment is None or pd.isna(moment):
        return None
    return moment.isoformat().replace("+00:00", "Z")


def csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as CSV text columns: ISO dates and times, guarded text."""
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if isinstance(series.dtype, pd.PeriodDtype):
            out[column] = series.dt.start_time.dt.strftime("%Y-%m-%d").astype("string")
        elif isinstance(series.dtype, pd.DatetimeTZDtype):
            out[column] = series.map(_utc_text).astype("string")
        elif isinstance(series.dtype, pd.CategoricalDtype) or series.dtype == object or pd.api.types.is_string_dtype(series):
            out[column] = series.astype(object).map(_guard)
    return out


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    return _atomic(path, lambda tmp: csv_frame(frame).to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\r\n"))


def _pyarrow():
    try:
        import pyarrow  # optional extra: xlq[parquet]
        import pyarrow.parquet
    except ImportError:
        raise AnalysisError('Parquet needs pyarrow: pip install "xlq[parquet]" (or choose --format csv or xlsx)') from None
    return pyarrow


def write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    pa = _pyarrow()
    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.PeriodDtype):
            out[column] = out[column].dt.start_time.dt.date
        elif out[column].dtype == object:  # a wide table's month cells: numbers and markers
            raise AnalysisError("Parquet columns have one type each: --wide mixes numbers and markers, "
                                "so write it as CSV or xlsx (Parquet readers pivot the tidy table themselves)")
    table = pa.Table.from_pandas(out, preserve_index=False)
    for n, field in enumerate(table.schema):
        if field.name in frame.columns and isinstance(frame[field.name].dtype, pd.PeriodDtype):
            table = table.set_column(n, pa.field(field.name, pa.date32()), table.column(n).cast(pa.date32()))
    return _atomic(path, lambda tmp: pa.parquet.write_table(table, tmp))


def write_xlsx(frames: dict[str, pd.DataFrame], path: Path) -> Path:
    import xlsxwriter  # imported here for start-up time: only the xlsx format needs it

    for name, frame in frames.items():
        if len(frame) >= EXCEL_ROWS:
            raise AnalysisError(f"{name} has {len(frame):,} rows, more than an Excel sheet holds; use CSV or Parquet")

    def write(tmp: Path) -> None:
        options = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
        workbook = xlsxwriter.Workbook(str(tmp), options)
        try:
            head = workbook.add_format({"bold": True, "bg_color": "#DDE4EE", "bottom": 1, "text_wrap": True})
            month_fmt = workbook.add_format({"num_format": "mmm-yy"})
            head_month = workbook.add_format({"bold": True, "bg_color": "#DDE4EE", "bottom": 1, "num_format": "mmm-yy"})
            time_fmt = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
            for name, frame in frames.items():
                _sheet(workbook.add_worksheet(name[:31]), frame, head, head_month, month_fmt, time_fmt)
        finally:
            workbook.close()

    return _atomic(path, write)


def _sheet(ws, frame: pd.DataFrame, head, head_month, month_fmt, time_fmt) -> None:
    for col, column in enumerate(frame.columns):
        if re.fullmatch(r"\d{4}-\d{2}", str(column)):
            year, number = str(column).split("-")
            ws.write_datetime(0, col, dt.datetime(int(year), int(number), 1), head_month)
        else:
            ws.write_string(0, col, str(column), head)
        series = frame[column]
        width = max(10, min(50, len(str(column)) + 2))
        if isinstance(series.dtype, pd.PeriodDtype):
            cells = [None if pd.isna(p) else p.start_time.to_pydatetime() for p in series]
            fmt = month_fmt
        elif isinstance(series.dtype, pd.DatetimeTZDtype):
            cells = [None if pd.isna(t) else t.tz_convert("UTC").tz_localize(None).to_pydatetime() for t in series]
            fmt, width = time_fmt, 20
        else:
            cells = series.astype(object).tolist()
            fmt = None
            if not pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
                width = max(width, min(50, max((len(str(c)) for c in cells[:500] if isinstance(c, str)), default=0) + 2))
        ws.set_column(col, col, width)
        for row, value in enumerate(cells, start=1):
            if value is None or value is pd.NA or (isinstance(value, float) and value != value):
                continue
            if isinstance(value, dt.datetime):
                ws.write_datetime(row, col, value, fmt)
            elif isinstance(value, bool):
                ws.write_boolean(row, col, value)
            elif isinstance(value, (int, float)):
                ws.write_number(row, col, value)
            else:
                ws.write_string(row, col, str(value)[:32_767])
    ws.freeze_panes(1, 0)
    if len(frame.columns):
        ws.autofilter(0, 0, max(len(frame), 1), len(frame.columns) - 1)


def _atomic(path: Path, write) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix + ".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def targets(tables: Sequence[str], fmt: str, output: Path | None) -> dict[str, Path] | Path:
    """Where each table goes: one xlsx workbook; or a file per table, in `output` when it is
    a folder (default: the current one), or `output` itself for a single table named `*.csv`/`*.parquet`."""
    if fmt == "xlsx":
        if output is None:
            return Path(f"{tables[0]}.xlsx" if len(tables) == 1 else "xlq-export.xlsx")
        return output
    if output is not None and output.suffix.lower() == f".{fmt}":
        if len(tables) > 1:
            raise AnalysisError(f"{len(tables)} tables go in a folder, one file each: give --output a folder")
        return {tables[0]: output}
    folder = output or Path(".")
    return {name: folder / f"{name}.{fmt}" for name in tables}


def export(workspace: Workspace, tables: Iterable[str], fmt: str | None = None, output: Path | str | None = None, *,
           is_wide: bool = False, superseded: bool = False, **filters: object) -> list[Path]:
    """Write `tables` (read from one snapshot of the store) and return the files written.

    `fmt` defaults to the output's suffix, else csv; `filters` are `start`, `end`,
    `departments`, `indicators`, as the Workspace methods take them."""
    names = list(dict.fromkeys(TABLES if "all" in tables else tables))
    unknown = [n for n in names if n not in TABLES]
    if unknown or not names:
        raise AnalysisError(f"no table {', '.join(unknown) or '(none given)'}; tables: {', '.join(TABLES)}, all")
    output = Path(output) if output is not None else None
    if fmt is None:
        suffix = output.suffix.lower().lstrip(".") if output is not None else ""
        fmt = suffix if suffix in FORMATS else "csv"
    if fmt not in FORMATS:
        raise AnalysisError(f"no format {fmt!r}; formats: {', '.join(FORMATS)}")
    if fmt == "parquet":
        _pyarrow()  # say so before reading anything
    if is_wide and any(n not in WIDE for n in names):
        raise AnalysisError(f"--wide pivots {' and '.join(WIDE)} only")
    if superseded and is_wide:
        raise AnalysisError("--wide shows current values only; leave out --superseded")
    where = targets(names, fmt, output)
    frames = workspace.tables(names, superseded=superseded or None, **filters)
    if is_wide:
        frames = {name: wide(name, frame) for name, frame in frames.items()}
    if isinstance(where, Path):
        return [write_xlsx(frames, where)]
    writer = write_csv if fmt == "csv" else write_parquet
    return [writer(frames[name], path) for name, path in where.items()]

