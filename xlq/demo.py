"""`xlq demo`: the whole story in a fresh workspace, from issued templates to the master.

The organisation-level figures come from the seed scorecard (`data/demo_org.csv`); they are
split across the departments that report each indicator, typed into the real templates the
way a department would, dropped into `inbox/<DEPT>/` month by month and processed by the
real pipeline, each month's returns arriving a few days before they are due. A handful of
realistic faults go in on the way. Wherever a fault drops a
department's value, that department's share is given to the others, so the master still
shows the seed's figures exactly while the Validation Errors sheet has real content.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import os
import random
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from openpyxl import load_workbook

from xlq import demo_year
from xlq.core.catalogue import Catalogue, Indicator, load_catalogue
from xlq.core.config import SAMPLE_CONFIG, Workspace, init_workspace, load_workspace
from xlq.core.errors import InputRefused
from xlq.core.months import month_label, months_between
from xlq.demo_review import ANSWERS, answer_queries, review_round
from xlq.importer import COLUMNS, import_history
from xlq.master.reconcile import reconcile
from xlq.master.review_state import review_state
from xlq.store.catalogue_versions import record_workspace
from xlq.store.journal import open_store
from xlq.template.workbook import write_template
from xlq.watch.service import run_once

DEMO_DATA = Path(__file__).with_name("data") / "demo_org.csv"
FIRST, LAST = "2022-12", "2023-12"
DEMO_MARKER = ".xlq-demo"
"""Marks a folder `xlq demo` made; only such a folder is ever replaced by the next demo."""


class DemoError(InputRefused):
    """The demo cannot be built where asked; one line for the user."""


SHARES = {"LUT": 24, "MSK": 14, "ICASH": 12, "DENT": 8, "BEDS": 20, "NORF": 16, "CORP": 6}
"""Each department's relative size, used to split organisation figures deterministically."""


@dataclass(frozen=True)
class Figure:
    """One organisation-level input from the seed: a count, a ratio's parts, or a marker."""

    value: float | None = None
    numerator: int | None = None
    denominator: int | None = None
    marker: str | None = None
    origin: str = "seed"


INVENTED = ("Demo figure: the seed paper is illegible here, so this value was invented "
            "(the catalogue's note for the row says how).")
"""The comment each department types beside a figure the seed does not show legibly
(`origin = filled` in data/demo_org.csv): the master's note on the cell says so."""


@dataclass(frozen=True)
class Entry:
    """What a department types into one row of its template."""

    value: object = None
    numerator: object = None
    denominator: object = None
    comment: str = ""


@dataclass(frozen=True)
class Fault:
    """A deliberate mistake: `typed` is what the department enters instead of its share."""

    department: str
    period: str
    code: str
    typed: Entry
    why: str


def load_figures(path: Path = DEMO_DATA) -> dict[tuple[str, str], Figure]:
    figures: dict[tuple[str, str], Figure] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            figures[(row["code"], row["period"])] = Figure(
                value=float(row["value"]) if row["value"] else None,
                numerator=int(float(row["numerator"])) if row["numerator"] else None,
                denominator=int(float(row["denominator"])) if row["denominator"] else None,
                marker=row["marker"] or None,
                origin=row.get("origin") or "seed",
            )
    return figures


def split_whole(total: int, weights: Mapping[str, float], caps: Mapping[str, int] | None = None) -> dict[str, int]:
    """Largest-remainder split of a whole number; `caps` bound each share (numerator <= denominator)."""
    if not weights:
        return {}
    weight_sum = sum(weights.values()) or 1
    exact = {d: total * w / weight_sum for d, w in weights.items()}
    shares = {d: int(x) for d, x in exact.items()}
    if caps:
        shares = {d: min(s, caps[d]) for d, s in shares.items()}
    left = total - sum(shares.values())
    order = sorted(weights, key=lambda d: (-(exact[d] - int(exact[d])), d))
    while left > 0:
        moved = False
        for d in order:
            if left and (not caps or shares[d] < caps[d]):
                shares[d] += 1
                left -= 1
                moved = True
        if not moved:
            raise ValueError(f"cannot split {total} within caps {caps}")
    return shares


def _jitter(weights: Mapping[str, float], seed: str, spread: float) -> dict[str, float]:
    """Departments differ from month to month the way real ones do, reproducibly (string seeds
    hash the same in every run), so their own histories have honest variation."""
    rng = random.Random(seed)
    return {d: w * (1 + rng.uniform(-spread, spread)) for d, w in weights.items()}


def split_figure(indicator: Indicator, figure: Figure, departments: Iterable[str], seed: str = "") -> dict[str, Entry]:
    """Each contributing department's entry so the organisation figure comes out exactly."""
    depts = list(departments)
    sizes = _jitter({d: SHARES.get(d, 1) for d in depts}, f"{seed}|size", 0.05)
    if not depts:
        return {}
    if figure.marker:
        return {d: Entry(value=figure.marker) for d in depts}
    if indicator.aggregate == "central":
        central = indicator.central or depts[0]
        whole = (Entry(numerator=figure.numerator, denominator=figure.denominator) if indicator.unit == "ratio"
                 else _value_entry(indicator, figure.value))
        entries = {central: whole} if central in depts else {}
        others = [d for d in depts if d != central]
        if indicator.cross_check and others and figure.value is not None:
            shares = split_whole(int(figure.value), {d: sizes[d] for d in others})
            entries.update({d: Entry(value=v) for d, v in shares.items()})
        return entries
    if indicator.unit == "ratio":
        assert figure.numerator is not None and figure.denominator is not None, indicator.code
        dens = split_whole(figure.denominator, sizes)
        nums = split_whole(figure.numerator, _jitter(dens, f"{seed}|rate", 0.04), caps=dens)
        return {d: Entry(numerator=nums[d], denominator=dens[d]) for d in depts}
    if indicator.aggregate == "sum" and figure.value is not None and float(figure.value).is_integer():
        shares = split_whole(int(figure.value), {d: SHARES.get(d, 1) for d in depts})
        return {d: Entry(value=v) for d, v in shares.items()}
    return {d: _value_entry(indicator, figure.value) for d in depts}


def _value_entry(indicator: Indicator, value: float | None) -> Entry:
    if value is None:
        return Entry()
    if indicator.unit == "count":
        return Entry(value=int(value))
    return Entry(value=value)


def fill_template(template: Path, out: Path, entries: Mapping[str, Entry], prepared_by: str = "") -> Path:
    """Type entries into a template by Code, the way a department fills it in Excel."""
    workbook = load_workbook(template)
    sheet = workbook["Return"]
    columns: dict[str, int] = {}
    code_rows: dict[str, int] = {}
    for row in sheet.iter_rows():
        titles = {str(c.value).strip(): c.column for c in row if isinstance(c.value, str)}
        if not columns and {"Code", "Value", "Numerator", "Denominator", "Comment"} <= titles.keys():
            columns = titles
            continue
        if columns:
            code = row[columns["Code"] - 1].value
            if isinstance(code, str) and code.strip():
                code_rows[code.strip()] = row[0].row
        elif prepared_by and row[0].value == "Prepared by":
            row[1].value = prepared_by
    for code, entry in entries.items():
        if code not in code_rows:
            continue
        r = code_rows[code]
        for title, typed in (("Value", entry.value), ("Numerator", entry.numerator),
                             ("Denominator", entry.denominator), ("Comment", entry.comment or None)):
            if typed is not None:
                sheet.cell(row=r, column=columns[title], value=typed)
    out.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(out)
    return out


@dataclass(frozen=True)
class Scenario:
    """The demo's deliberate problems: typed faults; returns that never arrive; returns sent
    wrong and corrected later (department, month, month of the correction); returns first
    dropped in another department's folder (department, month) -> that folder."""

    faults: tuple[Fault, ...]
    missing: frozenset[tuple[str, str]]
    corrected: tuple[tuple[str, str, str], ...]
    misfiled: tuple[tuple[tuple[str, str], str], ...]


def demo_scenario() -> Scenario:
    return Scenario(
        faults=(
            Fault("CORP", "2023-08", "PULSE-WORK", Entry(value=850), "a percentage typed as 850"),
            Fault("ICASH", "2023-10", "TRN-FIRE", Entry(numerator=130, denominator=120),
                  "numerator above its denominator"),
            Fault("MSK", "2023-12", "OUTBREAKS", Entry(value="see comment", comment="figures to follow"),
                  "text where a count belongs"),
        ),
        missing=frozenset({("DENT", "2023-12")}),
        corrected=(("MSK", "2023-11", "2023-12"),),
        misfiled=((("NORF", "2023-03"), "ICASH"),),
    )


@dataclass(frozen=True)
class DemoSummary:
    master: Path
    accepted: int
    rejected: int
    errors: int
    warnings: int

    def __str__(self) -> str:
        return (f"Master scorecard: {self.master}\n"
                f"Returns accepted: {self.accepted}, rejected: {self.rejected}; "
                f"findings: {self.errors} errors, {self.warnings} warnings")


def department_entries(
    catalogue: Catalogue, workspace: Workspace, figures: Mapping[tuple[str, str], Figure], period: str,
    faults: Iterable[Fault] = (), absent: Iterable[str] = (),
) -> dict[str, dict[str, Entry]]:
    """Every department's entries for one month, with faults typed in and shares moved."""
    faults = [f for f in faults if f.period == period]
    absent = set(absent)
    per_dept: dict[str, dict[str, Entry]] = {d: {} for d in workspace.departments_in(period) if d not in absent}
    for indicator in catalogue.indicators:
        figure = figures.get((indicator.code, period))
        if indicator.derived or figure is None or not indicator.active(period):
            continue
        faulty = {f.department for f in faults if f.code == indicator.code}
        reporters = [d for d in per_dept if indicator.reports(d, workspace.departments_in(period))]
        contributors = [d for d in reporters if d not in faulty]
        for dept, entry in split_figure(indicator, figure, contributors, f"{indicator.code}|{period}").items():
            per_dept[dept][indicator.code] = replace(entry, comment=INVENTED) if figure.origin == "filled" else entry
    touched = {f.code for f in faults}
    for indicator in catalogue.indicators:
        untouched = not touched & {indicator.code, *indicator.parts}
        if indicator.parts and untouched and _parts_add_up(indicator, figures, period):
            for entries in per_dept.values():
                _total_from_parts(indicator, entries)
    for fault in faults:
        if fault.department in per_dept:
            per_dept[fault.department][fault.code] = fault.typed
    return per_dept


def write_history_csv(path: Path, catalogue: Catalogue, workspace: Workspace,
                      figures: Mapping[tuple[str, str], Figure], periods: Iterable[str]) -> Path:
    """The months before the demo's first return, as the CSV `xlq import` reads."""

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for period in periods:
            for dept, entries in department_entries(catalogue, workspace, figures, period).items():
                for code, e in entries.items():
                    writer.writerow([dept, period, code, *("" if x is None else x for x in
                                                          (e.value, e.numerator, e.denominator)), e.comment])
    return path


def _parts_add_up(indicator: Indicator, figures: Mapping[tuple[str, str], Figure], period: str) -> bool:
    field = "numerator" if indicator.unit == "ratio" else "value"
    total = figures.get((indicator.code, period))
    parts = [figures.get((code, period)) for code in indicator.parts]
    if total is None or any(p is None for p in parts) or getattr(total, field) is None:
        return False
    numbers = [getattr(p, field) for p in parts]
    return None not in numbers and sum(numbers) == getattr(total, field)


def _total_from_parts(indicator: Indicator, entries: dict[str, Entry]) -> None:
    """A department's total is the sum of its own parts, as it would be in its own records."""
    if indicator.code not in entries or not all(code in entries for code in indicator.parts):
        return
    total = entries[indicator.code]
    if indicator.unit == "ratio":
        numerator = sum(int(entries[code].numerator or 0) for code in indicator.parts)
        entries[indicator.code] = Entry(numerator=numerator, denominator=total.denominator, comment=total.comment)
    elif all(isinstance(entries[code].value, int) for code in indicator.parts):
        entries[indicator.code] = Entry(value=sum(int(entries[code].value) for code in indicator.parts), comment=total.comment)  # type: ignore[arg-type]


def run_demo(root: Path, through: str = LAST) -> DemoSummary:
    """Build the demo workspace at `root` (replacing an earlier demo there); `through` a month
    after the seed's last goes on into the next financial year (`xlq.demo_year`)."""
    through = demo_year.check_through(through, LAST)

    root = root.resolve()
    if (root / DEMO_MARKER).exists():
        shutil.rmtree(root)
    elif root.exists() and any(root.iterdir()):
        raise DemoError(f"{root} exists and is not an xlq demo; give a new or empty folder")
    init_workspace(root, SAMPLE_CONFIG.replace('# current = "2023-12"', f'current = "{through}"'))
    (root / DEMO_MARKER).write_text("made by `xlq demo`: the next demo here replaces this folder\n", encoding="utf-8")
    workspace = load_workspace(root)
    catalogue = load_catalogue(workspace.catalogue_path, workspace.department_codes)
    figures = load_figures()
    figures.update(demo_year.extend_figures(figures, LAST, through, Figure))  # type: ignore[arg-type]
    scenario = demo_scenario()
    if through >= demo_year.NEW_YEAR:
        scenario = replace(scenario, corrected=(*scenario.corrected, demo_year.CORRECTED))
    faults = scenario.faults

    history = sorted({p for (_, p) in figures if p < FIRST})
    if history:
        import_history(workspace, write_history_csv(root / "history.csv", catalogue, workspace, figures, history),
                       catalogue)

    accepted = rejected = 0
    for period in months_between(FIRST, through):
        if period == demo_year.NEW_YEAR:
            workspace, catalogue = _new_financial_year(root)
        arrived = dt.datetime.combine(workspace.due_date(period) - dt.timedelta(days=4), dt.time(9, 30))
        saved = arrived.timestamp() - 3600
        absent = {d for (d, p) in scenario.missing if p == period}
        wrong_first = {d for (d, p, _) in scenario.corrected if p == period}
        misfiled = {d: folder for (d, p), folder in scenario.misfiled if p == period}
        entries = department_entries(catalogue, workspace, figures, period, faults, absent)
        with open_store(workspace.store_target, workspace.root) as store:
            queries = review_state(store).queries  # the reviewer's open questions go into the templates
            for dept, dept_entries in entries.items():
                template = write_template(catalogue, workspace, dept, period,
                                          root / "templates" / period / f"{dept}.xlsx",
                                          last_month=store.last_month(dept, period, catalogue),
                                          queries=queries.get(dept, ()))
                if dept in wrong_first:
                    dept_entries = _first_draft(catalogue, dept_entries)
                dropped = fill_template(template, root / "inbox" / misfiled.get(dept, dept) / f"{dept} return {period}.xlsx",
                                        dept_entries, prepared_by=f"{dept} service manager")
                answer_queries(dropped, {code: text for (d, code), text in ANSWERS.items() if d == dept})
                os.utime(dropped, (saved, saved))
        summary = run_once(workspace, progress=False, clock=lambda arrived=arrived: arrived.astimezone(),
                           console_level=logging.WARNING)
        print(f"{month_label(period)}: {summary.describe()}", flush=True)
        accepted += sum(summary.count(o) for o in ("accepted", "accepted_with_warnings", "accepted_with_errors"))
        rejected += summary.count("rejected")
        for dept, folder in misfiled.items():
            rejected_copy = next((root / "rejected").glob(f"*__{dept} return {period}.xlsx"))
            later = arrived + dt.timedelta(hours=2)
            again = root / "inbox" / dept / f"{dept} return {period}.xlsx"
            again.write_bytes(rejected_copy.read_bytes())
            os.utime(again, (later.timestamp(), later.timestamp()))
            summary = run_once(workspace, progress=False, clock=lambda later=later: later.astimezone(),
                               console_level=logging.WARNING)
            print(f"{month_label(period)}: {dept} moves its return from {folder}'s folder to its own: "
                  f"{summary.describe()}", flush=True)
            accepted += sum(summary.count(o) for o in ("accepted", "accepted_with_warnings", "accepted_with_errors"))
        for dept, first_period, when in scenario.corrected:
            if when != period:
                continue
            later = arrived + dt.timedelta(days=3)
            corrected = department_entries(catalogue, workspace, figures, first_period, faults)[dept]
            dropped = fill_template(root / "templates" / first_period / f"{dept}.xlsx",
                                    root / "inbox" / dept / f"{dept} return {first_period} (corrected).xlsx",
                                    corrected, prepared_by=f"{dept} service manager")
            os.utime(dropped, (later.timestamp(), later.timestamp()))
            summary = run_once(workspace, progress=False, clock=lambda later=later: later.astimezone(),
                               console_level=logging.WARNING)
            print(f"{month_label(first_period)} corrected by {dept}: {summary.describe()}", flush=True)
            accepted += sum(summary.count(o) for o in ("accepted", "accepted_with_warnings", "accepted_with_errors"))
        if (review := review_round(workspace, period, arrived + dt.timedelta(days=6))) is not None:
            print(f"{month_label(period)}: the reviewer's decisions: {review.results[0].note}; "
                  f"{review.describe()}", flush=True)
    with open_store(workspace.store_target, workspace.root) as store:
        findings = reconcile(store, catalogue, workspace).findings
    errors = sum(f.severity == "error" for f in findings)
    warnings = sum(f.severity == "warning" for f in findings)
    return DemoSummary(workspace.master_path, accepted, rejected, errors, warnings)


def _new_financial_year(root: Path) -> tuple[Workspace, Catalogue]:
    """The performance team types in the 2024-25 catalogue and departments; the store records the
    version with who and when (`xlq catalogue diff`)."""
    demo_year.change_workspace(root)
    workspace = load_workspace(root)
    catalogue = load_catalogue(workspace.catalogue_path, workspace.department_codes)
    with open_store(workspace.store_target, workspace.root) as store:
        record_workspace(store, workspace, catalogue, who=demo_year.CHANGED_BY,
                         when=demo_year.CHANGED_AT.astimezone())
    print(f"{month_label(demo_year.NEW_YEAR)}: new financial year: catalogue {catalogue.version} "
          "(new targets, WRAP3 retired, Oliver McGowan added, incidents awaiting closure redefined); "
          "DENT merged into ICASH", flush=True)
    return workspace, catalogue


def _first_draft(catalogue: Catalogue, entries: Mapping[str, Entry]) -> dict[str, Entry]:
    """The first version of a return that is later corrected: one count mistyped (transposed digits)."""
    draft = dict(entries)
    for code, entry in entries.items():
        if catalogue[code].unit == "count" and isinstance(entry.value, int) and entry.value >= 10:
            digits = str(entry.value)
            draft[code] = Entry(value=int(digits[::-1]) if digits != digits[::-1] else entry.value + 9)
            break
    return draft
