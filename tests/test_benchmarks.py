"""The benchmark still runs end to end (at a tiny N; its numbers are not judged here)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_benchmark_runs_at_n_10_and_writes_its_table(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n\nNotes kept above the table.\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--sizes", "10", "--repeat", "1",
         "--work", str(tmp_path / "work"), "--results", str(results)],
        capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = results.read_text(encoding="utf-8")
    assert text.startswith("# Results\n\nNotes kept above the table.")
    row = re.search(r"^\| 10 \| 7 x 2 \| ([\d.]+) s \| ([\d.]+) s \| ([\d.]+) s \| ([\d.]+) s \| ([\d.]+) s "
                    r"\| ([\d.]+) s \| ([\d.]+) s \| ([\d.]+) s \| ([\d.]+)x \|", text, re.M)
    assert row is not None, text
    assert all(float(seconds) > 0 for seconds in row.groups())  # the runs, their CPU, the baseline, the floors
    job, writing, checked, _checked_cpu, ratio = (float(seconds) for seconds in row.groups()[4:])
    assert writing < job, "the bare job's writing alone is part of it"
    assert writing < checked and abs(ratio - checked / job) < 0.05 * ratio, "the checked job writes the same master"
    assert "10 workbooks checked and read" in (tmp_path / "work" / "n10" / "floor-checked.log").read_text(encoding="utf-8")
    assert "10 file(s): 10 accepted" in text, "every generated return is a valid, clean return"
    master = tmp_path / "work" / "n10" / "workspace" / "outbox" / "scorecard.xlsx"
    assert master.exists() and (tmp_path / "work" / "n10" / "baseline.xlsx").exists()
