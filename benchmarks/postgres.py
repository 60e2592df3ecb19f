"""The store on PostgreSQL beside SQLite: one `xlq run`, and several `xlq watch` sharing one inbox.

Usage (from the repository root, with PostgreSQL reachable and a role that may create databases):

    python benchmarks/postgres.py --sizes 1000 --server postgresql:///postgres --results benchmarks/RESULTS.md

For each N it builds the collection benchmarks/run.py builds (the same generator and files),
then, each in a fresh workspace with the N returns already in inbox/, measures wall time for:

1. SQLite, `xlq run` (one process, cold): read, validate, store, reconcile, write the master;
2. PostgreSQL (a fresh database), the same `xlq run`;
3. PostgreSQL, W `xlq watch` processes started together on the one inbox (W = 2 by default):
   from their start until every file is stored exactly once (counted in the store: N
   submissions, no open claim), inbox/ is empty and the master has been written after the
   last return (no stale marker).

The workspace is bound to its store before the clock starts (as `xlq init` + a first run would),
so the watchers do not race to name it. Results go between the `postgres` markers of
RESULTS.md, the notes around them kept.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # run.py beside this script: the same collection

from run import Bases, Plan, _env, _ok, catalogue_variant, measure, workspace_config, write_collection, xlq  # noqa: E402

from xlq.core.config import init_workspace, load_workspace  # noqa: E402
from xlq.store.db import Store  # noqa: E402
from xlq.watch.pipeline import Pipeline  # noqa: E402

MARK_START, MARK_END = "<!-- postgres:start -->", "<!-- postgres:end -->"


def _database(server: str) -> str:
    """A fresh database on `server` (its URL), for one measurement."""
    import psycopg  # optional: the `postgres` extra

    name = f"xlq_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\'')
    base, _, query = server.partition("?")
    scheme, _, rest = base.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def _workspace(root: Path, plan: Plan, files: list[Path], collection: Path, url: str | None) -> Path:
    if root.exists():
        shutil.rmtree(root)
    config = workspace_config(plan)
    if url:
        config = (config.replace("[store]\n", f'[store]\nurl = "{url}"\n', 1) if "[store]\n" in config
                  else config.rstrip() + f'\n\n[store]\nurl = "{url}"\n')
    init_workspace(root, config)
    if load_workspace(root).store_url != url:
        raise RuntimeError(f"{root}: the workspace does not name the store {url}")
    (root / "catalogue.toml").write_text(catalogue_variant(plan), encoding="utf-8")
    with Pipeline(load_workspace(root)) as pipeline:
        _ = pipeline.store  # made, migrated and bound to the workspace before the clock starts
    for path in files:
        target = root / "inbox" / path.relative_to(collection / "inbox")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, target)
    return root


def _watchers(root: Path, url: str, n: int, count: int, log: Path, timeout: float = 7200) -> float:
    """Seconds for `count` watchers to store all `n` files and write the master after them."""
    started = time.perf_counter()
    processes = []
    for k in range(count):
        out = (log.parent / f"{log.stem}-{k}.log").open("w", encoding="utf-8")
        processes.append((subprocess.Popen(xlq("watch", "--workspace", str(root)), stdout=out,
                                           stderr=subprocess.STDOUT, env=_env()), out))
    try:
        with Store(url) as store:
            while True:
                stored = store.rows("SELECT COUNT(*) FROM submissions")[0][0]
                open_claims = store.rows("SELECT COUNT(*) FROM claims WHERE state IN ('claimed', 'recorded')")[0][0]
                if (stored >= n and not open_claims and not any((root / "inbox").rglob("*.xlsx"))
                        and not (root / ".xlq-master-stale").exists() and (root / "outbox" / "scorecard.xlsx").exists()):
                    return time.perf_counter() - started
                if time.perf_counter() - started > timeout or any(p.poll() is not None for p, _ in processes):
                    raise RuntimeError(f"the watchers did not finish ({stored} of {n} stored); see {log.parent}")
                time.sleep(0.05)
    finally:
        for process, _ in processes:
            process.send_signal(signal.SIGTERM)
        for process, out in processes:
            process.wait(120)
            out.close()


def bench(n: int, work: Path, bases: Bases, server: str, watchers: int) -> list[str]:
    plan = Plan.for_size(n, bases.names)
    here = work / f"pg-n{n}"
    here.mkdir(parents=True, exist_ok=True)
    files, _ = write_collection(plan, bases, here / "collection")
    rows = []
    root = _workspace(here / "sqlite", plan, files, here / "collection", None)
    sqlite = _ok(measure(xlq("run", "--workspace", str(root)), here / "sqlite.log"))
    rows.append(f"| {n:,} | SQLite | 1 `xlq run` | {sqlite.seconds:.1f} s | {n / sqlite.seconds:.0f} |")
    url = _database(server)
    root = _workspace(here / "pg-run", plan, files, here / "collection", url)
    pg = _ok(measure(xlq("run", "--workspace", str(root)), here / "pg-run.log"))
    rows.append(f"| {n:,} | PostgreSQL | 1 `xlq run` | {pg.seconds:.1f} s | {n / pg.seconds:.0f} |")
    for count in sorted({1, watchers}):
        url = _database(server)
        root = _workspace(here / f"pg-watch{count}", plan, files, here / "collection", url)
        seconds = _watchers(root, url, n, count, here / f"pg-watch{count}.log")
        rows.append(f"| {n:,} | PostgreSQL | {count} `xlq watch` | {seconds:.1f} s | {n / seconds:.0f} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000", help="comma-separated N (default 1000)")
    parser.add_argument("--server", default=os.environ.get("XLQ_TEST_POSTGRES_URL", "postgresql:///postgres"),
                        help="a PostgreSQL URL whose role may create databases (one per measurement)")
    parser.add_argument("--watchers", type=int, default=2, help="watchers sharing the inbox (default 2)")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed after)")
    parser.add_argument("--results", type=Path, help="write the table into this markdown file (RESULTS.md)")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="xlq-bench-pg-"))
    rows = ["| N | store | processes | wall time | returns/s |", "|---|---|---|---|---|"]
    try:
        bases = Bases(work / "bases")
        for n in [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]:
            rows += bench(n, work, bases, args.server, args.watchers)
            print("\n".join(rows[-4:]), flush=True)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    text = "\n".join(rows)
    print(text)
    if args.results:
        old = args.results.read_text(encoding="utf-8")
        block = f"{MARK_START}\n{text}\n{MARK_END}"
        if MARK_START in old and MARK_END in old:
            new = old[:old.index(MARK_START)] + block + old[old.index(MARK_END) + len(MARK_END):]
        else:
            new = old.rstrip() + "\n\n## PostgreSQL\n\n" + block + "\n"
        args.results.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
