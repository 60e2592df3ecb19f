"""THE CHECKED-JOB FLOOR: the bare job (floor_job.py) plus only what issue 20 says may not be
traded and what a department is owed, done as cheaply as xlq knows how, on every core.

Every file passes xlq's pre-parse checks and is read by xlq's reader (`xlq.intake.reader.read_return`:
the hash, the sniff of the zip and of each sheet's XML, python-calamine, the rows), in worker
processes, one per core; each return that had findings gets its feedback copy
(`xlq.intake.feedback_book.write_feedback`), in the same processes; then the master is written by
replaying the XlsxWriter calls xlq made (floor_job.py's replay). Nothing else: no store, no
validation, no reconciling, no claims or file moves, and nothing read is sent back to a parent
(each worker answers with a count). Which returns get a copy, and what it says, is recorded
untimed from the workspace xlq filled (`record`), as the master's calls are.

So this floor is what xlq could take if everything it does besides the checks, the reading, the
copies and the writing were free, and its ratio to the bare job is the least a safe xlq can reach:
benchmarks/run.py prints it beside the N=1,000 target of 2.5x the bare job.

Usage:
    python benchmarks/floor_checked.py record WORKSPACE JOBS.pickle   # untimed: the copies xlq wrote
    python benchmarks/floor_checked.py INBOX_DIR JOBS.pickle CALLS.pickle OUT.xlsx  # timed
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

# beside this script: the same writing as the bare-job floor; its recorded calls name `Ref` as
# floor_job.py's `__main__.Ref`, found here when this script is `__main__`
from floor_job import Ref, replay  # noqa: F401


def record(workspace_root: Path, out: Path) -> int:
    """The feedback copies of the returns in the workspace's store, each from the file where xlq
    filed it: what `feedback_request` asks for, as `xlq.watch.filing.Filer.feedback_job` does, for
    each .xlsx or .xlsm file. Unlike the filer this does not skip a file judged unreadable (the
    benchmark's collection has none); the timed run says how many of the copies it wrote."""
    # imported here: the timed run must not pay for what only the recording needs
    from xlq.core.config import load_workspace
    from xlq.intake.feedback import feedback_request
    from xlq.store.db import Store

    workspace = load_workspace(workspace_root)
    jobs = []
    with Store(workspace.store_path) as store:
        found: dict[int, list] = {}
        for stored in store.findings():
            found.setdefault(stored.submission_id, []).append(stored.finding)
        for submission in store.submissions():
            source = workspace.root / submission.location
            request = feedback_request(workspace, submission, found.get(submission.id, []), source.name,
                                       store.count_given(submission.id))
            if request is not None and source.suffix.lower() in (".xlsx", ".xlsm") and source.exists():
                jobs.append((str(source), request.path.name, request.marks, request.title, request.lines))
    out.write_bytes(pickle.dumps(jobs, protocol=pickle.HIGHEST_PROTOCOL))
    print(f"{len(jobs)} feedback copies recorded")
    return 0


def _read(path: str) -> int:
    from xlq.intake.reader import read_return

    return len(read_return(path).rows)


def _copy(job: tuple, folder: str) -> int:
    from xlq.intake.feedback_book import write_feedback

    source, name, marks, title, lines = job
    try:
        write_feedback(source, os.path.join(folder, name), marks, title, lines)
    except Exception:  # as xlq's workers: a copy that cannot be made is not made
        return 0
    return 1


def _warm() -> None:
    import xlq.intake.feedback_book  # noqa: F401  (a worker's imports, as xlq's workers pay them)
    import xlq.intake.reader  # noqa: F401


def main(inbox: Path, jobs_file: Path, calls_file: Path, out: Path) -> int:
    gc.disable()  # as floor_job.py: the collector's walks are work a tool can avoid
    files = sorted(str(p) for p in inbox.rglob("*.xlsx"))
    jobs = pickle.loads(jobs_file.read_bytes())
    calls = pickle.loads(calls_file.read_bytes())
    cores = os.cpu_count() or 1
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder, ProcessPoolExecutor(
            cores, mp_context=multiprocessing.get_context("spawn"), initializer=_warm) as pool:
        chunk = max(1, len(files) // (cores * 8))
        reads = pool.map(_read, files, chunksize=chunk)
        copies = pool.map(_copy, jobs, [folder] * len(jobs), chunksize=max(1, chunk // 2))
        rows, written = sum(reads), sum(copies)
    checked = time.perf_counter() - started
    started = time.perf_counter()
    replay(calls, out)
    write = time.perf_counter() - started
    print(f"{len(files)} workbooks checked and read ({rows} rows) and {written} of {len(jobs)} feedback copies written "
          f"on {cores} core(s); {len(calls)} XlsxWriter calls replayed into {out.name}")
    # benchmarks/run.py reads both shares
    print(f"checking, reading and copying {checked:.3f} s, writing {write:.3f} s")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "record":
        sys.exit(record(Path(sys.argv[2]), Path(sys.argv[3])))
    if len(sys.argv) != 5:
        sys.exit(__doc__.strip().split("Usage:")[1])
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])))
