"""The real watcher on a real workspace: drops, bursts, slow copies, junk, authority,
duplicates, resubmissions, a kill -9 mid-batch and a clean stop. Every wait is a deadline on
an observed outcome; nothing sleeps a fixed time."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from deadline import wait_for
from returns import GOOD, PERIOD, fill, make_workspace, real_template
from workspaces import master_cells

from xlq.store.db import Store
from xlq.watch.idle import STALE_MARKER
from xlq.watch.pipeline import Pipeline
from xlq.watch.watcher import Watcher

pytestmark = pytest.mark.usefixtures("store_engine")  # every test on SQLite and on PostgreSQL

DEPARTMENTS = ("LUT", "MSK", "ICASH", "DENT", "BEDS", "NORF")
FAST = {"settle": 0.3, "batch": 0.3, "rescan": 30.0}


@dataclass(frozen=True)
class Returns:
    """One filled return per department, made once per session; `variant` gives a copy with
    different bytes (a zip comment) but the same figures."""

    folder: Path
    good: dict[str, Path]
    changed: Path

    def variant(self, department: str, n: int, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.good[department], target)
        with zipfile.ZipFile(target, "a") as archive:
            archive.comment = f"variant {n}".encode()
        return target


@pytest.fixture(scope="session")
def returns(tmp_path_factory) -> Returns:
    folder = tmp_path_factory.mktemp("returns")
    workspace, catalogue = make_workspace(folder / "ws")
    good = {}
    for code in DEPARTMENTS:
        template = real_template(catalogue, workspace, folder / f"{code}-template.xlsx", code, PERIOD)
        good[code] = fill(template, folder / f"{code}.xlsx", GOOD).path
    changed = fill(folder / "LUT-template.xlsx", folder / "LUT-v2.xlsx",
                   {**GOOD, "INC": {"Value": 15}, "INC_LOW": {"Value": 13}}).path
    return Returns(folder, good, changed)


@pytest.fixture
def ws(tmp_path: Path):
    return make_workspace(tmp_path / "ws")[0]


@pytest.fixture(autouse=True)
def no_leaked_processes():
    yield
    wait_for(lambda: not multiprocessing.active_children(), 10, "reader processes to end")


def drop(source: Path, target: Path) -> Path:
    """A copy as Explorer makes it: the file appears and fills up in place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def archived(workspace) -> list[Path]:
    folder = workspace.root / "archive"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def rejected(workspace) -> list[Path]:
    folder = workspace.root / "rejected"
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.exists() else []


def handled(watcher: Watcher, name: str):
    return next((r for r in list(watcher.results) if Path(r.path).name == name), None)


def current_inc(workspace, department: str = "LUT") -> float | None:
    with Store(workspace.store_target) as store:
        values = store.values(indicator="INC", department=department, period=PERIOD)
    return values[0].value.value if values else None


def test_a_single_drop_shows_in_the_master(ws, returns: Returns) -> None:
    """How fast is the benchmark's business (benchmarks/run.py, "drop to master"): a time
    limit here would fail on a busy machine without saying anything about the code."""
    with Watcher(ws, **FAST) as watcher:
        wait_for(lambda: watcher.rebuilds == 1, what="the start-up build of a missing master")
        drop(returns.good["LUT"], ws.root / "inbox" / "LUT" / "Luton.xlsx")
        wait_for(lambda: watcher.rebuilds == 2, 15, "the rebuild after the drop")
        assert handled(watcher, "Luton.xlsx").outcome == "accepted"
    (stored,) = archived(ws)
    assert stored.read_bytes() == returns.good["LUT"].read_bytes()
    assert ws.master_path.stat().st_mtime >= stored.stat().st_mtime
    assert current_inc(ws) == 12


def test_a_watcher_starts_its_readers_with_it_and_its_first_drop_uses_them(ws, returns: Returns) -> None:
    """The first drop after a start does not wait for a reader to start and import (~0.15 s for
    each of the two at 10,000 returns): one parser and one feedback writer start with the watcher."""
    with Watcher(ws, **FAST) as watcher:
        started = {child.pid for child in multiprocessing.active_children()}  # before any file
        assert len(started) == 2
        wait_for(lambda: watcher.rebuilds == 1, what="the start-up build of a missing master")
        drop(returns.good["LUT"], ws.root / "inbox" / "LUT" / "Luton.xlsx")
        wait_for(lambda: watcher.rebuilds == 2, 15, "the rebuild after the drop")
        assert handled(watcher, "Luton.xlsx").outcome == "accepted"
        assert {child.pid for child in multiprocessing.active_children()} == started  # none started for it


def test_a_watcher_that_fails_to_start_gives_back_its_readers_and_the_workspace(ws, monkeypatch) -> None:
    """Ctrl-C while a watcher reads the store on start (7 s at 10,000 returns): its reader
    processes, already started, end, and the workspace lock is free for the next start."""
    def interrupted(self) -> None:
        assert len(multiprocessing.active_children()) == 2  # started before the store is read
        raise KeyboardInterrupt

    monkeypatch.setattr(Pipeline, "warm_rebuilds", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Watcher(ws, **FAST).start()
    assert multiprocessing.active_children() == []
    Pipeline(ws).close()  # the lock was released: another start takes it


def test_polling_mode_finds_a_drop_without_file_events(ws, returns: Returns) -> None:
    with Watcher(ws, poll=0.2, **FAST) as watcher:
        drop(returns.good["MSK"], ws.root / "inbox" / "MSK" / "msk.xlsx")
        wait_for(lambda: handled(watcher, "msk.xlsx"), 15, "the polled drop")
        wait_for(lambda: watcher.master is not None and not (ws.root / STALE_MARKER).exists(), 15, "the rebuild")
    assert handled(watcher, "msk.xlsx").outcome == "accepted"


def test_a_burst_of_fifty_drops_leads_to_one_rebuild(ws, returns: Returns, tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    files = [returns.variant(DEPARTMENTS[n % 6], n, staging / f"{DEPARTMENTS[n % 6]}-{n:02d}.xlsx") for n in range(50)]
    for code in DEPARTMENTS:
        (ws.root / "inbox" / code).mkdir(parents=True)
    dropped = threading.Event()

    def burst_in_place(step: str, source: Path, staged: Path | None) -> None:
        if step == "claim":  # the watcher may take the first files it sees; it claims none before the
            dropped.wait(30)  # burst is all in inbox/, however long a loaded host keeps this thread waiting

    with Watcher(ws, hooks=burst_in_place, **FAST) as watcher:
        wait_for(lambda: watcher.rebuilds == 1, what="the start-up build")
        try:
            for path in files:
                os.replace(path, ws.root / "inbox" / path.name.split("-")[0] / path.name)
        finally:  # a failed drop must not leave the watcher held for 30 s on the way out
            dropped.set()
        wait_for(lambda: len(watcher.results) == 50, 60, "fifty files handled")
        wait_for(lambda: watcher.rebuilds >= 2 and not (ws.root / STALE_MARKER).exists(), 15, "the rebuild")
        rebuilds = watcher.rebuilds
    assert rebuilds == 2, f"{rebuilds - 1} rebuilds for one burst"
    assert {r.outcome for r in watcher.results} == {"accepted"}
    assert len(archived(ws)) == 50 and not any((ws.root / "inbox").rglob("*.xlsx"))


def test_a_slow_copy_in_chunks_is_read_once_whole(ws, returns: Returns) -> None:
    data = returns.good["LUT"].read_bytes()
    target = ws.root / "inbox" / "LUT" / "slow.xlsx"
    target.parent.mkdir(parents=True, exist_ok=True)
    chunks = [data[i:i + len(data) // 5 + 1] for i in range(0, len(data), len(data) // 5 + 1)]
    finished = threading.Event()

    def writer() -> None:
        with open(target, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
                handle.flush()
                finished.wait(0.35)  # longer than the poll interval, shorter than settle
        finished.set()

    with Watcher(ws, poll=0.1, settle=0.8, batch=0.3, rescan=30) as watcher:
        thread = threading.Thread(target=writer, name="slow-copy")
        thread.start()
        try:
            wait_for(lambda: handled(watcher, "slow.xlsx"), 30, "the slow copy to be handled")
        finally:
            thread.join(10)
        assert finished.is_set()
    results = [r for r in watcher.results if Path(r.path).name == "slow.xlsx"]
    assert [r.outcome for r in results] == ["accepted"], results
    assert archived(ws)[0].read_bytes() == data and rejected(ws) == []


def test_lock_temp_and_hidden_files_are_left_alone(ws, returns: Returns) -> None:
    inbox = ws.root / "inbox" / "LUT"
    inbox.mkdir(parents=True, exist_ok=True)
    junk = {"~$Luton.xlsx": b"lock", "3F2A9C1B": b"excel temp", "Luton.xlsx.tmp": b"tmp", ".Luton.xlsx": b"hidden"}
    with Watcher(ws, **FAST) as watcher:
        for name, data in junk.items():
            (inbox / name).write_bytes(data)
        (inbox / ".sync").mkdir()
        (inbox / ".sync" / "x.xlsx").write_bytes(b"hidden folder")
        drop(returns.good["LUT"], inbox / "Luton.xlsx")
        wait_for(lambda: handled(watcher, "Luton.xlsx"), 15, "the real file")
    assert [Path(r.path).name for r in watcher.results] == ["Luton.xlsx"]
    assert all((inbox / name).read_bytes() == data for name, data in junk.items())
    assert (inbox / ".sync" / "x.xlsx").exists() and rejected(ws) == []


def test_a_department_folder_is_that_departments_authority(ws, returns: Returns, tmp_path: Path) -> None:
    inbox = ws.root / "inbox"
    with Watcher(ws, **FAST) as watcher:
        drop(returns.variant("LUT", 1, tmp_path / "luton.xlsx"), inbox / "MSK" / "luton-in-msk.xlsx")
        drop(returns.good["MSK"], inbox / "MSK" / "msk.xlsx")
        drop(returns.good["DENT"], inbox / "dental-in-root.xlsx")
        wait_for(lambda: len(watcher.results) == 3, 20, "three files")
    outcomes = {Path(r.path).name: r.outcome for r in watcher.results}
    assert outcomes == {"luton-in-msk.xlsx": "rejected", "msk.xlsx": "accepted", "dental-in-root.xlsx": "accepted"}
    reason = next(p for p in rejected(ws) if p.name.endswith(".reason.txt")).read_text(encoding="utf-8")
    assert "dropped in another folder" in reason and "move it to inbox/LUT/" in reason
    assert any(p.name.endswith("luton-in-msk.xlsx.feedback.xlsx") for p in (ws.root / "feedback" / "LUT").iterdir())
    assert current_inc(ws, "LUT") is None and current_inc(ws, "MSK") == 12


def test_a_duplicate_drop_is_not_counted_twice(ws, returns: Returns) -> None:
    with Watcher(ws, **FAST) as watcher:
        drop(returns.good["LUT"], ws.root / "inbox" / "LUT" / "first.xlsx")
        wait_for(lambda: handled(watcher, "first.xlsx"), 15, "the first copy")
        drop(returns.good["LUT"], ws.root / "inbox" / "LUT" / "again.xlsx")
        wait_for(lambda: handled(watcher, "again.xlsx"), 15, "the second copy")
    assert handled(watcher, "again.xlsx").outcome == "duplicate"
    assert [p.parent.name for p in archived(ws)] == ["LUT", "duplicates"]
    with Store(ws.store_target) as store:
        assert [s.kind for s in store.submissions()] == ["new", "duplicate"]
        assert len(store.values(indicator="INC")) == 1


def drop_v1_then_v2(watcher: Watcher, ws, returns: Returns) -> None:
    """LUT's return, then its resubmission with other figures, each waited for in the master."""
    drop(returns.good["LUT"], ws.root / "inbox" / "LUT" / "v1.xlsx")
    # the count, not only the marker: the marker goes inside the rebuild, the count after it
    wait_for(lambda: handled(watcher, "v1.xlsx") and watcher.rebuilds >= 1
             and not (ws.root / STALE_MARKER).exists(), 15, "v1 in the master")
    before = watcher.rebuilds
    drop(returns.changed, ws.root / "inbox" / "LUT" / "v2.xlsx")
    wait_for(lambda: handled(watcher, "v2.xlsx") and watcher.rebuilds > before, 15, "v2 in the master")


def test_a_resubmission_replaces_the_figures_and_rebuilds_again(ws, returns: Returns) -> None:
    with Watcher(ws, **FAST) as watcher:
        drop_v1_then_v2(watcher, ws, returns)
    assert (handled(watcher, "v2.xlsx").outcome, handled(watcher, "v2.xlsx").kind) == ("accepted", "resubmission")
    assert current_inc(ws) == 15


def test_a_watcher_started_on_an_up_to_date_master_reads_it_once_and_still_shows_every_change(
        ws, returns: Returns, caplog: pytest.LogCaptureFixture) -> None:
    """The watcher reads the store when it starts and then reads again only what changed
    (master/rebuild_cache.py): the master it leaves after a return and a resubmission is the
    one a rebuild from nothing makes."""
    drop(returns.good["MSK"], ws.root / "inbox" / "MSK" / "m.xlsx")
    with Pipeline(ws) as pipeline:
        assert pipeline.run_once().rebuilt  # the master is up to date before the watcher starts
    caplog.set_level(logging.INFO, logger="xlq")
    with Watcher(ws, **FAST) as watcher:
        assert "ready for quick master rebuilds" in caplog.text
        drop_v1_then_v2(watcher, ws, returns)
    kept = master_cells(ws.master_path)
    with Pipeline(ws) as pipeline:
        assert master_cells(pipeline.rebuild()) == kept
    assert current_inc(ws) == 15


def test_a_watcher_that_cannot_read_the_store_on_start_still_starts_and_says_why(
        ws, returns: Returns, caplog: pytest.LogCaptureFixture) -> None:
    """Reading the store on start is only a head start (Pipeline.warm_rebuilds): a catalogue
    broken meanwhile is logged in one line, and the watcher watches."""
    drop(returns.good["MSK"], ws.root / "inbox" / "MSK" / "m.xlsx")
    with Pipeline(ws) as pipeline:
        assert pipeline.run_once().rebuilt
    ws.catalogue_path.write_text("[[indicator]]\ncode = 1\n", encoding="utf-8")
    caplog.set_level(logging.INFO, logger="xlq")
    with Watcher(ws, **FAST):
        assert "reading the store on start" in caplog.text
        assert "watching" in caplog.text


def test_bad_files_are_rejected_and_the_watcher_goes_on(ws, returns: Returns) -> None:
    inbox = ws.root / "inbox" / "LUT"
    inbox.mkdir(parents=True)
    data = returns.good["LUT"].read_bytes()
    with Watcher(ws, **FAST, incomplete=1.0) as watcher:
        (inbox / "empty.xlsx").write_bytes(b"")
        (inbox / "cut.xlsx").write_bytes(data[: len(data) // 2])
        (inbox / "noise.xlsx").write_bytes(os.urandom(3000))
        wait_for(lambda: len(watcher.results) == 3, 20, "the three bad files")
        drop(returns.good["LUT"], inbox / "good.xlsx")
        wait_for(lambda: handled(watcher, "good.xlsx"), 15, "the good file after them")
    rules = {Path(r.path).name: r.outcome for r in watcher.results}
    assert rules == {"empty.xlsx": "rejected", "cut.xlsx": "rejected", "noise.xlsx": "rejected", "good.xlsx": "accepted"}
    kept = {p.name.split("__", 1)[1]: p for p in rejected(ws)}
    assert kept["cut.xlsx"].read_bytes() == data[: len(data) // 2]
    assert "cut short" in kept["cut.xlsx.reason.txt"].read_text(encoding="utf-8")


# ---- whole processes -----------------------------------------------------------------------

def xlq(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "xlq.cli", *args], env=env, **kw)


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = (task / "children").read_text() if (task / "children").exists() else ""
        found.update(int(n) for n in text.split())
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


linux_only = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc to find child processes")


@linux_only
def test_kill_9_mid_batch_then_restart_processes_every_file_exactly_once(tmp_path: Path, returns: Returns) -> None:
    workspace, _ = make_workspace(tmp_path / "ws", settle_seconds=0.2)
    total = 120
    staging = tmp_path / "staging"
    for n in range(total):
        code = DEPARTMENTS[n % 6]
        path = returns.variant(code, n, staging / f"{code}-{n:03d}.xlsx")
        (workspace.root / "inbox" / code).mkdir(parents=True, exist_ok=True)
        os.replace(path, workspace.root / "inbox" / code / path.name)
    with open(tmp_path / "watch.out", "wb") as out:
        process = xlq("watch", "-w", str(workspace.root), stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: len(archived(workspace)) >= 5, 60, "the watcher to start storing")
            helpers = children(process.pid)
            os.kill(process.pid, signal.SIGKILL)
            at_kill = len(archived(workspace))
        finally:
            process.kill()
            process.wait(10)
    assert at_kill < total, "the kill came after the batch: nothing was in flight"
    wait_for(lambda: not any(alive(pid) for pid in helpers), 15, "the reader process to follow its parent")
    late = [returns.variant("DENT", 1000 + n, workspace.root / "inbox" / "DENT" / f"late-{n}.xlsx") for n in range(3)]
    restarted = time.time()
    finished = subprocess.run([sys.executable, "-m", "xlq.cli", "run", "-w", str(workspace.root)],
                              capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert not [p for p in (workspace.root / "inbox").rglob("*") if p.is_file()]
    assert all(not p.exists() for p in late)
    with Store(workspace.store_target) as store:
        submissions = store.submissions()
    assert len(submissions) == total + 3 and {s.kind for s in submissions} <= {"new", "resubmission"}
    assert len({s.sha256 for s in submissions}) == total + 3
    stored = archived(workspace)
    assert len(stored) == total + 3
    assert sorted(p.relative_to(workspace.root).as_posix() for p in stored) == sorted(s.location for s in submissions)
    assert not (workspace.root / STALE_MARKER).exists() and "master rebuilt" in finished.stdout
    assert workspace.master_path.stat().st_mtime >= restarted


@contextlib.contextmanager
def watching(workspace, out_path: Path):
    """`xlq watch` as a real process, started and seen to be watching; killed if still alive."""
    log = workspace.root / "xlq.log"
    with open(out_path, "wb") as out:
        process = xlq("watch", "-w", str(workspace.root), stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: log.exists() and "watching" in log.read_text(encoding="utf-8"), 30, "the watcher to start")
            yield process
        finally:
            process.kill()
            process.wait(10)


@linux_only
def test_sigterm_stops_the_watcher_cleanly_with_its_reader(tmp_path: Path, returns: Returns) -> None:
    workspace, _ = make_workspace(tmp_path / "ws", settle_seconds=0.2)
    log = workspace.root / "xlq.log"
    with watching(workspace, tmp_path / "watch.out") as process:
        drop(returns.good["LUT"], workspace.root / "inbox" / "LUT" / "Luton.xlsx")
        wait_for(lambda: "Luton.xlsx" in log.read_text(encoding="utf-8"), 30, "the file to be logged")
        helpers = children(process.pid)
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
    assert code == 0
    text = log.read_text(encoding="utf-8")
    line = next(line for line in text.splitlines() if "Luton.xlsx" in line)
    assert all(part in line for part in ("accepted", "LUT", PERIOD, "errors=0", "warnings=0", "archive/"))
    assert "stopping after the current file (SIGTERM)" in text
    wait_for(lambda: not any(alive(pid) for pid in helpers), 15, "the reader process to end")


@linux_only
def test_an_idle_watcher_stops_within_a_second_of_sigterm(tmp_path: Path) -> None:
    workspace, _ = make_workspace(tmp_path / "ws", settle_seconds=0.2)
    with watching(workspace, tmp_path / "watch.out") as process:
        wait_for(lambda: workspace.master_path.exists() and not (workspace.root / STALE_MARKER).exists(), 30,
                 "the first master, after which the watcher has nothing to do")
        process.send_signal(signal.SIGTERM)
        code = process.wait(5)  # the full rescan is 60 s away: only the stop check can end it this soon
    assert code == 0
