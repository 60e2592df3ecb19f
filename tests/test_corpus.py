"""Hostile and broken input: every corpus case (tests/corpus) through `xlq validate --json` as a
real subprocess, through `xlq run` in a fresh process whose reader's peak memory is measured,
and all at once through the real watcher beside good returns; then the environment failing
under the pipeline: a locked master, a busy store, a full disk.

What these tests prove: nothing dies on bad input; each bad file ends in rejected/ byte-identical
with a reason naming its rule; accepted values are never lost or altered; dangerous text reaches
the master only as plain text; the reader stays under its memory limit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from corpus.make_corpus import DANGEROUS, EARLIER, FORMULA_NAME, LONG, Case, build_corpus, drop_all
from deadline import wait_for
from python_calamine import CalamineWorkbook
from returns import GOOD, PERIOD, fill, make_workspace, real_template

from xlq.core.config import Workspace
from xlq.intake.worker import DEFAULT_MEMORY_MB
from xlq.store.db import Store
from xlq.watch.filing import short_name
from xlq.watch.idle import STALE_MARKER
from xlq.watch.inbox import Candidate, Settler
from xlq.watch.pipeline import Pipeline
from xlq.watch.watcher import Watcher

TODAY = dt.date(2024, 1, 15)
BUDGET = 120.0
"""A safety net for a whole pass over the corpus, not a speed test."""


@dataclass(frozen=True)
class Corpus:
    folder: Path
    cases: tuple[Case, ...]

    def __getitem__(self, name: str) -> Case:
        return next(c for c in self.cases if c.name == name)

    @property
    def filed(self) -> list[Case]:
        return [c for c in self.cases if c.outcome != "ignored"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    folder = tmp_path_factory.mktemp("corpus")
    workspace, catalogue = make_workspace(folder / "ws")
    return Corpus(folder, tuple(build_corpus(folder / "files", workspace, catalogue)))


@pytest.fixture(autouse=True)
def no_leaked_processes():
    yield
    wait_for(lambda: not multiprocessing.active_children(), 10, "reader processes to end")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def good_return(workspace: Workspace, folder: Path, department: str, period: str = PERIOD,
                cells: dict | None = None, name: str | None = None) -> Path:
    from xlq.core.catalogue import load_catalogue

    catalogue = load_catalogue(workspace.catalogue_path, workspace.department_codes)
    template = folder / f"template-{department}-{period}.xlsx"
    if not template.exists():
        real_template(catalogue, workspace, template, department, period)
    return fill(template, folder / (name or f"{department}-{period}.xlsx"), cells or GOOD).path


def all_values(workspace: Workspace) -> set[tuple]:
    """Every value row the store holds, current or superseded, with its provenance."""
    with Store(workspace.store_path) as store:
        return {(sv.submission_id, sv.value, sv.file, sv.received_at) for sv in store.values(current=False)}


def current_values(workspace: Workspace, department: str, period: str = PERIOD) -> dict[str, object]:
    with Store(workspace.store_path) as store:
        return {sv.value.indicator: sv.value for sv in store.values(department=department, period=period)}


# ---- where every case must end up ----------------------------------------------------------

def check_filed(workspace: Workspace, corpus: Corpus, landed: dict[str, Path]) -> list[str]:
    """Each case's outcome, rule, stored file and reason as the corpus states them; returns problems."""
    problems: list[str] = []
    root = workspace.root
    with Store(workspace.store_path) as store:
        submissions = store.submissions()
        for case in corpus.cases:
            original = case.path
            if case.outcome == "ignored":
                here = landed[case.name]
                if not here.exists() or sha(here) != sha(original):
                    problems.append(f"{case.name}: an ignored file was moved or changed")
                if any(s.original_name == case.filename for s in submissions):
                    problems.append(f"{case.name}: an ignored file was recorded")
                continue
            mine = [s for s in submissions if s.original_name == case.filename
                    and s.arrived_in == f"inbox/{case.folder}".rstrip("/") and s.sha256 == sha(original)]
            if len(mine) != 1:
                problems.append(f"{case.name}: {len(mine)} submissions recorded")
                continue
            (sub,) = mine
            # An empty file in inbox/ is a copy that has not written yet: after the stall time the
            # pipeline rejects it as incomplete (`xlq validate` on one's own file says empty).
            expected_rule = "file-incomplete" if case.rule == "file-empty" else case.rule
            rules = {f.finding.rule: f.finding for f in store.findings([sub.id])}
            if sub.outcome != case.outcome:
                problems.append(f"{case.name}: {sub.outcome}, expected {case.outcome} ({sorted(rules)})")
            if expected_rule and expected_rule not in rules:
                problems.append(f"{case.name}: no {expected_rule} among {sorted(rules)}")
            flagged = rules.get(expected_rule or "")
            if case.value_has and (flagged is None or case.value_has not in (flagged.value or "")):
                problems.append(f"{case.name}: {expected_rule} value lacks {case.value_has!r}")
            if case.outcome == "accepted" and any(f.severity != "info" for f in rules.values()):
                problems.append(f"{case.name}: accepted with findings {sorted(rules)}")
            stored = root / sub.location
            if landed[case.name].exists():
                problems.append(f"{case.name}: still in inbox/")
            if not stored.is_file() or sha(stored) != sha(original):
                problems.append(f"{case.name}: {sub.location} is not the file received, byte for byte")
                continue
            if not stored.name.endswith("__" + short_name(case.filename)):
                problems.append(f"{case.name}: stored as {stored.name}")
            if case.outcome == "rejected":
                if stored.parent != root / "rejected":
                    problems.append(f"{case.name}: rejected but stored in {sub.location}")
                reason = stored.with_name(stored.name + ".reason.txt")
                text = reason.read_text(encoding="utf-8") if reason.exists() else ""
                if not text.startswith("xlq did not accept this file") or f"[{expected_rule}]" not in text:
                    problems.append(f"{case.name}: reason file missing or without [{expected_rule}]")
            elif stored.parent != root / "archive" / str(case.period) / str(case.department):
                problems.append(f"{case.name}: accepted but stored in {sub.location}")
    return problems


# ---- xlq validate ----------------------------------------------------------------------------

def test_xlq_validate_judges_every_case_and_exits_1(corpus: Corpus, tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path / "ws")[0]
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "xlq.cli", "validate", "-w", str(workspace.root), "--json",
                           *(str(c.path) for c in corpus.cases)], capture_output=True, text=True, timeout=BUDGET)
    assert time.monotonic() - started < BUDGET
    assert done.returncode == 1, done.stderr
    judged = {Path(item["file"]).name: item for item in json.loads(done.stdout)}
    problems = []
    for case in corpus.cases:
        item = judged[case.path.name]
        outcome, rule = case.expected_validate
        rules = {f["rule"]: f for f in item["findings"]}
        if item["outcome"] != outcome:
            problems.append(f"{case.name}: {item['outcome']} {sorted(rules)}, expected {outcome}")
        if rule and rule not in rules:
            problems.append(f"{case.name}: no {rule} among {sorted(rules)}")
        elif rule and case.value_has and rule == case.rule and case.value_has not in (rules[rule]["value"] or ""):
            problems.append(f"{case.name}: {rule} value {rules[rule]['value']!r} lacks {case.value_has!r}")
    assert not problems, "\n".join(problems)
    assert "password" in judged["locked.xlsx"]["findings"][0]["message"].lower()
    assert ".xls" in judged["old return.xls"]["findings"][0]["message"]


# ---- xlq run, in its own process, memory measured ---------------------------------------------

RUN_AND_MEASURE = textwrap.dedent("""
    import json, resource, sys
    from xlq.cli import main
    code = main(["run", "-w", sys.argv[1]]) or main(["run", "-w", sys.argv[1]])
    print(json.dumps({"code": code, "self_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "children_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
""")


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in kilobytes on Linux")
def test_xlq_run_files_every_case_and_its_reader_stays_under_the_memory_limit(corpus: Corpus, tmp_path: Path) -> None:
    """`xlq run` twice, as a scheduler runs it: a zip cut short that is still young when the first
    run ends is left for the next one, which judges it at first sight (its ctime says no copy is
    running). Peak RSS is the kernel's for the finished processes: RUSAGE_CHILDREN is the readers."""
    workspace = make_workspace(tmp_path / "ws", settle_seconds=0.2, stall_minutes=0.01)[0]
    landed = drop_all(list(corpus.cases), workspace.root / "inbox", tmp_path / "staging")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", RUN_AND_MEASURE, str(workspace.root)], capture_output=True,
                          text=True, timeout=BUDGET)
    assert time.monotonic() - started < BUDGET
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert measured["code"] == 0
    problems = check_filed(workspace, corpus, landed)
    assert not problems, "\n".join(problems)
    assert 0 < measured["children_kb"] < DEFAULT_MEMORY_MB * 1024, f"reader peak {measured['children_kb'] // 1024} MB"
    assert measured["self_kb"] < DEFAULT_MEMORY_MB * 1024, f"pipeline peak {measured['self_kb'] // 1024} MB"
    print(f"peak RSS: reader {measured['children_kb'] // 1024} MB, pipeline {measured['self_kb'] // 1024} MB")


def test_a_zip_cut_short_long_ago_is_handed_on_at_first_sight_and_a_young_one_is_not(corpus: Corpus,
                                                                                    tmp_path: Path) -> None:
    def seen(path: Path) -> Candidate:
        info = path.stat()
        return Candidate(path, "inbox", None, info.st_size, info.st_mtime_ns)

    old, young = tmp_path / "old.xlsx", tmp_path / "young.xlsx"
    shutil.copyfile(corpus["truncated-zip"].path, old)
    wait_for(lambda: time.time() - old.stat().st_ctime > 1.0, 10, "the cut file to sit for a second")
    shutil.copyfile(corpus["truncated-zip"].path, young)
    os.utime(young, (time.time() - 3600, time.time() - 3600))  # a copy tool may keep the source's mtime
    assert Settler(settle=0.2, incomplete=1.0).ready(seen(old))
    assert not Settler(settle=0.2, incomplete=1.0).ready(seen(young))


# ---- the watcher, everything at once ------------------------------------------------------------

def test_the_watcher_takes_the_whole_corpus_at_once_and_goes_on_with_the_good_returns(
        corpus: Corpus, tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path / "ws")[0]
    inbox = workspace.root / "inbox"
    for department in ("LUT", "MSK"):
        target = inbox / department / f"{department}.xlsx"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(good_return(workspace, tmp_path, department), target)
    with Pipeline(workspace, today=TODAY) as pipeline:
        assert {r.outcome for r in pipeline.run_once(lambda r: None, wait=5).results} == {"accepted"}
    before = all_values(workspace)
    standing = {d: current_values(workspace, d) for d in ("LUT", "MSK")}

    outside = tmp_path / "outside" / "secret.xlsx"
    outside.parent.mkdir()
    outside.write_bytes(b"not yours")
    goods = {d: good_return(workspace, tmp_path, d, cells={**GOOD, "WAIT": {"Value": 20 + n}})
             for n, d in enumerate(("DENT", "BEDS"))}
    with Watcher(workspace, settle=0.3, batch=0.3, rescan=30, incomplete=1.0, today=TODAY) as watcher:
        started = time.monotonic()
        landed = drop_all(list(corpus.cases), inbox, tmp_path / "staging")
        for department, path in goods.items():
            (inbox / department).mkdir(exist_ok=True)
            shutil.copyfile(path, inbox / department / path.name)
        (inbox / "LUT" / "link.xlsx").symlink_to(outside)
        expected = len(corpus.filed) + len(goods)
        wait_for(lambda: len(watcher.results) >= expected, BUDGET, f"{expected} files handled")
        wait_for(lambda: not (workspace.root / STALE_MARKER).exists() and watcher.rebuilds >= 1, 30, "the rebuild")
        elapsed = time.monotonic() - started
        assert watcher.running and watcher._failure is None

        first = good_return(workspace, tmp_path, "DENT", "2023-05", name="same name.xlsx")
        shutil.copyfile(first, inbox / "DENT" / "same name.xlsx")
        wait_for(lambda: sum(Path(r.path).name == "same name.xlsx" for r in watcher.results) == 1, 30, "the first")
        second = good_return(workspace, tmp_path, "DENT", "2023-04", name="same name.xlsx")
        shutil.copyfile(second, inbox / "DENT" / "same name.xlsx")
        wait_for(lambda: sum(Path(r.path).name == "same name.xlsx" for r in watcher.results) == 2, 30, "the second")
        assert watcher.running
    assert elapsed < BUDGET

    assert sorted(r.outcome for r in watcher.results if Path(r.path).name in {p.name for p in goods.values()}) == \
        ["accepted", "accepted"]
    assert not any(r.outcome == "deferred" for r in watcher.results)
    problems = check_filed(workspace, corpus, landed)
    assert not problems, "\n".join(problems)
    assert (inbox / "LUT" / "link.xlsx").is_symlink() and outside.read_bytes() == b"not yours"
    same = sorted((workspace.root / "archive").rglob("*__same name.xlsx"))
    assert [p.parent.parent.name for p in same] == ["2023-04", "2023-05"] and len({p.name for p in same}) == 2

    after = all_values(workspace)
    assert before <= after, "a value stored before the hostile batch was lost or altered"
    assert {d: current_values(workspace, d) for d in ("LUT", "MSK")} == standing
    assert current_values(workspace, "DENT")["WAIT"].value == 20 and current_values(workspace, "BEDS")["WAIT"].value == 21

    shown = breakdown(workspace.master_path)
    assert (shown["DENT"]["WAIT"], shown["BEDS"]["WAIT"], shown["LUT"]["WAIT"]) == (20, 21, 17.5)
    assert_plain_text_only(workspace.master_path)


def breakdown(master: Path) -> dict[str, dict[str, object]]:
    """The By Department sheet as {department: {code: value}}, read from the written master."""
    with CalamineWorkbook.from_path(str(master)) as book:
        grid = book.get_sheet_by_name("By Department").to_python()
    header = next(i for i, row in enumerate(grid) if any(str(c).startswith("LUT") for c in row))
    columns = {str(c).split("\n")[0]: n for n, c in enumerate(grid[header]) if str(c)}
    return {dept: {str(row[0]): row[col] for row in grid[header + 1:] if row and row[0]}
            for dept, col in columns.items()}


def assert_plain_text_only(master: Path) -> None:
    """Dangerous text is in the master only as text: no formula, no link, no bidi trick, long text cut."""
    with zipfile.ZipFile(master) as archive:
        parts = {name: archive.read(name).decode("utf-8") for name in archive.namelist()
                 if name.endswith((".xml", ".rels", ".vml"))}
    everything = "\n".join(parts.values())
    for name, xml in parts.items():
        for formula in re.findall(r"<f[^>]*>(.*?)</f>", xml, re.S):
            assert not any(bad in formula for bad in ("evil", "cmd", "SUM(1+1)")), (name, formula)
        assert 'TargetMode="External"' not in xml, name
        assert not re.search(r"<hyperlink [^>]*r:id=", xml), name
    for key in ("HYPERLINK", "DDE", "AT", "PLUS", "URL"):
        assert escape_xml(DANGEROUS[key]) in everything, f"{key} text is not in the master"
    assert f"<t>{escape_xml(FORMULA_NAME)}</t>" in parts["xl/sharedStrings.xml"], "a file name is shown as text"
    assert "\u202e" not in everything and "\x07" not in everything and "_x0007_" not in everything
    assert "bell? escape? end" in everything and "invoice ?gpj.exe?" in everything
    assert LONG[-10:] not in everything, "a 40,000-character text reached the master uncut"
    assert re.search(r"L{500,} \[cut\]", everything)


def escape_xml(text: str) -> str:
    from xml.sax.saxutils import escape

    return escape(text)


# ---- authority -------------------------------------------------------------------------------------

def test_a_template_claiming_an_earlier_month_is_its_departments_correction_and_nobody_elses(tmp_path: Path) -> None:
    """Decided: a department may correct its own earlier month (stored as a correction and flagged
    in the master); its folder, not the metadata, says who it is (a future month is refused: see
    the corpus case meta-claims-future-period)."""
    workspace = make_workspace(tmp_path / "ws")[0]
    inbox = workspace.root / "inbox"
    for period in (EARLIER, PERIOD):
        target = inbox / "LUT" / f"LUT-{period}.xlsx"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(good_return(workspace, tmp_path, "LUT", period), target)
    with Pipeline(workspace, today=TODAY) as pipeline:
        assert [r.kind for r in pipeline.run_once(lambda r: None, wait=5).results] == ["new", "new"]
    template = tmp_path / f"template-LUT-{PERIOD}.xlsx"
    claim = {**GOOD, "INC": {"Value": 30}, "INC_LOW": {"Value": 28}}
    fill(template, inbox / "LUT" / "november again.xlsx", claim, meta={"period": EARLIER})
    fill(template, inbox / "LUT" / "november for msk.xlsx", claim, meta={"period": EARLIER, "department": "MSK"})
    with Pipeline(workspace, today=TODAY) as pipeline:
        results = {Path(r.path).name: r for r in pipeline.run_once(lambda r: None, wait=5).results}
    assert (results["november again.xlsx"].outcome, results["november again.xlsx"].kind) == ("accepted", "correction")
    assert results["november for msk.xlsx"].outcome == "rejected"
    assert current_values(workspace, "LUT", EARLIER)["INC"].value == 30
    assert current_values(workspace, "LUT", PERIOD)["INC"].value == 12
    assert current_values(workspace, "MSK", EARLIER) == {}


# ---- the environment ----------------------------------------------------------------------------

@pytest.fixture
def built(tmp_path: Path) -> Workspace:
    """A workspace with one accepted return and its master."""
    workspace = make_workspace(tmp_path / "ws")[0]
    target = workspace.root / "inbox" / "LUT" / "LUT.xlsx"
    target.parent.mkdir(parents=True)
    shutil.copyfile(good_return(workspace, tmp_path, "LUT"), target)
    with Pipeline(workspace, today=TODAY) as pipeline:
        pipeline.run_once(lambda r: None, wait=5)
    assert workspace.master_path.is_file()
    return workspace


def _immutable(path: Path, on: bool) -> bool:
    chattr = shutil.which("chattr")
    if chattr is None:
        return False
    return subprocess.run([chattr, "+i" if on else "-i", str(path)], capture_output=True).returncode == 0


@pytest.mark.parametrize("lock", ["immutable file", "directory in its place"])
def test_a_master_that_cannot_be_replaced_keeps_its_bytes_and_the_new_one_goes_beside_it(
        built: Workspace, lock: str, caplog) -> None:
    master = built.master_path
    if lock == "immutable file":
        before = master.read_bytes()
        if not _immutable(master, True):
            pytest.skip("chattr +i is not permitted here")
    else:
        master.unlink()
        master.mkdir()
        (master / "open elsewhere").write_bytes(b"x")
        before = None
    try:
        with caplog.at_level(logging.WARNING, logger="xlq"), Pipeline(built, today=TODAY) as pipeline:
            written = pipeline.rebuild()
        assert written != master and written.parent == master.parent and zipfile.is_zipfile(written)
        assert re.fullmatch(r"scorecard-\d{8}-\d{6}(-\d+)?\.xlsx", written.name)
        assert any("could not replace" in r.getMessage() for r in caplog.records)
        if before is not None:
            assert master.read_bytes() == before
        else:
            assert (master / "open elsewhere").read_bytes() == b"x"
        assert not [p for p in master.parent.iterdir() if p.name.startswith(".")], "a temporary file was left"
    finally:
        if lock == "immutable file":
            _immutable(master, False)
    if lock == "immutable file":
        with Pipeline(built, today=TODAY) as pipeline:
            assert pipeline.rebuild() == master


HOLD_THE_STORE = textwrap.dedent("""
    import sqlite3, sys, time
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    if sys.argv[2] == "until-told":
        sys.stdin.readline()
    else:
        time.sleep(float(sys.argv[2]))
    db.execute("ROLLBACK")
""")


def hold_store(workspace: Workspace, how: str) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_THE_STORE, str(workspace.store_path), how],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def test_a_store_held_by_another_process_is_waited_for_then_the_file_is_left_for_later(built: Workspace,
                                                                                      tmp_path: Path) -> None:
    inbox = built.root / "inbox" / "MSK"
    inbox.mkdir(parents=True)
    path = inbox / "msk.xlsx"
    shutil.copyfile(good_return(built, tmp_path, "MSK"), path)
    original = sha(path)
    holder = hold_store(built, "until-told")
    try:
        with Pipeline(built, today=TODAY, store_timeout=0.5) as pipeline:
            summary = pipeline.run_once(lambda r: None, wait=5)
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(10)
    (result,) = summary.results
    assert result.outcome == "deferred" and "in use by another process" in result.note
    assert summary.seconds >= 0.5 and path.exists() and sha(path) == original

    holder = hold_store(built, "0.6")
    try:
        with Pipeline(built, today=TODAY) as pipeline:
            (result,) = pipeline.run_once(lambda r: None, wait=5).results
    finally:
        holder.wait(10)
    assert result.outcome == "accepted" and not path.exists()
    assert current_values(built, "MSK")["INC"].value == 12


DISK_FULL = textwrap.dedent("""
    import datetime as dt, errno, resource, signal, sys
    from xlq.core.config import load_workspace
    from xlq.watch.pipeline import Pipeline
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    with Pipeline(load_workspace(sys.argv[1]), today=dt.date(2024, 1, 15)) as pipeline:
        pipeline.store.count_files()
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), int(sys.argv[2])))
        try:
            pipeline.rebuild()
        except Exception as exc:  # XlsxWriter wraps the OSError in its FileCreateError
            chain, cause = [exc], None
            while chain and cause is None:  # xlq's MasterUnwritable from XlsxWriter's FileCreateError from the OSError
                e = chain.pop()
                cause = e if isinstance(e, OSError) else None
                chain += [x for x in (*e.args, e.__cause__, e.__context__) if isinstance(x, BaseException)]
            print(type(exc).__name__, errno.errorcode.get(getattr(cause, "errno", None), "no errno"))
        else:
            print("written")
""")


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform != "linux", reason="RLIMIT_FSIZE and SIGXFSZ")
def test_a_disk_that_fills_while_the_master_is_written_leaves_the_previous_master_intact(built: Workspace) -> None:
    master = built.master_path
    before, inode = master.read_bytes(), master.stat().st_ino
    (built.root / STALE_MARKER).touch()
    done = subprocess.run([sys.executable, "-c", DISK_FULL, str(built.root), str(len(before) // 4)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().split()[-1] == "EFBIG", done.stdout
    assert master.read_bytes() == before
    beside = sorted(p.name for p in master.parent.iterdir())
    assert beside == sorted([master.name, built.review_path.name]), "a partial file was left beside it"  # issue 17
    assert (built.root / STALE_MARKER).exists(), "the master must still be known to be stale"
    with Pipeline(built, today=TODAY) as pipeline:
        summary = pipeline.run_once(lambda r: None, wait=1)
    assert summary.rebuilt and not (built.root / STALE_MARKER).exists() and master.stat().st_ino != inode


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform != "linux", reason="RLIMIT_FSIZE and SIGXFSZ")
def test_xlq_run_on_a_full_disk_says_so_in_one_line_and_keeps_the_master(built: Workspace) -> None:
    import resource
    import signal

    master = built.master_path
    before = master.read_bytes()
    (built.root / STALE_MARKER).touch()

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) // 4, len(before) // 4))

    done = subprocess.run([sys.executable, "-m", "xlq.cli", "run", "--workspace", str(built.root)],
                          capture_output=True, text=True, timeout=120, preexec_fn=small_disk)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("xlq: ") and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert master.read_bytes() == before
