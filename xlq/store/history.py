"""The validation history: a department's earlier current values, cached between returns.

Validating one return asks `series` for each of its ~60 indicators, and a run validates a
department month after month, so a department's history is loaded once and then only the
months written since are read again (per-indicator scans were 7 s of an 18.8 s run over 1,000
returns, and a reload per return grew with the history). A commit by any other connection
(the engine's `data_version`, checked once per return asked about) drops the cache; our own
commits do not (`committed`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xlq.core.model import number_of

DEPARTMENT_SQL = ("SELECT v.indicator, v.period, v.value, v.numerator, v.denominator FROM current_submissions s "
                  "JOIN current_values v ON v.submission_id = s.id WHERE s.department = ? AND v.department = ?")
"""A department's current values; with MONTH_FILTER, one month's (asked once per return validated,
for the month recorded before it: store/schema.py's CURRENT_VALUES keeps that a lookup by id)."""
MONTH_FILTER = " AND s.period = ? AND v.period = ?"

Query = Callable[[str, Sequence[object]], list[tuple]]
Version = Callable[[], object]


class HistoryCache:
    """The numbers behind `Store.series`; `query` runs one read on the store's connection and
    `version` says whether another connection has committed since."""

    def __init__(self, query: Query, version: Version) -> None:
        self._query = query
        self._data_version = version
        self._months: dict[str, dict[str, dict[str, float]]] = {}  # department -> period -> code -> number
        self._denominators: dict[str, dict[str, dict[str, float]]] = {}  # the same, a ratio's denominator
        self._stale: dict[str, set[str]] = {}  # months written since they were loaded, by department
        self._version: object = None  # the data version the cache was loaded at
        self._series_key: tuple[str, str] | None = None
        self._series: dict[str, list[tuple[str, float]]] = {}
        self._asked: set[str] = set()  # indicators answered since the data version was checked
        self._names: dict[str, str] = {}

    def written(self, department: str, period: str) -> None:
        """A return for this department and month is about to be recorded on our connection."""
        self._stale.setdefault(department, set()).add(period)
        if self._series_key and self._series_key[0] == department:
            self._series_key = None

    def committed(self, before: object, after: object) -> None:
        """Our own transaction committed, moving the store from data version `before` to `after`
        with no other writer in between (it held the write lock): a cache loaded at `before`
        already follows those writes (`written`), so it stays valid at `after`."""
        if self._version == before:
            self._version = after

    def forget(self) -> None:
        self._months, self._stale, self._series_key, self._series = {}, {}, None, {}
        self._denominators = {}

    def series(self, indicator: str, department: str, before: str) -> list[tuple[str, float]]:
        """Validating one return asks once per indicator for one department and month: the store's
        data version is checked when a new return is asked about (another department or month, or
        an indicator asked again), not for each of its ~60 indicators (on PostgreSQL the check is a
        query, which at 10,000 stored returns cost more than the rest of validating)."""
        if self._series_key != (department, before) or indicator in self._asked:
            self._refresh(department, before)
        self._asked.add(indicator)
        return list(self._series.get(indicator, ()))

    def _refresh(self, department: str, before: str) -> None:
        version = self._data_version()
        if version != self._version:
            self.forget()
            self._version = version
        if self._series_key != (department, before):
            by_indicator: dict[str, list[tuple[str, float]]] = {}
            months = self._department_months(department)
            for period in sorted(p for p in months if p < before):
                for code, number in months[period].items():
                    by_indicator.setdefault(code, []).append((period, number))
            self._series_key, self._series = (department, before), by_indicator
        self._asked = set()

    def denominators(self, indicator: str, department: str, before: str) -> list[tuple[str, float]]:
        """A department's current denominators of a ratio indicator before `before`, oldest first
        (with the same return's `series`: no second check of the data version)."""
        if self._series_key != (department, before):
            self._refresh(department, before)
        months = self._denominators.get(department, {})
        return [(p, months[p][indicator]) for p in sorted(months) if p < before and indicator in months[p]]

    def _department_months(self, department: str) -> dict[str, dict[str, float]]:
        months = self._months.get(department)
        stale = self._stale.pop(department, set())
        denominators = self._denominators.setdefault(department, {})
        if months is None:
            months = self._months[department] = {}
            denominators.clear()
            stale = {""}
        for period in sorted(stale):
            if period:
                months.pop(period, None)
                denominators.pop(period, None)
            rows = self._query(DEPARTMENT_SQL + (MONTH_FILTER if period else ""),
                               (department, department, *((period, period) if period else ())))
            one = self._names.setdefault  # each code and month kept once: 10,000 returns' history held
            for code, month, value, numerator, denominator in rows:  # ~45 MB of copies of the same strings
                code, month = one(code, code), one(month, month)
                number = number_of(value, numerator, denominator)
                if number is not None:
                    months.setdefault(month, {})[code] = number
                if denominator is not None:
                    denominators.setdefault(month, {})[code] = denominator
        return months
