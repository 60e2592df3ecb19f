"""Several `xlq watch` processes on one inbox and one PostgreSQL store: every file exactly once,
a watcher killed -9 mid-burst taken over by the others, one master writer at a time.

Every wait is a deadline on an observed outcome (rows in the store, files on disk)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import psycopg
import pytest
import workspaces
from deadline import wait_for
from returns import GOOD, PERIOD, fill, make_workspace, real_template
from workspaces import master_cells

from xlq.store.db import Store
from xlq.store.watchers import live_watchers
from xlq.watch.pipeline import Pipeline
from xlq.watch.watcher import Watcher

REPO = Path(__file__).resolve().parents[1]
DEPARTMENTS = ("LUT", "MSK", "ICASH", "DENT", "BEDS", "NORF")
SHARED = {"settle_seconds": 0.2, "rescan_seconds": 1, "batch_seconds": 0.3, "lease_seconds": 3}


def _workspace(root: Path, url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(workspaces, "STORE_URL", url)
    workspace, catalogue = make_workspace(root, **SHARED)
    assert workspace.store_url == url
    return workspace, catalogue


def _returns(workspace, catalogue, folder: Path, count: int) -> list[Path]:
    """`count` returns with different bytes (a zip comment), spread over the departments."""
    folder.mkdir(parents=True)
    good = {}
    for code in DEPARTMENTS:
        template = real_template(catalogue, workspace, folder / f"{code}-template.xlsx", code, PERIOD)
        good[code] = fill(template, folder / f"{code}.xlsx", GOOD).path
    out = []
    for n in range(count):
        code = DEPARTMENTS[n % len(DEPARTMENTS)]
        target = folder / "burst" / code / f"{code}-{n:04d}.xlsx"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(good[code], target)
        with zipfile.ZipFile(target, "a") as archive:
            archive.comment = f"variant {n}".encode()
        out.append(target)
    return out


def _watch(root: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "xlq.cli", "watch", "-w", str(root)], stdout=out,
                                stderr=subprocess.STDOUT, env=env, cwd=root)


@pytest.mark.slow
def test_three_watchers_process_a_burst_exactly_once_though_one_is_killed(tmp_path: Path, postgres_url: str,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    workspace, catalogue = _workspace(tmp_path / "ws", postgres_url, monkeypatch)
    root = workspace.root
    with Pipeline(workspace) as pipeline:  # the store is made and bound to the workspace once, before the burst
        pipeline.run_once(progress=lambda _: None)
    files = _returns(workspace, catalogue, tmp_path / "made", 300)
    watchers = [_watch(root, tmp_path / f"watcher-{n}.log") for n in range(3)]
    try:
        with Store(postgres_url) as store:
            wait_for(lambda: len(live_watchers(store)) == 3, 60, "three live watchers")
            pids = {w.pid: w.id for w in live_watchers(store)}
        assert set(pids) == {p.pid for p in watchers}
        for path in files:  # each return arrives whole: renamed in from the same file system
            target = root / "inbox" / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(path, target)

        with psycopg.connect(postgres_url, autocommit=True) as db:
            def holding() -> tuple[str, list[int]] | None:
                """A watcher holding claimed files now (whichever scanned first may hold them all)."""
                row = db.execute("SELECT owner, array_agg(id) FROM claims WHERE state IN ('claimed', 'recorded') "
                                 "GROUP BY owner ORDER BY owner LIMIT 1").fetchone()
                return (row[0], row[1]) if row else None

            owner, held = wait_for(holding, 120, "a watcher to hold claimed files mid-burst")
            victim = next(p for p in watchers if pids[p.pid] == owner)
            victim.kill()  # SIGKILL: no clean-up of any kind
            victim.wait(30)
            held = set(held) | {r[0] for r in db.execute(
                "SELECT id FROM claims WHERE owner = %s AND state IN ('claimed', 'recorded')", (owner,))}

            def finished() -> bool:
                in_inbox = [p for p in (root / "inbox").rglob("*.xlsx")]
                open_claims = db.execute("SELECT COUNT(*) FROM claims WHERE state IN ('claimed', 'recorded')").fetchone()[0]
                recorded = db.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
                return not in_inbox and open_claims == 0 and recorded >= len(files)

            wait_for(finished, 240, "the two survivors to finish the burst and the victim's claims")
            names = [r[0] for r in db.execute("SELECT original_name FROM submissions ORDER BY id")]
            taken = db.execute("SELECT owner, state FROM claims WHERE id = ANY(%s)", (list(held),)).fetchall()
        assert sorted(names) == sorted(p.name for p in files), "every file recorded exactly once"
        assert held and all(who != owner and state in ("moved", "returned", "void") for who, state in taken), taken
        archived = sorted(p.name.split("__")[-1] for p in (root / "archive").rglob("*.xlsx"))  # less a clash prefix
        assert archived == sorted(p.name for p in files)
        assert not [p for p in (root / ".xlq-staging").rglob("*") if p.is_file()]

        survivors = [p for p in watchers if p is not victim]
        for process in survivors:
            process.send_signal(signal.SIGTERM)
        for n, process in enumerate(watchers):
            if process is not victim:
                assert process.wait(60) == 0, (tmp_path / f"watcher-{n}.log").read_text()[-3000:]
        with Store(postgres_url) as store:
            assert live_watchers(store) == []
    finally:
        for process in watchers:
            if process.poll() is None:
                process.kill()
                process.wait(30)
    shared = master_cells(workspace.master_path)
    with Pipeline(workspace) as pipeline:
        fresh = pipeline.rebuild()
    assert fresh == workspace.master_path
    assert master_cells(fresh) == shared, "the master the watchers left is the one a fresh rebuild makes"


def test_a_watcher_that_cannot_take_the_master_lock_asks_the_holder_to_rebuild_again(
        tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace, _ = _workspace(tmp_path / "ws", postgres_url, monkeypatch)
    with Pipeline(workspace) as holder, Pipeline(workspace) as other:
        built = []

        def build_while_the_other_asks() -> Path:
            if not built:  # the first build: the other watcher wants a rebuild meanwhile
                assert other.rebuild() is None, "only one watcher writes the master at a time"
            built.append(len(built))
            return workspace.master_path

        from xlq.watch.presence import rebuild_alone  # only here: the step under test, with a build that observes

        assert rebuild_alone(holder.store, build_while_the_other_asks) == workspace.master_path
        assert built == [0, 1], "the holder built again for the request made while it held the lock"
        assert other.rebuild() == workspace.master_path  # free again: the other builds itself


def test_a_rebuild_left_to_the_watcher_holding_the_master_lock_is_not_counted_as_written(
        tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace, _ = _workspace(tmp_path / "ws", postgres_url, monkeypatch)
    watcher = Watcher(workspace)  # not started: its rebuild step is driven with a pipeline of this test's
    with Pipeline(workspace) as holder, Pipeline(workspace) as other:
        assert holder.store.try_master_lock()
        try:
            assert watcher._rebuild(other) and (watcher.rebuilds, watcher.master) == (0, None)
        finally:
            holder.store.release_master_lock()
        assert watcher._rebuild(other) and (watcher.rebuilds, watcher.master) == (1, workspace.master_path)


def test_a_dead_watchers_claims_are_taken_over_only_once_its_lease_has_run_out(
        tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from xlq.store.journal import Intent, Journal  # only here: the journal under test

    workspace, _ = _workspace(tmp_path / "ws", postgres_url, monkeypatch)
    with Pipeline(workspace) as alive, Pipeline(workspace) as taker:
        mine = Journal(alive.store, ".xlq-staging", owner=alive.watcher_id, shared=True)
        (claim,) = mine.open([Intent("a.xlsx", "inbox/LUT", 1, 1, 1)])
        theirs = Journal(taker.store, ".xlq-staging", owner=taker.watcher_id, shared=True)
        assert theirs.unfinished() == [], "a live watcher's claim is left alone"
        alive._presence._stop.set()  # the process hangs: no more heartbeats, and no clean retirement
        alive._presence._thread.join()
        with contextlib.closing(psycopg.connect(postgres_url, autocommit=True)) as db:  # the lease runs out
            db.execute("UPDATE watchers SET lease_until = '2000-01-01T00:00:00.000+00:00' WHERE id = %s",
                       (alive.watcher_id,))
        assert [c.id for c in theirs.unfinished()] == [claim.id]
        assert mine.unfinished() == [], "taken over once: the claim is the taker's now"
        assert [w.id for w in live_watchers(taker.store)] == [taker.watcher_id]


def test_status_shows_the_live_watchers_and_what_each_has_claimed(tmp_path: Path, postgres_url: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from xlq.store.journal import Intent, Journal  # only here: the journal under test

    workspace, _ = _workspace(tmp_path / "ws", postgres_url, monkeypatch)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    status = [sys.executable, "-m", "xlq.cli", "status", "-w", str(workspace.root)]
    with Pipeline(workspace) as first, Pipeline(workspace) as second:
        Journal(first.store, ".xlq-staging", owner=first.watcher_id, shared=True).open(
            [Intent("LUT return.xlsx", "inbox/LUT", 1, 1, 1)])
        _ = second.store  # registered as alive, holding nothing
        shown = subprocess.run(status, capture_output=True, text=True, env=env, timeout=120)
        data = subprocess.run([*status, "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert shown.returncode == 0 and data.returncode == 0, shown.stderr + data.stderr
    assert "Watchers alive (2):" in shown.stdout and f"pid {os.getpid()}" in shown.stdout
    assert "    inbox/LUT/LUT return.xlsx" in shown.stdout
    watchers = {w["id"]: w for w in json.loads(data.stdout)["watchers"]}
    assert watchers[first.watcher_id]["claims"] == ["inbox/LUT/LUT return.xlsx"]
    assert watchers[second.watcher_id]["claims"] == [] and watchers[second.watcher_id]["pid"] == os.getpid()
    with Store(postgres_url) as store:
        assert live_watchers(store) == [], "a watcher that stops cleanly leaves the list at once"
