"""THE FLOOR: read every cell of every workbook with python-calamine, and nothing else.

No parsing into values, no checks, no store, no output: the least any tool that reads these
files must spend. benchmarks/run.py compares xlq's whole pipeline with it.

Usage: python benchmarks/floor_calamine.py INBOX_DIR
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

from python_calamine import CalamineWorkbook


def read_every_cell(inbox: Path) -> tuple[int, int]:
    """(workbooks, cells) read: every cell of every sheet of every workbook under `inbox`
    (the bare-job floor, benchmarks/floor_job.py, reads the same way)."""
    files = cells = 0
    for path in sorted(inbox.rglob("*.xlsx")):
        with CalamineWorkbook.from_path(str(path)) as book:
            for name in book.sheet_names:
                cells += sum(len(row) for row in book.get_sheet_by_name(name).to_python())
        files += 1
    return files, cells


def main(inbox: Path) -> int:
    gc.disable()  # as the bare job does (floor_job.py): the collector's walks are avoidable work
    files, cells = read_every_cell(inbox)
    print(f"{files} workbooks, {cells} cells")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    sys.exit(main(Path(sys.argv[1])))
