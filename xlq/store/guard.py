"""What `Store` checks around each write, kept beside it: that its file is still the one it
opened (a store deleted or replaced under a running process would otherwise take writes into
an unlinked file, lost at the next start), and that a claimed file becomes its submission in
the record's own transaction (`xlq.store.journal`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from xlq.core.errors import StoreError

if TYPE_CHECKING:
    from xlq.store.connection import Connection


def identity(path: Path) -> tuple[int, int] | None:
    """The file's device and inode, or None when it does not exist."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_dev, info.st_ino


def check_same_file(path: Path, opened: tuple[int, int] | None) -> None:
    """StoreError unless `path` is still the file that was opened."""
    now = identity(path)
    if now is None:
        raise StoreError(f"{path}: the store was deleted while xlq was running; restore it from a backup "
                         "(nothing is written until then)")
    if now != opened:
        raise StoreError(f"{path}: the store was replaced by another file while xlq was running; restart xlq")


def mark_claimed(db: Connection, claim: int | None, submission_id: int | None) -> None:
    """The claimed file is now this submission, in the record's transaction (None: a review
    workbook, recorded in `review_files` by its bytes' hash, `xlq.store.reviews`)."""
    if claim is not None and not db.execute(
            "UPDATE claims SET state = 'recorded', submission_id = ? WHERE id = ? AND state = 'claimed'",
            (submission_id, claim)).rowcount:
        raise StoreError(f"claim {claim} is not open; the file was not recorded")
