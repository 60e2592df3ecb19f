"""Intake that cannot lose, leak or freeze (issue 14): each case reproduced with real files,
a real store and real renames. Changes between steps are made by the pipeline's `hooks`
callable, which runs before each step (claim, hash, read, store, move), never by timing luck."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from returns import GOOD, PERIOD, fill, make_workspace, real_template

from xlq.core.errors import StoreError
from xlq.store.db import Store
from xlq.watch.claim import HELD, STAGING
from xlq.watch.inbox import Settler
from xlq.watch.pipeline import Pipeline
from xlq.watch.runtime import remove_handlers, setup_logging

TODAY = dt.date(2024, 1, 15)
STEPS = ("claim", "hash", "read", "store", "move")
SECRET_INC = 4242


@pytest.fixture
def ws(tmp_path: Path):
    return make_workspace(tmp_path / "ws")


def made(ws, target: Path, cells: dict | None = None, *, age: float = 30, meta: dict | None = None) -> Path:
    workspace, catalogue = ws
    template = workspace.root / "templates" / PERIOD / "LUT.xlsx"
    if not template.exists():
        real_template(catalogue, workspace, template, "LUT", PERIOD)
    target.parent.mkdir(parents=True, exist_ok=True)
    fill(template, target, cells if cells is not None else GOOD, meta=meta)
    old = time.time() - age
    os.utime(target, (old, old))
    return target


def with_inc(value: float) -> dict:
    return {**GOOD, "INC": {"Value": value}, "INC_LOW": {"Value": value - 2}, "INC_HIGH": {"Value": 2}}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def kept_files(root: Path) -> list[Path]:
    """Every file a return became: archive/ and rejected/, without reason files and feedback copies."""
    return sorted(p for folder in ("archive", "rejected") if (root / folder).exists()
                  for p in (root / folder).rglob("*")
                  if not p.is_dir() and not p.name.endswith((".reason.txt", ".feedback.xlsx")))


def assert_nothing_leaked_and_the_store_matches_the_files(root: Path, secret: bytes) -> None:
    for folder in ("archive", "rejected", STAGING):
        for path in (root / folder).rglob("*") if (root / folder).exists() else ():
            assert not path.is_symlink(), f"a link was kept: {path}"
            assert path.is_dir() or path.read_bytes() != secret, f"the link's target leaked into {path}"
    staged = [p for p in (root / STAGING).rglob("*") if not p.is_dir()] if (root / STAGING).exists() else []
    assert staged == []
    with Store(root / "xlq.sqlite") as store:
        submissions = store.submissions()
        for submission in submissions:
            kept = root / submission.location
            assert kept.is_file(), f"submission {submission.id} has no file at {submission.location}"
            assert sha(kept.read_bytes()) == submission.sha256, f"{submission.location} is not the recorded bytes"
        assert len(kept_files(root)) == len(submissions)
        assert all(v.value.value != SECRET_INC for v in store.values(current=False))
        unfinished = store.rows("SELECT COUNT(*) FROM claims WHERE state IN ('claimed', 'recorded')")[0][0]
    assert unfinished == 0


def contents(root: Path) -> list[bytes]:
    inbox = [p for p in (root / "inbox").rglob("*") if p.is_file() and not p.is_symlink()]
    return [p.read_bytes() for p in kept_files(root) + inbox]


@pytest.mark.parametrize("attack", ["replace", "delete", "symlink", "append"])
@pytest.mark.parametrize("step", STEPS)
def test_a_file_changed_between_any_two_steps_is_neither_lost_nor_leaked(ws, tmp_path: Path, step: str,
                                                                         attack: str) -> None:
    root = ws[0].root
    source = made(ws, root / "inbox" / "LUT" / "return.xlsx", with_inc(12))
    original = source.read_bytes()
    replacement = made(ws, tmp_path / "replacement.xlsx", with_inc(15)).read_bytes()
    secret_file = made(ws, tmp_path / "secret" / "secret.xlsx", with_inc(SECRET_INC))
    secret = secret_file.read_bytes()
    fired: list[Path] = []

    def hook(name: str, inbox_path: Path, staged: Path | None) -> None:
        if name != step or fired:
            return
        fired.append(inbox_path)
        if attack == "replace":
            inbox_path.unlink(missing_ok=True)
            inbox_path.write_bytes(replacement)
            old = time.time() - 20
            os.utime(inbox_path, (old, old))
        elif attack == "delete":
            inbox_path.unlink(missing_ok=True)
        elif attack == "symlink":
            inbox_path.unlink(missing_ok=True)
            inbox_path.symlink_to(secret_file)
        else:  # a writer that still holds the file open goes on writing after the claim
            held = staged.parent / HELD if staged is not None else inbox_path
            with open(held, "ab") as handle:
                handle.write(b"\0" * 64)
            old = time.time() - 20
            os.utime(held, (old, old))

    with Pipeline(ws[0], catalogue=ws[1], today=TODAY, in_process=True, hooks=hook) as pipeline:
        pipeline.run_once(lambda result: None, wait=0)
        assert fired, f"the {step} step was never reached"
        pipeline.claimer.hook = None
        pipeline.run_once(lambda result: None, wait=0)

    assert_nothing_leaked_and_the_store_matches_the_files(root, secret)
    everything = contents(root)
    removed_before_the_claim = step == "claim" and attack in ("replace", "delete", "symlink")
    if not removed_before_the_claim and not (attack == "append" and step != "move"):
        assert original in everything, "the dropped return was lost"
    if attack == "replace":
        assert replacement in everything, "the replacing file was lost"
    if attack == "append":
        assert original + b"\0" * 64 in everything, "the bytes written after the claim were lost"
    if attack == "symlink":
        link = root / "inbox" / "LUT" / "return.xlsx"
        assert link.is_symlink() or not link.exists()


def test_a_link_swapped_in_at_the_last_moment_is_never_read_by_the_reader_process(ws, tmp_path: Path) -> None:
    root = ws[0].root
    made(ws, root / "inbox" / "LUT" / "return.xlsx", with_inc(12))
    secret_file = made(ws, tmp_path / "secret.xlsx", with_inc(SECRET_INC))

    def hook(name: str, inbox_path: Path, staged: Path | None) -> None:
        if name == "claim":
            inbox_path.unlink()
            inbox_path.symlink_to(secret_file)

    with Pipeline(ws[0], catalogue=ws[1], today=TODAY, hooks=hook) as pipeline:
        (result,) = pipeline.run_once(lambda result: None, wait=0).results
    assert result.outcome == "deferred" and "link" in result.note
    assert (root / "inbox" / "LUT" / "return.xlsx").is_symlink()
    assert_nothing_leaked_and_the_store_matches_the_files(root, secret_file.read_bytes())


@pytest.mark.parametrize("start", ["empty", "zeros"])
def test_a_slow_copy_that_starts_empty_or_zero_filled_ends_accepted(ws, tmp_path: Path, start: str) -> None:
    """Case 3: Explorer and SMB copies create the file, or reserve its size with zeros, long
    before the bytes arrive. Until the stall time has passed it is still arriving."""
    root = ws[0].root
    data = made(ws, tmp_path / "whole.xlsx").read_bytes()
    target = root / "inbox" / "LUT" / "slow.xlsx"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"" if start == "empty" else b"\0" * len(data))
    old = time.time() - 120  # quiet for two minutes: far past the settle time, not the stall time
    os.utime(target, (old, old))
    with Pipeline(ws[0], catalogue=ws[1], today=TODAY, in_process=True) as pipeline:
        first = pipeline.run_once(lambda result: None, wait=0.5)
        assert first.results == () and first.waiting == 1 and target.exists()
        with open(target, "r+b") as handle:  # the copy goes on
            handle.write(data)
        old = time.time() - 30
        os.utime(target, (old, old))
        (result,) = pipeline.run_once(lambda result: None, wait=0).results
    assert result.outcome == "accepted"
    assert [p.read_bytes() for p in kept_files(root)] == [data]


def test_a_copy_stalled_past_the_stall_time_is_rejected_as_incomplete_saying_so(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", stall_minutes=1)
    target = ws[0].root / "inbox" / "LUT" / "stalled.xlsx"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"\0" * 5000)
    with Pipeline(ws[0], catalogue=ws[1], today=TODAY, in_process=True) as pipeline:
        settler = Settler(ws[0].watch.settle_seconds, ws[0].watch.stall_minutes * 60)
        (candidate,) = pipeline.scan()
        now = time.monotonic()
        assert not settler.ready(candidate, now) and not settler.ready(candidate, now + 59)
        assert settler.ready(candidate, now + 61)  # unchanged for the stall time: judged now
        (result,) = pipeline.process_many([candidate])
    assert result.outcome == "rejected"
    reason = next((ws[0].root / "rejected").glob("*.reason.txt")).read_text(encoding="utf-8")
    assert "[file-incomplete]" in reason and "starts with zeros" in reason and "unchanged for 1 min" in reason


def test_an_absurd_magnitude_is_a_cell_error_and_the_master_is_still_built(ws) -> None:
    """Case 4: 1.7e308 once froze every rebuild (an overflow in the SPC limits)."""
    root = ws[0].root
    made(ws, root / "inbox" / "LUT" / "huge.xlsx", {**GOOD, "WAIT": {"Value": 1.7e308}})
    with Pipeline(ws[0], catalogue=ws[1], today=TODAY, in_process=True) as pipeline:
        summary = pipeline.run_once(lambda result: None, wait=0)
    (result,) = summary.results
    assert result.outcome == "accepted_with_errors" and result.errors == 1 and summary.rebuilt
    with Store(ws[0].store_path) as store:
        (finding,) = [sf.finding for sf in store.findings() if sf.finding.severity == "error"]
        assert finding.rule == "value-too-large" and finding.indicator == "WAIT"
        assert not store.values(indicator="WAIT")
    assert ws[0].master_path.exists()


def test_a_forged_name_writes_one_escaped_log_line_and_no_formula(ws, tmp_path: Path) -> None:
    """Case 5: newlines and escape codes in a name cannot write a fake line or drive the terminal."""
    root = ws[0].root
    name = "=HYPERLINK(1)\n12:00:00 accepted LUT 2023-12 fake.xlsx -> archive x\x1b[2J\u202e.xlsx"
    made(ws, root / "inbox" / "MSK" / name)  # LUT's return in MSK's folder: rejected, with a feedback copy
    handlers = setup_logging(ws[0], console=False)
    try:
        with Pipeline(ws[0], catalogue=ws[1], today=TODAY, in_process=True) as pipeline:
            (result,) = pipeline.run_once(lambda result: None, wait=0).results
    finally:
        remove_handlers(handlers)
    assert result.outcome == "rejected"
    text = (root / "xlq.log").read_text(encoding="utf-8")
    assert "\x1b" not in text and "\u202e" not in text
    lines = [line for line in text.splitlines() if "HYPERLINK" in line and " INFO " in line]
    assert len(lines) == 1 and "\\n12:00:00 accepted" in lines[0] and "\\e[2J" in lines[0]
    assert all(line.startswith(("20", "  ")) for line in text.splitlines())  # no line the name began
    import openpyxl

    feedback = next((root / "feedback").rglob("*.feedback.xlsx"))
    summary = openpyxl.load_workbook(feedback)["What happened"]
    assert "=HYPERLINK" in summary["A1"].value  # the headline names the file
    assert not [c.coordinate for row in summary.iter_rows() for c in row if c.data_type == "f"]  # and no formula


def run_cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xlq.cli", *args, "--workspace", str(root)],
                          capture_output=True, text=True, timeout=120)


def test_a_deleted_store_gives_one_line_and_is_never_silently_replaced(ws) -> None:
    """Case 6: a workspace that had a store does not start an empty one behind the admin's back."""
    root = ws[0].root
    made(ws, root / "inbox" / "LUT" / "a.xlsx")
    assert run_cli(root, "run").returncode == 0
    ws[0].store_path.unlink()
    made(ws, root / "inbox" / "LUT" / "b.xlsx", with_inc(15))
    done = run_cli(root, "run")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "store is missing" in done.stderr
    assert not ws[0].store_path.exists() and (root / "inbox" / "LUT" / "b.xlsx").exists()


def test_a_store_deleted_under_a_running_pipeline_is_noticed_before_anything_is_written(ws) -> None:
    root = ws[0].root
    made(ws, root / "inbox" / "LUT" / "a.xlsx")
    with Pipeline(ws[0], catalogue=ws[1], today=TODAY, in_process=True) as pipeline:
        pipeline.run_once(lambda result: None, wait=0)
        ws[0].store_path.unlink()
        made(ws, root / "inbox" / "LUT" / "b.xlsx", with_inc(15))
        with pytest.raises(StoreError, match="deleted"):
            pipeline.run_once(lambda result: None, wait=0)
    assert (root / "inbox" / "LUT" / "b.xlsx").exists()
    assert [p for p in (root / STAGING).rglob("*") if not p.is_dir()] == []


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0, reason="root ignores file permissions")
def test_a_read_only_store_gives_one_line(ws) -> None:
    root = ws[0].root
    made(ws, root / "inbox" / "LUT" / "a.xlsx")
    assert run_cli(root, "run").returncode == 0
    made(ws, root / "inbox" / "LUT" / "b.xlsx", with_inc(15))
    for path in (ws[0].store_path, root):
        path.chmod(stat.S_IRUSR | stat.S_IXUSR | (stat.S_IWUSR if path == root else 0))
    try:
        done = run_cli(root, "run")
    finally:
        ws[0].store_path.chmod(0o644)
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert "read-only" in done.stderr


def test_a_read_only_store_gives_one_line_even_as_root(ws) -> None:
    """Permissions do not stop root, so the read-only store is made by SQLite's own switch."""
    root = ws[0].root
    made(ws, root / "inbox" / "LUT" / "a.xlsx")
    with Pipeline(ws[0], catalogue=ws[1], today=TODAY, in_process=True) as pipeline:
        pipeline.run_once(lambda result: None, wait=0)
        pipeline.store._db.execute("PRAGMA query_only = ON")
        made(ws, root / "inbox" / "LUT" / "b.xlsx", with_inc(15))
        with pytest.raises(StoreError) as raised:
            pipeline.run_once(lambda result: None, wait=0)
    assert "\n" not in str(raised.value)
    assert (root / "inbox" / "LUT" / "b.xlsx").exists()


def test_two_workspaces_cannot_share_one_store(tmp_path: Path) -> None:
    one = make_workspace(tmp_path / "one")
    two = make_workspace(tmp_path / "two")
    made(one, one[0].root / "inbox" / "LUT" / "a.xlsx")
    with Pipeline(one[0], catalogue=one[1], today=TODAY, in_process=True) as pipeline:
        pipeline.run_once(lambda result: None, wait=0)
    config = two[0].root / "xlq.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        'path = "xlq.sqlite"', f'path = "{one[0].store_path.as_posix()}"'), encoding="utf-8")
    made(two, two[0].root / "inbox" / "LUT" / "b.xlsx")
    done = run_cli(two[0].root, "run")
    assert done.returncode == 2 and "is the store of the workspace at" in done.stderr
    assert (two[0].root / "inbox" / "LUT" / "b.xlsx").exists()


def test_left_over_temporary_masters_are_removed_on_start(ws) -> None:
    outbox = ws[0].master_path.parent
    outbox.mkdir(parents=True)
    leftover = outbox / ".scorecard-abc123.xlsx.tmp"
    leftover.write_bytes(b"half a workbook")
    with Pipeline(ws[0], catalogue=ws[1], today=TODAY, in_process=True):
        pass
    assert not leftover.exists()


def test_resent_bytes_of_a_replaced_return_are_current_again_and_an_exact_redrop_is_a_duplicate(ws) -> None:
    """Case 7: undoing a mistake by sending the earlier file again works; the latest arrival wins."""
    root = ws[0].root
    first = made(ws, root / "inbox" / "LUT" / "v1.xlsx", with_inc(12))
    v1 = first.read_bytes()

    def run() -> list:
        with Pipeline(ws[0], catalogue=ws[1], today=TODAY, in_process=True) as pipeline:
            return list(pipeline.run_once(lambda result: None, wait=0).results)

    run()
    made(ws, root / "inbox" / "LUT" / "v2.xlsx", with_inc(99))
    run()
    again = root / "inbox" / "LUT" / "v1 again.xlsx"
    again.write_bytes(v1)
    old = time.time() - 30
    os.utime(again, (old, old))
    (result,) = run()
    assert (result.outcome, result.kind) == ("accepted", "resubmission")
    with Store(ws[0].store_path) as store:
        (current,) = store.values(indicator="INC")
        assert current.value.value == 12
        infos = [sf.finding for sf in store.findings() if sf.finding.rule == "return-reinstated"]
        assert len(infos) == 1 and "v1.xlsx" in infos[0].message
    once_more = root / "inbox" / "LUT" / "v1 once more.xlsx"
    once_more.write_bytes(v1)
    os.utime(once_more, (old, old))
    (dup,) = run()
    assert dup.outcome == "duplicate"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_validate_refuses_a_missing_file_a_fifo_and_a_device_in_one_line(ws, tmp_path: Path) -> None:
    """Case 8: `xlq validate` once hung for ever on a FIFO and called a typo a damaged workbook."""
    root = ws[0].root
    fifo = tmp_path / "pipe.xlsx"
    os.mkfifo(fifo)
    for target in (tmp_path / "no such file.xlsx", fifo, Path("/dev/zero")):
        done = run_cli(root, "validate", str(target))
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_status_lists_files_that_have_sat_ignored_in_the_inbox_for_over_a_day(ws) -> None:
    root = ws[0].root
    made(ws, root / "inbox" / "LUT" / "a.xlsx")
    assert run_cli(root, "run").returncode == 0
    stuck = root / "inbox" / "LUT" / "Return.xlsx.tmp"
    stuck.write_bytes(b"renamed by mistake")
    fresh = root / "inbox" / "LUT" / "~$Return.xlsx"
    fresh.write_bytes(b"lock")
    day_ago = time.time() - 2 * 86400
    os.utime(stuck, (day_ago, day_ago))
    done = run_cli(root, "status")
    assert done.returncode == 0, done.stderr
    assert "Return.xlsx.tmp" in done.stdout and "temporary file" in done.stdout
    assert "~$Return.xlsx" not in done.stdout


def committed_bytes(path: Path) -> bytes:
    """The store as SQLite sees it, committed pages still in the WAL included: the main file's
    bytes alone can lack the last commit while the watcher holds the store open."""
    import sqlite3

    source = sqlite3.connect(path)
    try:
        return source.serialize()
    finally:
        source.close()


def test_the_watcher_logs_a_deleted_store_once_and_goes_on_when_it_is_back(ws, caplog) -> None:
    from deadline import wait_for

    from xlq.watch.watcher import Watcher

    root = ws[0].root
    made(ws, root / "inbox" / "LUT" / "a.xlsx")
    with caplog.at_level(logging.INFO, logger="xlq"), Watcher(ws[0], today=TODAY, settle=0.1, rescan=0.3,
                                                              batch=0.05) as watcher:
        wait_for(lambda: watcher.rebuilds >= 1, 60, "the first return")
        backup = committed_bytes(ws[0].store_path)
        ws[0].store_path.unlink()
        made(ws, root / "inbox" / "LUT" / "b.xlsx", with_inc(15))
        wait_for(lambda: any("store was deleted" in r.getMessage() or "store is missing" in r.getMessage()
                             for r in caplog.records), 30, "the store error")
        time.sleep(2.0)  # several rescans: the error must not repeat
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and errors[0].exc_info is None
        ws[0].store_path.write_bytes(backup)
        wait_for(lambda: not (root / "inbox" / "LUT" / "b.xlsx").exists(), 30, "b.xlsx once the store is back")
    with Store(ws[0].store_path) as store:
        assert store.count_files() == 2


@pytest.mark.parametrize("departments", [("LUT", "MSK"), ("LUT",)])
def test_a_huge_figure_already_in_the_store_leaves_its_indicator_blank_and_the_master_is_written(
        ws, departments: tuple[str, ...], caplog) -> None:
    """Case 4, for a store that took such a value before the bound existed: two departments'
    1.7e308 overflow the organisation sum; the master is still rebuilt, that figure blank."""
    from checked import make_return

    from xlq.store.records import Receipt

    with Store(ws[0].store_path) as store:
        for n, period in enumerate(("2023-09", "2023-10", "2023-11", "2023-12")):
            for dept in departments:
                checked = make_return(dept, period, {"INC": 1.7e308, "WAIT": 10 + n}, tag=dept)
                store.record(Receipt(checked.parsed.sha256, f"{dept}-{period}.xlsx", "inbox",
                                     f"{period}-05T09:00:00", f"archive/{period}/{dept}/x.xlsx"), checked)
    with caplog.at_level(logging.INFO, logger="xlq"), Pipeline(ws[0], catalogue=ws[1], today=TODAY,
                                                              in_process=True) as pipeline:
        master = pipeline.rebuild()
        made(ws, ws[0].root / "inbox" / "LUT" / "dec.xlsx", with_inc(12))
        late = pipeline.run_once(lambda result: None, wait=0)  # validating against that history works too
    assert late.rebuilt and late.results[0].outcome.startswith("accepted")
    import openpyxl

    book = openpyxl.load_workbook(master, read_only=True)
    texts = [str(c) for row in book["Validation Errors"].iter_rows(values_only=True) for c in row if c]
    if len(departments) > 1:  # the organisation sum overflows: that figure is blank, with a finding
        assert any("could not be computed" in t for t in texts)
    else:  # the figure is finite, its SPC limits are not: no SPC for that indicator
        assert any("no SPC for INC" in r.getMessage() for r in caplog.records)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_the_watcher_refuses_a_fifo_at_once_and_goes_on_with_the_next_file(ws, caplog) -> None:
    from deadline import wait_for

    from xlq.watch.watcher import Watcher

    root = ws[0].root
    (root / "inbox" / "LUT").mkdir(parents=True)
    os.mkfifo(root / "inbox" / "LUT" / "pipe.xlsx")
    made(ws, root / "inbox" / "LUT" / "a.xlsx")
    with caplog.at_level(logging.INFO, logger="xlq"), Watcher(ws[0], today=TODAY, settle=0.1, batch=0.05) as watcher:
        wait_for(lambda: watcher.rebuilds >= 1, 60, "the return beside the pipe")
    assert any("pipe.xlsx: not a regular file" in r.getMessage() or
               ("pipe.xlsx" in r.getMessage() and "not a regular file" in r.getMessage()) for r in caplog.records)
    assert stat.S_ISFIFO(os.lstat(root / "inbox" / "LUT" / "pipe.xlsx").st_mode)


def test_an_indicator_may_set_its_own_maximum_in_the_catalogue(tmp_path: Path) -> None:
    from workspaces import SAMPLE_CATALOGUE as CATALOGUE_TOML

    from xlq.core.catalogue import load_catalogue

    workspace, _ = make_workspace(tmp_path / "ws")
    text = CATALOGUE_TOML.replace('code = "WAIT"\n', 'code = "WAIT"\nmax = 100\n', 1)
    assert text != CATALOGUE_TOML
    workspace.catalogue_path.write_text(text, encoding="utf-8")
    catalogue = load_catalogue(workspace.catalogue_path, workspace.department_codes)
    assert catalogue["WAIT"].maximum == 100
    ws = (workspace, catalogue)
    made(ws, workspace.root / "inbox" / "LUT" / "a.xlsx", {**GOOD, "WAIT": {"Value": 150}})
    with Pipeline(workspace, catalogue=catalogue, today=TODAY, in_process=True) as pipeline:
        (result,) = pipeline.run_once(lambda result: None, wait=0).results
    assert result.errors == 1
    with Store(workspace.store_path) as store:
        assert [sf.finding.rule for sf in store.findings() if sf.finding.severity == "error"] == ["value-too-large"]


def test_a_store_replaced_under_a_running_pipeline_is_refused_in_one_line(ws) -> None:
    root = ws[0].root
    made(ws, root / "inbox" / "LUT" / "a.xlsx")
    with Pipeline(ws[0], catalogue=ws[1], today=TODAY, in_process=True) as pipeline:
        pipeline.run_once(lambda result: None, wait=0)
        copy = ws[0].store_path.with_name("copy.sqlite")
        copy.write_bytes(ws[0].store_path.read_bytes())
        os.replace(copy, ws[0].store_path)
        made(ws, root / "inbox" / "LUT" / "b.xlsx", with_inc(15))
        with pytest.raises(StoreError, match="replaced") as raised:
            pipeline.run_once(lambda result: None, wait=0)
    assert "\n" not in str(raised.value) and (root / "inbox" / "LUT" / "b.xlsx").exists()


KILLED_AT = """
import datetime as dt, os, signal, sys
from xlq.core.config import load_workspace
from xlq.watch.pipeline import Pipeline

def hook(step, source, staged):
    if step == sys.argv[2]:
        os.kill(os.getpid(), signal.SIGKILL)

with Pipeline(load_workspace(sys.argv[1]), today=dt.date(2024, 1, 15), in_process=True, hooks=hook) as pipeline:
    pipeline.run_once(lambda result: None, wait=0)
"""


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL")
@pytest.mark.parametrize("step", STEPS)
def test_a_kill_9_before_any_step_is_finished_on_restart_from_the_journal(ws, step: str) -> None:
    root = ws[0].root
    source = made(ws, root / "inbox" / "LUT" / "return.xlsx", with_inc(12))
    original = source.read_bytes()
    killed = subprocess.run([sys.executable, "-c", KILLED_AT, str(root), step], capture_output=True, text=True,
                            timeout=120)
    assert killed.returncode == -9, killed.stderr
    with Pipeline(ws[0], catalogue=ws[1], today=TODAY, in_process=True) as pipeline:
        first = pipeline.run_once(lambda result: None, wait=0)
        second = pipeline.run_once(lambda result: None, wait=0)  # anything given back has settled by now
    results = first.results + second.results
    assert_nothing_leaked_and_the_store_matches_the_files(root, b"")
    assert [p.read_bytes() for p in kept_files(root)] == [original]
    assert not source.exists()
    recovered = [r for r in results if r.note == "recovered an interrupted move"]
    assert len(recovered) == (1 if step == "move" else 0)


def test_a_department_folder_swapped_for_a_link_at_the_claim_pulls_in_nothing(ws, tmp_path: Path) -> None:
    root = ws[0].root
    made(ws, root / "inbox" / "LUT" / "return.xlsx", with_inc(12))
    elsewhere = tmp_path / "elsewhere"
    secret = made(ws, elsewhere / "return.xlsx", with_inc(SECRET_INC))
    secret_bytes = secret.read_bytes()

    def hook(step: str, source: Path, staged: Path | None) -> None:
        if step == "claim":
            source.parent.rename(root / "inbox" / "moved-away")
            source.parent.symlink_to(elsewhere, target_is_directory=True)

    with Pipeline(ws[0], catalogue=ws[1], today=TODAY, in_process=True, hooks=hook) as pipeline:
        (result,) = pipeline.run_once(lambda result: None, wait=0).results
    assert result.outcome == "deferred" and "link" in result.note
    assert secret.read_bytes() == secret_bytes  # still where it was, never moved or read
    assert_nothing_leaked_and_the_store_matches_the_files(root, secret_bytes)


def test_the_watcher_waits_for_a_zero_filled_copy_and_accepts_it_when_it_is_written(ws, tmp_path: Path) -> None:
    from deadline import wait_for

    from xlq.watch.watcher import Watcher

    root = ws[0].root
    data = made(ws, tmp_path / "whole.xlsx").read_bytes()
    target = root / "inbox" / "LUT" / "slow.xlsx"
    target.parent.mkdir(parents=True)
    with Watcher(ws[0], today=TODAY, settle=0.1, rescan=0.5, batch=0.05) as watcher:
        target.write_bytes(b"\0" * len(data))  # Explorer reserves the size first
        time.sleep(1.5)  # far past the settle time: still arriving, not rejected
        assert target.exists() and watcher.results == []
        with open(target, "r+b") as handle:
            handle.write(data)
        wait_for(lambda: any(r.outcome == "accepted" for r in watcher.results), 60, "the finished copy")
    assert [p.read_bytes() for p in kept_files(root)] == [data]


@pytest.mark.parametrize("step", ["hash", "read", "store"])
def test_a_store_deleted_between_claim_and_record_gives_the_file_back_unjudged(ws, step: str) -> None:
    root = ws[0].root
    with Pipeline(ws[0], catalogue=ws[1], today=TODAY, in_process=True) as pipeline:
        pipeline.store.count_files()  # opened (and bound) before the file arrives

        def hook(name: str, source: Path, staged: Path | None) -> None:
            if name == step:
                ws[0].store_path.unlink()

        pipeline.claimer.hook = hook
        source = made(ws, root / "inbox" / "LUT" / "a.xlsx")
        original = source.read_bytes()
        with pytest.raises(StoreError, match="deleted"):
            pipeline.run_once(lambda result: None, wait=0)
    assert source.read_bytes() == original
    assert [p for p in (root / STAGING).rglob("*") if not p.is_dir()] == []
    assert kept_files(root) == []
