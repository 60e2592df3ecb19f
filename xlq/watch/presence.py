"""Several watchers on one PostgreSQL store: a watcher's presence (its row and heartbeat) and
the one-at-a-time master rebuild (xlq/store/watchers.py says how the store keeps both).

The heartbeat renews the lease from a thread with a connection of its own: it runs beside the
work, not in it, so a long batch holding the store's write lock never lets the lease lapse
while the process is alive; a failed beat is logged and tried again. A watcher whose lease runs
out is taken for dead and its claimed files are finished by another.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from xlq.core.errors import XlqError
from xlq.store.connection import Connection
from xlq.store.db import Store
from xlq.store.engine import connect
from xlq.store.watchers import heartbeat, master_generation, register, retire, want_master

log = logging.getLogger("xlq")


class Presence:
    """This process as a live watcher of `store` (a PostgreSQL URL `url`): registered at `start`,
    its lease renewed every third of `lease_seconds`, retired at `stop` (through the heartbeat's
    connection: the store may have been dropped after a failure meanwhile)."""

    def __init__(self, store: Store, url: str, watcher_id: str, lease_seconds: float) -> None:
        self.store = store
        self.url = url
        self.watcher_id = watcher_id
        self.lease = lease_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="xlq-heartbeat", daemon=True)

    def start(self) -> Presence:
        register(self.store, self.watcher_id, self.lease)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop beating and leave the list (a store that fails now just lets the lease run out)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10.0)
        try:
            db = connect(self.url, timeout=5.0)
            try:
                retire(db, self.watcher_id)
            finally:
                db.close()
        except XlqError as exc:
            log.warning("could not leave the list of watchers (%s); the lease runs out instead", exc)

    def _run(self) -> None:
        db: Connection | None = None
        try:
            while not self._stop.wait(self.lease / 3):
                try:
                    db = db or connect(self.url, timeout=max(1.0, self.lease / 3))
                    heartbeat(db, self.watcher_id, self.lease)
                except XlqError as exc:
                    log.warning("heartbeat failed (%s); trying again", exc)
                    if db is not None:
                        db.close()
                    db = None
        finally:
            if db is not None:
                db.close()


def rebuild_alone(store: Store, build: Callable[[], Path]) -> Path | None:
    """Run `build` (the master rebuild) only while holding the store's master lock; None when
    another watcher holds it, after asking it to rebuild once more (it then includes what this
    watcher stored). The holder checks the request count after releasing the lock, so a request
    made while it held the lock is never lost: either it sees the new count, or the lock was
    free at the requester's second try and the requester builds itself."""
    asked = False
    while True:
        if store.try_master_lock():
            try:
                generation = master_generation(store)
                path = build()
            finally:
                store.release_master_lock()
            if master_generation(store) == generation:
                return path
            continue  # asked again while building: the master must include that too
        if asked:
            return None
        want_master(store)
        asked = True
