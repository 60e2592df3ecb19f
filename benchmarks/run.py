"""xlq against the script a user would otherwise write, and against the floor, as whole processes.

Usage (from the repository root, with the environment xlq is installed in):

    python benchmarks/run.py                          # N = 10, 100, 1000
    python benchmarks/run.py --sizes 10,100,1000,10000 --results benchmarks/RESULTS.md
    python benchmarks/run.py --sizes 10 --work /tmp/xlq-bench --keep

For each N it builds a realistic collection of N filled returns, then times, each as its own
process (wall time; peak RSS from `wait4`, the larger of the process and its waited children):

1. `xlq run` cold over the N returns: read (in the isolated worker), validate, store,
   reconcile and write the master;
2. `xlq run` again with nothing new (median of 5, `--repeat`: ~0.13 s of Python start-up and
   imports that this shared host stretches to 0.2-0.28 s in one run in ten or so);
3. drop to master (median of 3): `xlq watch` runs on the workspace holding those N returns; a
   new return is renamed into inbox/ (fresh mtime, so the watcher's settle time applies, as for
   a real save) and the clock stops when outbox/scorecard.xlsx changes; then a second and a
   third, each once the rebuild before it is over;
4. `xlq validate one.xlsx` (median of 5);
5. the baseline (benchmarks/baseline_pandas.py) and the two floors over the same N files: the
   read floor (benchmarks/floor_calamine.py: python-calamine reading every cell) and the
   bare-job floor (benchmarks/floor_job.py: the same reading plus XlsxWriter writing a master
   with exactly the sheets, cells, formats, sparklines, charts and links of xlq's master for
   those N returns, replayed from the calls xlq made, recorded untimed after the cold run). The
   bare job's writing alone is reported too: no rebuild of that master can take less, so the
   drop to master is shown beside its floor (that writing plus the watcher's deliberate waits),
   and the cold run's CPU (workers included) beside the CPU time the N=1,000 targets leave;
6. the checked-job floor (benchmarks/floor_checked.py): the bare job plus only what may not be
   traded or left out, on every core: xlq's pre-parse checks and reader for every file, and the
   feedback copy of each return that had findings (which ones, and what they say, recorded
   untimed after the cold run); no store, no validation, no reconciling, no file handling. Its
   ratio to the bare job is the least a safe xlq can reach, printed beside the 2.5x target.

The collection. Returns are the real templates (`xlq.template.workbook.write_template`) filled the way
`xlq demo` fills them (`xlq.demo.department_entries` splits the seed trust's figures across
its seven departments, `fill_template` types them in with openpyxl). N = D departments x M
months needs far more departments than the sample trust has, so department i plays sample
role i mod 7 (LUT, MSK, ICASH, DENT, BEDS, NORF, CORP) and is called LUT, LUT_001, LUT_002 ...;
the generated catalogue is the default one with each `reported_by` code widened to every
department of that role (`central = "CORP"` stays the first CORP). D is the smallest multiple
of 7 that fits N into 24 months (two years: the store's SPC history); months run up to
2025-09 (all with the catalogue's current indicator set) and the last month is the one
still being collected (partly returned). One base workbook is filled per role and seed month
(Dec-2022 to Dec-2023, in the current layout; a row the seed left blank that month takes its
nearest month's figure); each return is a base workbook with its identity (department,
period, header text) rewritten in the sheet XML and re-zipped, so a department sends the
figures its role sent in some seed month, and months follow the seed's sequence. Every file
is what a department would send and passes `xlq validate`; some carry the warnings and the
one blank row (COMPLAINTS-DAYS, never given in the seed) that real data has.

The benchmark is not a test: CI runs it at N=10 only to prove it still works
(tests/test_benchmarks.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import io
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from xlq.core.catalogue import DEFAULT_CATALOGUE, load_catalogue
from xlq.core.config import SAMPLE_CONFIG, init_workspace, load_workspace
from xlq.core.months import month_label, months_between, shift_period
from xlq.demo import Figure, department_entries, fill_template, load_figures

HERE = Path(__file__).resolve().parent
ROLES = ("LUT", "MSK", "ICASH", "DENT", "BEDS", "NORF", "CORP")
SLOTS = tuple(months_between("2022-12", "2023-12"))
LAYOUT = "2023-12"
END = "2025-09"
MAX_MONTHS = 24
ORGANISATION = "Cambridgeshire Community Services NHS Trust"
WATCH_DEADLINE = 120.0
MARK_START, MARK_END = "<!-- results:start -->", "<!-- results:end -->"
TARGETS = ("N=1,000: xlq end to end <= 2.5x the bare-job floor and >= 5x faster than the baseline; N=10,000: drop to "
           "master < 5 s and cold-run peak memory < 300 MB; nothing new < 0.2 s; validate one return < 0.25 s")


@dataclass(frozen=True)
class Plan:
    """N returns as D departments x M months, the last month only partly returned."""

    n: int
    departments: tuple[tuple[str, str, str], ...]  # (code, name, role)
    periods: tuple[str, ...]

    @classmethod
    def for_size(cls, n: int, names: dict[str, str]) -> Plan:
        d = len(ROLES) * max(1, math.ceil(n / (len(ROLES) * MAX_MONTHS)))
        m = math.ceil(n / d)
        depts = []
        for i in range(d):
            role, copy = ROLES[i % len(ROLES)], i // len(ROLES)
            code = role if copy == 0 else f"{role}_{copy:03d}"
            depts.append((code, names[role] + (f" {copy}" if copy else ""), role))
        return cls(n, tuple(depts), tuple(months_between(shift_period(END, 1 - m), END)))

    def returns(self) -> list[tuple[int, str, str, str, str]]:
        """(index, code, role, period, slot) month by month; the first N, plus one more to drop."""
        out = []
        for m, period in enumerate(self.periods + (shift_period(END, 1),)):
            for k, (code, _, role) in enumerate(self.departments):
                out.append((len(out), code, role, period, SLOTS[(m + k // len(ROLES)) % len(SLOTS)]))
        return out[: self.n + 1]

    @property
    def shape(self) -> str:
        return f"{len(self.departments)} x {len(self.periods)}"


# -- the collection ------------------------------------------------------------------------------

class Bases:
    """One filled return per (role, seed month), made on first use (and kept in `folder`) and
    held as zip members to rewrite per department."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        sample = folder / "sample"
        if not (sample / "xlq.toml").exists():
            init_workspace(sample, SAMPLE_CONFIG.replace('# current = "2023-12"', 'current = "2023-12"'))
        self.workspace = load_workspace(sample)
        self.names = {d.code: d.name for d in self.workspace.departments}
        self.members: dict[tuple[str, str], list[tuple[zipfile.ZipInfo, bytes]]] = {}
        self.parts: dict[tuple[str, str], dict[str, str]] = {}
        self._catalogue = None
        self._entries: dict[str, dict] = {}

    def _load(self, role: str, slot: str) -> None:
        path = self.folder / slot / f"{role}.xlsx"
        if not path.exists():
            from xlq.template.workbook import write_template

            workspace = self.workspace
            if self._catalogue is None:
                self._catalogue = load_catalogue(workspace.catalogue_path, workspace.department_codes)
            if slot not in self._entries:
                self._entries[slot] = department_entries(self._catalogue, workspace, _figures(slot), LAYOUT)
            template = self.folder / "templates" / f"{role}.xlsx"
            if not template.exists():
                write_template(self._catalogue, workspace, role, LAYOUT, template)
            fill_template(template, path, self._entries[slot][role], prepared_by=f"{self.names[role]} service manager")
        with zipfile.ZipFile(path) as archive:
            self.members[(role, slot)] = [(info, archive.read(info)) for info in archive.infolist()]
            self.parts[(role, slot)] = _sheet_parts(archive)

    def workbook(self, role: str, slot: str, code: str, period: str) -> bytes:
        """The base workbook as `code` sends it for `period`: identity and header text rewritten."""
        if (role, slot) not in self.members:
            self._load(role, slot)
        parts = self.parts[(role, slot)]
        text_swaps = [(f"({role})", f"({code})"), (f"inbox/{role}/", f"inbox/{code}/"), (f" - {role} - ", f" - {code} - "),
                      (month_label(LAYOUT), month_label(period))]
        meta_swaps = [(f"<t>{role}</t>", f"<t>{code}</t>"), (f"<t>{LAYOUT}</t>", f"<t>{period}</t>")]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
            for info, data in self.members[(role, slot)]:
                swaps = (meta_swaps if info.filename == parts.get("xlq_meta")
                         else text_swaps if info.filename in (parts.get("Return"), parts.get("Instructions"),
                                                               "docProps/core.xml") else ())
                if swaps:
                    text = data.decode("utf-8")
                    for old, new in swaps:
                        text = text.replace(old, new)
                    data = text.encode("utf-8")
                out.writestr(info.filename, data, zipfile.ZIP_DEFLATED)
        return buffer.getvalue()


def _figures(slot: str) -> dict:
    """The seed's figures for `slot`, filed under LAYOUT (every generated month has the
    current layout). A row the seed left blank that month takes its nearest month's figure,
    so the collection is mostly clean."""
    figures = load_figures()
    by_code: dict[str, list[str]] = {}
    for (code, period), figure in figures.items():
        if figure != Figure():
            by_code.setdefault(code, []).append(period)
    out = {}
    for code, periods in by_code.items():
        nearest = min(periods, key=lambda p: abs(_index(p) - _index(slot)))
        out[(code, LAYOUT)] = figures[(code, slot if slot in periods else nearest)]
    return out


def _index(period: str) -> int:
    return int(period[:4]) * 12 + int(period[5:]) - 1


def _sheet_parts(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> its XML part, from workbook.xml and its relationships."""
    book = archive.read("xl/workbook.xml").decode()
    rels = archive.read("xl/_rels/workbook.xml.rels").decode()
    targets = {}
    for element in re.findall(r"<Relationship\b[^>]*>", rels):
        rid, target = re.search(r'Id="([^"]+)"', element), re.search(r'Target="([^"]+)"', element)
        if rid and target:
            targets[rid[1]] = target[1].lstrip("/") if target[1].startswith("/") else "xl/" + target[1]
    return {name: targets.get(rid, "") for name, rid in re.findall(r'<sheet [^>]*?name="([^"]+)"[^>]*?r:id="([^"]+)"', book)}


def workspace_config(plan: Plan) -> str:
    lines = ["# Generated by benchmarks/run.py", "", "[organisation]", f'name = "{ORGANISATION}"', "",
             "[calendar]", "due_day = 10", f'current = "{plan.periods[-1]}"', ""]
    for code, name, _ in plan.departments:
        lines += ["[[department]]", f'code = "{code}"', f'name = "{name}"', ""]
    return "\n".join(lines)


def catalogue_variant(plan: Plan) -> str:
    """The default catalogue with each sample code in `reported_by` widened to its role's departments."""
    by_role: dict[str, list[str]] = {}
    for code, _, role in plan.departments:
        by_role.setdefault(role, []).append(code)

    def widen(match: re.Match[str]) -> str:
        codes = [c for role in re.findall(r'"([^"]+)"', match.group(1)) for c in by_role.get(role, [])]
        return "reported_by = [" + ", ".join(f'"{c}"' for c in codes) + "]"

    return re.sub(r"^reported_by = \[(.*?)\]$", widen, DEFAULT_CATALOGUE.read_text(encoding="utf-8"), flags=re.M)


def write_collection(plan: Plan, bases: Bases, folder: Path) -> tuple[list[Path], Path]:
    """The N returns under folder/inbox/<CODE>/ (mtimes in the past, in arrival order) and
    the one to drop while watching, under folder/drop/."""
    if folder.exists():
        shutil.rmtree(folder)
    items = plan.returns()
    written = []
    start = time.time() - len(items) - 3600
    for index, code, role, period, slot in items:
        last = index == plan.n
        if last and period > plan.periods[-1]:  # every department has returned: a corrected resubmission
            _, code, role, period, slot = items[index - 1]
            slot = SLOTS[(SLOTS.index(slot) + 1) % len(SLOTS)]
        path = folder / ("drop" if last else "inbox") / code / f"{code} return {period}.xlsx"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bases.workbook(role, slot, code, period))
        os.utime(path, (start + index, start + index))
        written.append(path)
    return written[:-1], written[-1]


# -- measuring -----------------------------------------------------------------------------------

@dataclass
class Measured:
    seconds: float
    rss_mb: float
    code: int
    output: str
    cpu: float = 0.0
    """CPU seconds, user and system, of the process and every child it waited for (the workers)."""


TIME = Path("/usr/bin/time")


def _timed(cmd: list[str], rss_file: Path) -> list[str]:
    """GNU time reports the peak RSS of the command (and the children it waited for) alone; a
    child's own `wait4` figure would start from this (much larger) process's, inherited at exec."""
    return [str(TIME), "-f", "%M", "-o", str(rss_file), *cmd] if TIME.exists() else cmd


def measure(cmd: list[str], log: Path, timeout: float = 3600) -> Measured:
    """Run `cmd` to completion: wall time and peak RSS."""
    rss_file = log.with_suffix(".rss")
    with log.open("w+", encoding="utf-8") as out:
        started = time.perf_counter()
        process = subprocess.Popen(_timed(cmd, rss_file), stdout=out, stderr=subprocess.STDOUT, env=_env())
        code, rss, cpu = _wait(process, timeout, rss_file)
        seconds = time.perf_counter() - started
        out.seek(0)
        return Measured(seconds, rss, code, out.read(), cpu)


def _wait(process: subprocess.Popen, timeout: float, rss_file: Path) -> tuple[int, float, float]:
    """Exit status, peak RSS (MB) and CPU seconds (a terminated child's usage includes what its
    own waited-for children used: xlq's reader and feedback workers)."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            try:
                kilobytes = float(rss_file.read_text().split()[-1])
            except (OSError, ValueError, IndexError):
                kilobytes = usage.ru_maxrss
            return process.returncode, kilobytes / 1024, usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError(f"{process.args} took longer than {timeout:g} s")
        time.sleep(0.002)


def _command_pid(process: subprocess.Popen) -> int:
    """The pid of the measured command itself (GNU time's child, when it is wrapped)."""
    if not TIME.exists():
        return process.pid
    path = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    for _ in range(500):
        children = path.read_text().split() if path.exists() else []
        if children:
            return int(children[0])
        time.sleep(0.01)
    raise RuntimeError("cannot find the process started by /usr/bin/time")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed xlq runs from compiled bytecode, not from source
    env["PYTHONUNBUFFERED"] = "1"
    return env


def xlq(*args: str) -> list[str]:
    return [sys.executable, "-m", "xlq.cli", *args]


DROPS = 3
"""Drops timed per size (the median is reported): one drop's latency varied by ~1 s from one
minute to the next on the benchmark's host, more than the changes it is meant to show."""


def drop_to_master(root: Path, drop: Path, log: Path, times: int = DROPS) -> tuple[list[float], float]:
    """Seconds from renaming a new return into inbox/ to the rewritten master, with `xlq watch`
    running, for each of `times` drops in turn; and the watcher's peak RSS. Each drop is `drop`
    with its own zip comment: other bytes (not a duplicate), the same figures, so the same work."""
    inbox_dir = root / "inbox" / drop.parent.name
    inbox_dir.mkdir(parents=True, exist_ok=True)
    master = root / "outbox" / "scorecard.xlsx"
    rss_file = log.with_suffix(".rss")
    latencies: list[float] = []
    with log.open("w+", encoding="utf-8") as out:
        process = subprocess.Popen(_timed(xlq("watch", "--workspace", str(root)), rss_file), stdout=out,
                                   stderr=subprocess.STDOUT, env=_env())
        try:
            deadline = time.monotonic() + WATCH_DEADLINE
            while "watching" not in log.read_text(encoding="utf-8"):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"xlq watch did not start: {log.read_text(encoding='utf-8')[-2000:]}")
                time.sleep(0.01)
            time.sleep(0.2)  # let the start-up rescan finish: it finds nothing
            for n in range(times):
                before = master.stat().st_mtime_ns
                rebuilt = log.read_text(encoding="utf-8").count("master rebuilt")
                staged = root / ".bench-drop.tmp"
                staged.write_bytes(drop.read_bytes())  # a fresh file, as a save or a copy writes it
                with zipfile.ZipFile(staged, "a") as package:
                    package.comment = f"benchmark drop {n + 1}".encode()
                started = time.perf_counter()
                os.rename(staged, inbox_dir / f"{drop.stem} ({n + 1}){drop.suffix}")
                while not master.exists() or master.stat().st_mtime_ns == before:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the master was not rebuilt: {log.read_text(encoding='utf-8')[-2000:]}")
                    time.sleep(0.005)
                latencies.append(time.perf_counter() - started)
                # the next drop waits until this rebuild is over (its review workbook follows the master)
                while log.read_text(encoding="utf-8").count("master rebuilt") == rebuilt:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the rebuild did not finish: {log.read_text(encoding='utf-8')[-2000:]}")
                    time.sleep(0.01)
        finally:
            os.kill(_command_pid(process), signal.SIGTERM)
            # An idle watcher notices SIGTERM only when an event or its next rescan (60 s) wakes
            # it; an Office lock-file name is an event xlq ignores.
            waker = inbox_dir / "~$bench-stop.xlsx"
            waker.write_bytes(b"")
            _, rss, _ = _wait(process, 120, rss_file)
            waker.unlink(missing_ok=True)
    return latencies, rss


@dataclass
class Row:
    n: int
    shape: str = ""
    generate: float = 0.0
    cold: Measured | None = None
    again: float = 0.0
    drop: float = 0.0
    """The median of `drops`."""
    drops: list[float] = field(default_factory=list)
    watch_rss: float = 0.0
    validate: float = 0.0
    baseline: Measured | None = None
    floor: Measured | None = None
    job: Measured | None = None
    checked: Measured | None = None
    """The checked-job floor (benchmarks/floor_checked.py)."""
    waits: float = 0.0
    summary: str = ""
    notes: list[str] = field(default_factory=list)


def bench(n: int, work: Path, bases: Bases, *, repeat: int = 5) -> Row:
    plan = Plan.for_size(n, bases.names)
    row = Row(n, plan.shape)
    here = work / f"n{n}"
    here.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    files, drop = write_collection(plan, bases, here / "collection")
    row.generate = time.perf_counter() - started

    root = here / "workspace"
    if root.exists():
        shutil.rmtree(root)
    init_workspace(root, workspace_config(plan))
    (root / "catalogue.toml").write_text(catalogue_variant(plan), encoding="utf-8")
    for path in files:
        target = root / "inbox" / path.relative_to(here / "collection" / "inbox")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, target)

    row.cold = _ok(measure(xlq("run", "--workspace", str(root)), here / "run-cold.log"))
    row.summary = row.cold.output.strip().splitlines()[-1] if row.cold.output.strip() else ""
    calls = here / "master-calls.pickle"  # untimed: what the bare job must write, as xlq wrote it
    _ok(measure([sys.executable, str(HERE / "floor_job.py"), "record", str(root), str(calls)], here / "record.log"))
    copies = here / "feedback-jobs.pickle"  # untimed: the feedback copies the checked job must write
    _ok(measure([sys.executable, str(HERE / "floor_checked.py"), "record", str(root), str(copies)],
                here / "record-feedback.log"))
    left = [p for p in (root / "inbox").rglob("*.xlsx")]
    if left:
        row.notes.append(f"{len(left)} file(s) left in inbox/ after the cold run")
    row.again = statistics.median(_ok(measure(xlq("run", "--workspace", str(root)), here / "run-again.log")).seconds
                                  for _ in range(repeat))
    row.drops, row.watch_rss = drop_to_master(root, drop, here / "watch.log")
    row.drop = statistics.median(row.drops)
    settings = load_workspace(root).watch
    row.waits = settings.settle_seconds + settings.batch_seconds  # a drop waits both on purpose
    one = files[len(files) // 2]
    row.validate = statistics.median(
        _ok(measure(xlq("validate", "--workspace", str(root), str(one)), here / "validate.log"), (0, 1)).seconds
        for _ in range(repeat))
    inbox = here / "collection" / "inbox"
    row.baseline = _ok(measure([sys.executable, str(HERE / "baseline_pandas.py"), str(inbox), str(here / "baseline.xlsx")],
                               here / "baseline.log"))
    row.floor = _ok(measure([sys.executable, str(HERE / "floor_calamine.py"), str(inbox)], here / "floor.log"))
    row.job = _ok(measure([sys.executable, str(HERE / "floor_job.py"), str(inbox), str(calls), str(here / "floor-job.xlsx")],
                          here / "floor-job.log"))
    row.checked = _ok(measure([sys.executable, str(HERE / "floor_checked.py"), str(inbox), str(copies), str(calls),
                               str(here / "floor-checked.xlsx")], here / "floor-checked.log"))
    return row


def job_writing(job: Measured) -> float:
    """The bare job's writing alone (floor_job.py prints it): what XlsxWriter needs for this
    master, the floor of every rebuild of it, a drop's included."""
    found = re.search(r"writing ([0-9.]+) s", job.output)
    if found is None:
        raise RuntimeError(f"floor_job.py did not say how long its writing took:\n{job.output[-2000:]}")
    return float(found.group(1))


def _ok(result: Measured, codes: tuple[int, ...] = (0,)) -> Measured:
    if result.code not in codes:
        raise RuntimeError(f"exit status {result.code}:\n{result.output[-3000:]}")
    return result


# -- reporting -----------------------------------------------------------------------------------

def table(rows: list[Row]) -> str:
    head = ("| N | departments x months | xlq run (cold) | its CPU | baseline (pandas) | read floor (calamine) | bare-job floor "
            "(read + write) | of which writing | checked-job floor | its CPU | checked job / bare job | xlq vs baseline "
            "| xlq / bare job | xlq / read floor | nothing new "
            "| drop to master | validate one | peak RSS: xlq run | xlq watch | baseline | bare job |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        assert r.cold and r.baseline and r.floor and r.job and r.checked
        lines.append(
            f"| {r.n:,} | {r.shape} | {r.cold.seconds:.2f} s | {r.cold.cpu:.1f} s | {r.baseline.seconds:.2f} s "
            f"| {r.floor.seconds:.2f} s "
            f"| {r.job.seconds:.2f} s | {job_writing(r.job):.2f} s | {r.checked.seconds:.2f} s | {r.checked.cpu:.1f} s "
            f"| {r.checked.seconds / r.job.seconds:.2f}x | {r.baseline.seconds / r.cold.seconds:.1f}x faster "
            f"| {r.cold.seconds / r.job.seconds:.2f}x | {r.cold.seconds / r.floor.seconds:.2f}x "
            f"| {r.again:.2f} s | {r.drop:.2f} s | {r.validate:.2f} s | {r.cold.rss_mb:.0f} MB | {r.watch_rss:.0f} MB "
            f"| {r.baseline.rss_mb:.0f} MB | {r.job.rss_mb:.0f} MB |")
    return "\n".join(lines)


def verdicts(rows: list[Row]) -> list[str]:
    """Met or missed for each target of issue 20; a size that was not run says so."""
    by_n = {r.n: r for r in rows}
    out = []

    def judge(name: str, ok: bool | None, shown: str) -> None:
        out.append(f"- {'not measured' if ok is None else 'met' if ok else 'MISSED'}: {name} ({shown})")

    ref = by_n.get(1000)
    if ref is not None and ref.cold and ref.baseline and ref.job:
        allowed = min(2.5 * ref.job.seconds, ref.baseline.seconds / 5)  # the wall time both targets allow
        cores = os.cpu_count() or 1
        # the why, when missed: the CPU xlq spent against what that wall time holds on every core
        budget = (f"; xlq used {ref.cold.cpu:.1f} s of CPU, workers included, where both targets allow "
                  f"{allowed:.2f} s of wall time, {allowed * cores:.1f} CPU-s on {cores} core(s) kept busy throughout")
        if ref.checked:  # the least a safe xlq can reach: the checks, the reading, the copies and the writing alone
            budget += (f"; the checked-job floor alone took {ref.checked.seconds:.2f} s, "
                       f"{ref.checked.seconds / ref.job.seconds:.2f}x the bare job, and {ref.checked.cpu:.1f} CPU-s, "
                       f"{ref.checked.cpu / (allowed * cores):.0%} of what the targets allow, before anything is "
                       f"validated, stored or reconciled")
        why = budget if ref.cold.seconds > allowed else ""  # said once, on the first line
        judge("xlq end to end <= 2.5x the bare-job floor at N=1,000", ref.cold.seconds <= 2.5 * ref.job.seconds,
              f"{ref.cold.seconds / ref.job.seconds:.2f}x: {ref.cold.seconds:.2f} s against {ref.job.seconds:.2f} s"
              + why)
        judge("xlq >= 5x faster than the baseline at N=1,000", ref.baseline.seconds >= 5 * ref.cold.seconds,
              f"{ref.baseline.seconds / ref.cold.seconds:.1f}x: {ref.cold.seconds:.2f} s against "
              f"{ref.baseline.seconds:.2f} s" + ("; the CPU it allows: as on the line above"
                                                  if why and ref.baseline.seconds < 5 * ref.cold.seconds else ""))
    else:
        judge("the N=1,000 ratios", None, "run with --sizes including 1000")
    big = by_n.get(10000)
    if big is not None and big.cold:
        shown = f"median {big.drop:.2f} s of {', '.join(f'{d:.2f}' for d in big.drops)} s"
        if big.job:  # what no rebuild can go under: the watcher's deliberate waits and XlsxWriter's writing
            writing = job_writing(big.job)
            shown += (f"; its floor: the watcher's waits {big.waits:.2f} s + XlsxWriter writing this master alone "
                      f"{writing:.2f} s = {big.waits + writing:.2f} s, before the return is read or anything reconciled")
        judge("drop to master < 5 s at N=10,000", big.drop < 5, shown)
        judge("cold run peak memory < 300 MB at N=10,000", big.cold.rss_mb < 300, f"{big.cold.rss_mb:.0f} MB")
    else:
        judge("the N=10,000 targets", None, "run with --sizes including 10000")
    worst = max(rows, key=lambda r: r.again)
    judge("nothing new < 0.2 s", worst.again < 0.2, f"worst {worst.again:.2f} s at N={worst.n:,}")
    slow = max(rows, key=lambda r: r.validate)
    judge("xlq validate one.xlsx < 0.25 s", slow.validate < 0.25, f"worst {slow.validate:.2f} s at N={slow.n:,}")
    return out


def machine() -> list[str]:
    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    memory = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.strip("\n") if shutil.which("free") else "?"
    versions = ", ".join(f"{name} {_version(name)}" for name in
                         ("xlq", "openpyxl", "XlsxWriter", "pandas", "python-calamine", "watchdog", "defusedxml"))
    return [f"- CPU: {cpu}; nproc {os.cpu_count()}; load average (1, 5, 15 min) at the start {_load(START_LOAD)}, "
            f"at the end {_load(_loadavg())} (other engineers' processes share the machine)",
            f"- {platform.platform()}",
            f"- Python {platform.python_version()}; {versions}", "- free -h:", "", "```", memory, "```"]


def _loadavg() -> tuple[float, ...]:
    return os.getloadavg() if hasattr(os, "getloadavg") else ()


def _load(values: tuple[float, ...]) -> str:
    return ", ".join(f"{x:.2f}" for x in values) or "?"


START_LOAD = _loadavg()


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def report(rows: list[Row]) -> str:
    parts = [f"Measured {dt.datetime.now():%Y-%m-%d %H:%M} by `python benchmarks/run.py --sizes "
             f"{','.join(str(r.n) for r in rows)}`. Wall times of whole processes (Python start-up included); "
             "peak RSS (GNU time's %M) is the largest of the process and the children it waited for "
             "(each of xlq's reader and feedback workers on its own, not their sum).", "",
             table(rows), "", "Targets: " + TARGETS, "", *verdicts(rows), "", "Machine:", "", *machine(), ""]
    for r in rows:
        parts.append(f"- N={r.n:,}: generated in {r.generate:.1f} s; `xlq run`: {r.summary}"
                     + "".join(f"; {note}" for note in r.notes))
    return "\n".join(parts)


def write_results(path: Path, text: str) -> None:
    """Replace the measured block of RESULTS.md, keeping the notes written around it."""
    block = f"{MARK_START}\n{text}\n{MARK_END}"
    old = path.read_text(encoding="utf-8") if path.exists() else f"# Benchmark results\n\n{MARK_START}\n{MARK_END}\n"
    if MARK_START in old and MARK_END in old:
        new = old[:old.index(MARK_START)] + block + old[old.index(MARK_END) + len(MARK_END):]
    else:
        new = old.rstrip() + "\n\n" + block + "\n"
    path.write_text(new, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000", help="comma-separated N (default 10,100,1000)")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed after)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument("--results", type=Path, help="write the table into this markdown file (RESULTS.md)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="runs of `xlq run` with nothing new, and of `xlq validate`, to take the median of")
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    work = args.work or Path(tempfile.mkdtemp(prefix="xlq-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        started = time.perf_counter()
        bases = Bases(work / "bases")
        print(f"base workbooks ready in {time.perf_counter() - started:.1f} s ({work})", flush=True)
        for n in sizes:
            rows.append(bench(n, work, bases, repeat=args.repeat))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    text = report(rows)
    print("\n" + text)
    if args.results:
        write_results(args.results, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
