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

The window's figures are kept too, with the findings figuring each one told. A month's
figures read that month's values and returns, and its exclusions, corrections and findings on
cells, which a reviewer's decision changes without a submission; so a kept figure is used again
only when its month (for a rolling figure, any of its twelve) has no new submission and those
inputs are equal. Findings stay in the order figuring on demand gives (`Context.org`).

Reused at 10,000 returns: the window's ~330,000 values (~3 s to read) and what is made of them
for the master, the months before the window, figured with the findings they hold back
(~2.5 s), and the figures of the window's months nothing changed for. Read afresh every time:
the submissions, findings and review state and the return grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from xlq.core.months import months_ending

if TYPE_CHECKING:
    from xlq.core.model import Finding, OrgValue, Value
    from xlq.store.db import Store
    from xlq.store.queries import StoredValue

Figures = dict[tuple[str, str], tuple["OrgValue | None", "list[Finding] | None"]]
"""(indicator, month) -> the month's figure and the findings it holds back until asked for."""
Told = dict[tuple[str, str], tuple["OrgValue | None", "tuple[Finding, ...]"]]
"""(indicator, month) -> a window figure and the findings figuring it told."""


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
    used: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    """(department, month) -> the codes given a value, as `Context.used`."""
    department_values: dict[tuple[str, str, str], Value] = field(default_factory=dict)
    """The window's values as `Context.department_values` gives them."""
    window_figures: Told = field(default_factory=dict)
    window_inputs: dict[str, object] = field(default_factory=dict)
    """Window month -> what its figures read besides its values and returns (`Context._inputs`)."""
    _pending: frozenset[int] = frozenset()

    def changes(self, store: Store, shape: tuple[object, ...]) -> set[tuple[str, str]] | None:
        """The (department, month)s with a submission the kept results do not include; None
        when nothing kept can be used (the first rebuild, or one made for something else)."""
        rows = store.rows("SELECT id, department, period FROM submissions")
        self._pending = frozenset(row[0] for row in rows)
        same = len(shape) == len(self.shape) and all(a is b or a == b for a, b in zip(shape, self.shape, strict=True))
        if not (same and self.seen <= self._pending):
            self.shape, self.seen, self.window, self.figures = shape, frozenset(), {}, {}
            self.used, self.department_values, self.window_figures, self.window_inputs = {}, {}, {}, {}
            return None
        return {(dept, month) for sid, dept, month in rows if sid not in self.seen and dept and month}

    def include_changes(self) -> None:
        """The kept results now include every submission `changes` listed (called once they do:
        a rebuild that fails before reads the same months again next time)."""
        self.seen = self._pending

    def reusable(self, changed: set[tuple[str, str]] | None, inputs: dict[str, object],
                 rolling: frozenset[str]) -> Told:
        """The kept window figures that can be used again, given the months `changes` listed and
        the window months' `inputs` now; the kept ones are let go (figuring keeps them anew)."""
        kept, before = self.window_figures, self.window_inputs
        self.window_figures, self.window_inputs = {}, inputs
        if changed is None:
            return {}
        dirty = {month for _, month in changed} | {m for m, now in inputs.items() if before.get(m) != now}
        return {(code, month): told for (code, month), told in kept.items()
                if not (dirty & set(months_ending(month, 12)) if code in rolling else month in dirty)}
