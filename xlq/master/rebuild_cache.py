"""What a watcher keeps from one master rebuild to the next, so that a rebuild's cost follows
what changed (issue 20): the window's values as stored, and the figures of the months before
the window.

A submission changes the store for its own department and month only: its values, which
earlier submission of that month still counts, its findings. Nothing else changes a stored
value (store/records.py and store/merge.py supersede only on recording a later submission for
the same department and month). So each rebuild lists the store's submissions and compares
them with those seen at the last one: a new one, from this watcher or another and in whatever
order they committed, has its department's month read again; everything else is reused. A
rebuild for another window, catalogue, workspace, store or day starts afresh.

Reused at 10,000 returns: the window's ~330,000 values (~3 s to read) and the months before
the window, figured with the findings they hold back (~2.5 s). Read and figured afresh every
time: the submissions, findings and review state, the return grid and the window's figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xlq.core.model import Finding, OrgValue
    from xlq.store.db import Store
    from xlq.store.queries import StoredValue

Figures = dict[tuple[str, str], tuple["OrgValue | None", "list[Finding] | None"]]
"""(indicator, month) -> the month's figure and the findings it holds back until asked for."""


@dataclass
class RebuildCache:
    shape: tuple[object, ...] = ()
    """What the kept results were made for: window, history, indicators asked, day, catalogue,
    workspace, store."""
    seen: frozenset[int] = frozenset()
    """The submissions the kept results include."""
    window: dict[tuple[str, str, str], StoredValue] = field(default_factory=dict)
    """(indicator, department, month) -> the value stored, as `Store.values` gives it."""
    figures: dict[str, Figures] = field(default_factory=dict)
    """Month before the window -> its figures."""
    _pending: frozenset[int] = frozenset()

    def changes(self, store: Store, shape: tuple[object, ...]) -> set[tuple[str, str]] | None:
        """The (department, month)s with a submission the kept results do not include; None
        when nothing kept can be used (the first rebuild, or one made for something else)."""
        rows = store.rows("SELECT id, department, period FROM submissions")
        self._pending = frozenset(row[0] for row in rows)
        same = len(shape) == len(self.shape) and all(a is b or a == b for a, b in zip(shape, self.shape, strict=True))
        if not (same and self.seen <= self._pending):
            self.shape, self.seen, self.window, self.figures = shape, frozenset(), {}, {}
            return None
        return {(dept, month) for sid, dept, month in rows if sid not in self.seen and dept and month}

    def include_changes(self) -> None:
        """The kept results now include every submission `changes` listed (called once they do:
        a rebuild that fails before reads the same months again next time)."""
        self.seen = self._pending
