"""Several watchers on one store: who is alive, what each has claimed, and who rebuilds the master.

With a PostgreSQL store any number of `xlq watch` processes, on one machine or several, may
serve one workspace. Each registers a row in `watchers` and renews its lease with a heartbeat
(`heartbeat`, on a connection of its own, so a long batch never delays it); each claim names its
owner (store/journal.py). A watcher whose lease has run out is dead: the first other watcher to
look takes its unfinished claims over (`Journal.unfinished`) and finishes them. Lease times are
ISO UTC text written by each watcher's clock, so the machines' clocks must agree to well within
a lease (NTP).

The master has one writer at a time: the holder of the store's master lock (a PostgreSQL
advisory lock, released by the server when its session ends). A watcher that cannot take it
counts `master_requests.generation` up; the holder, once it has released the lock, rebuilds
again if the count moved while it was building (`Pipeline.rebuild`).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from xlq.core.text import shown

if TYPE_CHECKING:
    from xlq.store.connection import Connection
    from xlq.store.db import Store


@dataclass(frozen=True)
class LiveWatcher:
    """A watcher whose lease has not run out, and the files it holds claimed (folder/name)."""

    id: str
    host: str
    pid: int
    started_at: str
    heartbeat_at: str
    lease_until: str
    claims: tuple[str, ...]


def moment(now: dt.datetime | None = None, *, plus: float = 0.0) -> str:
    """UTC time as fixed-width ISO text (ordered as text is), `plus` seconds on."""
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC) + dt.timedelta(seconds=plus)
    return when.isoformat(timespec="milliseconds")


def new_watcher_id() -> str:
    """host:pid:random, unique even when a pid is reused."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def pid_alive(pid: int) -> bool:
    """Whether a process of this machine with this pid is running (a reused pid counts as alive)."""
    if os.name == "nt":
        return True  # no cheap check on Windows: a crashed watcher there is taken over when its lease runs out
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def forget_the_dead(db: Connection, watcher_id: str) -> None:
    """Drop the rows of watchers of this machine whose process is gone (killed, crashed), so their
    claims are taken over now rather than when their lease runs out."""
    here = socket.gethostname()
    dead = [(other,) for other, host, pid in db.execute("SELECT id, host, pid FROM watchers WHERE id != ?", (watcher_id,))
            if host == here and not pid_alive(pid)]
    db.executemany("DELETE FROM watchers WHERE id = ?", dead)


def register(store: Store, watcher_id: str, lease_seconds: float) -> None:
    """Announce this process as a live watcher (or refresh its row)."""
    now = moment()
    with store.write() as db:
        db.execute("DELETE FROM watchers WHERE id = ?", (watcher_id,))
        db.execute("INSERT INTO watchers (id, host, pid, started_at, heartbeat_at, lease_until) VALUES (?, ?, ?, ?, ?, ?)",
                   (watcher_id, socket.gethostname(), os.getpid(), now, now, moment(plus=lease_seconds)))


def heartbeat(db: Connection, watcher_id: str, lease_seconds: float) -> None:
    """Renew the lease: one statement on the watcher's own row, which needs no write lock, so a
    batch holding the lock never delays it; a row deleted meanwhile (by hand) is put back."""
    now, until = moment(), moment(plus=lease_seconds)
    if not db.execute("UPDATE watchers SET heartbeat_at = ?, lease_until = ? WHERE id = ?",
                      (now, until, watcher_id)).rowcount:
        db.execute("INSERT INTO watchers (id, host, pid, started_at, heartbeat_at, lease_until) VALUES (?, ?, ?, ?, ?, ?)",
                   (watcher_id, socket.gethostname(), os.getpid(), now, now, until))


def retire(db: Connection, watcher_id: str) -> None:
    """A watcher stopping cleanly leaves the list at once (its claims are all finished); one
    statement on its own row, like the heartbeat."""
    db.execute("DELETE FROM watchers WHERE id = ?", (watcher_id,))


def live_watchers(store: Store) -> list[LiveWatcher]:
    """The watchers alive now (lease not run out), oldest first, each with its open claims."""
    rows = store.rows("SELECT id, host, pid, started_at, heartbeat_at, lease_until FROM watchers "
                      "WHERE lease_until >= ? ORDER BY started_at, id", (moment(),))
    claims: dict[str, list[str]] = {}
    if rows:
        for owner, folder, name in store.rows(
                "SELECT owner, arrived_in, original_name FROM claims WHERE state IN ('claimed', 'recorded') "
                f"AND owner IN ({','.join('?' * len(rows))}) ORDER BY id", [r[0] for r in rows]):
            claims.setdefault(owner, []).append(f"{folder}/{name}")
    return [LiveWatcher(*row, claims=tuple(claims.get(row[0], ()))) for row in rows]


def master_generation(store: Store) -> int:
    return store.rows('SELECT generation FROM master_requests WHERE "only" = 1')[0][0]


def want_master(store: Store) -> None:
    """Ask whoever holds the master lock to rebuild once more when it is done."""
    with store.write() as db:
        db.execute('UPDATE master_requests SET generation = generation + 1 WHERE "only" = 1')


def watchers_text(watchers: list[LiveWatcher]) -> str:
    """`xlq status`: each live watcher with its last heartbeat and what it holds claimed."""
    lines = [f"Watchers alive ({len(watchers)}):"]
    for w in watchers:
        lines.append(f"  {shown(w.host, 80)} pid {w.pid}  last heartbeat {shown(w.heartbeat_at[:19], 19)} UTC  "
                     f"claimed {len(w.claims)}")
        lines += [f"    {shown(name, 160)}" for name in w.claims[:20]]
        if len(w.claims) > 20:
            lines.append(f"    ... and {len(w.claims) - 20} more")
    return "\n".join(lines)
