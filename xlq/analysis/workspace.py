"""A workspace's figures as pandas DataFrames, read-only: `open_workspace(path)`.

    >>> import xlq
    >>> ws = xlq.open_workspace("demo")
    >>> sick = ws.values(indicators="SICK-MONTHLY", departments="LUT", start="2022-01")
    >>> print(sick[["month", "value", "numerator", "denominator", "kind", "file", "cell"]].head(2).to_string(index=False))
      month     value  numerator  denominator   kind        file cell
    2022-01  0.053808      744.0      13827.0 import history.csv   E2
    2022-02  0.097119     1207.0      12428.0 import history.csv  E30

Every table is read from one snapshot of the store (a read-only SQLite connection holding
one read transaction), so a running watcher is never blocked and never half-seen. Use
`with ws.snapshot() as snap:` to read several tables from the same snapshot.

Dtypes: months are `period[M]` (`.dt.to_timestamp()` gives the first-of-month date); numbers
are nullable `Float64` (a blank stays `<NA>`, never 0); department, indicator, marker, kind,
outcome, rule and severity are categoricals (their categories in xlq.toml and catalogue
order); identifiers are `Int64`; times are UTC `datetime64[ns, UTC]`; text is `string`.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from xlq.analysis.organisation import RAG, organisation_rows, window
from xlq.analysis.snapshot import SnapshotStore
from xlq.analysis.tables import TABLES, AnalysisError
from xlq.core.catalogue import load_catalogue
from xlq.core.config import load_workspace
from xlq.core.model import MARKERS
from xlq.core.months import PERIOD_RE
from xlq.core.rules import RULES

KINDS = ("return", "correction", "import")
"""How a submission reached the store: a department's return (first or resubmitted), a
correction of a month older than its latest, or history loaded with `xlq import`."""
STORE_KINDS = ("new", "resubmission", "correction", "duplicate", "import")
OUTCOMES = ("accepted", "accepted_with_warnings", "accepted_with_errors", "rejected")
SEVERITIES = ("error", "warning", "info")

_CURRENT = "(s.outcome != 'rejected' AND s.kind != 'duplicate' AND s.superseded_by IS NULL)"
_CURRENT_VALUE = "(v.submission_id, v.indicator) IN (SELECT submission_id, indicator FROM current_values)"
"""A value counts: the store's view `current_values` (its submission is current, no import replaced it)."""
_KIND = "CASE WHEN s.arrived_in = 'import' THEN 'import' WHEN s.kind = 'correction' THEN 'correction' ELSE 'return' END"


def open_workspace(path: Path | str = ".", *, today: dt.date | None = None) -> Workspace:
    """Open the workspace folder holding `xlq.toml` for reading.

    `today` fixes the date the organisation table is judged at (which returns are missing
    rather than not yet due, and the reporting month when xlq.toml sets none), as for `xlq run`.

    >>> ws = open_workspace("demo")
    >>> ws.organisation(indicators=["SICK-MONTHLY"])[["month", "value", "rag"]].tail(1)
    """
    return Workspace(path, today=today)


def month(value: object) -> str:
    """A month as xlq writes it (`YYYY-MM`), from `"2023-12"`, a `pd.Period`, a date or a Timestamp."""
    if isinstance(value, pd.Period):
        return f"{value.year:04d}-{value.month:02d}"
    if isinstance(value, dt.date):
        return f"{value.year:04d}-{value.month:02d}"
    text = str(value).strip()
    if not PERIOD_RE.match(text):
        raise AnalysisError(f"{value!r} is not a month (write it YYYY-MM)")
    return text


def _codes(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(value)


def _categorical(values: list, known: Iterable[str], *, ordered: bool = False) -> pd.Categorical:
    """Categories in the workspace's own order, plus any the store holds that it no longer lists
    (a categorical would otherwise turn an unknown value into a silent <NA>)."""
    known = list(dict.fromkeys(known))
    extra = sorted({v for v in values if v is not None} - set(known))
    return pd.Categorical(values, categories=known + extra, ordered=ordered)


def _months(values: list) -> pd.PeriodIndex:
    return pd.PeriodIndex([v if v else None for v in values], freq="M")


def _utc(values: list) -> pd.DatetimeIndex:
    """ISO times as stored: a watcher's carry an offset; imports and older runs wrote local time."""
    cache: dict[str, dt.datetime | None] = {}

    def one(text: str | None) -> dt.datetime | None:
        if not text:
            return None
        if text not in cache:
            moment = dt.datetime.fromisoformat(text)
            cache[text] = (moment if moment.tzinfo else moment.astimezone()).astimezone(dt.UTC)
        return cache[text]

    return pd.DatetimeIndex([one(v) for v in values], tz="UTC").as_unit("ns")


class Workspace:
    """A workspace opened for reading: `values()`, `organisation()`, `findings()`,
    `submissions()`, `indicators()` and `departments()` each return a DataFrame.

    The filters every table takes where they apply: `start` and `end` (months, inclusive, as
    `"2023-01"`, a Period or a date), `departments` and `indicators` (a code or a list of codes).
    """

    def __init__(self, path: Path | str = ".", *, today: dt.date | None = None) -> None:
        self.config = load_workspace(path, keep_parsed=False)  # read-only: nothing written, not even a cache
        self.catalogue = load_catalogue(self.config.catalogue_path, self.config.department_codes)
        self.today = today
        self._store: SnapshotStore | None = None

    @property
    def root(self) -> Path:
        return self.config.root

    def __repr__(self) -> str:
        return f"<xlq workspace {self.root} ({self.config.organisation})>"

    @contextmanager
    def snapshot(self) -> Iterator[Workspace]:
        """Read several tables from one committed state of the store:

        >>> with ws.snapshot() as snap:
        ...     values, submissions = snap.values(), snap.submissions()

        Every submission id in `values` is then in `submissions`, even if a watcher stored
        more returns in between. Keep the block short: the store's WAL grows while it is open."""
        if self._store is not None:
            yield self
            return
        with SnapshotStore(self.config.store_target) as store:
            bound = copy.copy(self)
            bound._store = store
            yield bound

    @contextmanager
    def _reading(self) -> Iterator[SnapshotStore]:
        if self._store is not None:
            yield self._store
            return
        with SnapshotStore(self.config.store_target) as store:
            yield store

    def _check(self, departments: tuple[str, ...] | None, indicators: tuple[str, ...] | None) -> None:
        unknown = [d for d in departments or () if self.config.department(d) is None]
        if unknown:
            raise AnalysisError(f"department(s) {', '.join(unknown)} not in {self.root / 'xlq.toml'} "
                             f"(known: {', '.join(self.config.department_codes)})")
        unknown = [i for i in indicators or () if i not in self.catalogue]
        if unknown:
            raise AnalysisError(f"indicator(s) {', '.join(unknown)} not in the catalogue {self.catalogue.path}")

    def _where(self, prefix: str, start: object, end: object, departments: tuple[str, ...] | None,
               indicators: tuple[str, ...] | None) -> tuple[list[str], list[object]]:
        self._check(departments, indicators)
        where: list[str] = []
        params: list[object] = []
        if start is not None:
            where.append(f"{prefix}period >= ?")
            params.append(month(start))
        if end is not None:
            where.append(f"{prefix}period <= ?")
            params.append(month(end))
        for column, codes in (("department", departments), ("indicator", indicators)):
            if codes is not None:
                where.append(f"{prefix}{column} IN ({','.join('?' * len(codes))})")
                params.extend(codes)
        return where, params

    # -- tables --------------------------------------------------------------------------------

    def values(self, *, start: object = None, end: object = None, departments: str | Iterable[str] | None = None,
               indicators: str | Iterable[str] | None = None, superseded: bool = False) -> pd.DataFrame:
        """Every value departments returned: one row per department, month and indicator.

        `value` is the figure (a fraction for percentages: 0.85), with `numerator` and
        `denominator` where the indicator has them. `marker` is what was written instead of
        a number (`N/A`, `TBA` or `-`); a row with neither a value nor a marker is a blank
        the department left. Provenance: `submission_id`, `kind` (return, correction,
        import), `file`, `sheet`, `cell`, `raw` (the cell's text), `comment` and
        `received_at`. With `superseded=True` the values later replaced by a resubmission, a
        correction or an imported value are included too (`current` False, `superseded_by` naming the
        submission that replaced them), so a month can then have several rows.

        >>> v = ws.values(departments="MSK", start="2023-11", end="2023-11", superseded=True)
        >>> v[v.indicator == "INC-NEW"][["value", "current", "kind", "file"]]
        """
        where, params = self._where("v.", start, end, _codes(departments), _codes(indicators))
        if not superseded:
            where.append(_CURRENT_VALUE)
        sql = (
            "SELECT v.department, v.period, v.indicator, v.value, v.numerator, v.denominator, v.marker, "
            f"{_CURRENT_VALUE}, {_KIND}, v.submission_id, s.original_name, v.sheet, v.cell, s.received_at, v.raw, "
            "v.comment, v.comment_from, COALESCE(v.superseded_by, s.superseded_by) "
            "FROM submitted_values v JOIN submissions s ON s.id = v.submission_id"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY v.period, v.department, v.indicator, v.submission_id"
        )
        with self._reading() as store:
            rows = store.rows(sql, params)
        cols = list(zip(*rows, strict=True)) if rows else [[] for _ in range(18)]
        return pd.DataFrame({
            "department": _categorical(list(cols[0]), self.config.department_codes),
            "month": _months(list(cols[1])),
            "indicator": _categorical(list(cols[2]), (i.code for i in self.catalogue.indicators)),
            "value": pd.array(cols[3], dtype="Float64"),
            "numerator": pd.array(cols[4], dtype="Float64"),
            "denominator": pd.array(cols[5], dtype="Float64"),
            "marker": _categorical(list(cols[6]), MARKERS),
            "current": pd.array([bool(c) for c in cols[7]], dtype="bool"),
            "kind": _categorical(list(cols[8]), KINDS),
            "submission_id": pd.array(cols[9], dtype="Int64"),
            "file": pd.array(cols[10], dtype="string"),
            "sheet": pd.array(cols[11], dtype="string"),
            "cell": pd.array(cols[12], dtype="string"),
            "received_at": _utc(list(cols[13])),
            "raw": pd.array(cols[14], dtype="string"),
            "comment": pd.array(cols[15], dtype="string"),
            "comment_from": pd.array(cols[16], dtype="Int64"),
            "superseded_by": pd.array(cols[17], dtype="Int64"),
        })

    def organisation(self, *, start: object = None, end: object = None, indicators: str | Iterable[str] | None = None,
                     hidden: bool = False) -> pd.DataFrame:
        """The organisation's figures exactly as the master's Scorecard sheet shows them: one
        row per indicator and month, in Scorecard order, blank months included.

        By default the master's 13 months ending at the reporting month; `start`/`end` choose
        another window (RAG for targets reached "by" a date follows a straight line from the
        window's first value, as the master's would). `value` or `marker` is the cell;
        `contributing` of `expected` departments gave it (`partial` when some did not);
        `target` is the threshold the month is judged against and `rag` the colour the master
        gives it (green, amber, red, or <NA>: no target or no number); `flagged` cells carry
        a note in the master, whose text is `notes`; `no_return` cells are the hatched ones
        (a department's return missing or rejected). `hidden=True` adds the catalogue's
        indicators the master does not show. The figures come from xlq's own reconciliation.

        >>> org = ws.organisation()
        >>> org.pivot(index="indicator", columns="month", values="value")  # the Scorecard's shape
        """
        codes = _codes(indicators)
        self._check(None, codes)
        try:
            periods = window(self.config, month(start) if start is not None else None,
                             month(end) if end is not None else None, self.today)
        except ValueError as exc:
            raise AnalysisError(str(exc)) from None
        with self._reading() as store:
            rows = organisation_rows(store, self.catalogue, self.config, periods, today=self.today, hidden=hidden)
        if codes is not None:
            rows = [r for r in rows if r["indicator"] in codes]
        col = {name: [r[name] for r in rows] for name in (
            "indicator", "name", "domain", "unit", "month", "value", "marker", "numerator", "denominator",
            "contributing", "expected", "partial", "target", "rag", "flagged", "no_return", "notes", "remarks")}
        return pd.DataFrame({
            "indicator": _categorical(col["indicator"], (i.code for i in self.catalogue.indicators)),
            "name": pd.array(col["name"], dtype="string"),
            "domain": _categorical(col["domain"], self.catalogue.domains()),
            "unit": pd.Categorical(col["unit"]),
            "month": _months(col["month"]),
            "value": pd.array(col["value"], dtype="Float64"),
            "marker": _categorical(col["marker"], MARKERS),
            "numerator": pd.array(col["numerator"], dtype="Float64"),
            "denominator": pd.array(col["denominator"], dtype="Float64"),
            "contributing": pd.array(col["contributing"], dtype="Int64"),
            "expected": pd.array(col["expected"], dtype="Int64"),
            "partial": pd.array(col["partial"], dtype="bool"),
            "target": pd.array(col["target"], dtype="Float64"),
            "rag": _categorical(col["rag"], RAG, ordered=True),
            "flagged": pd.array(col["flagged"], dtype="bool"),
            "no_return": pd.array(col["no_return"], dtype="bool"),
            "notes": pd.array(col["notes"], dtype="string"),
            "remarks": pd.array(col["remarks"], dtype="string"),
        })

    def findings(self, *, start: object = None, end: object = None, departments: str | Iterable[str] | None = None,
                 indicators: str | Iterable[str] | None = None) -> pd.DataFrame:
        """Every finding validation stored, with the submission it was found in.

        `severity` is an ordered categorical (error < warning < info, so `sort_values`
        puts errors first); `rule` is a code from `xlq rules`; `sheet`/`cell` locate it in
        the file and `found` is the text that was there. `current` says whether the
        submission still counts. Files whose department or month could not be read have
        no month and are left out by a month filter.

        >>> ws.findings(start="2023-12").value_counts(["severity", "rule"])
        """
        where, params = self._where("f.", start, end, _codes(departments), _codes(indicators))
        sql = (
            f"SELECT f.id, f.submission_id, f.severity, f.rule, f.department, f.period, f.indicator, f.message, "
            f"f.sheet, f.cell, f.value, COALESCE(f.file, s.original_name), s.received_at, {_CURRENT} "
            "FROM findings f JOIN submissions s ON s.id = f.submission_id"
            + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY f.id"
        )
        with self._reading() as store:
            rows = store.rows(sql, params)
        cols = list(zip(*rows, strict=True)) if rows else [[] for _ in range(14)]
        return pd.DataFrame({
            "finding_id": pd.array(cols[0], dtype="Int64"),
            "submission_id": pd.array(cols[1], dtype="Int64"),
            "severity": _categorical(list(cols[2]), SEVERITIES, ordered=True),
            "rule": _categorical(list(cols[3]), RULES),
            "department": _categorical(list(cols[4]), self.config.department_codes),
            "month": _months(list(cols[5])),
            "indicator": _categorical(list(cols[6]), (i.code for i in self.catalogue.indicators)),
            "message": pd.array(cols[7], dtype="string"),
            "sheet": pd.array(cols[8], dtype="string"),
            "cell": pd.array(cols[9], dtype="string"),
            "found": pd.array(cols[10], dtype="string"),
            "file": pd.array(cols[11], dtype="string"),
            "received_at": _utc(list(cols[12])),
            "current": pd.array([bool(c) for c in cols[13]], dtype="bool"),
        })

    def submissions(self, *, start: object = None, end: object = None,
                    departments: str | Iterable[str] | None = None) -> pd.DataFrame:
        """Every file received, in the order received, including rejected files and duplicates.

        `outcome` is accepted, accepted_with_warnings or rejected; `kind` is return,
        correction or import (`store_kind` keeps the store's finer word: new, resubmission,
        correction, duplicate); `current` marks the one submission per department and month
        whose values count. `location` is where the file is kept now (archive/ or
        rejected/); `values`, `errors` and `warnings` count what it brought.

        >>> ws.submissions(start="2023-12")[["department", "file", "outcome", "received_at"]]
        """
        where, params = self._where("s.", start, end, _codes(departments), None)
        sql = (
            f"SELECT s.id, s.department, s.period, s.original_name, s.received_at, s.outcome, {_KIND}, s.kind, {_CURRENT}, "
            "s.superseded_by, s.duplicate_of, s.arrived_in, s.location, s.catalogue_version, s.template_version, "
            "(SELECT COUNT(*) FROM submitted_values v WHERE v.submission_id = s.id), "
            "(SELECT COUNT(*) FROM findings f WHERE f.submission_id = s.id AND f.severity = 'error'), "
            "(SELECT COUNT(*) FROM findings f WHERE f.submission_id = s.id AND f.severity = 'warning') "
            "FROM submissions s" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY s.id"
        )
        with self._reading() as store:
            rows = store.rows(sql, params)
        cols = list(zip(*rows, strict=True)) if rows else [[] for _ in range(18)]
        return pd.DataFrame({
            "submission_id": pd.array(cols[0], dtype="Int64"),
            "department": _categorical(list(cols[1]), self.config.department_codes),
            "month": _months(list(cols[2])),
            "file": pd.array(cols[3], dtype="string"),
            "received_at": _utc(list(cols[4])),
            "outcome": _categorical(list(cols[5]), OUTCOMES),
            "kind": _categorical(list(cols[6]), KINDS),
            "store_kind": _categorical(list(cols[7]), STORE_KINDS),
            "current": pd.array([bool(c) for c in cols[8]], dtype="bool"),
            "superseded_by": pd.array(cols[9], dtype="Int64"),
            "duplicate_of": pd.array(cols[10], dtype="Int64"),
            "arrived_in": pd.array(cols[11], dtype="string"),
            "location": pd.array(cols[12], dtype="string"),
            "catalogue_version": pd.array(cols[13], dtype="string"),
            "template_version": pd.array(cols[14], dtype="string"),
            "values": pd.array(cols[15], dtype="Int64"),
            "errors": pd.array(cols[16], dtype="Int64"),
            "warnings": pd.array(cols[17], dtype="Int64"),
        })

    def indicators(self) -> pd.DataFrame:
        """The catalogue: one row per indicator, to label and group the other tables."""
        rows = self.catalogue.indicators
        return pd.DataFrame({
            "indicator": _categorical([i.code for i in rows], (i.code for i in rows)),
            "name": pd.array([i.name for i in rows], dtype="string"),
            "domain": _categorical([i.domain for i in rows], self.catalogue.domains()),
            "subdomain": pd.array([i.subdomain for i in rows], dtype="string"),
            "unit": pd.Categorical([i.unit for i in rows]),
            "aggregate": pd.Categorical([i.aggregate for i in rows]),
            "direction": pd.Categorical([i.direction for i in rows]),
            "target": pd.array([i.target.text for i in rows], dtype="string"),
            "tolerance": pd.array([i.tolerance for i in rows], dtype="Float64"),
            "shown": pd.array([i.show for i in rows], dtype="bool"),
            "description": pd.array([i.description for i in rows], dtype="string"),
        })

    def departments(self) -> pd.DataFrame:
        """The departments xlq.toml lists, in its order."""
        rows = self.config.departments
        return pd.DataFrame({
            "department": _categorical([d.code for d in rows], self.config.department_codes),
            "name": pd.array([d.name for d in rows], dtype="string"),
        })

    def tables(self, names: Iterable[str], **filters: object) -> dict[str, pd.DataFrame]:
        """Several tables from one snapshot, each given the filters that apply to it (what
        `xlq export` writes); a filter a table has no column for is not applied to it.

        >>> frames = ws.tables(["values", "submissions"], start="2023-01", departments=["LUT"])"""
        accepts = {
            "values": ("start", "end", "departments", "indicators", "superseded"),
            "organisation": ("start", "end", "indicators"),
            "findings": ("start", "end", "departments", "indicators"),
            "submissions": ("start", "end", "departments"),
            "indicators": (), "departments": (),
        }
        out = {}
        with self.snapshot() as snap:
            for name in names:
                if name not in accepts:
                    raise AnalysisError(f"no table {name!r} (tables: {', '.join(TABLES)})")
                given = {k: v for k, v in filters.items() if k in accepts[name] and v is not None}
                out[name] = getattr(snap, name)(**given)
        return out

