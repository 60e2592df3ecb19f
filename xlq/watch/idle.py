"""Whether `xlq run` has anything to do, answered from the folders alone.

A scheduler calls `xlq run` every few minutes and most calls find nothing new. The pipeline
brings in the reader pool, validation, reconciliation and the master writer, about a third of
the command's start-up; this check needs only a folder listing. It says "idle" only in the
one state where the pipeline would do nothing either: no staged file left to finish
(recovery), no file in inbox/ that may be a return (settled or still arriving), and a master
that holds everything the store holds. Any other state goes to the pipeline, unchanged.

The pipeline also removes temporary masters a killed writer left on start. Every rebuild runs
while the master is stale (a store write sets the marker first and the rebuild removes it
last; or there is no master yet), so a left-over comes with a stale master: not idle.
"""

from __future__ import annotations

from xlq.core.config import Workspace
from xlq.watch.claim import STAGING
from xlq.watch.inbox import InboxScanner
from xlq.watch.lock import WorkspaceLock

STALE_MARKER = ".xlq-master-stale"


def master_stale(workspace: Workspace) -> bool:
    """The master misses something the store holds (the marker is set before each store
    write and removed once the master is rewritten), or does not exist yet."""
    return (workspace.root / STALE_MARKER).exists() or not workspace.master_path.exists()


def idle(workspace: Workspace, scanner: InboxScanner) -> bool:
    """Nothing to recover, nothing in inbox/ and an up-to-date master."""
    staging = workspace.root / STAGING
    if staging.is_dir() and any(staging.iterdir()):
        return False
    return not master_stale(workspace) and not scanner.scan()


def idle_run(workspace: Workspace) -> bool:
    """`idle`, checked as the pipeline would be started: holding the workspace lock (so a
    running watcher is still WorkspaceBusy) unless several watchers share a PostgreSQL store."""
    workspace.folder("inbox").mkdir(parents=True, exist_ok=True)
    lock = WorkspaceLock(workspace.root) if workspace.store_url is None else None
    if lock is not None:
        lock.acquire()
    try:
        return idle(workspace, InboxScanner(workspace))
    finally:
        if lock is not None:
            lock.release()
