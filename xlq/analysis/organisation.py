"""The organisation table: the reconciled figures exactly as the master's Scorecard sheet shows them.

Nothing is aggregated here. The figures come from `xlq.master.reconcile.reconcile` (the code the
master is built from), the rows, flags and notes from `xlq.master.plan.make_plan` (what
decides every Scorecard cell before XlsxWriter writes it), and the RAG status from the
same thresholds the master's conditional formats test (`thresholds`, `rag_rules`).
Nothing here imports pandas or XlsxWriter: `organisation_rows` returns plain dicts.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from xlq.core.catalogue import Indicator
from xlq.core.months import months_ending
from xlq.master.plan import make_plan, thresholds
from xlq.master.reconcile import reconcile

if TYPE_CHECKING:
    from xlq.core.catalogue import Catalogue
    from xlq.core.config import Workspace
    from xlq.store.db import Store

RAG = ("green", "amber", "red")


def _excel_number(x: float) -> float:
    """A threshold as the master's conditional-format formula writes it (10 significant digits)."""
    return float(f"{x:.10g}")


def rag_status(indicator: Indicator, threshold: float | None, value: float | None) -> str | None:
    """The colour the master's conditional format gives `value` judged against `threshold`,
    mirroring `xlq.master.plan.rag_rules`: a floor is green at or above the threshold,
    amber within the tolerance below it, red further below; a ceiling the other way round.
    None when there is no number or nothing to judge it by (the master leaves it uncoloured)."""
    if threshold is None or value is None:
        return None
    limit, tolerance = _excel_number(threshold), indicator.tolerance
    if indicator.target.kind == "floor":
        edge = _excel_number(threshold - tolerance)
        return "green" if value >= limit else "amber" if tolerance > 0 and value >= edge else "red"
    edge = _excel_number(threshold + tolerance)
    return "green" if value <= limit else "amber" if tolerance > 0 and value <= edge else "red"


def window(workspace: Workspace, start: str | None, end: str | None, today: dt.date | None) -> tuple[str, ...]:
    """The months shown: by default the master's 13 ending at the reporting month."""
    last = end or workspace.reporting_period(today)
    if start is None:
        return months_ending(last, 13)
    if start > last:
        raise ValueError(f"start {start} is after end {last}")
    count = (int(last[:4]) - int(start[:4])) * 12 + int(last[5:]) - int(start[5:]) + 1
    return months_ending(last, count)


def organisation_rows(store: Store, catalogue: Catalogue, workspace: Workspace, periods: tuple[str, ...], *,
                      today: dt.date | None = None, hidden: bool = False) -> list[dict]:
    """One dict per indicator and month of `periods`, in Scorecard order (catalogue order,
    shown indicators; with `hidden`, the catalogue's hidden indicators follow)."""
    reconciled = reconcile(store, catalogue, workspace, period=periods[-1], months=len(periods), today=today)
    plan = make_plan(reconciled, catalogue, workspace, dt.datetime.now())
    indicators = [row.indicator for row in plan.rows if row.indicator is not None]
    if hidden:
        indicators += [i for i in catalogue.indicators if not i.show]
    out = []
    for ind in indicators:
        values = plan.values(ind.code)
        limits = thresholds(ind, plan.periods, values)
        for period, value, limit in zip(plan.periods, values, limits, strict=True):
            org = plan.org(ind.code, period)
            key = (ind.code, period)
            out.append({
                "indicator": ind.code, "name": ind.name, "domain": ind.domain, "unit": ind.unit, "month": period,
                "value": value, "marker": None if value is not None else org.marker,
                "numerator": org.numerator, "denominator": org.denominator,
                "contributing": org.contributors, "expected": org.expected, "partial": org.partial,
                "target": limit, "rag": rag_status(ind.as_of(period), limit, value),
                "flagged": key in plan.flag_reasons, "no_return": key in plan.empty_absent,
                "notes": "\n".join(plan.flag_reasons.get(key, ())),
                "remarks": "\n".join(plan.cell_notes.get(key, ())),
            })
    return out

