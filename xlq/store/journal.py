"""Intake's journal in the store: which files are claimed, recorded and moved, and which
workspace the store serves.

A file is claimed (renamed from inbox/ into the workspace's private staging folder) only after
its claim is committed here, and `Store.record(..., claim=id)` marks the claim `recorded` in the
same transaction as the submission (`xlq.store.reviews.record_review` does so for a review
workbook, with no submission), so after a crash the journal alone says what was under way:

- `claimed` and the staged file exists: renamed but not recorded; it goes back to inbox/;
- `recorded` and the staged file exists: the move to archive/ or rejected/ did not finish;
- anything else is finished (`moved`, `returned`) or never happened (`void`).

A rejected file put back into inbox/ by hand has no unfinished claim, so it is judged afresh.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from xlq.core.errors import StoreError
from xlq.store.db import Store
from xlq.store.queries import Submission
from xlq.store.watchers import forget_the_dead, moment


@dataclass(frozen=True)
class Claim:
    """One claimed file: `staged` is its path in the staging folder, relative to the workspace."""

    id: int
    original_name: str
    arrived_in: str
    staged: str
    size: int
    mtime_ns: int
    inode: int
    state: str
    submission_id: int | None


@dataclass(frozen=True)
class Intent:
    """A file about to be claimed: where it is and what it looked like when it had settled."""

    original_name: str
    arrived_in: str
    size: int
    mtime_ns: int
    inode: int


WORKSPACE_TOKEN = ".xlq-workspace"
"""The file in a workspace that names it to its store (`served_workspace`)."""


def open_store(path: Path | str, root: Path, **options: float) -> Store:
    """The workspace's store (a SQLite path or a PostgreSQL URL); a workspace that has had a
    SQLite store (its token file exists) never silently starts a new, empty one: a missing store
    is a StoreError until it is restored."""
    token_file = root / WORKSPACE_TOKEN
    if isinstance(path, Path) and not path.exists() and token_file.exists():
        raise StoreError(f"{path}: the store is missing; restore it from a backup (or delete {token_file} to start "
                         "a new, empty store)")
    return Store(path, **options)


_COLUMNS = "id, original_name, arrived_in, staged, size, mtime_ns, inode, state, submission_id"


class Journal:
    """The claims table of one store. `owner` names the watcher claiming (store/watchers.py);
    `shared` when several watchers serve the store, so only claims of dead watchers (their
    lease run out, or their process gone from this machine) are taken over as unfinished."""

    def __init__(self, store: Store, staging: str, *, owner: str | None = None, shared: bool = False) -> None:
        self.store = store
        self.staging = staging.rstrip("/")
        self.owner = owner
        self.shared = shared

    def open(self, intents: Sequence[Intent]) -> list[Claim]:
        """Commit a claim for each file (one transaction); the caller renames them afterwards."""
        claims = []
        with self.store.write() as db:
            for intent in intents:
                (claim_id,) = db.execute(
                    "INSERT INTO claims (original_name, arrived_in, staged, size, mtime_ns, inode, state, owner) "
                    "VALUES (?, ?, '', ?, ?, ?, 'claimed', ?) RETURNING id",
                    (intent.original_name, intent.arrived_in, intent.size, intent.mtime_ns, intent.inode,
                     self.owner)).fetchone()
                staged = f"{self.staging}/{claim_id}/{intent.original_name}"
                db.execute("UPDATE claims SET staged = ? WHERE id = ?", (staged, claim_id))
                claims.append(Claim(claim_id, intent.original_name, intent.arrived_in, staged, intent.size,
                                    intent.mtime_ns, intent.inode, "claimed", None))
        return claims

    def close(self, claim_ids: Sequence[int], state: str) -> None:
        """Finish claims: `moved`, `returned` or `void`."""
        if not claim_ids:
            return
        with self.store.write() as db:
            db.executemany("UPDATE claims SET state = ? WHERE id = ?", [(state, i) for i in claim_ids])

    def unfinished(self) -> list[Claim]:
        """Claims left unfinished, now this journal's to finish. Shared, only those of no live
        watcher (ours, unowned, or an owner whose lease has run out) are taken over, in one write
        transaction, so two watchers never take the same claim."""
        if not self.shared:
            rows = self.store.rows(f"SELECT {_COLUMNS} FROM claims WHERE state IN ('claimed', 'recorded') ORDER BY id")
            return [Claim(*row) for row in rows]
        with self.store.write() as db:
            forget_the_dead(db, self.owner or "")
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM claims WHERE state IN ('claimed', 'recorded') AND (owner IS NULL OR owner = ? "
                "OR owner NOT IN (SELECT id FROM watchers WHERE lease_until >= ?)) ORDER BY id",
                (self.owner, moment())).fetchall()
            db.executemany("UPDATE claims SET owner = ? WHERE id = ?", [(self.owner, row[0]) for row in rows])
        return [Claim(*row) for row in rows]


def current_with_hash(store: Store, sha256: str) -> Submission | None:
    """The current submission (counted, not superseded) with exactly these bytes: a drop of the
    same bytes again is a duplicate of it."""
    rows = store.rows("SELECT id FROM submissions WHERE sha256 = ? AND outcome != 'rejected' AND kind != 'duplicate' "
                      "AND superseded_by IS NULL ORDER BY id LIMIT 1", (sha256,))
    return store.submission(rows[0][0]) if rows else None


def superseded_with_hash(store: Store, sha256: str) -> Submission | None:
    """An accepted submission with these bytes that a later return replaced: sending it again
    reinstates it (the latest arrival wins)."""
    rows = store.rows("SELECT id FROM submissions WHERE sha256 = ? AND outcome != 'rejected' AND kind != 'duplicate' "
                      "AND superseded_by IS NOT NULL ORDER BY id DESC LIMIT 1", (sha256,))
    return store.submission(rows[0][0]) if rows else None


def bind_workspace(store: Store, token: str | None, root: str) -> str:
    """The token of the workspace this store serves, recording `token` (or a new one) if it
    serves none yet; StoreError when it serves another workspace."""
    rows = store.rows("SELECT token, root FROM served_workspace")
    if not rows:
        with store.write() as db:  # checked again under the write lock: another watcher may be binding it now
            rows = db.execute("SELECT token, root FROM served_workspace").fetchall()
            if not rows:
                token = token or secrets.token_hex(16)
                db.execute('INSERT INTO served_workspace ("only", token, root) VALUES (1, ?, ?)', (token, root))
                return token
    if token != rows[0][0]:
        raise StoreError(f"{store.location} is the store of the workspace at {rows[0][1]}, not of {root}; "
                         "give each workspace its own store ([store] path in xlq.toml)")
    return rows[0][0]
