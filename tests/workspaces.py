"""The one way tests make a workspace, and the sample catalogue most of them use.

`write_workspace` writes xlq.toml (the sample trust's, `SAMPLE_CONFIG`, unless a test gives its
own) and catalogue.toml into a folder and loads both, the way `xlq` reads a real workspace.
`SAMPLE_CATALOGUE` is the shared test catalogue: a count with parts, percentages with and
without a target, a ratio, a days figure and one indicator only Corporate reports. A test
that needs other indicators (reconciliation's aggregates, SPC's special-cause patterns)
passes its own text and says why beside it.
"""

from __future__ import annotations

import re
from pathlib import Path

from python_calamine import CalamineWorkbook

from xlq.core.catalogue import Catalogue, load_catalogue
from xlq.core.config import SAMPLE_CONFIG, Workspace, load_workspace

SAMPLE_CATALOGUE = """\
version = "test-1"

[[indicator]]
code = "INC"
domain = "Safety"
name = "Incidents reported"
unit = "count"
parts = ["INC_LOW", "INC_HIGH"]

[[indicator]]
code = "INC_LOW"
domain = "Safety"
name = "Incidents: low or no harm"
unit = "count"
required = false

[[indicator]]
code = "INC_HIGH"
domain = "Safety"
name = "Incidents: moderate harm or above"
unit = "count"
required = false

[[indicator]]
code = "TRAIN"
domain = "Workforce"
name = "Staff trained"
unit = "percent"
target = ">= 90%"
direction = "higher"

[[indicator]]
code = "SICK"
domain = "Workforce"
name = "Sickness absence"
unit = "percent"
required = false

[[indicator]]
code = "COMPL"
domain = "Experience"
name = "Complaints answered within 35 days"
unit = "ratio"
aggregate = "ratio"
target = ">= 90%"

[[indicator]]
code = "WAIT"
domain = "Access"
name = "Average wait"
unit = "days"
required = false

[[indicator]]
code = "PAY"
domain = "Corporate"
name = "Payroll errors"
unit = "count"
reported_by = ["CORP"]
"""


STORE_URL: str | None = None
"""Set by the `store_engine` fixture (conftest.py) for a PostgreSQL run: every workspace written
meanwhile names that database as its store (`[store] url`)."""


def write_workspace(root: Path, *, catalogue: str | None = SAMPLE_CATALOGUE, config: str = SAMPLE_CONFIG,
                    current: str | None = None, settings: dict[str, object] | None = None
                    ) -> tuple[Workspace, Catalogue | None]:
    """Write and load a workspace at `root`: `config` as xlq.toml with the reporting month
    fixed to `current` and each of `settings` (`key = value` lines already in the file, e.g.
    settle_seconds=0.2) replaced; `catalogue` as catalogue.toml (None: no catalogue.toml, so the
    workspace falls back to the packaged one and no catalogue is loaded)."""
    root.mkdir(parents=True, exist_ok=True)
    if current is not None:
        config = config.replace('# current = "2023-12"', f'current = "{current}"')
    for key, value in (settings or {}).items():
        config, found = re.subn(rf"^{re.escape(key)} = .*$", f"{key} = {value}", config, count=1, flags=re.M)
        assert found, f"xlq.toml has no setting {key} to replace"
    if STORE_URL:
        config = config.replace("[store]\n", f'[store]\nurl = "{STORE_URL}"\n', 1)
        assert STORE_URL in config, "xlq.toml has no [store] table to name the PostgreSQL store in"
    (root / "xlq.toml").write_text(config, encoding="utf-8")
    if catalogue is None:
        return load_workspace(root), None
    (root / "catalogue.toml").write_text(catalogue, encoding="utf-8")
    workspace = load_workspace(root)
    return workspace, load_catalogue(workspace.catalogue_path, workspace.department_codes)


def master_cells(path: Path, *, leave_out: tuple[str, ...] = ("Built",)) -> dict[str, list[list[object]]]:
    """Every sheet of a master workbook as rows of cell values, less the rows (of the About
    sheet) whose first cell is in `leave_out` and the build time in the Scorecard's heading:
    what differs between two builds of one store."""
    book = CalamineWorkbook.from_path(str(path))

    def cell(value: object) -> object:
        return _BUILT.sub("Built (time)", value) if isinstance(value, str) else value

    return {name: [[cell(v) for v in row] for row in book.get_sheet_by_name(name).to_python()
                   if not (row and row[0] in leave_out)] for name in book.sheet_names}


_BUILT = re.compile(r"^Built \d{1,2} \w{3} \d{4} \d\d:\d\d")
