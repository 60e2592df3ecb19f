"""`xlq history CODE`: an indicator's organisation values by month and every departmental value
stored, with provenance (superseded values stay listed)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from xlq.core.model import OrgValue, Value
from xlq.core.months import months_ending
from xlq.master.reconcile import Context
from xlq.store.reviews import Decision, all_responses, decisions

if TYPE_CHECKING:
    from xlq.core.catalogue import Catalogue
    from xlq.core.config import Workspace
    from xlq.store.db import Store


@dataclass(frozen=True)
class HistoryEntry:
    """One stored value of an indicator with its provenance; superseded values stay listed."""

    value: Value
    current: bool
    submission_id: int
    file: str
    received_at: str
    kind: str
    location: str
    comment_from: int | None = None


@dataclass(frozen=True)
class IndicatorHistory:
    """`xlq history CODE`: organisation values by month and every departmental value stored."""

    code: str
    name: str
    periods: tuple[str, ...]
    org: tuple[OrgValue, ...]
    entries: tuple[HistoryEntry, ...]
    reviews: tuple[Decision, ...] = ()
    """Every review decision on this indicator, applied, stale or refused (issue 17)."""
    responses: dict[int, tuple[tuple[str, str, str], ...]] = field(default_factory=dict)
    """Decision id -> the department's responses to that query: (text, received at, file)."""

    def as_dict(self) -> dict:
        return asdict(self)


def indicator_history(store: Store, catalogue: Catalogue, workspace: Workspace, code: str, *,
                      period: str | None = None, months: int = 13, today: dt.date | None = None) -> IndicatorHistory:
    """An indicator's organisation values and every departmental value stored, with provenance."""
    indicator = catalogue[code]
    periods = months_ending(period or workspace.reporting_period(today), months)
    ctx = Context(store, catalogue, workspace, periods, today, asked=(indicator,))
    org = tuple(o for p in periods if (o := ctx.org(indicator, p)) is not None)
    subs = {s.id: s for s in store.submissions(periods=periods)}
    entries = tuple(
        HistoryEntry(sv.value, sv.current, sv.submission_id, sv.file, sv.received_at, subs[sv.submission_id].kind,
                     subs[sv.submission_id].location, sv.comment_from)
        for old in (code, *indicator.renamed_from)  # a renamed indicator keeps its history under the new code
        for sv in store.values(indicator=old, periods=periods, current=False)
    )
    decided = tuple(d for old in (code, *indicator.renamed_from) for d in decisions(store, indicator=old, applied_only=False))
    return IndicatorHistory(code, indicator.name, periods, org, entries, decided, all_responses(store))

