"""THE BASELINE: the script an analyst would otherwise write to build the master.

This is what xlq is measured against (benchmarks/run.py), not part of xlq. It does what a
hand-written pandas job does and nothing more: `pandas.read_excel` (openpyxl engine) on the
Return sheet of every workbook, department from the drop folder and month from the file
name, concatenate, pivot to one row per indicator and one column per month (summed over
departments), and `to_excel` the master. No validation, no identity check, no audit trail,
no formatting, no sparklines: a wrong or hostile file either crashes it or is summed in.

Usage: python benchmarks/baseline_pandas.py INBOX_DIR MASTER.xlsx
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd

HEADER_ROW = 10  # the template's column titles are on row 11
PERIOD = re.compile(r"(\d{4}-\d{2})")


def main(inbox: Path, master: Path) -> int:
    frames = []
    for path in sorted(inbox.rglob("*.xlsx")):
        table = pd.read_excel(path, sheet_name="Return", header=HEADER_ROW, engine="openpyxl",
                              usecols=["Code", "Value", "Numerator", "Denominator"])
        table = table[table["Code"].notna()].copy()
        table["department"] = path.parent.name
        match = PERIOD.search(path.name)
        table["period"] = match.group(1) if match else ""
        frames.append(table)
    data = pd.concat(frames, ignore_index=True)
    for column in ("Value", "Numerator", "Denominator"):
        data[column] = pd.to_numeric(data[column], errors="coerce")
    pivot = data.pivot_table(index="Code", columns="period", values=["Value", "Numerator", "Denominator"],
                             aggfunc="sum")
    master.parent.mkdir(parents=True, exist_ok=True)
    pivot.to_excel(master, sheet_name="Master")
    print(f"{len(frames)} workbooks, {len(data)} rows -> {master}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
