"""The review loop end to end (issue 17), through real files: the master and the review workbook
are issued, decisions are typed in with openpyxl (and re-saved by LibreOffice), the workbook is
dropped into inbox/_review/ and the real pipeline reads it in its worker; then the store, the
next master, the department's feedback and next template, the response in its next return,
`xlq status --json` and `xlq history` are checked. Hostile review workbooks are refused or
neutralised."""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
import workspaces
from deadline import wait_for
from returns import GOOD, fill, make_workspace, real_template

from xlq.cli import main
from xlq.core.config import load_workspace
from xlq.core.errors import ConfigError
from xlq.core.review import finding_id, open_ref, sealed_ref
from xlq.core.rules import RULES
from xlq.master.plan import make_plan
from xlq.master.reconcile import reconcile
from xlq.master.review_book import QUERIES_NAME
from xlq.store import reviews
from xlq.store.db import Store
from xlq.watch.pipeline import Pipeline
from xlq.watch.watcher import Watcher

DEC, JAN = "2023-12", "2024-01"
REVIEWER = "A. Reviewer"
LUT_DEC = {**GOOD, "TRAIN": {"Value": 85}, "COMPL": {"Numerator": 6, "Denominator": 5}}
MSK_DEC = {**GOOD, "INC": {"Value": 7}, "INC_LOW": {"Value": 5}, "INC_HIGH": {"Value": 1}}


class Trust:
    """A workspace, the days its runs happen on, and the files people drop into it."""

    def __init__(self, root: Path, current: str = DEC, **settings: str) -> None:
        self.workspace, self.catalogue = make_workspace(root, current=current, **settings)
        self.root = root
        self.today = dt.date(2024, 1, 5)
        self.refs: dict[str, dict[tuple[str, str], str]] = {}

    def month(self, period: str, today: dt.date) -> None:
        """Move the workspace on to collecting `period` (as an administrator edits xlq.toml)."""
        config = self.root / "xlq.toml"
        config.write_text(re.sub(r'^current = "[^"]*"', f'current = "{period}"', config.read_text(), flags=re.M))
        self.workspace = load_workspace(self.root)
        self.today = today

    def drop(self, dept: str, cells: dict, name: str, period: str = DEC, template: Path | None = None) -> Path:
        source = template or self.root / "templates" / period / f"{dept}.xlsx"
        if not source.exists():
            real_template(self.catalogue, self.workspace, source, dept, period)
        filled = fill(source, self.root / "inbox" / dept / name, cells)
        self.refs[name] = filled.refs
        return _settled(filled.path)

    def run(self):
        with Pipeline(self.workspace, catalogue=self.catalogue, today=self.today) as pipeline:
            return pipeline.run_once(lambda result: None)

    def review_copy(self, name: str) -> Path:
        copy = self.root.parent / name
        shutil.copyfile(self.root / "outbox" / "review.xlsx", copy)
        return copy

    def drop_review(self, path: Path) -> Path:
        target = self.root / "inbox" / "_review" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        return _settled(target)

    def store(self) -> Store:
        return Store(self.workspace.store_target)


def _settled(path: Path) -> Path:
    old = time.time() - 30
    os.utime(path, (old, old))
    return path


def decide(book: Path, out: Path, decisions: dict[tuple[str, str], tuple[str, str]], *, reviewer: str = REVIEWER,
           sign: tuple[str, ...] = ()) -> Path:
    """Type decisions into a review workbook as a reviewer would: by Department and Indicator."""
    wb = openpyxl.load_workbook(book)
    ws = wb["Review"]
    ws["B3"] = reviewer
    header = next(r for r in ws.iter_rows(max_row=30) if r[0].value == "Department")
    col = {c.value: c.column for c in header}
    for row in ws.iter_rows(min_row=header[0].row + 1):
        key = (row[col["Department"] - 1].value, row[col["Indicator"] - 1].value)
        if key in decisions:
            choice, note = decisions[key]
            ws.cell(row[0].row, col["Decision"], choice)
            ws.cell(row[0].row, col["Note"], note)
    sheet = wb["Sign-off"]
    for row in sheet.iter_rows(min_row=5):
        if row[0].value in sign:
            row[5].value = "Sign off"
    wb.save(out)
    return out


def sheet_rows(path: Path, sheet: str) -> list[tuple]:
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        return [tuple(r) for r in wb[sheet].iter_rows(values_only=True)]
    finally:
        wb.close()


def review_rows(path: Path) -> list[dict]:
    rows = sheet_rows(path, "Review")
    at = next(n for n, r in enumerate(rows) if r and r[0] == "Department")
    return [dict(zip(rows[at], r, strict=False)) for r in rows[at + 1:] if r and r[0]]


def status_json(trust: Trust, capsys, period: str) -> dict:
    capsys.readouterr()
    assert main(["status", "-w", str(trust.root), "--period", period, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def trust(tmp_path: Path, store_engine: str) -> Trust:
    """Two December returns received, on each engine (the review loop's tables are in both)."""
    trust = Trust(tmp_path / "ws")
    trust.drop("LUT", LUT_DEC, "LUT Dec.xlsx")
    trust.drop("MSK", MSK_DEC, "MSK Dec.xlsx")
    trust.run()
    return trust


def test_the_review_workbook_lists_each_open_finding_with_locked_cells_and_validated_inputs(trust: Trust) -> None:
    book = trust.root / "outbox" / "review.xlsx"
    rows = review_rows(book)
    assert {(r["Department"], r["Indicator"], r["Rule"]) for r in rows} == {
        ("LUT", "TRAIN", "percent-assumed"), ("LUT", "COMPL", "numerator-above-denominator"),
        ("MSK", "INC", "parts-do-not-sum")}
    assert all(re.fullmatch(r"[0-9a-f]{24}\.[0-9a-f]{16}", r["Ref"]) for r in rows)
    wb = openpyxl.load_workbook(book)
    ws = wb["Review"]
    assert ws.protection.sheet and wb["Sign-off"].protection.sheet and wb["xlq_review"].sheet_state == "hidden"
    header = next(r for r in ws.iter_rows(max_row=30) if r[0].value == "Department")
    first = header[0].row + 1
    col = {c.value: c.column_letter for c in header}
    assert ws["B3"].protection.locked is False
    assert ws[f"{col['Decision']}{first}"].protection.locked is False
    assert ws[f"{col['Note']}{first}"].protection.locked is False
    assert ws[f"{col['Message']}{first}"].protection.locked is not False
    lists = [dv for dv in ws.data_validations.dataValidation if dv.type == "list"]
    assert lists and lists[0].formula1 == '"Accept,Query,Exclude"'
    link = ws[f"{col['In the master']}{first}"].hyperlink
    assert link is not None and link.target.startswith("scorecard.xlsx") or "scorecard.xlsx" in str(link.location)


def test_accept_query_exclude_and_sign_off_flow_into_the_store_the_master_status_feedback_and_next_template(
        trust: Trust, tmp_path: Path, capsys) -> None:
    filled = decide(trust.review_copy("review Dec.xlsx"), tmp_path / "review Dec.xlsx", {
        ("LUT", "TRAIN"): ("Accept", "Checked with the ward manager: 85% is right"),
        ("LUT", "COMPL"): ("Query", "Six answered out of five received: which figure is right?"),
        ("MSK", "INC"): ("Exclude", "The breakdown does not add up"),
    }, sign=("LUT", "MSK"))
    trust.drop_review(filled)
    summary = trust.run()
    (result,) = summary.results
    assert (result.kind, result.outcome) == ("review", "accepted") and summary.rebuilt
    assert result.moved_to.startswith("archive/reviews/")
    with trust.store() as store:
        decided = reviews.decisions(store, applied_only=False)
        assert {(d.department, d.indicator, d.decision, d.state, d.reviewer) for d in decided} == {
            ("LUT", "TRAIN", "Accept", "applied", REVIEWER), ("LUT", "COMPL", "Query", "applied", REVIEWER),
            ("MSK", "INC", "Exclude", "applied", REVIEWER)}
        assert all(d.file == "review Dec.xlsx" and d.decided_at for d in decided)
        assert {(s.department, s.period, s.reviewer) for s in reviews.sign_offs(store)} == {
            ("LUT", DEC, REVIEWER), ("MSK", DEC, REVIEWER)}
        reconciled = reconcile(store, trust.catalogue, trust.workspace, today=trust.today)
    # Exclude: MSK's 7 incidents stay in the store but not in the organisation figure
    assert reconciled.by_department[("INC", "MSK", DEC)].value == 7
    assert reconciled.org[("INC", DEC)].value == 12
    assert any(f.startswith("excluded: MSK") for f in reconciled.org[("INC", DEC)].flags)
    plan = make_plan(reconciled, trust.catalogue, trust.workspace, dt.datetime(2024, 1, 5))
    # Accept: the TRAIN cell is no longer flagged, and its note says it was reviewed
    assert ("TRAIN", DEC) not in plan.flag_reasons
    assert any("accepted by A. Reviewer" in n for n in plan.cell_notes[("TRAIN", DEC)])
    assert any("queried by A. Reviewer" in r for r in plan.flag_reasons[("COMPL", DEC)])
    assert any("excluded: MSK" in r for r in plan.flag_reasons[("INC", DEC)])
    master = trust.root / "outbox" / "scorecard.xlsx"
    errors = sheet_rows(master, "Validation Errors")
    head = next(r for r in errors if r and r[0] == "Severity")
    reviewed = {(r[head.index("Indicator")], r[head.index("Rule")]): r[head.index("Review")] for r in errors
                if r and r[0] in ("warning", "error")}
    assert reviewed["TRAIN", "percent-assumed"].startswith("accepted by A. Reviewer on ")
    assert "ward manager" in reviewed["TRAIN", "percent-assumed"]
    assert reviewed["COMPL", "numerator-above-denominator"].startswith("queried by A. Reviewer")
    assert "awaiting" in reviewed["COMPL", "numerator-above-denominator"]
    assert reviewed["INC", "parts-do-not-sum"].startswith("excluded by A. Reviewer")
    title = [r[0] for r in sheet_rows(master, "Scorecard")[:5]]
    assert any("2 of 7 signed off by a reviewer" in (t or "") for t in title)
    subs = sheet_rows(master, "Submissions")
    assert any(r[0] == "LUT" and any("signed off" in str(c) for c in r) for r in subs)
    coverage = openpyxl.load_workbook(master)["Scorecard"]
    # the coverage row's note names the exclusion
    notes = [c.comment.text for row in coverage.iter_rows(max_row=8) for c in row if c.comment]
    assert any("Excluded by a reviewer: MSK INC" in n for n in notes)
    breakdown = openpyxl.load_workbook(master)["By Department"]
    assert any(c.comment and "excluded: MSK's value" in c.comment.text and c.value == 7
               for row in breakdown.iter_rows() for c in row)  # still shown there, with why it is left out
    # the reviewer is told what happened to each row
    report = (trust.root / "feedback" / "_review" / (Path(result.moved_to).name + ".result.txt")).read_text()
    assert "LUT Dec-2023 TRAIN: Accept applied" in report and "signed off by A. Reviewer" in report
    # sign-off states in `xlq status --json`
    status = status_json(trust, capsys, DEC)
    stages = {row["department"]: row["review"] for row in status["departments"]}
    assert stages["LUT"].startswith("signed off by A. Reviewer") and stages["MSK"].startswith("signed off")
    assert stages["ICASH"] == ""
    capsys.readouterr()
    assert main(["status", "-w", str(trust.root), "--period", DEC]) == 0
    assert "[review: signed off by A. Reviewer on " in capsys.readouterr().out
    # Query: in the department's feedback ...
    letter = sheet_rows(trust.root / "feedback" / "LUT" / QUERIES_NAME, "Queries")
    assert any("Six answered out of five received" in str(c) for r in letter for c in r)
    # ... and in next month's template, with a Response cell
    trust.month(JAN, dt.date(2024, 2, 5))
    assert main(["template", "-w", str(trust.root), "--period", JAN, "--department", "LUT"]) == 0
    template = trust.root / "templates" / JAN / "LUT.xlsx"
    wb = openpyxl.load_workbook(template)
    queries = wb["Queries"]
    header = next(r for r in queries.iter_rows(max_row=10) if r[0].value == "Month")
    col = {c.value: c.column for c in header}
    row = header[0].row + 1
    assert "which figure is right?" in queries.cell(row, col["Reviewer's question"]).value
    assert queries.cell(row, col["Response"]).protection.locked is False
    assert queries.protection.sheet
    # the department answers in its January return (same TRAIN value: the accepted warning is not raised again)
    queries.cell(row, col["Response"]).value = "Six is right: one complaint was logged in November."
    answered = tmp_path / "LUT Jan template.xlsx"
    wb.save(answered)
    trust.drop("LUT", {**GOOD, "TRAIN": {"Value": 85}}, "LUT Jan.xlsx", period=JAN, template=answered)
    trust.run()
    with trust.store() as store:
        assert [text for text, _, _ in reviews.responses(store).values()] == [
            "Six is right: one complaint was logged in November."]
        reconciled = reconcile(store, trust.catalogue, trust.workspace, today=trust.today)
    jan_train = [f for f in reconciled.findings if f.indicator == "TRAIN" and f.period == JAN]
    assert jan_train and all(reconciled.reviews[f].carried == "Dec-2023" for f in jan_train)
    plan = make_plan(reconciled, trust.catalogue, trust.workspace, dt.datetime(2024, 2, 5))
    assert ("TRAIN", JAN) not in plan.flag_reasons
    rows = review_rows(trust.root / "outbox" / "review.xlsx")
    assert not any(r["Indicator"] == "TRAIN" for r in rows)  # not raised again: nothing to decide
    (query,) = [r for r in rows if r["Indicator"] == "COMPL"]
    assert "response: Six is right" in query["So far"]
    # the audit: `xlq history` shows each decision and the response, with who, when and which file
    capsys.readouterr()
    assert main(["history", "-w", str(trust.root), "COMPL"]) == 0
    out = capsys.readouterr().out
    assert "Query by A. Reviewer" in out and "from review Dec.xlsx" in out and "Six is right" in out


def test_a_review_workbook_re_saved_by_libreoffice_is_read_the_same(trust: Trust, tmp_path: Path,
                                                                       libreoffice_convert) -> None:
    filled = decide(trust.review_copy("typed.xlsx"), tmp_path / "typed.xlsx", {
        ("LUT", "TRAIN"): ("Accept", "fine"), ("LUT", "COMPL"): ("Query", "which is right?")}, sign=("LUT",))
    resaved = libreoffice_convert(filled, "xlsx")
    assert zipfile.is_zipfile(resaved)
    trust.drop_review(resaved)
    (result,) = trust.run().results
    assert result.outcome == "accepted", result.note
    with trust.store() as store:
        assert {(d.indicator, d.decision, d.note, d.state) for d in reviews.decisions(store, applied_only=False)} == {
            ("TRAIN", "Accept", "fine", "applied"), ("COMPL", "Query", "which is right?", "applied")}
        assert [s.department for s in reviews.sign_offs(store)] == ["LUT"]


def test_a_decision_on_a_value_that_changed_since_is_reported_and_not_applied(trust: Trust, tmp_path: Path) -> None:
    stale = decide(trust.review_copy("old.xlsx"), tmp_path / "old.xlsx", {
        ("LUT", "TRAIN"): ("Accept", "looks right"), ("MSK", "INC"): ("Accept", "fine")}, sign=("LUT",))
    trust.drop("LUT", {**LUT_DEC, "TRAIN": {"Value": 80}}, "LUT Dec again.xlsx")  # a resubmission: 85 -> 80
    trust.run()
    trust.drop_review(stale)
    (result,) = trust.run().results
    assert result.outcome == "accepted"
    with trust.store() as store:
        states = {d.indicator: (d.state, d.reason) for d in reviews.decisions(store, applied_only=False)}
        assert states["INC"] == ("applied", "")
        assert states["TRAIN"][0] == "stale" and "85 -> 80" in states["TRAIN"][1]
        assert reviews.sign_offs(store) == []  # LUT's month has findings nobody decided yet
        reconciled = reconcile(store, trust.catalogue, trust.workspace, today=trust.today)
    assert not any(f.indicator == "TRAIN" and f in reconciled.reviews for f in reconciled.findings)
    report = (trust.root / "feedback" / "_review" / (Path(result.moved_to).name + ".result.txt")).read_text()
    assert "TRAIN: Accept NOT applied: the value has changed since (85 -> 80)" in report
    assert "not signed off, 2 finding(s) still have no decision" in report
    rows = review_rows(trust.root / "outbox" / "review.xlsx")
    assert [r["Value"] for r in rows if r["Indicator"] == "TRAIN"] == ["80"]


def test_formula_text_in_a_note_stays_text_everywhere(trust: Trust, tmp_path: Path) -> None:
    evil = '=HYPERLINK("http://evil.example/x","click me")'
    filled = decide(trust.review_copy("evil.xlsx"), tmp_path / "evil.xlsx", {("LUT", "COMPL"): ("Query", evil)})
    trust.drop_review(filled)
    assert trust.run().results[0].outcome == "accepted"
    with trust.store() as store:
        (decision,) = reviews.decisions(store)
    assert decision.note == evil
    for book in (trust.root / "outbox" / "scorecard.xlsx", trust.root / "outbox" / "review.xlsx",
                 trust.root / "feedback" / "LUT" / QUERIES_NAME):
        with zipfile.ZipFile(book) as archive:
            parts = {n: archive.read(n).decode("utf-8", "replace") for n in archive.namelist()}
        sheets = "".join(text for n, text in parts.items() if n.startswith("xl/worksheets/sheet"))
        links = "".join(text for n, text in parts.items() if n.endswith(".rels"))
        assert "HYPERLINK" not in "".join(re.findall(r"<f>(.*?)</f>", sheets)) and "evil.example" not in links
        assert evil in html.unescape(parts.get("xl/sharedStrings.xml", "")), book.name  # shown, as text
    trust.month(JAN, dt.date(2024, 2, 5))
    assert main(["template", "-w", str(trust.root), "--period", JAN, "--department", "LUT"]) == 0
    cell = next(c for row in openpyxl.load_workbook(trust.root / "templates" / JAN / "LUT.xlsx")["Queries"].iter_rows()
                for c in row if c.value == evil)
    assert cell.data_type == "s"


def test_a_forged_identity_is_refused_and_the_other_rows_still_apply(trust: Trust, tmp_path: Path) -> None:
    filled = decide(trust.review_copy("forged.xlsx"), tmp_path / "forged.xlsx", {
        ("LUT", "TRAIN"): ("Accept", "ok"), ("MSK", "INC"): ("Exclude", "forged")})
    wb = openpyxl.load_workbook(filled)
    ws = wb["Review"]
    for row in ws.iter_rows():
        if row[0].value == "MSK":
            ref = row[11].value
            row[11].value = ref[:-1] + ("0" if ref[-1] != "0" else "1")  # the seal no longer matches
    wb.save(filled)
    trust.drop_review(filled)
    (result,) = trust.run().results
    with trust.store() as store:
        states = {(d.decision, d.state) for d in reviews.decisions(store, applied_only=False)}
        reconciled = reconcile(store, trust.catalogue, trust.workspace, today=trust.today)
    assert states == {("Accept", "applied"), ("Exclude", "refused")}
    assert reconciled.org[("INC", DEC)].value == 19  # nothing excluded
    report = (trust.root / "feedback" / "_review" / (Path(result.moved_to).name + ".result.txt")).read_text()
    assert "refused: its Ref is not one this workspace issued" in report


def test_another_organisations_or_workspaces_review_file_is_refused_whole(trust: Trust, tmp_path: Path) -> None:
    other = decide(trust.review_copy("other org.xlsx"), tmp_path / "other org.xlsx",
                   {("LUT", "TRAIN"): ("Accept", "x")})
    wb = openpyxl.load_workbook(other)
    wb["xlq_review"]["B2"] = "Another NHS Trust"
    wb.save(other)
    shared_url, workspaces.STORE_URL = workspaces.STORE_URL, None  # the other workspace has a store of its own
    try:
        elsewhere = Trust(tmp_path / "elsewhere")  # same organisation name, its own workspace token
    finally:
        workspaces.STORE_URL = shared_url
    elsewhere.drop("LUT", LUT_DEC, "LUT Dec.xlsx")
    elsewhere.run()
    theirs = decide(elsewhere.review_copy("their review.xlsx"), tmp_path / "their review.xlsx",
                    {("LUT", "TRAIN"): ("Accept", "x")})
    nameless = decide(trust.review_copy("nameless.xlsx"), tmp_path / "nameless.xlsx",
                      {("LUT", "TRAIN"): ("Accept", "x")}, reviewer="")
    for path in (other, theirs, nameless):
        trust.drop_review(path)
    trust.drop_review(trust.root / "archive" / DEC / "LUT" / os.listdir(trust.root / "archive" / DEC / "LUT")[0])
    results = trust.run().results
    assert [r.outcome for r in results] == ["rejected"] * 4
    reasons = " | ".join(r.note for r in results)
    assert "another organisation ('Another NHS Trust')" in reasons
    assert "not issued by this workspace" in reasons
    assert "no reviewer's name" in reasons
    assert "not a review workbook" in reasons
    assert all(r.moved_to.startswith("rejected/") for r in results)
    assert all((trust.root / (r.moved_to + ".reason.txt")).exists() for r in results)
    with trust.store() as store:
        assert reviews.decisions(store, applied_only=False) == []
        assert [f.outcome for f in reviews.review_files(store)] == ["refused"] * 4


def test_a_name_not_on_the_reviewers_list_is_refused(tmp_path: Path) -> None:
    trust = Trust(tmp_path / "ws")
    config = trust.root / "xlq.toml"
    config.write_text(config.read_text().replace('# reviewers = ["A. Reviewer"]', 'reviewers = ["A. Reviewer"]'))
    trust.workspace = load_workspace(trust.root)
    trust.drop("LUT", LUT_DEC, "LUT Dec.xlsx")
    trust.run()
    intruder = decide(trust.review_copy("intruder.xlsx"), tmp_path / "intruder.xlsx",
                      {("LUT", "TRAIN"): ("Accept", "x")}, reviewer="Someone Else")
    trust.drop_review(intruder)
    (result,) = trust.run().results
    assert result.outcome == "rejected" and "'Someone Else' is not one of this workspace's reviewers" in result.note
    allowed = decide(trust.review_copy("allowed.xlsx"), tmp_path / "allowed.xlsx",
                     {("LUT", "TRAIN"): ("Accept", "x")}, reviewer="a. reviewer")
    trust.drop_review(allowed)
    assert trust.run().results[0].outcome == "accepted"


def test_a_finding_identity_changes_with_its_value_and_only_this_workspace_can_seal_it() -> None:
    fid = finding_id("ab" * 32, "percent-assumed", "TRAIN", "F14", "85")
    assert fid == finding_id("ab" * 32, "percent-assumed", "TRAIN", "F14", "85")
    assert fid != finding_id("ab" * 32, "percent-assumed", "TRAIN", "F14", "80")
    assert fid != finding_id("cd" * 32, "percent-assumed", "TRAIN", "F14", "85")  # another return's bytes
    ref = sealed_ref("token-a", fid)
    assert open_ref("token-a", ref) == fid
    assert open_ref("token-b", ref) is None and open_ref("token-a", fid + ".0000000000000000") is None
    assert open_ref("token-a", "") is None and open_ref("token-a", "x.y") is None


@pytest.mark.parametrize(("setting", "message"), [
    ('reviewers = "A. Reviewer"', "review.reviewers"),
    ('folder = "LUT"', "review.folder"),
    ('folder = "../elsewhere"', "review.folder"),
])
def test_review_settings_that_cannot_work_are_one_line_errors(tmp_path: Path, setting: str, message: str) -> None:
    trust = Trust(tmp_path / "ws")
    config = trust.root / "xlq.toml"
    key = setting.split(" = ")[0]
    text = re.sub(rf"^#? ?{key} = .*$", setting, config.read_text(), count=1, flags=re.M)
    config.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_workspace(trust.root)


def test_the_watcher_reads_a_review_workbook_dropped_into_the_review_folder(trust: Trust, tmp_path: Path) -> None:
    filled = decide(trust.review_copy("watched.xlsx"), tmp_path / "watched.xlsx",
                    {("LUT", "TRAIN"): ("Accept", "seen")})
    with Watcher(trust.workspace, settle=0.3, batch=0.3, rescan=30.0) as watcher:
        before = watcher.rebuilds
        target = trust.root / "inbox" / "_review" / "watched.xlsx"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(filled, target)
        wait_for(lambda: watcher.rebuilds > before and any(r.kind == "review" for r in watcher.results), 30,
                 "the review workbook to be read and the master rebuilt")
    with trust.store() as store:
        assert [(d.indicator, d.state) for d in reviews.decisions(store)] == [("TRAIN", "applied")]
    assert not any(r["Indicator"] == "TRAIN" for r in review_rows(trust.root / "outbox" / "review.xlsx"))


def stored_findings(trust: Trust, name: str) -> set[tuple[str, str | None, str]]:
    """(rule, cell, severity) of every finding stored for the return received as `name`."""
    with trust.store() as store:
        (sub,) = [s for s in store.submissions() if s.original_name == name]
        return {(sf.finding.rule, sf.finding.cell, sf.finding.severity) for sf in store.findings([sub.id])}


def feedback_marks(trust: Trust, moved_to: str, department: str) -> tuple[set[tuple[str, str]], set[str]]:
    """What a feedback copy shows: (rule, cell) of each row of its "What happened" list, and the
    Return sheet's cells marked with a note."""
    titles = {rule.title: code for code, rule in RULES.items()}
    wb = openpyxl.load_workbook(trust.root / "feedback" / department / f"{Path(moved_to).name}.feedback.xlsx")
    rows = [tuple(r) for r in wb["What happened"].iter_rows(values_only=True)]
    at = next(n for n, r in enumerate(rows) if r[0] == "#")
    listed = {(titles[r[4].split(":")[0]], r[2].split("!")[-1]) for r in rows[at + 1:] if r[0]}
    marked = {c.coordinate for row in wb["Return"].iter_rows() for c in row if c.comment}
    return listed, marked


def test_an_accepted_warning_is_recorded_as_reviewed_on_the_same_value_and_raised_again_on_another(
        trust: Trust, tmp_path: Path, capsys) -> None:
    """Issue 17: "the same warning on the same value is not raised again next month" -- not in
    the outcome, the log line, the feedback copy, `xlq validate` or the master; kept in the store
    as reviewed. Errors are never settled this way, and a different value is a new warning."""
    filled = decide(trust.review_copy("review Dec.xlsx"), tmp_path / "review Dec.xlsx", {
        ("LUT", "TRAIN"): ("Accept", "85% is right"), ("LUT", "COMPL"): ("Accept", "an error, accepted")})
    trust.drop_review(filled)
    assert trust.run().results[0].outcome == "accepted"
    trust.month(JAN, dt.date(2024, 2, 5))
    # January: LUT sends the accepted 85 again beside a new warning; MSK (not accepted) sends 85 too
    trust.drop("LUT", {**GOOD, "TRAIN": {"Value": 85}, "INC": {"Value": 7}, "INC_LOW": {"Value": 5},
                       "INC_HIGH": {"Value": 1}}, "LUT Jan.xlsx", period=JAN)
    trust.drop("MSK", {**GOOD, "TRAIN": {"Value": 85}}, "MSK Jan.xlsx", period=JAN)
    results = {Path(r.path).name: r for r in trust.run().results}
    lut, msk = results["LUT Jan.xlsx"], results["MSK Jan.xlsx"]
    train, inc = (trust.refs["LUT Jan.xlsx"][code, "Value"] for code in ("TRAIN", "INC"))
    compl = trust.refs["LUT Jan.xlsx"]["COMPL", "Numerator"]
    assert stored_findings(trust, "LUT Jan.xlsx") == {("percent-assumed", train, "info"),
                                                      ("parts-do-not-sum", inc, "warning")}
    assert (lut.outcome, lut.errors, lut.warnings) == ("accepted_with_warnings", 0, 1)
    assert "errors=0 warnings=1" in lut.line()  # the log line counts only the new warning
    assert feedback_marks(trust, lut.moved_to, "LUT") == ({("parts-do-not-sum", inc)}, {inc})
    assert stored_findings(trust, "MSK Jan.xlsx") == {("percent-assumed", train, "warning")}  # another department
    assert (msk.outcome, msk.warnings) == ("accepted_with_warnings", 1)
    with trust.store() as store:
        (sub,) = [s for s in store.submissions(department="LUT", period=JAN)]
        (settled,) = [sf.finding for sf in store.findings([sub.id]) if sf.finding.rule == "percent-assumed"]
    assert re.match(r"Accepted by A\. Reviewer on \d{4}-\d\d-\d\d \(Dec-2023, same value\), not raised again: '85' "
                    r"was read as 85%", settled.message), settled.message
    assert settled.value == "85"
    # `xlq validate` against the workspace says the same of the same bytes
    capsys.readouterr()
    assert main(["validate", "-w", str(trust.root), "--json", str(trust.root / lut.moved_to)]) == 0
    (checked,) = json.loads(capsys.readouterr().out)
    assert checked["outcome"] == "accepted_with_warnings"
    assert {(f["rule"], f["cell"], f["severity"]) for f in checked["findings"]} == stored_findings(trust, "LUT Jan.xlsx")
    # a resubmission with only the accepted value is simply accepted: no warning, no feedback copy
    trust.drop("LUT", {**GOOD, "TRAIN": {"Value": 85}}, "LUT Jan again.xlsx", period=JAN)
    (again,) = trust.run().results
    assert (again.outcome, again.errors, again.warnings) == ("accepted", 0, 0)
    assert stored_findings(trust, "LUT Jan again.xlsx") == {("percent-assumed", train, "info")}
    assert not (trust.root / "feedback" / "LUT" / f"{Path(again.moved_to).name}.feedback.xlsx").exists()
    master = trust.root / "outbox" / "scorecard.xlsx"
    errors = sheet_rows(master, "Validation Errors")
    head = next(r for r in errors if r and r[0] == "Severity")
    (row,) = [r for r in errors if r and r[head.index("Indicator")] == "TRAIN" and r[head.index("Department")] == "LUT"
              and r[head.index("Source file")] == "LUT Jan again.xlsx"]
    assert (row[0], row[head.index("Rule")]) == ("info", "percent-assumed")
    assert row[head.index("Review")].startswith("accepted in Dec-2023 by A. Reviewer (same value)")
    assert not any(r["Department"] == "LUT" and r["Indicator"] == "TRAIN"
                   for r in review_rows(trust.root / "outbox" / "review.xlsx"))
    # another value for the same indicator is a new warning; an accepted error is raised again
    trust.drop("LUT", {**GOOD, "TRAIN": {"Value": 90}, "COMPL": {"Numerator": 6, "Denominator": 5}},
               "LUT Jan third.xlsx", period=JAN)
    (third,) = trust.run().results
    assert stored_findings(trust, "LUT Jan third.xlsx") == {("percent-assumed", train, "warning"),
                                                            ("numerator-above-denominator", compl, "error")}
    assert (third.outcome, third.errors, third.warnings) == ("accepted_with_errors", 1, 1)
    with trust.store() as store:
        (sub,) = [s for s in store.submissions(department="LUT", period=JAN, current_only=True)]
        values = {sf.finding.rule: sf.finding.value for sf in store.findings([sub.id])}
        accepted = {d.rule: d.value for d in reviews.decisions(store) if d.decision == "Accept"}
    assert values["numerator-above-denominator"] == accepted["numerator-above-denominator"]  # the very value accepted
    listed, marked = feedback_marks(trust, third.moved_to, "LUT")
    assert ("percent-assumed", train) in listed and train in marked
    assert [r["Value"] for r in review_rows(trust.root / "outbox" / "review.xlsx")
            if r["Department"] == "LUT" and r["Indicator"] == "TRAIN"] == ["90"]


KILLED_AT = """
import datetime as dt, os, signal, sys
from xlq.core.config import load_workspace
from xlq.watch.pipeline import Pipeline

def hook(step, source, staged):
    if step == sys.argv[2] and source.parent.name == "_review":
        os.kill(os.getpid(), signal.SIGKILL)

with Pipeline(load_workspace(sys.argv[1]), today=dt.date(2024, 1, 5), in_process=True, hooks=hook) as pipeline:
    pipeline.run_once(lambda result: None, wait=0)
"""


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL")
@pytest.mark.parametrize("step", ["claim", "hash", "read", "store", "move", "move, its name taken meanwhile"])
def test_a_kill_9_at_any_step_of_a_review_workbook_is_finished_on_restart_exactly_once(
        trust: Trust, tmp_path: Path, step: str) -> None:
    """kill -9 before each step of a review workbook (the pipeline's hooks), then a restart: the
    journal finishes it. Its decisions are stored once, the file is in archive/reviews/ where
    its stored location says, and the reviewer has a result file."""
    filled = decide(trust.review_copy("review Dec.xlsx"), tmp_path / "review Dec.xlsx", {
        ("LUT", "TRAIN"): ("Accept", "right"), ("LUT", "COMPL"): ("Query", "which is right?"),
        ("MSK", "INC"): ("Exclude", "does not add up")}, sign=("LUT",))
    dropped = trust.drop_review(filled)
    data = dropped.read_bytes()
    killed = subprocess.run([sys.executable, "-c", KILLED_AT, str(trust.root), step.split(",")[0]],
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    with trust.store() as store:
        files = reviews.review_files(store)
    assert len(files) == (1 if step.startswith("move") else 0)  # recorded only once the store step ran
    if step.endswith("taken meanwhile"):  # someone put a file where it was to go
        taken = trust.root / files[0].location
        taken.parent.mkdir(parents=True, exist_ok=True)
        taken.write_bytes(b"not the review workbook")
    results = trust.run().results + trust.run().results
    with trust.store() as store:
        (received,) = reviews.review_files(store)
        decided = [(d.department, d.indicator, d.decision, d.state) for d in reviews.decisions(store, applied_only=False)]
        signed = [(s.department, s.period) for s in reviews.sign_offs(store)]
    assert sorted(decided) == [("LUT", "COMPL", "Query", "applied"), ("LUT", "TRAIN", "Accept", "applied"),
                               ("MSK", "INC", "Exclude", "applied")]
    assert signed == [("LUT", DEC)]
    assert received.outcome == "applied" and received.location.startswith("archive/reviews/")
    assert (trust.root / received.location).read_bytes() == data  # the stored location is where it is
    archived = sorted(p for p in (trust.root / "archive").rglob("*") if p.is_file() and p.read_bytes() == data)
    assert archived == [trust.root / received.location]  # nowhere else: not in archive/duplicates/
    assert not list((trust.root / "inbox" / "_review").iterdir())
    assert not [p for p in (trust.root / ".xlq-staging").rglob("*") if p.is_file()]
    report = trust.root / "feedback" / "_review" / f"{Path(received.location).name}.result.txt"
    assert "LUT Dec-2023 TRAIN: Accept applied" in report.read_text()
    (handled,) = [r for r in results if r.kind == "review"]
    assert handled.moved_to == received.location
    assert (handled.note == "recovered an interrupted move") == step.startswith("move")
    assert not any(r["Indicator"] == "TRAIN" for r in review_rows(trust.root / "outbox" / "review.xlsx"))


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL")
def test_a_refused_review_workbook_killed_before_its_move_ends_in_rejected_with_its_reason(
        trust: Trust, tmp_path: Path) -> None:
    nameless = decide(trust.review_copy("nameless.xlsx"), tmp_path / "nameless.xlsx",
                      {("LUT", "TRAIN"): ("Accept", "x")}, reviewer="")
    data = trust.drop_review(nameless).read_bytes()
    killed = subprocess.run([sys.executable, "-c", KILLED_AT, str(trust.root), "move"], capture_output=True,
                            text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    (result,) = trust.run().results
    with trust.store() as store:
        (received,) = reviews.review_files(store)
        assert reviews.decisions(store, applied_only=False) == []
    assert (received.outcome, result.outcome, result.note) == ("refused", "rejected", "recovered an interrupted move")
    assert received.location.startswith("rejected/") and result.moved_to == received.location
    assert (trust.root / received.location).read_bytes() == data
    reason = (trust.root / (received.location + ".reason.txt")).read_text()
    assert "Refused: no reviewer's name" in reason
