"""Reading while the real watcher stores a burst of returns: every read succeeds, is never
blocked, and each snapshot is one committed state (values and submissions agree)."""

from __future__ import annotations

import csv
import multiprocessing
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from deadline import wait_for
from returns import GOOD, PERIOD, fill, make_workspace, real_template

from xlq.analysis.workspace import open_workspace
from xlq.watch.idle import STALE_MARKER
from xlq.watch.watcher import Watcher

DEPARTMENTS = ("LUT", "MSK", "ICASH", "DENT", "BEDS", "NORF")
FAST = {"settle": 0.3, "batch": 0.3, "rescan": 30.0}
BURST = 36


@pytest.fixture(autouse=True)
def no_leaked_processes():
    yield
    wait_for(lambda: not multiprocessing.active_children(), 10, "reader processes to end")


def burst(tmp_path: Path) -> tuple[object, list[Path]]:
    """A workspace and BURST returns: each department's good return, again and again with
    different bytes (a zip comment), so each one stored supersedes the one before."""
    workspace, catalogue = make_workspace(tmp_path / "ws")
    files = []
    for n in range(BURST):
        code = DEPARTMENTS[n % len(DEPARTMENTS)]
        template = tmp_path / f"{code}-template.xlsx"
        if not template.exists():
            real_template(catalogue, workspace, template, code, PERIOD)
            fill(template, tmp_path / f"{code}.xlsx", GOOD)
        target = tmp_path / "staging" / f"{code}-{n:02d}.xlsx"
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(tmp_path / f"{code}.xlsx", target)
        with zipfile.ZipFile(target, "a") as archive:
            archive.comment = f"variant {n}".encode()
        files.append(target)
    for code in DEPARTMENTS:
        (workspace.root / "inbox" / code).mkdir(parents=True, exist_ok=True)
    return workspace, files


def consistent(values: pd.DataFrame, submissions: pd.DataFrame) -> None:
    """What one committed state guarantees and two reads straddling a commit can break."""
    current = submissions[submissions["current"]]
    assert not current.duplicated(["department", "month"]).any(), "two current returns for one month"
    assert set(values["submission_id"]) == set(current.loc[current["values"] > 0, "submission_id"])
    per_submission = values.groupby("submission_id").size()
    assert all(per_submission[sid] == n for sid, n in zip(current["submission_id"], current["values"], strict=True) if n)
    assert not values.duplicated(["department", "month", "indicator"]).any()


def test_exports_during_a_burst_succeed_and_each_is_one_committed_state(tmp_path: Path) -> None:
    workspace, files = burst(tmp_path)
    reader = open_workspace(workspace.root)
    seen: list[int] = []
    with Watcher(workspace, **FAST) as watcher:
        wait_for(lambda: watcher.rebuilds == 1, what="the start-up build")
        for path in files:
            os.replace(path, workspace.root / "inbox" / path.name.split("-")[0] / path.name)
        out = tmp_path / "export"
        command = subprocess.Popen(
            [sys.executable, "-m", "xlq.cli", "export", "values", "submissions", "--workspace", str(workspace.root),
             "--output", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while len(watcher.results) < BURST or (workspace.root / STALE_MARKER).exists():
            with reader.snapshot() as snap:
                values, submissions = snap.values(), snap.submissions()
            consistent(values, submissions)
            seen.append(len(submissions))
            assert len(seen) < 5000, "the watcher never finished"
        stdout, stderr = command.communicate(timeout=120)
    assert command.returncode == 0, stderr
    assert {r.outcome for r in watcher.results} == {"accepted"}
    assert seen == sorted(seen), "a later snapshot never sees less"
    assert seen[0] < BURST and len(set(seen)) > 2, f"the reads did not overlap the burst: {seen[:5]} ... {seen[-5:]}"

    values = pd.read_csv(out / "values.csv", keep_default_na=False, na_values=[""])
    submissions = pd.read_csv(out / "submissions.csv", keep_default_na=False, na_values=[""])
    submissions["current"] = submissions["current"].astype(bool)
    consistent(values, submissions)
    with (out / "submissions.csv").open(encoding="utf-8-sig", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == len(submissions)

    final = reader.submissions()
    assert len(final) == BURST and final["current"].sum() == len(DEPARTMENTS)
    consistent(reader.values(), final)
