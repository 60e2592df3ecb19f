"""Golden files for the master, the XlsxWriter way: the demo's master, part by part.

The demo workspace is built (`xlq demo`), then its master is written again from the demo's
store with a fixed build time, a fixed "today" and the workspace shown as `/workspace` (the
About sheet names its folder, and a longer temporary folder would wrap onto more lines), so
every byte depends only on the code. Each XML part of the package is unzipped, normalised
(pretty-printed one element per line) and compared with its copy in
tests/golden/demo-master/ (one gzipped file per part, to keep the folder ~170 KB instead of
1.7 MB: `zcat tests/golden/demo-master/xl/worksheets/sheet1.xml.gz` reads one). A failure
names every part that differs and shows a unified diff of each.

When a change to the master is intended, refresh the golden files with one command and
review what changed before committing:

    python3 dev.py test tests/test_golden.py --update-golden
"""

from __future__ import annotations

import datetime as dt
import difflib
import gzip
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path, PurePosixPath
from xml.dom import minidom

import pytest

from xlq.core.catalogue import load_catalogue
from xlq.core.config import load_workspace
from xlq.master.reconcile import reconcile
from xlq.master.workbook import write_scorecard
from xlq.store.db import Store

GOLDEN = Path(__file__).parent / "golden" / "demo-master"
BUILT_AT = dt.datetime(2024, 1, 20, 9, 0)
TODAY = dt.date(2024, 1, 20)
SHOWN_ROOT = PurePosixPath("/workspace")
REFRESH = "python3 dev.py test tests/test_golden.py --update-golden"
DIFF_LINES = 40


@pytest.fixture(scope="module")
def demo_master(tmp_path_factory) -> tuple[Path, Path]:
    """(the demo workspace, its master written again with a fixed build time and date)."""
    root = tmp_path_factory.mktemp("golden") / "demo"
    result = subprocess.run([sys.executable, "-m", "xlq.cli", "demo", str(root)], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    workspace = load_workspace(root)
    catalogue = load_catalogue(workspace.catalogue_path, workspace.department_codes)
    with Store(workspace.store_path) as store:
        reconciled = reconcile(store, catalogue, workspace, today=TODAY)
    shown = replace(workspace, root=SHOWN_ROOT, store_path=SHOWN_ROOT / workspace.store_path.name,
                    catalogue_path=SHOWN_ROOT / workspace.catalogue_path.name)
    master = write_scorecard(reconciled, replace(catalogue, path=str(shown.catalogue_path)), shown,
                             root / "golden.xlsx", built_at=BUILT_AT)
    return root, master


def normalised_parts(xlsx: Path, workspace: Path | None = None) -> dict[str, str]:
    """Part name -> its XML pretty-printed; `workspace`, when given, is written as the
    golden build shows it (`/workspace`)."""
    parts = {}
    with zipfile.ZipFile(xlsx) as package:
        for name in package.namelist():
            text = package.read(name).decode("utf-8")
            if workspace is not None:
                text = text.replace(str(workspace), str(SHOWN_ROOT))
            parts[name] = minidom.parseString(text.encode("utf-8")).toprettyxml(indent=" ")
    return parts


def _golden_file(part: str) -> Path:
    return GOLDEN / f"{part}.gz"


def read_golden() -> dict[str, str]:
    return {str(path.relative_to(GOLDEN))[:-3]: gzip.decompress(path.read_bytes()).decode("utf-8")
            for path in sorted(GOLDEN.rglob("*.gz"))}


def write_golden(parts: dict[str, str]) -> None:
    for stale in GOLDEN.rglob("*.gz"):
        stale.unlink()
    for part, text in parts.items():
        path = _golden_file(part)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))


def differences(golden: dict[str, str], built: dict[str, str]) -> list[str]:
    """One readable block per part that is missing, new or different."""
    out = []
    for part in sorted(golden.keys() | built.keys()):
        if part not in built:
            out.append(f"{part}: in the golden files, not in the master")
        elif part not in golden:
            out.append(f"{part}: new in the master, not in the golden files")
        elif golden[part] != built[part]:
            diff = list(difflib.unified_diff(golden[part].splitlines(), built[part].splitlines(),
                                             f"golden/{part}", f"built/{part}", lineterm="", n=2))
            more = f"\n... {len(diff) - DIFF_LINES} more diff lines" if len(diff) > DIFF_LINES else ""
            out.append("\n".join(diff[:DIFF_LINES]) + more)
    return out


def test_the_demo_master_matches_the_golden_files_part_by_part(demo_master, update_golden: bool) -> None:
    _, master = demo_master
    built = normalised_parts(master)
    if update_golden:
        write_golden(built)
        return
    assert GOLDEN.is_dir(), f"no golden files yet: run `{REFRESH}`"
    found = differences(read_golden(), built)
    assert not found, (f"{len(found)} part(s) of the master differ from tests/golden/demo-master/; if the change "
                       f"is intended, run `{REFRESH}` and review the diff\n\n" + "\n\n".join(found))


def test_only_the_build_time_and_the_folder_vary_between_builds(demo_master) -> None:
    """The demo's own master (built at the real time, for the real date, in its real folder)
    differs from the fixed build only where the build time is shown: what the golden files pin
    is the demo's master."""
    root, master = demo_master
    fixed = normalised_parts(master)
    real = normalised_parts(root / "outbox" / "scorecard.xlsx", root)
    assert fixed.keys() == real.keys()
    changed = {part for part in fixed if fixed[part] != real[part]}
    assert changed <= {"docProps/core.xml", "xl/sharedStrings.xml", "xl/worksheets/sheet1.xml"}
    for part in changed:
        lines = [line for line in difflib.unified_diff(fixed[part].splitlines(), real[part].splitlines(), n=0,
                                                        lineterm="") if line[:1] in "+-" and line[:3] not in ("+++", "---")]
        assert all("dcterms:" in line or "Built " in line or line.strip(" +-").startswith("<t>20")
                   for line in lines), lines
