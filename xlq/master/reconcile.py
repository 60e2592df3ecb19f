"""Organisation-level figures from the store's current values, the way an auditor would check them.

Rules (the catalogue's `aggregate`): `sum`; `ratio` = summed numerators over summed
denominators (never a mean of percentages, 0/0 gives no value); `mean` weighted by the
department's value of the `weight` indicator; `central` = one department's figure, optionally
cross-checked against the others; `rolling12` derived from the source ratio's monthly
components. A blank is never a zero: a missing department leaves the figure partial, and a
month nobody reported stays empty. Departments that answered N/A or "-" count as having
answered (they have nothing to add); TBA counts as not yet contributed.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from operator import itemgetter
from typing import TYPE_CHECKING

from xlq.core import rules
from xlq.core.catalogue import Indicator
from xlq.core.model import Finding, OrgValue, Reconciled, Value
from xlq.core.months import moment_label, month_label, months_ending
from xlq.master.returns import correction_notes, department_returns, return_findings, unidentified, with_reasons
from xlq.master.review_state import review_state
from xlq.store.queries import StoredValue, Submission

if TYPE_CHECKING:
    from xlq.core.catalogue import Catalogue
    from xlq.core.config import Workspace
    from xlq.master.rebuild_cache import RebuildCache
    from xlq.store.db import Store

_ANSWER_MARKERS = ("N/A", "-")
_FEW = 500
"""Submissions few enough to read by id (an SQL list) rather than by month (a scan)."""
SPC_HISTORY = 24
"""Months of organisation history `reconcile` returns for SPC: Making Data Count wants 20 or
more points for stable limits; two years also keeps the limits about the process as it runs now."""


class Context:
    """Everything reconciliation reads from the store, loaded once for the window."""

    def __init__(self, store: Store, catalogue: Catalogue, workspace: Workspace, periods: tuple[str, ...],
                 today: dt.date | None, lookback: int = 11, *, asked: Sequence[Indicator] | None = None,
                 asked_from: str | None = None, cache: RebuildCache | None = None) -> None:
        """`lookback` months before the window are read too. Of those, the figures of the `asked`
        indicators (default: all) from `asked_from` (default: the window's first month) are
        figured as they are read, and before it the monthly figures that rolling figures add up;
        those are all `org` will give for a month before the window. With a `cache`, what an
        earlier rebuild read and figured is reused for every month nothing was stored for since (a
        window month's figures also need its exclusions, corrections and cell findings unchanged).
        Given `asked` and no `cache` (`xlq history`), only the values those figures read are read
        (`Catalogue.read_by`): `used` and `department_values` then cover those codes alone."""
        self.catalogue = catalogue
        self.workspace = workspace
        self.codes = workspace.department_codes
        self._code_set = frozenset(self.codes)
        self._reporters: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}
        self._in_force: dict[str, tuple[str, ...]] = {}
        self.periods = periods
        self._window_set = frozenset(periods)
        self.today = today or dt.date.today()
        history = months_ending(periods[-1], len(periods) + lookback)
        self._codes = catalogue.read_by(asked) if asked is not None and cache is None else None
        asked = asked or catalogue.indicators
        # Before the submissions are read: one stored in between is then read, or seen next time.
        changed = None if cache is None else cache.changes(store, (
            periods, history, tuple(i.code for i in asked), asked_from, self.today, catalogue, workspace, store))
        self.subs = {s.id: s for s in store.submissions(periods=history)}
        given, self._reread = self._window(store, periods, cache, changed)
        self.current: dict[tuple[str, str, str], StoredValue] = _renamed(catalogue, given)
        self.used = self._used(given, cache)
        """(department, period) -> the codes given a value, a marker or a numerator, as stored
        (`returns.with_reasons`; asking the store again read all 330,000 values a second time)."""
        current_ids = [s.id for s in self.subs.values() if s.current]
        self.stored_findings = store.findings(current_ids)
        self.cell_findings: dict[tuple[int, str], list[Finding]] = {}  # issue 17: not the settled ones
        self.review = review_state(store, periods, [s for s in self.subs.values() if s.period in self._window_set])
        for sf in self.stored_findings:
            if sf.finding.indicator and not ((r := self.review.by_finding.get(sf.finding)) and r.settled):
                self.cell_findings.setdefault((sf.submission_id, sf.finding.indicator), []).append(sf.finding)
        self.corrected = correction_notes(self.subs, store) | self.review.excluded
        self.grid = {(r.department, r.period): r for r in department_returns(self.subs.values(), catalogue, workspace, history,
                                                                    self.today)}
        self.findings: list[Finding] = []
        self._org: dict[tuple[str, str], OrgValue | None] = {}
        self._cache = cache
        self._kept = {} if cache is None else cache.reusable(changed, self._inputs(), self._rolling_codes())
        self._untold: dict[tuple[str, str], list[Finding]] = {}
        self._month: dict[tuple[str, str, str], tuple[int, float | None, float | None, float | None, str | None]] = {}
        self._figure_earlier(store, [m for m in history if m not in periods], asked, asked_from or periods[0],
                             cache, changed)

    def _window(self, store: Store, periods: tuple[str, ...], cache: RebuildCache | None,
                changed: set[tuple[str, str]] | None) -> tuple[dict[tuple[str, str, str], StoredValue],
                                                               list[tuple[str, str, str]] | None]:
        """The window's values as stored: all read, or the cache's with the changed months read
        again; and every key a value of those months can have (None when all were read): the
        codes of the window's values, the ones read again included, and the catalogue's."""
        window = set(periods)
        stale = set() if changed is None else {(dept, month) for dept, month in changed if month in window}
        ids = [s.id for s in self.subs.values() if (s.department, s.period) in stale]
        if cache is None or changed is None or len(ids) > _FEW:
            given = {(sv.value.indicator, sv.value.department, sv.value.period): sv
                     for sv in store.values(periods=periods, indicators=self._codes)}
            if cache is not None:
                cache.window = given
            return given, None
        given = cache.window
        if not stale:
            return given, []
        codes = {key[0] for key in given} | {i.code for i in self.catalogue.indicators}
        for dept, month in stale:
            for code in codes:
                given.pop((code, dept, month), None)
        for sv in store.values(submission_ids=ids):
            codes.add(sv.value.indicator)  # a code new to the window is one of its keys too
            given[(sv.value.indicator, sv.value.department, sv.value.period)] = sv
        return given, [(code, dept, month) for dept, month in stale for code in codes]

    def _remade(self, kept: dict | None, mapping: dict[tuple[str, str, str], StoredValue],
                drop: set) -> tuple[dict, Iterable[tuple[tuple[str, str, str], StoredValue]]]:
        """What to fill, and from which of `mapping`'s items: a new dict from all of them; or, for
        a watcher that read some months again (`_reread`), its `kept` dict less the keys `drop`,
        from those months' items only."""
        if kept is None or self._reread is None:
            return {}, mapping.items()
        for key in drop:
            kept.pop(key, None)
        return kept, [(key, sv) for key in self._reread if (sv := mapping.get(key)) is not None]

    def _used(self, given: dict[tuple[str, str, str], StoredValue],
              cache: RebuildCache | None) -> dict[tuple[str, str], set[str]]:
        used, items = self._remade(cache.used if cache else None, given,
                                   {(dept, month) for _, dept, month in self._reread or ()})
        for (code, dept, period), sv in items:
            if sv.value.value is not None or sv.value.marker is not None or sv.value.numerator is not None:
                used.setdefault((dept, period), set()).add(code)
        if cache is not None:
            cache.used = used
        return used

    def department_values(self) -> dict[tuple[str, str, str], Value]:
        """The window's values by (indicator, department, month), a comment carried from an
        earlier return saying which one (a watcher's: only the months read again are made)."""
        cache = self._cache
        values, items = self._remade(cache.department_values if cache else None, self.current,
                                     set(self._reread or ()))
        for key, sv in items:  # the key objects are shared: 330,000 of them at 10,000 returns
            v = sv.value
            origin = self.subs.get(sv.comment_from or 0)
            if origin is not None and v.comment:
                v = replace(v, comment=f"{v.comment} [explained in {origin.original_name}, "
                                       f"received {origin.received_at[:10]}]")
            values[key] = v
        if cache is None:
            return values
        cache.department_values = values
        return dict(values)  # a copy: the kept one changes at the next rebuild

    def _figure_earlier(self, store: Store, months: list[str], asked: Sequence[Indicator], asked_from: str,
                        cache: RebuildCache | None, changed: set[tuple[str, str]] | None) -> None:
        """Figure the months before the window one month at a time, as their values are read, and
        let each month's values go: those months are only ever asked for organisation figures (SPC
        history, the months a rolling figure adds up). Holding 10,000 returns' two years of values
        as bare numbers took ~70 MB of the master rebuild's 300.

        A figure's findings are held back until `org` is first asked for it, so the findings
        are the ones, in the order, that figuring on demand gave. A month the `cache` holds and
        nothing was stored for since is taken from it."""
        sources = {i.source for i in self.catalogue.indicators if i.aggregate == "rolling12" and i.source
                   and (self._codes is None or i.source in self._codes)}
        wanted = {i.code for i in asked}

        def figure(month: str) -> None:
            first = len(self._org)
            for indicator in self.catalogue.indicators:
                if indicator.aggregate == "rolling12" or not (
                        indicator.code in sources or (month >= asked_from and indicator.code in wanted)):
                    continue  # a rolling figure adds up figures of other months: figured when asked
                told = len(self.findings)
                self.org(indicator, month)
                if len(self.findings) > told:
                    self._untold[(indicator.code, month)] = self.findings[told:]
                    del self.findings[told:]
            if cache is not None:  # the month's figures are the ones added last (dicts keep their order)
                cache.figures[month] = {key: (value, self._untold.get(key))
                                        for key, value in itertools.islice(self._org.items(), first, None)}

        if cache is not None and changed is not None:
            again = {month for _, month in changed}
            for month in months:
                if month in again or month not in cache.figures:
                    continue
                for key, (value, untold) in cache.figures[month].items():
                    self._org[key] = value
                    if untold is not None:
                        self._untold[key] = untold
            months = [m for m in months if m in again or m not in cache.figures]
        ids = [s.id for s in self.subs.values() if s.period in months] if changed is not None else None
        if ids is not None and len(ids) > _FEW:
            ids = None  # many months again: read by month
        figured = set()
        # One query, read row by row, ordered by month; the store is held until the last row.
        for month, rows in itertools.groupby(store.value_numbers(months, submission_ids=ids, indicators=self._codes)
                                             if months else (),
                                             key=itemgetter(3)):
            self._month = _renamed(self.catalogue, {
                (code, dept, period): (sid, value, numerator, denominator, marker)
                for sid, code, dept, period, value, numerator, denominator, marker in rows})
            figure(month)
            figured.add(month)
        self._month = {}
        for month in months:
            if month not in figured:  # nobody reported: the figure says so
                figure(month)

    def _inputs(self) -> dict[str, tuple[dict, ...]]:
        """By window month, what its figures read besides its returns and values: the values a
        reviewer excluded, the corrections and the findings on each cell (a reviewer's decision
        settles one). A kept figure of a month whose inputs differ is figured again."""
        out: dict[str, tuple[dict, ...]] = {m: ({}, {}, {}) for m in self.periods}
        for n, items in enumerate((self.review.excluded.items(), self.corrected.items())):
            for key, text in items:
                if key[2] in out:
                    out[key[2]][n][key] = text
        for (sid, code), found in self.cell_findings.items():
            if (month := self.subs[sid].period) in out:
                out[month][2][(sid, code)] = found
        return out

    def _rolling_codes(self) -> frozenset[str]:
        return frozenset(i.code for i in self.catalogue.indicators if i.aggregate == "rolling12")

    def value(self, code: str, department: str, period: str) -> StoredValue | None:
        return self.given(code, period, (department,)).get(department)

    def given(self, code: str, period: str, departments: tuple[str, ...]) -> dict[str, StoredValue]:
        """The departments' values that count for one indicator and month, by department: what
        they gave, less what a reviewer excluded (one pass: 550,000 lookups at 10,000 returns)."""
        excluded, current, month = self.review.excluded, self.current, self._month
        out = {}
        for department in departments:
            key = (code, department, period)
            if key in excluded:
                continue
            found = current.get(key)
            if found is None and (bare := month.get(key)) is not None:
                sid, value, numerator, denominator, marker = bare
                found = StoredValue(sid, Value(code, department, period, value, numerator, denominator, marker),
                                    True, "", "")
            if found is not None:
                out[department] = found
        return out

    def expected(self, indicator: Indicator, period: str) -> tuple[str, ...]:
        if not indicator.active(period):
            return ()
        if (codes := self._in_force.get(period)) is None:  # the departments in force that month (issue 21)
            codes = self._in_force[period] = self.workspace.departments_in(period)
        key = (indicator.code, codes)
        if key not in self._reporters:  # once per indicator and department list: D x D membership tests otherwise
            in_force = frozenset(codes)
            self._reporters[key] = tuple(d for d in codes if indicator.reports(d, in_force))
        return self._reporters[key]

    def org(self, indicator: Indicator, period: str) -> OrgValue | None:
        """The organisation figure; one that cannot be computed (an overflow) or is not a finite
        number is left blank with a finding, so the rest of the master is still written."""
        key = (indicator.code, period)
        if (untold := self._untold.pop(key, None)) is not None:  # figured early (see _figure_earlier)
            self.findings.extend(untold)
        if key not in self._org:
            if indicator.aggregate == "rolling12" and indicator.active(period):
                for source, month in self._adds_up(indicator, period):  # first, so the findings after are its own
                    self.org(source, month)
            told = len(self.findings)
            if (kept := self._kept.get(key)) is not None:  # kept by a watcher from its last rebuild
                value = kept[0]
                self.findings.extend(kept[1])
            else:
                value = self._figure(indicator, period)
            self._org[key] = value
            if self._cache is not None and period in self._window_set:
                self._cache.window_figures[key] = (value, tuple(self.findings[told:]))
        return self._org[key]

    def _figure(self, indicator: Indicator, period: str) -> OrgValue | None:
        try:
            value = self._compute(indicator, period)
            numbers = (value.value, value.numerator, value.denominator) if value is not None else ()
            if any(n is not None and not math.isfinite(n) for n in numbers):
                raise ArithmeticError("the result is not a finite number")
        except (ArithmeticError, ValueError) as exc:
            self.findings.append(rules.finding("indicator-not-computed", f"{type(exc).__name__}: {exc}",
                                               indicator=indicator.code, period=period))
            value = OrgValue(indicator.code, period, None, flags=("could not be computed; left blank",))
        return value

    def _compute(self, indicator: Indicator, period: str) -> OrgValue | None:
        if not indicator.active(period):
            return None
        if indicator.aggregate == "rolling12":
            return self._rolling(indicator, period)
        if indicator.aggregate == "central":
            return self._central(indicator, period)
        return self._combine(indicator, period, self.expected(indicator, period))

    def _whole_return_absent(self, department: str, period: str) -> bool:
        status = self.grid.get((department, period))
        return status is None or status.status in ("missing", "rejected")

    def _absent(self, code: str, department: str, period: str) -> str:
        status = self.grid.get((department, period))
        if status is None or status.status in ("missing", "rejected"):
            return f"{department} (return {status.status if status else 'missing'})"
        stored = self.value(code, department, period)
        if (code, department, period) in self.review.excluded:
            return f"{department} (excluded by a reviewer)"
        if stored is not None and stored.value.marker == "TBA":
            return f"{department} (TBA)"
        subs = [s for s in status.attempts if s.current]
        errors = [f for s in subs for f in self.cell_findings.get((s.id, code), []) if f.severity == "error"]
        return f"{department} ({rules.RULES[errors[0].rule].title.lower()})" if errors else f"{department} (blank)"

    def _combine(self, indicator: Indicator, period: str, departments: tuple[str, ...]) -> OrgValue:
        code = indicator.code
        given = self.given(code, period, departments)
        numeric = {d: sv.value for d, sv in given.items() if sv.value.number is not None
                   or (sv.value.numerator is not None and sv.value.denominator is not None)}
        marked = {d: sv.value.marker for d, sv in given.items() if d not in numeric and sv.value.marker}
        answered = [d for d in departments if d in numeric or marked.get(d) in _ANSWER_MARKERS]
        flags: list[str] = []
        value = numerator = denominator = None
        if indicator.aggregate == "ratio":
            parts = {d: v for d, v in numeric.items() if v.numerator is not None and v.denominator is not None}
            if len(parts) < len(numeric):
                flags.append(f"left out (no numerator/denominator): {', '.join(sorted(numeric.keys() - parts.keys()))}")
            if parts:
                numerator = sum(v.numerator or 0.0 for v in parts.values())
                denominator = sum(v.denominator or 0.0 for v in parts.values())
                if denominator:
                    value = numerator / denominator
                else:
                    flags.append("no value: every denominator is 0 (0/0)")
        elif indicator.aggregate == "mean" and indicator.weight:
            pairs: list[tuple[float, float]] = []
            unweighted: list[str] = []
            for d, v in numeric.items():
                stored_weight = self.value(indicator.weight, d, period)
                weight = stored_weight.value.number if stored_weight else None
                if weight is None:
                    unweighted.append(d)
                else:
                    pairs.append((v.number or 0.0, weight))
            if unweighted:
                flags.append(f"left out (no {indicator.weight} to weight by): {', '.join(unweighted)}")
            total = sum(w for _, w in pairs)
            if total:
                value = sum(x * w for x, w in pairs) / total
            elif pairs:
                flags.append(f"no value: the weights ({indicator.weight}) add up to 0")
        elif numeric:
            value = sum(v.number or 0.0 for v in numeric.values())
            if len(departments) == 1:
                only = next(iter(numeric.values()))
                numerator, denominator = only.numerator, only.denominator
        marker = None
        if not numeric and marked and len(set(marked.values())) == 1 and len(marked) == len(given):
            marker = next(iter(marked.values()))
        elif marked:
            flags.append("markers: " + ", ".join(f"{d} {m}" for d, m in marked.items())
                         + ("; figure from the others" if numeric else ""))
        answering = set(answered)
        absent = [self._absent(code, d, period) for d in departments if d not in answering]
        if answered and absent:
            coverage = f"{len(answered)} of {len(departments)}"
            flags.append(f"partial: {coverage} departments (none from {', '.join(absent)})")
            if not all(self._whole_return_absent(d, period) for d in departments if d not in answering):
                # A missing or rejected return has its own finding; one per indicator would be noise.
                self.findings.append(rules.finding("partial-coverage", coverage, indicator=code, period=period))
        elif absent and marker is None:
            flags.append(f"no value: none from {', '.join(absent)}")
        for d in numeric:
            for f in self.cell_findings.get((given[d].submission_id, code), []):
                if f.severity == "warning":
                    flags.append(f"warning ({d}): {rules.RULES[f.rule].title if f.rule in rules.RULES else f.rule}")
        for d in departments:
            if (note := self.corrected.get((code, d, period))) is not None:
                flags.append(note)
        return OrgValue(code, period, value, marker, numerator, denominator, len(answered), len(departments),
                        tuple(flags))

    def _central(self, indicator: Indicator, period: str) -> OrgValue:
        central = indicator.central or ""
        own = self._combine(indicator, period, (central,))
        others = tuple(d for d in self.expected(indicator, period) if d != central)
        if not indicator.cross_check or not others or own.value is None:
            return own
        rule = "ratio" if indicator.cross_check == "ratio" else "sum"
        them = self._combine(replace(indicator, aggregate=rule), period, others)
        flags = list(own.flags)
        if them.value is None:
            return own
        if them.partial:
            flags.append(f"cross-check not made: only {them.contributors} of {them.expected} departments reported")
        else:
            difference = own.value - them.value
            if abs(difference) > indicator.tolerance + 1e-9:
                own_text, their_text, gap, allowed = (indicator.display(x, min_decimals=2) for x in (
                    own.value, them.value, abs(difference), indicator.tolerance))
                text = (f"{central} reports {own_text}, departments {their_text}: "
                        f"difference {gap} (tolerance {allowed})")
                flags.append("reconcile-difference: " + text)
                self.findings.append(rules.finding("reconcile-difference", text, indicator=indicator.code,
                                                   period=period, department=central))
        return OrgValue(own.indicator, period, own.value, own.marker, own.numerator, own.denominator,
                        own.contributors, own.expected, tuple(flags))

    def _adds_up(self, indicator: Indicator, period: str) -> list[tuple[Indicator, str]]:
        """The monthly figures a rolling figure adds up, in order."""
        source = self.catalogue[indicator.source or ""]
        return [(source, m) for m in months_ending(period, 12)]

    def _rolling(self, indicator: Indicator, period: str) -> OrgValue:
        source = self.catalogue[indicator.source or ""]
        parts = [(m, self.org(part, m)) for part, m in self._adds_up(indicator, period)]
        missing = [m for m, o in parts if o is None or o.numerator is None or o.denominator is None]
        latest = parts[-1][1]
        contributors, expected = (latest.contributors, latest.expected) if latest else (0, 0)
        if missing:
            shown = ", ".join(month_label(m) for m in missing[:4]) + (" ..." if len(missing) > 4 else "")
            flag = f"no value: {source.code} components missing for {len(missing)} of 12 months ({shown})"
            return OrgValue(indicator.code, period, None, None, None, None, contributors, expected, (flag,))
        numerator = sum(o.numerator or 0.0 for _, o in parts if o)
        denominator = sum(o.denominator or 0.0 for _, o in parts if o)
        if indicator.denominator == "mean":
            denominator /= 12
        flags = [f"built from partial months: {', '.join(month_label(m) for m, o in parts if o and o.partial)}"] \
            if any(o and o.partial for _, o in parts) else []
        value = numerator / denominator if denominator else None
        return OrgValue(indicator.code, period, value, None, numerator, denominator, contributors, expected, tuple(flags))


def _renamed(catalogue: Catalogue, values: dict) -> dict:
    """Values stored under a renamed indicator's old code, read as its new code (issue 21): a
    copy with those added (`values` may be a RebuildCache's, kept as stored)."""
    old_codes = {old for i in catalogue.indicators for old in i.renamed_from}
    if not old_codes:  # looking at each of 330,000 values took 0.8 s of a rebuild
        return values
    values = dict(values)
    for (code, dept, period), stored in [item for item in values.items() if item[0][0] in old_codes]:
        new = catalogue.resolve(code)
        if (new, dept, period) not in values:
            values[(new, dept, period)] = replace(stored, value=replace(stored.value, indicator=new)) \
                if isinstance(stored, StoredValue) else stored
    return values


def reconcile(store: Store, catalogue: Catalogue, workspace: Workspace, *, period: str | None = None,
              months: int = 13, today: dt.date | None = None, history_months: int = SPC_HISTORY,
              cache: RebuildCache | None = None) -> Reconciled:
    """Everything the master shows for the `months` months ending at `period`
    (default: the workspace's reporting period), plus each indicator's organisation values
    over the `history_months` months ending there for SPC (`Reconciled.history`)."""
    periods = months_ending(period or workspace.reporting_period(today), months)
    span = max(months, history_months)
    spc_periods = months_ending(periods[-1], span)
    ctx = Context(store, catalogue, workspace, periods, today, lookback=span - months + 11, asked_from=spc_periods[0],
                  cache=cache)
    org = {(i.code, p): o for i in catalogue.indicators for p in periods if (o := ctx.org(i, p)) is not None}
    rows = with_reasons([r for r in ctx.grid.values() if r.period in periods], store, ctx.used, ctx.stored_findings)
    by_department = ctx.department_values()
    window = set(periods)
    stored = [sf.finding for sf in ctx.stored_findings if ctx.subs[sf.submission_id].period in window]
    rejected_ids = [r.attempts[-1].id for r in rows if r.status == "rejected"]
    stored += [sf.finding for sf in store.findings(rejected_ids)]
    start = f"{periods[0]}-01"
    stored += [sf.finding for sf in store.findings([s.id for s in unidentified(store, start)])]
    replaced_notes = []
    replaced: dict[int | None, list[Submission]] = {}  # by what replaced them: one pass, not one per resubmission
    for s in ctx.subs.values():
        replaced.setdefault(s.superseded_by, []).append(s)
    for s in ctx.subs.values():
        if s.current and s.period in window and s.kind in ("resubmission", "correction"):
            earlier = replaced.get(s.id, [])
            what = f"{s.original_name} received {moment_label(s.received_at)} replaced " + (
                ", ".join(f"{e.original_name} received {moment_label(e.received_at)}" for e in earlier)
                or "an earlier return")
            replaced_notes.append(rules.finding(s.kind, what, department=s.department, period=s.period,
                                                file=s.original_name))
        elif s.kind == "duplicate" and s.period in window:
            replaced_notes += [sf.finding for sf in store.findings([s.id])]
    findings = (*stored, *return_findings(rows, ctx.today), *replaced_notes, *ctx.findings)
    # After the findings are taken: months before the window add no partial-coverage findings.
    history = {
        i.code: tuple((p, o.value) for p in spc_periods if (o := ctx.org(i, p)) is not None and o.value is not None)
        for i in catalogue.indicators
    }
    if cache is not None:  # last: a rebuild that fails on the way reads the same months again next time
        cache.include_changes()
    return Reconciled(
        periods=periods,
        org=org,
        by_department=by_department,
        submissions={(r.department, r.period): r.as_status() for r in rows},
        findings=tuple(findings),
        files_in=store.count_files(),
        history=history,
        reviews=ctx.review.by_finding,
        excluded={k: v for k, v in ctx.review.excluded.items() if k[2] in window},
        stages=ctx.review.stages,
    )


