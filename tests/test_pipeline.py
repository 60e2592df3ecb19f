"""One pass over inbox/: where each file goes, what the store holds, when the master is rebuilt,
and how a state left by a crash is finished without counting anything twice."""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
from deadline import wait_for
from returns import GOOD, PERIOD, fill, make_workspace, real_template

from xlq.core.errors import WorkerUnavailable, WorkspaceBusy
from xlq.intake.feedback import Mark
from xlq.intake.feedback_book import write_feedback
from xlq.intake.worker import Worker
from xlq.store.db import Store
from xlq.store.journal import Intent, Journal
from xlq.store.records import Receipt
from xlq.watch import pipeline as pipeline_module
from xlq.watch.claim import HELD, STAGING
from xlq.watch.idle import STALE_MARKER, idle
from xlq.watch.inbox import Candidate, InboxScanner, Settler, ignored, zip_state
from xlq.watch.pipeline import Pipeline
from xlq.watch.service import run_once

pytestmark = pytest.mark.usefixtures("store_engine")  # every test on SQLite and on PostgreSQL

TODAY = dt.date(2024, 1, 15)


def make(tmp_path: Path, **settings: str):
    return make_workspace(tmp_path / "ws", **settings)


@pytest.fixture
def ws(tmp_path: Path):
    return make(tmp_path)


def filled(ws, name: str, cells: dict | None = None, *, department: str = "LUT", period: str = PERIOD,
           meta: dict | None = None, folder: str | None = "LUT") -> Path:
    """A return typed into the real template, dropped straight into inbox/<folder>/ with an old
    mtime, as a file moved in whole would be."""
    workspace, catalogue = ws
    template = workspace.root / "templates" / period / f"{department}.xlsx"
    if not template.exists():
        real_template(catalogue, workspace, template, department, period)
    target = workspace.root / "inbox" / (folder or "") / name
    fill(template, target, cells if cells is not None else GOOD, meta=meta)
    old = time.time() - 30
    os.utime(target, (old, old))
    return target


def run(ws) -> object:
    with Pipeline(ws[0], catalogue=ws[1], today=TODAY) as pipeline:
        return pipeline.run_once(lambda result: None)


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def current_value(workspace, code: str, department: str = "LUT", period: str = PERIOD) -> float | None:
    with Store(workspace.store_target) as store:
        values = [v.value for v in store.values(indicator=code, department=department, period=period)]
    assert len(values) <= 1
    return values[0].value if values else None


def test_an_accepted_return_is_archived_byte_identical_under_its_month_and_department(ws) -> None:
    path = filled(ws, "Luton December.xlsx")
    original = path.read_bytes()
    summary = run(ws)
    (result,) = summary.results
    assert (result.outcome, result.department, result.period) == ("accepted", "LUT", PERIOD)
    (archived,) = files_under(ws[0].root / "archive")
    assert archived.parent == ws[0].root / "archive" / PERIOD / "LUT"
    assert archived.name.endswith("__Luton December.xlsx") and archived.read_bytes() == original
    assert result.moved_to == archived.relative_to(ws[0].root).as_posix()
    assert not path.exists() and summary.rebuilt and ws[0].master_path.exists()
    assert current_value(ws[0], "INC") == 12
    assert not (ws[0].root / STALE_MARKER).exists()


def test_a_run_with_nothing_new_touches_neither_the_store_nor_the_master(ws) -> None:
    filled(ws, "a.xlsx")
    run(ws)
    master = ws[0].master_path.stat().st_mtime_ns
    store = store_state(ws[0])
    summary = run(ws)
    assert summary.results == () and not summary.rebuilt
    assert ws[0].master_path.stat().st_mtime_ns == master and store_state(ws[0]) == store


def store_state(workspace) -> object:
    """What would change if anything were written: the SQLite file's mtime, or PostgreSQL's rows."""
    if not workspace.store_url:
        return workspace.store_path.stat().st_mtime_ns
    with Store(workspace.store_target) as store:
        return [store.rows(f"SELECT COUNT(*), MAX(id) FROM {table}") for table in ("submissions", "claims",
                                                                                    "catalogue_versions")]


def test_a_rejected_file_keeps_its_bytes_and_gets_a_reason_and_a_feedback_copy(ws) -> None:
    path = filled(ws, "for MSK.xlsx", folder="MSK")
    original = path.read_bytes()
    (result,) = run(ws).results
    assert result.outcome == "rejected" and result.errors == 1
    rejected = ws[0].root / "rejected"
    base = next(p for p in rejected.iterdir() if p.name.endswith("__for MSK.xlsx"))
    assert base.read_bytes() == original
    reason = base.with_name(base.name + ".reason.txt").read_text(encoding="utf-8")
    assert "dropped in another folder" in reason and "[wrong-department-folder]" in reason
    assert "move it to inbox/LUT/" in reason and "Nothing from this file was counted" in reason
    assert "correct" not in reason.split("What to do:")[1]
    book = openpyxl.load_workbook(ws[0].root / "feedback" / "LUT" / (base.name + ".feedback.xlsx"))
    assert book.sheetnames[0] == "What happened" and book.active.title == "What happened"
    texts = [c.value for row in book["What happened"].iter_rows() for c in row if isinstance(c.value, str)]
    assert "Nothing in the workbook needs changing: move it to inbox/LUT/" in texts  # the plain-words advice
    assert current_value(ws[0], "INC", "LUT") is None


def test_an_unreadable_file_is_rejected_with_a_reason_but_no_feedback_copy(ws) -> None:
    junk = ws[0].root / "inbox" / "LUT" / "return.xlsx"
    junk.parent.mkdir(parents=True, exist_ok=True)
    junk.write_bytes(b"\x00\x01 not a workbook at all" * 10)
    old = time.time() - 30
    os.utime(junk, (old, old))
    (result,) = run(ws).results
    assert result.outcome == "rejected"
    names = sorted(p.name.split("__", 1)[1] for p in (ws[0].root / "rejected").iterdir())
    assert names == ["return.xlsx", "return.xlsx.reason.txt"]


def test_the_feedback_copy_highlights_and_comments_each_flagged_cell(ws, tmp_path: Path) -> None:
    source = filled(ws, "x.xlsx")
    target = tmp_path / "x.feedback.xlsx"
    marks = (Mark("error", "'lots' is not a number.", "Return", "F14", "INC"),
             Mark("warning", "=HYPERLINK(\"http://x\") looks like a formula", "Return", "F15", "TRAIN"),
             Mark("error", "The period has not ended yet."))
    write_feedback(str(source), str(target), marks, "title")
    book = openpyxl.load_workbook(target)
    sheet = book["Return"]
    assert sheet["F14"].fill.fgColor.rgb.endswith("FFC7CE") and "not a number" in sheet["F14"].comment.text
    assert sheet["F15"].fill.fgColor.rgb.endswith("F8CBAD")
    summary = book["What happened"]
    rows = [[c.value for c in row] for row in summary.iter_rows()]
    assert [3, "error", "whole file", None, "The period has not ended yet."] in rows
    assert any(isinstance(r[4], str) and r[4].startswith("=HYPERLINK") for r in rows)
    assert all(c.data_type == "s" for row in summary.iter_rows() for c in row[1:] if c.value is not None)
    linked = [c for row in summary.iter_rows() for c in row if c.hyperlink is not None]
    assert [c.hyperlink.location for c in linked] == ["'Return'!F14", "'Return'!F15"]


def test_a_groups_feedback_copies_are_written_before_its_files_move_and_beside_the_next_group(
        ws, monkeypatch) -> None:
    monkeypatch.setattr(pipeline_module, "BATCH_FILES", 2)  # five files: groups of 2, 2 and 1
    paths = [filled(ws, f"r{n}.xlsx", {**GOOD, "INC": {"Value": 10 + n, "Comment": "=1+1"}}) for n in range(5)]
    feedback = ws[0].root / "feedback" / "LUT"
    steps: list[tuple[str, str, int]] = []

    def hook(step: str, source: Path, staged: Path | None) -> None:
        steps.append((step, source.name, len(list(feedback.glob("*.feedback.xlsx"))) if feedback.exists() else 0))

    with Pipeline(ws[0], catalogue=ws[1], today=TODAY, hooks=hook) as pipeline:
        results = pipeline.run_once(lambda result: None).results
    assert [Path(r.path).name for r in results] == [p.name for p in paths]  # reported in order
    assert all(r.warnings and r.moved_to for r in results)
    moves = [(name, copies) for step, name, copies in steps if step == "move"]
    assert [name for name, _ in moves] == [p.name for p in paths]
    # a copy reads the staged file: every copy of a file's group is written before any of it moves
    assert [copies >= min(2 * (n // 2 + 1), 5) for n, (_, copies) in enumerate(moves)] == [True] * 5
    # and the first group is settled only once the second has been judged and stored
    names = [(step, name) for step, name, _ in steps]
    assert names.index(("store", "r3.xlsx")) < names.index(("move", "r0.xlsx"))
    assert len(list(feedback.glob("*.feedback.xlsx"))) == 5


def test_a_duplicate_drop_is_recorded_as_such_and_not_counted_twice(ws) -> None:
    first = filled(ws, "a.xlsx")
    copy = first.with_name("a (copy).xlsx")
    shutil.copy2(first, copy)
    results = run(ws).results
    assert sorted(r.outcome for r in results) == ["accepted", "duplicate"]
    duplicate = next(r for r in results if r.outcome == "duplicate")
    assert duplicate.moved_to.startswith("archive/duplicates/")
    with Store(ws[0].store_target) as store:
        kinds = sorted(s.kind for s in store.submissions())
        assert kinds == ["duplicate", "new"]
        assert len(store.values(indicator="INC")) == 1


def test_rejected_bytes_moved_to_the_right_folder_are_judged_afresh_and_accepted(ws) -> None:
    wrong = filled(ws, "lut.xlsx", folder="MSK")
    content = wrong.read_bytes()
    (first,) = run(ws).results
    assert (first.outcome, first.kind) == ("rejected", "new")
    right = ws[0].root / "inbox" / "LUT" / "lut.xlsx"
    right.parent.mkdir(parents=True, exist_ok=True)
    right.write_bytes(content)
    old = time.time() - 30
    os.utime(right, (old, old))
    (second,) = run(ws).results
    assert second.outcome == "accepted"
    assert current_value(ws[0], "INC") == GOOD["INC"]["Value"]


def test_a_resubmission_replaces_the_figures_in_the_master(ws) -> None:
    filled(ws, "v1.xlsx")
    run(ws)
    filled(ws, "v2.xlsx", {**GOOD, "INC": {"Value": 15}, "INC_LOW": {"Value": 13}})
    (result,) = run(ws).results
    assert (result.outcome, result.kind) == ("accepted", "resubmission")
    assert current_value(ws[0], "INC") == 15
    assert len(files_under(ws[0].root / "archive" / PERIOD / "LUT")) == 2


def crashed_after_commit(ws, path: Path, destination: str) -> None:
    """The state a kill -9 between the store's commit and the move leaves behind: the file
    claimed (journal + staging folder) and recorded, the move not done."""
    workspace, catalogue = ws
    from xlq.intake.reader import read_return
    from xlq.intake.validate import validate

    info = path.stat()
    with Store(workspace.store_target) as store:
        (claim,) = Journal(store, STAGING).open([Intent(path.name, "inbox/LUT", info.st_size, info.st_mtime_ns,
                                                        info.st_ino)])
        staged = workspace.root / claim.staged
        staged.parent.mkdir(parents=True)
        os.rename(path, staged.parent / HELD)
        shutil.copy2(staged.parent / HELD, staged)
        checked = validate(read_return(staged), catalogue, workspace, store, folder_department="LUT", today=TODAY)
        store.record(Receipt(checked.parsed.sha256, path.name, "inbox/LUT", "2024-01-05T09:00:00+00:00", destination),
                     checked, claim=claim.id)


def test_a_file_recorded_before_a_crash_is_moved_on_restart_and_not_counted_again(ws) -> None:
    path = filled(ws, "crashed.xlsx")
    original = path.read_bytes()
    workspace, _ = ws
    destination = f"archive/{PERIOD}/LUT/2024-01-05_090000.000000__crashed.xlsx"
    crashed_after_commit(ws, path, destination)
    (workspace.root / STALE_MARKER).touch()
    summary = run(ws)
    (result,) = summary.results
    assert result.note == "recovered an interrupted move" and result.moved_to == destination
    assert (workspace.root / destination).read_bytes() == original and not path.exists()
    with Store(workspace.store_target) as store:
        assert store.count_files() == 1
    assert summary.rebuilt and not (workspace.root / STALE_MARKER).exists()
    assert list((workspace.root / STAGING).iterdir()) == []


def test_a_rejected_file_recorded_before_a_crash_gets_its_reason_file_on_restart(ws) -> None:
    path = filled(ws, "early.xlsx", meta={"period": "2024-05"})
    workspace, _ = ws
    crashed_after_commit(ws, path, "rejected/2024-01-05_090000.000000__early.xlsx")
    run(ws)
    reason = workspace.root / "rejected" / "2024-01-05_090000.000000__early.xlsx.reason.txt"
    assert "[future-period]" in reason.read_text(encoding="utf-8")
    with Store(workspace.store_target) as store:
        assert store.count_files() == 1


def test_a_rejected_file_put_back_into_the_inbox_is_judged_afresh_not_recovered(ws) -> None:
    """Case 7: "recovered an interrupted move" comes only from the journal, never from bytes."""
    path = filled(ws, "lut.xlsx", folder="MSK")
    (first,) = run(ws).results
    assert first.outcome == "rejected"
    put_back = ws[0].root / "inbox" / "MSK" / "lut.xlsx"
    shutil.copy2(ws[0].root / first.moved_to, put_back)
    (ws[0].root / first.moved_to).unlink()
    (second,) = run(ws).results
    assert second.outcome == "rejected" and second.note == "" and second.moved_to != first.moved_to
    assert not path.exists()


def test_a_stale_marker_left_by_a_crash_makes_the_next_run_rebuild(ws) -> None:
    filled(ws, "a.xlsx")
    run(ws)
    before = ws[0].master_path.stat().st_mtime_ns
    (ws[0].root / STALE_MARKER).touch()
    summary = run(ws)
    assert summary.results == () and summary.rebuilt
    assert ws[0].master_path.stat().st_mtime_ns > before


def test_a_rebuild_pauses_the_cycle_collector_and_turns_it_on_again(ws, monkeypatch) -> None:
    """The collector is off while the master is built (its walks were 0.6-1.0 s of a rebuild at
    10,000 returns) and on again after, even when the rebuild fails."""
    import gc

    seen: list[bool] = []
    real_write = pipeline_module.write_scorecard

    def watching(*args, **kwargs):
        seen.append(gc.isenabled())
        return real_write(*args, **kwargs)

    monkeypatch.setattr(pipeline_module, "write_scorecard", watching)
    filled(ws, "a.xlsx")
    assert gc.isenabled()
    summary = run(ws)
    assert summary.rebuilt and seen == [False] and gc.isenabled()

    def failing(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pipeline_module, "write_scorecard", failing)
    (ws[0].root / STALE_MARKER).touch()
    with pytest.raises(OSError), Pipeline(ws[0], catalogue=ws[1], today=TODAY) as pipeline:
        pipeline.rebuild()
    assert gc.isenabled()


def test_a_return_in_the_inbox_root_is_accepted_on_its_own_metadata(ws) -> None:
    filled(ws, "root.xlsx", folder=None)
    (result,) = run(ws).results
    assert (result.outcome, result.department) == ("accepted", "LUT")


def test_required_department_folders_reject_a_return_in_the_inbox_root(tmp_path: Path) -> None:
    ws = make(tmp_path, require_department_folders="true")
    filled(ws, "root.xlsx", folder=None)
    (result,) = run(ws).results
    assert result.outcome == "rejected"
    reason = next((ws[0].root / "rejected").glob("*.reason.txt")).read_text(encoding="utf-8")
    assert "only from department folders" in reason


def test_names_that_collide_in_the_archive_never_overwrite(ws) -> None:
    for n in range(3):
        filled(ws, "same.xlsx", {**GOOD, "WAIT": {"Value": 17 + n}}, folder=["LUT", None, "lut"][n])
    results = run(ws).results
    assert [r.outcome for r in results] == ["accepted"] * 3
    archived = files_under(ws[0].root / "archive" / PERIOD / "LUT")
    assert len({p.name for p in archived}) == 3 and all(p.name.endswith("__same.xlsx") for p in archived)


def test_a_very_long_unicode_name_is_shortened_to_fit_beside_its_reason_file(ws) -> None:
    name = "Ünïcødé return " + "é" * 110 + ".xlsx"  # 240 bytes: fits the disk, not beside a time stamp
    filled(ws, name, folder="MSK")
    (result,) = run(ws).results
    stored = Path(result.moved_to).name
    assert len(stored.encode()) <= 230 and stored.endswith("~.xlsx")
    assert (ws[0].root / "rejected" / (stored + ".reason.txt")).exists()


def test_lock_temp_and_hidden_files_and_links_are_never_candidates(ws, caplog) -> None:
    inbox = ws[0].root / "inbox"
    (inbox / ".hidden").mkdir(parents=True)
    for name in ("~$Luton.xlsx", "A1B2C3D4", "Luton.xlsx.tmp", ".Luton.xlsx", ".hidden/in-hidden.xlsx",
                 "LUT/~$x.xlsx", "Thumbs.db"):
        (inbox / name).parent.mkdir(parents=True, exist_ok=True)
        (inbox / name).write_bytes(b"x")
    outside = ws[0].root.parent / "outside.xlsx"
    outside.write_bytes(b"secret")
    (inbox / "link.xlsx").symlink_to(outside)
    (inbox / "linkdir").symlink_to(ws[0].root.parent, target_is_directory=True)
    real = filled(ws, "real.xlsx")
    with caplog.at_level(logging.WARNING, logger="xlq"), Pipeline(ws[0], catalogue=ws[1]) as pipeline:
        assert [c.path for c in pipeline.scan()] == [real]
        assert pipeline.candidate(inbox / "link.xlsx") is None
    assert any("symlink" in r.getMessage() and "outside inbox" in r.getMessage() for r in caplog.records)
    assert ignored("~$x.xlsx") and ignored("0F3A9B2C") and not ignored("Luton Dec 2023.xlsx")


def test_a_zip_still_being_copied_is_incomplete_until_its_last_byte(ws, tmp_path: Path) -> None:
    data = filled(ws, "whole.xlsx").read_bytes()
    part = tmp_path / "part.xlsx"
    part.write_bytes(data[: len(data) - 40])
    assert zip_state(part) == "incomplete"
    part.write_bytes(data)
    assert zip_state(part) == "complete"
    (tmp_path / "plain.csv").write_text("a,b\n")
    assert zip_state(tmp_path / "plain.csv") == "other"


def test_the_settler_waits_for_a_quiet_period_and_a_complete_zip(ws, tmp_path: Path) -> None:
    data = filled(ws, "whole.xlsx").read_bytes()
    path = tmp_path / "arriving.xlsx"
    path.write_bytes(data[:100])

    def seen() -> Candidate:
        info = path.stat()
        return Candidate(path, "inbox", None, info.st_size, info.st_mtime_ns)

    settler = Settler(settle=1.0, incomplete=5.0)
    now = time.monotonic()
    assert not settler.ready(seen(), now)
    assert not settler.ready(seen(), now + 2.0)  # quiet, but not yet a whole zip
    assert settler.ready(seen(), now + 6.0)      # cut short for good: handed on to be rejected
    path.write_bytes(data)
    assert not settler.ready(seen(), now + 6.1)
    assert settler.ready(seen(), now + 7.2)


def test_a_second_process_cannot_take_a_busy_workspace_unless_the_store_is_postgresql(ws) -> None:
    if ws[0].store_url:  # several watchers share a workspace on PostgreSQL (tests/test_several_watchers.py)
        with Pipeline(ws[0]) as first, Pipeline(ws[0]) as second:
            assert first.shared and second.shared and first.watcher_id != second.watcher_id
        return
    with Pipeline(ws[0]), pytest.raises(WorkspaceBusy, match="another xlq"):
        Pipeline(ws[0])



def test_a_run_with_nothing_new_answers_from_the_folders_without_the_readers_or_the_master_writer(ws) -> None:
    """`xlq run` from a scheduler mostly finds nothing; it must not pay for loading what reads
    and rebuilds (xlq/watch/idle.py). Fails if `xlq run` imports the pipeline before knowing."""
    filled(ws, "a.xlsx")
    run(ws)
    probe = ("import sys; from xlq.cli import main; main(['run', '--workspace', sys.argv[1]]); "
             "print(' '.join(m for m in sys.modules if m.startswith('xlq.')))")
    done = subprocess.run([sys.executable, "-c", probe, str(ws[0].root)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    said, loaded = done.stdout.splitlines()[0], set(done.stdout.splitlines()[-1].split())
    assert said.startswith("nothing new in inbox/")
    assert not loaded & {"xlq.watch.pipeline", "xlq.intake.validate", "xlq.intake.pool", "xlq.master.reconcile",
                         "xlq.master.workbook"}, loaded


def test_only_no_staged_file_no_file_in_inbox_and_an_up_to_date_master_are_idle(ws) -> None:
    workspace, scanner = ws[0], InboxScanner(ws[0])
    assert not idle(workspace, scanner), "no master yet"
    filled(ws, "a.xlsx")
    run(ws)
    assert idle(workspace, scanner)
    (workspace.root / STALE_MARKER).touch()
    assert not idle(workspace, scanner), "the master misses a stored return"
    (workspace.root / STALE_MARKER).unlink()
    arriving = workspace.root / "inbox" / "LUT" / "b.xlsx"
    arriving.write_bytes(b"PK\x03\x04")  # still being copied
    assert not idle(workspace, scanner), "a file still arriving is waited for"
    arriving.unlink()
    staged = workspace.root / STAGING / "c.xlsx"
    staged.write_bytes(b"PK\x03\x04")
    assert not idle(workspace, scanner), "a claim left by a stopped process is finished"
    staged.unlink()
    assert idle(workspace, scanner)
    if workspace.store_url is None:  # a run with nothing new still refuses a workspace a watcher holds
        with Pipeline(workspace), pytest.raises(WorkspaceBusy, match="another xlq"):
            run_once(workspace, progress=False)
    assert run_once(workspace, progress=False).describe().startswith("nothing new in inbox/")

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a named pipe to hold the reader")
def test_the_worker_survives_a_timeout_and_reads_the_next_file(ws, tmp_path) -> None:
    """The slow file is a named pipe nobody writes to: the child blocks opening it until it is
    killed, so the deadline fires however loaded the machine is. (A real file with a tiny
    deadline raced: CI once saw the reply arrive before the parent first looked.)"""
    path = filled(ws, "a.xlsx")
    stuck = tmp_path / "stuck.xlsx"
    os.mkfifo(stuck)
    with Worker(timeout=0.5) as worker:
        slow = worker.read(stuck, "0" * 64, 0)  # hash given: the parent must not open the pipe either
        assert [f.rule for f in slow.findings] == ["file-too-large"] and slow.identity is None
        assert "longer than 0.5 s" in slow.findings[0].message
        assert worker.restarts == 1
        worker.timeout = 30
        assert worker.read(path).identity is not None
    wait_for(lambda: not multiprocessing.active_children(), 15, "both reader processes to be gone")


def test_a_reader_process_killed_between_files_is_replaced_without_blaming_the_next(ws) -> None:
    path = filled(ws, "a.xlsx")
    with Worker() as worker:
        assert worker.read(path).identity is not None
        pid = worker.pid
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not worker._process.is_alive(), 10, "the killed reader process to be reaped")
        again = worker.read(path)
        assert again.identity is not None and worker.pid != pid


def test_a_reader_process_that_cannot_start_leaves_files_in_the_inbox(ws) -> None:
    path = filled(ws, "a.xlsx")
    with Worker(memory_mb=1) as worker, pytest.raises(WorkerUnavailable):
        worker.read(path)
    assert path.exists()


def test_many_files_go_through_one_reader_process(ws) -> None:
    for n in range(12):
        filled(ws, f"r{n:02d}.xlsx", period=f"2023-{n + 1:02d}")
    with Pipeline(ws[0], catalogue=ws[1], today=TODAY) as pipeline:
        summary = pipeline.run_once(lambda result: None)
        assert pipeline.worker.restarts == 0 and pipeline.worker.files == 12
    assert [r.outcome for r in summary.results] == ["accepted"] * 12
    assert len(files_under(ws[0].root / "archive")) == 12
    assert zipfile.is_zipfile(ws[0].master_path)


def test_every_finding_is_a_line_in_the_log_file_but_not_on_the_console(ws) -> None:
    import subprocess
    import sys

    filled(ws, "faulty.xlsx", {**GOOD, "WAIT": {"Value": -3}})
    done = subprocess.run([sys.executable, "-m", "xlq.cli", "run", "--workspace", str(ws[0].root)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    log_text = (ws[0].root / "xlq.log").read_text(encoding="utf-8")
    line = next(line for line in log_text.splitlines() if "negative-value" in line)
    assert "faulty.xlsx" in line and "ERROR negative-value LUT" in line and "Return!" in line
    assert "negative-value" not in done.stdout + done.stderr
