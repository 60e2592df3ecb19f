"""The audit store: nothing lost, nothing counted twice, nothing half-stored."""

from __future__ import annotations

import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest
from checked import make_return
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from xlq.core import rules
from xlq.core.catalogue import load_catalogue
from xlq.core.errors import StoreBusy, StoreError
from xlq.core.model import Checked, Finding, Identity, ParsedReturn, Value
from xlq.store import queries
from xlq.store.db import Store
from xlq.store.engine import connect
from xlq.store.history import DEPARTMENT_SQL, MONTH_FILTER
from xlq.store.records import Receipt
from xlq.store.schema import SCHEMA_VERSION, migrate

REPO = Path(__file__).resolve().parents[1]


def receipt(checked: Checked, received: str = "2024-04-05T09:00:00", name: str | None = None) -> Receipt:
    ident = checked.parsed.identity
    assert ident is not None
    original = name or f"{ident.department}-{ident.period}.xlsx"
    return Receipt(checked.parsed.sha256, original, "inbox", received, f"archive/{original}")


def record(store: Store, checked: Checked, received: str = "2024-04-05T09:00:00"):
    return store.record(receipt(checked, received), checked)


def current(store: Store, dept: str, period: str) -> dict[str, float | str | None]:
    return {sv.value.indicator: sv.value.marker or sv.value.value for sv in store.values(department=dept, period=period)}


# -- opening, migrations ---------------------------------------------------------------------------


def test_an_empty_file_becomes_a_current_store_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "xlq.sqlite"
    path.touch()
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.submissions() == []


def test_reopening_a_store_keeps_every_submission_value_and_finding(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "xlq.sqlite"
    warn = rules.finding("outside-history", "12", department="A", period="2024-01", indicator="FALLS", cell="F10")
    with Store(path) as store:
        record(store, make_return("A", "2024-01", {"FALLS": 12, "TRAIN": (9, 10)}, findings=(warn,)))
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert current(store, "A", "2024-01") == {"FALLS": 12.0, "TRAIN": 0.9}
        assert [sf.finding for sf in store.findings()] == [warn]


def test_a_version_1_store_is_migrated_in_order_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = connect(path, timeout=5)
    assert migrate(db, upto=1) == 1
    db.execute("INSERT INTO submissions (sha256, original_name, arrived_in, received_at, location, department, period, "
               "outcome, kind) VALUES ('abc', 'A.xlsx', 'inbox', '2024-01-05T10:00:00', 'archive/A.xlsx', 'A', '2023-12', "
               "'accepted', 'new')")
    db.close()
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.has_hash("abc") == 1
        indexes = {r[0] for r in store._db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "one_current_return" in indexes
        assert [s.id for s in store.submissions(current_only=True)] == [1]  # through the view of migration 3


def test_a_department_month_of_current_values_is_found_by_id_without_listing_every_submission(tmp_path: Path) -> None:
    """The validation history asks for the month recorded before each return it validates: as
    the IN form of the view, SQLite listed every current submission for it (8-10 ms at 10,000
    returns, against 0.1 ms); each value's submission is now looked up by its id (migration 9)."""
    with Store(tmp_path / "xlq.sqlite") as store:
        for dept in ("A", "B"):
            record(store, make_return(dept, "2024-01", {"FALLS": 1}))
        sql = DEPARTMENT_SQL + MONTH_FILTER
        plan = [row[3] for row in store._db.execute("EXPLAIN QUERY PLAN " + sql, ("A", "A", "2024-01", "2024-01"))]
        assert not [step for step in plan if step.startswith("SCAN") or "SUBQUERY" in step], plan
        assert store._db.execute(sql, ("A", "A", "2024-01", "2024-01")).fetchall() == [("FALLS", "2024-01", 1.0, None, None)]


def test_one_submission_is_read_by_its_id_without_listing_every_submission(store_target: Path | str) -> None:
    """`Store.submission` is asked a few times per file settled: whether it is current is looked
    up by its id, not by listing every current submission (4-6 ms at 10,000 returns)."""
    with Store(store_target) as store:
        first = record(store, make_return("A", "2024-01", {"FALLS": 1}))
        again = record(store, make_return("A", "2024-01", {"FALLS": 2}), "2024-04-06T09:00:00")
        assert [store.submission(r.submission_id).current for r in (first, again)] == [False, True]  # type: ignore[union-attr]
        assert [s.current for s in store.submissions()] == [False, True]
        assert [s.id for s in store.submissions(current_only=True)] == [again.submission_id]
        if store.engine == "sqlite":
            plan = [row[3] for row in store._db.execute("EXPLAIN QUERY PLAN " + queries.submission_sql(), (1,))]
            assert not [step for step in plan if step.startswith("SCAN") or "LIST SUBQUERY" in step], plan


def test_migration_5_widens_the_outcome_and_kind_checks_in_place_and_keeps_every_row(tmp_path: Path) -> None:
    """accepted_with_errors and import (issue 15): the CHECK constraints are widened without
    rebuilding the table; a second connection sees the new schema, and nothing else changes."""
    path = tmp_path / "v2.sqlite"
    db = connect(path, timeout=5)
    assert migrate(db, upto=4) == 4  # the schema before issue 15 (with intake's claims journal)
    db.execute("INSERT INTO submissions (sha256, original_name, arrived_in, received_at, location, department, period, "
               "outcome, kind) VALUES ('abc', 'A.xlsx', 'inbox', '2024-01-05T10:00:00', 'archive/A.xlsx', 'A', '2023-12', "
               "'accepted_with_warnings', 'new')")
    db.execute("INSERT INTO submitted_values (submission_id, indicator, department, period, value, sheet, cell, raw, "
               "comment) VALUES (1, 'FALLS', 'A', '2023-12', 3, 'Return', 'F9', '3', '')")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO submissions (sha256, original_name, arrived_in, received_at, location, outcome, kind) "
                   "VALUES ('d', 'B.xlsx', 'inbox', 'now', 'x', 'accepted_with_errors', 'new')")
    assert migrate(db, upto=5) == 5
    assert migrate(db) == SCHEMA_VERSION  # the later steps (catalogue versions, the review loop) apply on top
    db.close()
    with Store(path) as store:
        assert store._db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert current(store, "A", "2023-12") == {"FALLS": 3.0}
        store._db.execute("INSERT INTO submissions (sha256, original_name, arrived_in, received_at, location, outcome, "
                          "kind) VALUES ('d', 'B.xlsx', 'inbox', 'now', 'x', 'accepted_with_errors', 'import')")
        with pytest.raises(sqlite3.IntegrityError):
            store._db.execute("INSERT INTO submissions (sha256, original_name, arrived_in, received_at, location, "
                              "outcome, kind) VALUES ('e', 'C.xlsx', 'inbox', 'now', 'x', 'kept', 'new')")


def test_a_store_from_a_newer_xlq_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(StoreError, match="schema version 99"):
        Store(path)


def test_a_file_that_is_not_a_store_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "xlq.sqlite"
    path.write_bytes(b"this is a spreadsheet, honest" * 100)
    with pytest.raises(StoreError, match="not an xlq store"):
        Store(path)


def test_a_store_locked_by_another_writer_waits_then_raises_store_busy(tmp_path: Path) -> None:
    path = tmp_path / "xlq.sqlite"
    Store(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with Store(path, timeout=0.2) as store, pytest.raises(StoreBusy, match="in use by another process"):
            record(store, make_return("A", "2024-01", {"FALLS": 1}))
    finally:
        other.execute("ROLLBACK")
        other.close()
    with Store(path) as store:
        assert record(store, make_return("A", "2024-01", {"FALLS": 1})).kind == "new"


# -- round trips -------------------------------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_number = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def _values(draw: st.DrawFn) -> list[Value]:
    codes = draw(st.lists(st.from_regex(r"[A-Z][A-Z0-9_]{0,9}", fullmatch=True), unique=True, max_size=12))
    out = []
    for n, code in enumerate(codes):
        kind = draw(st.sampled_from(["number", "ratio", "marker", "blank"]))
        value = numerator = denominator = marker = None
        if kind == "number":
            value = draw(_number)
        elif kind == "ratio":
            numerator, denominator = draw(_number), draw(_number)
            value = draw(st.one_of(st.none(), _number))
        elif kind == "marker":
            marker = draw(st.sampled_from(["N/A", "TBA", "-"]))
        out.append(Value(code, "A", "2024-02", value, numerator, denominator, marker, draw(_text), f"F{n + 10}",
                         draw(_text), draw(_text)))
    return out


_findings = st.lists(st.builds(
    Finding, rule=st.sampled_from(sorted(rules.RULES)), severity=st.sampled_from(["error", "warning", "info"]),
    message=_text, department=st.one_of(st.none(), _text), period=st.one_of(st.none(), _text),
    indicator=st.one_of(st.none(), _text), sheet=st.one_of(st.none(), _text), cell=st.one_of(st.none(), _text),
    value=st.one_of(st.none(), _text), file=st.one_of(st.none(), _text)), max_size=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=_values(), findings=_findings, name=_text)
def test_values_and_findings_come_out_exactly_as_they_went_in(values: list[Value], findings: list[Finding],
                                                             name: str) -> None:
    identity = Identity("Test Trust", "A", "2024-02", "t1", "1")
    checked = Checked(ParsedReturn("x.xlsx", "f" * 64, 1, identity, contact=(("Prepared by", name),)),
                      tuple(values), tuple(findings), "accepted_with_warnings")
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "xlq.sqlite") as store:
        result = store.record(Receipt("f" * 64, name, "inbox/A", "2024-03-01T08:00:00", "archive/x.xlsx"), checked)
        got = {sv.value.indicator: sv.value for sv in store.values()}
        assert got == {v.indicator: v for v in values}
        assert store.count_given(result.submission_id) == sum(v.given for v in values)  # what feedback says was used
        assert [sf.finding for sf in store.findings([result.submission_id])] == findings
        sub = store.submission(result.submission_id)
        assert sub is not None and sub.original_name == name and sub.contact == (("Prepared by", name),)
        assert (sub.department, sub.period, sub.outcome, sub.arrived_in) == ("A", "2024-02", "accepted_with_warnings", "inbox/A")


def test_values_that_would_corrupt_the_trail_are_refused_before_anything_is_stored(store_target: Path | str) -> None:
    good = make_return("A", "2024-01", {"FALLS": 1})
    nan = Checked(good.parsed, (Value("FALLS", "A", "2024-01", float("nan")),), (), "accepted")
    elsewhere = Checked(good.parsed, (Value("FALLS", "B", "2024-01", 1.0),), (), "accepted")
    with Store(store_target) as store:
        for bad in (nan, elsewhere):
            with pytest.raises(ValueError):
                store.record(receipt(good), bad)
        assert store.submissions() == []


# -- resubmissions, duplicates, corrections -------------------------------------------------------------


def test_an_identical_redrop_is_recorded_as_a_duplicate_and_not_counted_twice(store_target: Path | str) -> None:
    checked = make_return("A", "2024-01", {"FALLS": 3})
    with Store(store_target) as store:
        first = record(store, checked)
        again = store.record(receipt(checked, "2024-02-02T10:00:00", name="A copy.xlsx"), checked)
        assert (again.kind, again.duplicate_of, again.superseded) == ("duplicate", first.submission_id, None)
        assert store.has_hash(checked.parsed.sha256) == first.submission_id
        assert len(store.values()) == 1 and len(store.values(current=False)) == 1
        assert [s.kind for s in store.submissions()] == ["new", "duplicate"]
        assert [sf.finding.rule for sf in store.findings([again.submission_id])] == ["duplicate-file"]


def test_a_resubmission_replaces_the_earlier_return_which_stays_in_the_trail(store_target: Path | str) -> None:
    with Store(store_target) as store:
        first = record(store, make_return("A", "2024-01", {"FALLS": 3, "STAFF": 10}))
        second = record(store, make_return("A", "2024-01", {"FALLS": 4}), "2024-02-06T09:00:00")
        assert (second.kind, second.superseded) == ("resubmission", first.submission_id)
        assert current(store, "A", "2024-01") == {"FALLS": 4.0}
        trail = store.values(department="A", current=False)
        assert [(sv.submission_id, sv.value.indicator, sv.current) for sv in trail] == [
            (first.submission_id, "FALLS", False), (first.submission_id, "STAFF", False),
            (second.submission_id, "FALLS", True)]
        assert store.submission(first.submission_id).superseded_by == second.submission_id  # type: ignore[union-attr]


def test_every_reader_agrees_with_the_current_submissions_view(store_target: Path | str) -> None:
    """"Current" is defined once, by the view; the values' `current` flag once spelled it out
    again and forgot duplicates, so a value row under a duplicate (which `record` never
    writes, but a repaired or older store can hold) counted as current in the trail."""
    with Store(store_target) as store:
        checked = make_return("A", "2024-01", {"FALLS": 3})
        first = record(store, checked)
        again = record(store, checked, "2024-01-06T09:00:00")
        store._db.execute("INSERT INTO submitted_values SELECT ?, indicator, department, period, value, numerator, "
                          "denominator, marker, sheet, cell, raw, comment, comment_from, superseded_by FROM submitted_values "
                          "WHERE submission_id = ?", (again.submission_id, first.submission_id))
        view = {row[0] for row in store._db.execute("SELECT id FROM current_submissions")}
        assert view == {first.submission_id}
        assert {s.id for s in store.submissions() if s.current} == view
        assert {s.id for s in store.submissions(current_only=True)} == view
        assert {sv.submission_id: sv.current for sv in store.values(current=False)} == {
            first.submission_id: True, again.submission_id: False}
        assert [sv.submission_id for sv in store.values()] == [first.submission_id]
        assert store.series("FALLS", "A", "2024-02") == [("2024-01", 3.0)]


def test_a_rejected_return_never_replaces_an_accepted_one(store_target: Path | str) -> None:
    bad = rules.finding("not-a-template", department="A", period="2024-01")
    with Store(store_target) as store:
        first = record(store, make_return("A", "2024-01", {"FALLS": 3}))
        rejected = record(store, make_return("A", "2024-01", {}, outcome="rejected", findings=(bad,)))
        assert rejected.superseded is None and rejected.outcome == "rejected"
        assert current(store, "A", "2024-01") == {"FALLS": 3.0}
        assert store.submission(first.submission_id).current  # type: ignore[union-attr]


def test_an_accepted_return_replaces_an_earlier_rejected_one(store_target: Path | str) -> None:
    bad = rules.finding("nothing-filled", department="A", period="2024-01")
    with Store(store_target) as store:
        rejected = record(store, make_return("A", "2024-01", {}, outcome="rejected", findings=(bad,)))
        good = record(store, make_return("A", "2024-01", {"FALLS": 2}))
        assert (good.kind, good.superseded) == ("resubmission", rejected.submission_id)
        assert store.submission(rejected.submission_id).superseded_by == good.submission_id  # type: ignore[union-attr]


def test_replacing_an_older_month_is_a_correction_but_a_first_late_return_is_new(store_target: Path | str) -> None:
    with Store(store_target) as store:
        jan = record(store, make_return("A", "2024-01", {"FALLS": 3}))
        record(store, make_return("A", "2024-02", {"FALLS": 5}))
        fix = record(store, make_return("A", "2024-01", {"FALLS": 4}), "2024-03-02T09:00:00")
        late = record(store, make_return("A", "2023-12", {"FALLS": 1}))
        assert (fix.kind, fix.superseded) == ("correction", jan.submission_id)
        assert (late.kind, late.superseded) == ("new", None)
        assert current(store, "A", "2024-01") == {"FALLS": 4.0}


def test_an_unchanged_value_keeps_the_comment_that_explained_its_warning(store_target: Path | str) -> None:
    warn = rules.finding("large-change-unexplained", "40", department="A", period="2024-01", indicator="FALLS")
    explained = make_return("A", "2024-01", {"FALLS": 40, "STAFF": 10, "SAT": 0.5}, findings=(warn,),
                            comments={"FALLS": "Outbreak on ward 3", "STAFF": "no warning here"})
    with Store(store_target) as store:
        first = record(store, explained)
        record(store, make_return("A", "2024-01", {"FALLS": 40, "STAFF": 10, "SAT": 0.6}))
        got = {sv.value.indicator: sv for sv in store.values()}
        assert (got["FALLS"].value.comment, got["FALLS"].comment_from) == ("Outbreak on ward 3", first.submission_id)
        assert (got["STAFF"].value.comment, got["STAFF"].comment_from) == ("", None)
        third = record(store, make_return("A", "2024-01", {"FALLS": 41, "STAFF": 10}, tag="changed"))
        assert current(store, "A", "2024-01") == {"FALLS": 41.0, "STAFF": 10.0}
        assert all(sv.value.comment == "" for sv in store.values(submission_ids=[third.submission_id]))


def test_a_carried_comment_keeps_naming_the_return_that_first_gave_it(store_target: Path | str) -> None:
    warn = rules.finding("outside-history", "40", department="A", period="2024-01", indicator="FALLS")
    with Store(store_target) as store:
        first = record(store, make_return("A", "2024-01", {"FALLS": 40}, findings=(warn,), comments={"FALLS": "why"}))
        record(store, make_return("A", "2024-01", {"FALLS": 40}, findings=(warn,)))
        record(store, make_return("A", "2024-01", {"FALLS": 40}, findings=(warn,), tag="third"))
        (only,) = store.values()
        assert (only.value.comment, only.comment_from) == ("why", first.submission_id)


class Drops(RuleBasedStateMachine):
    """Random drops, re-drops and rejections: the current values are always exactly those of the
    last accepted file per department and month (the latest arrival wins, so re-sent bytes of a
    replaced return count again), and every file stays in the trail. Bytes equal to the current
    return are duplicates; anything else is judged again."""

    def __init__(self) -> None:
        super().__init__()
        self._dir = tempfile.TemporaryDirectory()
        self.store = Store(Path(self._dir.name) / "s.sqlite")
        self.files: list[Checked] = []
        self.expected: dict[tuple[str, str], dict[str, float]] = {}
        self.current: dict[tuple[str, str], str] = {}
        self.received = 0

    def _arrive(self, checked: Checked, kind: str) -> None:
        identity = checked.parsed.identity
        key = (identity.department, identity.period)
        duplicate = self.current.get(key) == checked.parsed.sha256
        assert (kind == "duplicate") == duplicate
        self.received += 1
        if not duplicate:
            self.files.append(checked)
            if checked.outcome != "rejected":
                self.expected[key] = {v.indicator: v.value for v in checked.values}
                self.current[key] = checked.parsed.sha256

    @rule(dept=st.sampled_from(["A", "B"]), period=st.sampled_from(["2024-01", "2024-02", "2024-03"]),
          values=st.dictionaries(st.sampled_from(["FALLS", "STAFF", "SAT"]), st.integers(0, 5), max_size=3),
          rejected=st.booleans())
    def drop(self, dept: str, period: str, values: dict[str, int], rejected: bool) -> None:
        checked = make_return(dept, period, values, outcome="rejected" if rejected else "accepted")
        result = record(self.store, checked, f"2024-04-05T09:{self.received % 60:02d}:00")
        self._arrive(checked, result.kind)

    @rule(data=st.data())
    def redrop(self, data: st.DataObject) -> None:
        if self.files:
            checked = data.draw(st.sampled_from(self.files))
            self._arrive(checked, record(self.store, checked).kind)

    @invariant()
    def current_values_are_the_last_accepted_file(self) -> None:
        got: dict[tuple[str, str], dict[str, float]] = {}
        for sv in self.store.values():
            got.setdefault((sv.value.department, sv.value.period), {})[sv.value.indicator] = sv.value.value  # type: ignore
        assert got == {k: v for k, v in self.expected.items() if v}
        assert self.store.count_files() == self.received
        assert len(self.store.values(current=False)) == sum(len(c.values) for c in self.files)

    def teardown(self) -> None:
        self.store.close()
        self._dir.cleanup()


Drops.TestCase.settings = settings(max_examples=40, stateful_step_count=15, deadline=None)
test_drops_never_lose_or_double_count_a_value = Drops.TestCase


# -- reading -------------------------------------------------------------------------------------------


def test_series_gives_current_numbers_before_the_month_oldest_first(store_target: Path | str) -> None:
    with Store(store_target) as store:
        record(store, make_return("A", "2024-02", {"TRAIN": (8, 10)}))
        record(store, make_return("A", "2023-12", {"TRAIN": (1, 4)}))
        record(store, make_return("A", "2024-01", {"TRAIN": "N/A"}))
        record(store, make_return("A", "2023-12", {"TRAIN": (3, 4)}))
        record(store, make_return("A", "2024-03", {"TRAIN": (9, 10)}))
        assert store.series("TRAIN", "A", "2024-03") == [("2023-12", 0.75), ("2024-02", 0.8)]
        assert store.series("TRAIN", "B", "2024-03") == []


def test_series_sees_writes_made_after_it_was_last_asked_by_this_store_or_another(store_target: Path | str) -> None:
    path = store_target
    with Store(path) as store, Store(path) as other:
        record(store, make_return("A", "2024-01", {"FALLS": 3}))
        assert store.series("FALLS", "A", "2024-03") == [("2024-01", 3.0)]
        record(store, make_return("A", "2024-02", {"FALLS": 5}))
        assert store.series("FALLS", "A", "2024-03") == [("2024-01", 3.0), ("2024-02", 5.0)]
        record(other, make_return("A", "2024-01", {"FALLS": 4}))
        assert store.series("FALLS", "A", "2024-03") == [("2024-01", 4.0), ("2024-02", 5.0)]


def test_the_data_version_is_checked_once_per_return_asked_about_not_per_indicator(store_target: Path | str) -> None:
    """On PostgreSQL the check is a query: once per indicator it cost more than the rest of
    validating 10,000 returns. A return's indicators share one check; asking again re-checks."""
    codes = [f"IND{n}" for n in range(60)]
    with Store(store_target) as store, Store(store_target) as other:
        record(store, make_return("A", "2024-01", {code: n for n, code in enumerate(codes)}))
        checks = []
        real = store._db.data_version
        store._db.data_version = lambda: checks.append(1) or real()  # counts the real checks
        for code in codes:  # validating one return
            store.series(code, "A", "2024-03")
            store.denominators(code, "A", "2024-03")
        assert len(checks) == 1
        record(other, make_return("A", "2024-02", {"IND1": 5}))
        assert store.series("IND1", "A", "2024-03") == [("2024-01", 1.0), ("2024-02", 5.0)]  # asked again
        assert len(checks) == 2
        store.series("IND1", "B", "2024-03")  # another department: another return
        assert len(checks) == 3


def test_the_history_cache_survives_this_stores_own_commits(store_target: Path | str) -> None:
    """Only another connection's commit reloads the validation history. PostgreSQL's data version
    counts our own commits too, so without this the history was reloaded after every group."""
    with Store(store_target) as store:
        record(store, make_return("A", "2024-01", {"FALLS": 3}))
        assert store.series("FALLS", "A", "2024-03") == [("2024-01", 3.0)]
        record(store, make_return("B", "2024-01", {"FALLS": 1}))
        with store.batch():
            record(store, make_return("C", "2024-01", {"FALLS": 2}))
        assert store.series("FALLS", "B", "2024-03") == [("2024-01", 1.0)]
        assert set(store._history._months) == {"A", "B"}, "A's history was dropped by our own commit"


def test_a_batch_keeps_each_return_whole_and_stores_the_rest(store_target: Path | str) -> None:
    path = store_target
    broken = make_return("B", "2024-01", {"FALLS": 2}, findings=(object(),))  # type: ignore[arg-type]
    with Store(path) as store, Store(path) as reader:
        with store.batch():
            record(store, make_return("A", "2024-01", {"FALLS": 1}))
            with pytest.raises(AttributeError):
                record(store, broken)  # fails after its submission row and values were written
            record(store, make_return("C", "2024-01", {"FALLS": 3}))
            assert reader.submissions() == [], "nothing is visible, or durable, before the batch ends"
        assert [s.department for s in reader.submissions()] == ["A", "C"]
        assert {sv.value.department for sv in reader.values(current=False)} == {"A", "C"}


def test_a_batch_that_ends_in_an_error_keeps_none_of_its_returns(store_target: Path | str) -> None:
    with Store(store_target) as store:
        record(store, make_return("A", "2023-12", {"FALLS": 1}))
        with pytest.raises(RuntimeError), store.batch():
            record(store, make_return("A", "2024-01", {"FALLS": 2}))
            raise RuntimeError("the caller failed before its files were moved")
        assert [s.period for s in store.submissions()] == ["2023-12"]
        record(store, make_return("A", "2024-01", {"FALLS": 2}))
        assert [s.period for s in store.submissions()] == ["2023-12", "2024-01"]


def test_last_month_gives_plain_text_or_catalogue_formatted_text(store_target: Path | str, tmp_path: Path) -> None:
    catalogue_path = tmp_path / "catalogue.toml"
    catalogue_path.write_text(textwrap.dedent("""\
        version = "t1"
        [[indicator]]
        code = "TRAIN"
        domain = "Workforce"
        name = "Training"
        unit = "ratio"
        aggregate = "ratio"
        decimals = 1
        [[indicator]]
        code = "FALLS"
        domain = "Safety"
        name = "Falls"
        unit = "count"
        [[indicator]]
        code = "SAT"
        domain = "Experience"
        name = "Satisfaction"
        unit = "percent"
        aggregate = "sum"
    """))
    catalogue = load_catalogue(catalogue_path)
    with Store(store_target) as store:
        record(store, make_return("A", "2023-12", {"TRAIN": (93, 100), "FALLS": 4, "SAT": "TBA"}))
        assert store.last_month("A", "2024-01") == {"TRAIN": "0.93", "FALLS": "4", "SAT": "TBA"}
        assert store.last_month("A", "2024-01", catalogue) == {"TRAIN": "93.0% (93/100)", "FALLS": "4", "SAT": "TBA"}
        assert store.last_month("A", "2024-02") == {}


def test_set_location_records_where_the_file_now_lives(store_target: Path | str) -> None:
    with Store(store_target) as store:
        result = record(store, make_return("A", "2024-01", {"FALLS": 1}))
        store.set_location(result.submission_id, "rejected/A.xlsx")
        assert store.submission(result.submission_id).location == "rejected/A.xlsx"  # type: ignore[union-attr]
        with pytest.raises(KeyError):
            store.set_location(999, "x")


# -- crash safety ---------------------------------------------------------------------------------------

_CHILD = """
import os, sys, time
sys.path.insert(0, {tests!r})
from test_store import big_return, receipt
from xlq.store.db import Store
from xlq.store.engine import connect
store = Store({path!r})
mode = sys.argv[1]
if mode == "hook":
    count = [0]
    def hook(statement):
        if statement.startswith("INSERT INTO submitted_values"):
            count[0] += 1
            if count[0] == 1500:
                print("inside", flush=True)
                time.sleep(120)
    store._db._db.set_trace_callback(hook)
    big = big_return("2024-02")
    store.record(receipt(big), big)
else:
    for n in range(1, 10_000):
        month = "{{:04d}}-{{:02d}}".format(2000 + n // 12, n % 12 + 1)
        big = big_return(month)
        print("start", n, flush=True)
        store.record(receipt(big), big)
"""


def big_return(period: str, size: int = 3000) -> Checked:
    return make_return("A", period, {f"I{n:05d}": n for n in range(size)})


def _child(tmp_path: Path, path: Path, mode: str) -> subprocess.Popen:
    script = tmp_path / "child.py"
    script.write_text(_CHILD.format(tests=str(Path(__file__).parent), path=str(path)))
    return subprocess.Popen([sys.executable, str(script), mode], stdout=subprocess.PIPE, text=True, cwd=REPO)


class _Output:
    """A child's output lines, read by a thread so that waiting for one has a deadline: a child
    that dies (end of output) or hangs fails the test instead of hanging it."""

    def __init__(self, child: subprocess.Popen) -> None:
        assert child.stdout is not None
        self.child, self.lines = child, queue.Queue[str]()
        self.reader = threading.Thread(target=self._read, args=(child.stdout,), daemon=True)
        self.reader.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put("")  # end of output

    def wait_for(self, prefix: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"the child printed no {prefix!r} within {timeout:g} s") from None
            if not line:
                raise AssertionError(f"the child exited ({self.child.wait(30)}) before printing {prefix!r}")
            if line.startswith(prefix):
                return

    def kill(self) -> int:
        """SIGKILL the child, reap it and the reader; the child's exit status."""
        os.kill(self.child.pid, signal.SIGKILL)
        status = self.child.wait(30)
        self.reader.join(30)
        assert self.child.stdout is not None
        self.child.stdout.close()
        return status


def _assert_whole(store: Store) -> None:
    assert store._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert store._db.execute("PRAGMA foreign_key_check").fetchall() == []
    counts = dict(store._db.execute("SELECT submission_id, COUNT(*) FROM submitted_values GROUP BY submission_id"))
    for sub in store.submissions():
        assert counts.get(sub.id) == 3000, f"submission {sub.id} ({sub.period}) is half-stored"


def test_a_process_killed_inside_record_leaves_the_store_as_before_and_the_return_stores_next_time(tmp_path: Path) -> None:
    path = tmp_path / "xlq.sqlite"
    with Store(path) as store:
        first = big_return("2024-01")
        store.record(receipt(first), first)
    output = _Output(_child(tmp_path, path, "hook"))
    output.wait_for("inside")
    assert output.kill() == -signal.SIGKILL
    with Store(path) as store:
        _assert_whole(store)
        assert [s.period for s in store.submissions()] == ["2024-01"]
        again = big_return("2024-02")
        assert store.record(receipt(again), again).kind == "new"
        _assert_whole(store)
        assert len(store.values(period="2024-02")) == 3000


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_process_killed_at_a_random_moment_never_leaves_half_a_return(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "xlq.sqlite"
    Store(path).close()
    output = _Output(_child(tmp_path, path, "loop"))
    started = random.Random(seed).randint(2, 4)
    output.wait_for(f"start {started}")
    time.sleep(random.Random(seed).uniform(0.0, 0.15))
    output.kill()
    with Store(path) as store:
        _assert_whole(store)
        stored = len(store.submissions())
        assert stored >= started - 1
        again = big_return("2030-01")
        store.record(receipt(again), again)
        _assert_whole(store)


def test_an_import_replaces_one_value_and_every_reader_agrees_with_the_current_values_view(store_target: Path | str) -> None:
    """Issue 15 on main's split store: the value-level rule lives in the view `current_values`;
    values, the trail's `current` flag, the validation history and its denominators all read it,
    and a return recorded later replaces the import along with the month."""
    with Store(store_target) as store:
        first = record(store, make_return("A", "2024-01", {"FALLS": 3, "TRAIN": (9, 10)}))
        fix = make_return("A", "2024-01", {"TRAIN": (18, 20)}, tag="import")
        imported = store.record_import(receipt(fix, name="history.csv"), fix)
        assert (imported.kind, imported.superseded) == ("import", first.submission_id)
        assert current(store, "A", "2024-01") == {"FALLS": 3.0, "TRAIN": 0.9}
        assert [(sv.submission_id, sv.value.indicator) for sv in store.values()] == [
            (first.submission_id, "FALLS"), (imported.submission_id, "TRAIN")]
        view = {tuple(row) for row in store._db.execute("SELECT submission_id, indicator FROM current_values")}
        assert {(sv.submission_id, sv.value.indicator) for sv in store.values(current=False) if sv.current} == view
        assert store.denominators("TRAIN", "A", "2024-02") == [("2024-01", 20.0)]
        assert store.series("TRAIN", "A", "2024-02") == [("2024-01", 0.9)]
        again = store.record_import(receipt(fix, name="history.csv"), fix)
        assert (again.kind, again.duplicate_of) == ("duplicate", imported.submission_id)
        later = record(store, make_return("A", "2024-01", {"FALLS": 4, "TRAIN": (5, 10)}, tag="later"))
        assert later.superseded == first.submission_id  # the return, not the import merged into it
        assert current(store, "A", "2024-01") == {"FALLS": 4.0, "TRAIN": 0.5}
        assert store.denominators("TRAIN", "A", "2024-02") == [("2024-01", 10.0)]
