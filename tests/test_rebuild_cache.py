"""A watcher's rebuild reuses what did not change (master/rebuild_cache.py): after every kind of
change the store can see, a reviewer's decisions included, it must give exactly what a rebuild
from nothing gives."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from checked import make_return
from test_reconcile import CATALOGUE, CONFIG, LATER
from workspaces import write_workspace

from xlq.core import rules
from xlq.core.errors import StoreError
from xlq.core.months import months_ending, shift_period
from xlq.master import reconcile as reconcile_module
from xlq.master.history import indicator_history
from xlq.master.rebuild_cache import RebuildCache
from xlq.master.reconcile import reconcile
from xlq.store.db import Store
from xlq.store.records import Receipt
from xlq.store.reviews import Decision, ReviewFile, finding_index, record_review

MONTHS = months_ending("2024-03", 30)  # the window, the SPC history before it, and the rolling years' start
MARKERS = (None, "N/A", "TBA")
FLAGS = ("outside-history", "large-change-unexplained", "not-whole-number")  # two warnings and an error on a cell


def _values(rng: random.Random) -> dict[str, object]:
    """A department's month: counts, ratios, a weight, a central figure, some blank or marked."""
    out: dict[str, object] = {}
    for code in ("FALLS", "STAFF", "SAT", "FOI"):
        roll = rng.random()
        out[code] = rng.randint(0, 20) if roll < 0.75 else rng.choice(MARKERS)
    for code in ("TRAIN", "SICK", "TURN", "COMPL"):
        if rng.random() < 0.85:
            out[code] = (rng.randint(0, 30), rng.randint(0, 40))
    return out


RENAMED = CATALOGUE.replace('code = "FALLS"', 'code = "FALLS-ALL"\nrenamed_from = ["FALLS"]')
"""FALLS renamed: the values stored under its old code count as FALLS-ALL's (issue 21)."""


@pytest.mark.parametrize(("seed", "catalogue_text"), [(1, CATALOGUE), (2, CATALOGUE), (3, RENAMED)])
def test_a_rebuild_that_reuses_what_did_not_change_gives_what_a_fresh_one_gives(
        store_target: Path | str, tmp_path: Path, seed: int, catalogue_text: str) -> None:
    rng = random.Random(seed)
    workspace, catalogue = write_workspace(tmp_path, catalogue=catalogue_text, config=CONFIG + "[store]\n")
    cache = RebuildCache()
    with Store(store_target) as store:
        def received(period: str, late: bool = False) -> str:
            return f"{shift_period(period, 2 if late else 1)}-0{rng.randint(1, 9)}T09:00:00"

        def record(dept: str, period: str, kind: str) -> None:
            tag = f"{kind}{rng.random()}"
            if kind == "import":
                checked = make_return(dept, period, {rng.choice(("FALLS", "STAFF")): rng.randint(0, 9)}, tag=tag)
                receipt = Receipt(checked.parsed.sha256, f"{dept}-{period}.csv", "inbox", received(period), "x.csv")
                store.record_import(receipt, checked)
                return
            outcome = "rejected" if kind == "rejected" else "accepted"
            values = _values(rng)
            flagged = [code for code, value in values.items() if value is not None and rng.random() < 0.3]
            findings = tuple(rules.finding(rng.choice(FLAGS), values[code], department=dept, period=period,
                                           indicator=code, cell=f"F{row}")
                             for row, code in enumerate(values, start=10) if code in flagged)
            checked = make_return(dept, period, values, outcome=outcome, findings=findings, tag=tag)
            name = f"{dept}-{period}.xlsx"
            store.record(Receipt(checked.parsed.sha256, name, "inbox", received(period, late=kind == "late"),
                                 f"archive/{name}"), checked)
            if kind == "again":  # the same bytes dropped twice: a duplicate
                store.record(Receipt(checked.parsed.sha256, name, "inbox", received(period), f"archive/{name}"),
                             checked)

        def review(step: int) -> None:
            """A reviewer's decision on a finding in the window: no submission is stored."""
            index = sorted(finding_index(store, MONTHS[-13:]).values(), key=lambda item: item.id)
            if not index:
                return
            item = rng.choice(index)
            f = item.finding
            decision = Decision(item.id, f.department or "", f.period or "", f.indicator or "", f.rule, f.value or "",
                                rng.choice(("Accept", "Exclude", "Query")), "", "R", f"2024-04-2{step % 10}T10:00:00",
                                "applied")
            record_review(store, ReviewFile(f"sha{step}", f"review{step}.xlsx", "inbox/_review", "2024-04-20T10:00",
                                            "x", "R", "applied"), [decision])

        handed_out: list = []

        def same(period: str = "2024-03", months: int = 13, histories: bool = False) -> None:
            kept = reconcile(store, catalogue, workspace, period=period, months=months, today=LATER, cache=cache)
            fresh = reconcile(store, catalogue, workspace, period=period, months=months, today=LATER)
            assert kept == fresh
            assert list(kept.findings) == list(fresh.findings)  # the same findings in the same order
            for indicator in catalogue.indicators if histories else ():  # xlq history reads only what one needs
                history = indicator_history(store, catalogue, workspace, indicator.code, period=period, months=months,
                                            today=LATER)
                assert history.org == tuple(fresh.org[key] for p in history.periods
                                            if (key := (indicator.code, p)) in fresh.org), indicator.code
            for earlier, values in handed_out:
                assert earlier.by_department == values, "a result handed out changed at the next rebuild"
            handed_out[:] = [(kept, dict(kept.by_department))]

        for dept in ("A", "B", "C"):  # a history to reuse
            for period in MONTHS:
                if rng.random() < 0.8:
                    record(dept, period, "return")
        same(histories=True)
        for step in range(20):
            kind = rng.choice(("return", "return", "late", "rejected", "import", "again", "review", "review"))
            period = rng.choice(MONTHS[-14:]) if step % 2 else rng.choice(MONTHS[:-13])  # in the window, or before
            if kind == "review":
                review(step)
            else:
                record(rng.choice("ABC"), period, kind)
            same()
            if step == 9:
                same(period="2024-02", histories=True)  # another window: nothing kept is used
                same()
        same(histories=True)
        same(months=2)  # the master's window is 13 months; a shorter one shares nothing with it


def test_a_rebuild_for_another_day_starts_afresh(tmp_path: Path) -> None:
    workspace, catalogue = write_workspace(tmp_path, catalogue=CATALOGUE, config=CONFIG)
    cache = RebuildCache()
    with Store(tmp_path / "s.sqlite") as store:
        checked = make_return("A", "2024-03", {"FALLS": 3})
        store.record(Receipt(checked.parsed.sha256, "a.xlsx", "inbox", "2024-04-05T09:00:00", "a.xlsx"), checked)
        early = dt.date(2024, 4, 2)  # B's March return is not yet due
        assert reconcile(store, catalogue, workspace, today=early, cache=cache) == reconcile(
            store, catalogue, workspace, today=early)
        assert cache.seen and cache.window
        assert reconcile(store, catalogue, workspace, today=LATER, cache=cache) == reconcile(
            store, catalogue, workspace, today=LATER)


def test_a_value_under_a_code_new_to_the_window_is_in_the_breakdown_at_the_next_rebuild(tmp_path: Path) -> None:
    """Only the codes of the window's values and the catalogue's are looked up for a month read
    again, so a code neither had before (one the catalogue no longer has) must be added."""
    workspace, catalogue = write_workspace(tmp_path, catalogue=CATALOGUE, config=CONFIG)
    cache = RebuildCache()
    with Store(tmp_path / "s.sqlite") as store:
        for dept, values in (("A", {"FALLS": 3}), ("B", {"FALLS": 2, "RETIRED": 4})):
            checked = make_return(dept, "2024-03", values)
            store.record(Receipt(checked.parsed.sha256, f"{dept}.xlsx", "inbox", "2024-04-05T09:00:00", "x"), checked)
            kept = reconcile(store, catalogue, workspace, today=LATER, cache=cache)
        assert kept == reconcile(store, catalogue, workspace, today=LATER)
        assert kept.by_department[("RETIRED", "B", "2024-03")].value == 4


def test_a_rebuild_that_fails_on_the_way_reads_its_months_again_next_time(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The store can fail mid-rebuild (a PostgreSQL connection lost); what was kept must not then
    count the new return as included while part of what is made of it is not."""
    workspace, catalogue = write_workspace(tmp_path, catalogue=CATALOGUE, config=CONFIG)
    cache = RebuildCache()
    with Store(tmp_path / "s.sqlite") as store:
        for falls, tag in ((3, ""), (7, "again")):  # a return, then its resubmission
            checked = make_return("A", "2024-03", {"FALLS": falls}, tag=tag)
            store.record(Receipt(checked.parsed.sha256, f"a{tag}.xlsx", "inbox", "2024-04-05T09:00:00", "x"), checked)
            if not tag:
                reconcile(store, catalogue, workspace, today=LATER, cache=cache)

        def lost(*args: object, **kwargs: object) -> None:
            raise StoreError("the connection to the store was lost")

        with monkeypatch.context() as patch:  # the last store read a rebuild makes
            patch.setattr(reconcile_module, "with_reasons", lost)
            with pytest.raises(StoreError):
                reconcile(store, catalogue, workspace, today=LATER, cache=cache)
        kept = reconcile(store, catalogue, workspace, today=LATER, cache=cache)
        assert kept == reconcile(store, catalogue, workspace, today=LATER)
        assert kept.by_department[("FALLS", "A", "2024-03")].value == 7


class _Interleaved(Store):
    """A real store on which another watcher stores a return between the two reads a rebuild
    makes of the submissions (the cache's list of them, and the submissions themselves)."""

    between = None
    reads = 0

    def _read(self) -> None:
        self.reads += 1
        if self.reads == 2 and self.between is not None:
            self.between()

    def rows(self, sql: str, params=()) -> list[tuple]:
        if sql.startswith("SELECT id, department, period FROM submissions"):
            self._read()
        return super().rows(sql, params)

    def submissions(self, **kw):
        self._read()
        return super().submissions(**kw)


def test_a_return_stored_by_another_watcher_during_a_rebuild_is_read_then_or_next_time(tmp_path: Path) -> None:
    workspace, catalogue = write_workspace(tmp_path, catalogue=CATALOGUE, config=CONFIG)
    cache = RebuildCache()
    with _Interleaved(tmp_path / "s.sqlite") as store:
        def drop(dept: str, period: str, falls: int, tag: str = "") -> None:
            checked = make_return(dept, period, {"FALLS": falls, "STAFF": 4}, tag=tag)
            store.record(Receipt(checked.parsed.sha256, f"{dept}{tag}.xlsx", "inbox", f"{shift_period(period, 1)}-05T09:00",
                                 "x"), checked)

        for period in months_ending("2024-03", 3):
            for dept in "ABC":
                drop(dept, period, 1)
        reconcile(store, catalogue, workspace, today=LATER, cache=cache)
        store.reads, store.between = 0, lambda: drop("A", "2024-03", 7, tag="again")  # a resubmission
        reconcile(store, catalogue, workspace, today=LATER, cache=cache)
        store.between = None
        kept = reconcile(store, catalogue, workspace, today=LATER, cache=cache)
        assert kept == reconcile(store, catalogue, workspace, today=LATER)
        assert kept.org[("FALLS", "2024-03")].value == 9  # 7 + 1 + 1: the resubmission counts, once
