"""The catalogue through time (issue 21): what changed between two catalogue versions, and SPC
judged against the targets in force in each month with a new series from a redefinition.

A trust's scorecard changes every April: targets are reset, indicators added, retired,
renamed or redefined, departments merged. The catalogue states these by month
(`Indicator.targets`, `active_from` / `retired_from`, `redefined_from`, `renamed_from`;
`Department.active_from` / `closed_from` / `merged_into` / `renamed`), so every month is
judged by the rules in force then and a board paper rebuilt for a past month looks as it did.
"""

from __future__ import annotations

from collections.abc import Sequence

from xlq.core.catalogue import Catalogue, Indicator
from xlq.core.config import Department, SpcSettings
from xlq.core.months import month_label
from xlq.core.spc import SpcResult, analyse, bounds_for, is_rare, monthly, rebase_index_for


def redefinition_index(indicator: Indicator, periods: Sequence[str]) -> int | None:
    """Position of the first month of a redefined indicator's new series in `periods`."""
    if not indicator.redefined_from:
        return None
    index = next((i for i, p in enumerate(periods) if p >= indicator.redefined_from), None)
    return index if index else None


def analyse_in_force(indicator: Indicator, series: Sequence[tuple[str, float | None]], settings: SpcSettings, *,
                     screen_outliers: bool = False) -> SpcResult:
    """`spc.analyse` for one indicator: each month against its own target; new limits from a
    redefinition (two measures never share one set of limits) and from any `spc.rebase`."""
    periods, values = monthly(series)
    starts = [i for i in (rebase_index_for(indicator.code, periods, settings), redefinition_index(indicator, periods))
              if i is not None]
    return analyse(values, indicator.direction, [indicator.as_of(p).target for p in periods] if periods else None,
                   settings, starts or None, periods, screen_outliers=screen_outliers, bounds=bounds_for(indicator),
                   rare=is_rare(indicator, values))


def redefinition_note(indicator: Indicator) -> str:
    """The note on the first month of a redefined indicator's new series."""
    what = f": {indicator.redefinition}" if indicator.redefinition else ""
    return (f"Redefined from {month_label(indicator.redefined_from)}{what}. Earlier months measure the old "
            "definition: the sparkline breaks and the SPC limits restart here.")


def spc_notes(indicator: Indicator, periods: Sequence[str]) -> list[str]:
    """What the SPC cells' note says about a redefinition inside the analysed months."""
    if redefinition_index(indicator, periods) is None:
        return []
    return [f"New series from {month_label(indicator.redefined_from)} (redefined): the limits, variation and "
            "assurance come from the new definition's months only."]


def _target_text(indicator: Indicator) -> str:
    spans = indicator.targets
    if not spans:
        return indicator.target.text
    return "; ".join(f"{s.target.text} from {month_label(s.start) or 'the start'}"
                     + (f" to {month_label(s.end)}" if s.end else "") for s in spans)


_COMPARED = ("name", "description", "unit", "direction", "tolerance", "aggregate", "reported_by", "required",
             "active_from", "active_until", "frequency", "show")


def catalogue_changes(old: Catalogue | None, new: Catalogue) -> list[str]:
    """What changed from `old` to `new`, one line per change, in the new catalogue's order."""
    if old is None:
        return [f"first recorded version {new.version}: {len(new)} indicators"]
    out: list[str] = []
    if old.version != new.version:
        out.append(f"version {old.version} -> {new.version}")
    for ind in new.indicators:
        before = old[ind.code] if ind.code in old else next(
            (old[c] for c in ind.renamed_from if c in old), None)
        if before is None:
            start = f" from {month_label(ind.active_from)}" if ind.active_from else ""
            out.append(f"added {ind.code} ({ind.name}){start}")
            continue
        if before.code != ind.code:
            out.append(f"renamed {before.code} -> {ind.code}")
        if _target_text(before) != _target_text(ind):
            out.append(f"{ind.code}: target {_target_text(before)} -> {_target_text(ind)}")
        if ind.redefined_from != before.redefined_from and ind.redefined_from:
            out.append(f"{ind.code}: redefined from {month_label(ind.redefined_from)}"
                       + (f" ({ind.redefinition})" if ind.redefinition else ""))
        for key in _COMPARED:
            was, now = getattr(before, key), getattr(ind, key)
            if was != now:
                if key == "active_until" and now:
                    out.append(f"{ind.code}: retired from {month_label(_next(now))}")
                else:
                    out.append(f"{ind.code}: {key} {was!r} -> {now!r}")
    renamed = {c for i in new.indicators for c in i.renamed_from}
    out += [f"removed {i.code} ({i.name})" for i in old.indicators if i.code not in new and i.code not in renamed]
    return out


def _next(period: str) -> str:
    year, month = int(period[:4]), int(period[5:])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def department_changes(old: Sequence[Department] | None, new: Sequence[Department]) -> list[str]:
    """What changed in the departments (xlq.toml) from `old` to `new`."""
    if old is None:
        return [f"first recorded departments: {', '.join(d.code for d in new)}"]
    before = {d.code: d for d in old}
    out: list[str] = []
    for d in new:
        was = before.get(d.code)
        if was is None:
            out.append(f"department {d.code} ({d.name}) added" + (f" from {month_label(d.active_from)}"
                                                                  if d.active_from else ""))
            continue
        if d.merged_into and d.merged_into != was.merged_into:
            out.append(f"department {d.code} merged into {d.merged_into} from {month_label(d.closed_from)}")
        elif d.closed_from and d.closed_from != was.closed_from:
            out.append(f"department {d.code} closed from {month_label(d.closed_from)}")
        if d.active_from != was.active_from:
            out.append(f"department {d.code} active from {month_label(d.active_from) or 'the start'}")
        if (d.name, d.renamed) != (was.name, was.renamed):
            names = "; ".join(f"{n} from {month_label(m)}" for m, n in d.renamed)
            out.append(f"department {d.code} renamed: {d.name}" + (f" ({names})" if names else ""))
    out += [f"department {code} removed" for code in before if code not in {d.code for d in new}]
    return out
