"""Verdicts that depend on where and when a file arrived, not only on its bytes.

The bytes of a return that a later one replaced, sent again, are the current return again
(the latest arrival wins), with an info finding saying so. (Folder authority, where a file
arrived, is judged by `xlq.intake.validate`.) (A drop of the *current* return's
bytes is a duplicate: `Store.record` decides that.)
"""

from __future__ import annotations

from dataclasses import replace

from xlq.core import rules
from xlq.core.model import Checked
from xlq.store.db import Store
from xlq.store.journal import superseded_with_hash


def reinstated(store: Store, sha: str, checked: Checked) -> Checked:
    """The bytes of a return a later one replaced: sent again, it is the current return again."""
    if checked.outcome == "rejected":
        return checked
    earlier = superseded_with_hash(store, sha)
    if earlier is None:
        return checked
    identity = checked.parsed.identity
    note = rules.finding("return-reinstated", f"{earlier.original_name}, received {earlier.received_at[:16]}",
                         department=identity.department if identity else None,
                         period=identity.period if identity else None, file=earlier.original_name)
    return replace(checked, findings=(*checked.findings, note))
