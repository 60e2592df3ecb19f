"""Review workbooks dropped into `inbox/<[review] folder>/` (issue 17): claimed, read in the
isolated worker, judged, recorded, filed and answered, like returns.

The folder is the authority, as a department's folder is for its returns: only a file dropped
there is read as decisions. A whole file is refused (moved to `rejected/` with a reason file)
when it is not a review workbook, names another organisation, carries a seal this workspace did
not make, has no reviewer's name, or names one not on `[review] reviewers`. Each row is then
judged alone and every row is recorded, applied or not, with who, when and the file:

- applied: its sealed identity names a finding of the current return (or the same finding,
  on the same value, in a resubmission);
- stale: the finding's value has changed since (a resubmission arrived): not applied;
- refused: a forged or damaged identity, or an unknown decision.

The reviewer gets a result file listing each row's fate in `feedback/<folder>/`. As for a
return, the record marks the file's claim recorded in the same transaction, so a stop between
the record and the move is finished on restart from the journal (`finish_review`): the file goes
where the store says, and its decisions are never recorded twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from xlq.core.config import Workspace
from xlq.core.months import month_label
from xlq.core.review import DECISIONS, SIGN_OFF, ReviewReturn, book_seal, open_ref
from xlq.core.text import shown
from xlq.master.plan import clean
from xlq.master.review_state import review_state, workspace_token
from xlq.store import reviews
from xlq.store.db import Store
from xlq.store.reviews import Decision, ReviewFile, SignOff
from xlq.watch.claim import Changed, Claimed, Claimer
from xlq.watch.filing import Filer, move, write_text
from xlq.watch.inbox import Candidate
from xlq.watch.results import FileResult

log = logging.getLogger("xlq")


def is_review(workspace: Workspace, candidate: Candidate) -> bool:
    """Dropped straight into the review folder (its authority), not a department's."""
    return candidate.arrived_in.casefold() == f"inbox/{workspace.review.folder}".casefold()


@dataclass(frozen=True)
class Judged:
    refusal: str
    decisions: tuple[Decision, ...] = ()
    sign_offs: tuple[SignOff, ...] = ()
    notes: tuple[str, ...] = ()


def judge(parsed: ReviewReturn, store: Store, workspace: Workspace, moment: str) -> Judged:
    """Every row's fate; `refusal` is set when the whole file is refused."""
    token = workspace_token(store)
    if parsed.problem:
        return Judged(parsed.problem)
    if parsed.organisation != workspace.organisation:
        return Judged(f"this is the review workbook of another organisation ({clean(parsed.organisation, 80)!r})")
    if not token or book_seal(token, parsed.organisation, parsed.built_at) != parsed.book_seal:
        return Judged("this review workbook was not issued by this workspace (its seal does not match)")
    who = parsed.reviewer.strip()
    if not who:
        return Judged("no reviewer's name: type it beside 'Reviewer' on the Review sheet and drop the file again")
    if not workspace.review.allows(who):
        return Judged(f"{clean(who, 80)!r} is not one of this workspace's reviewers ([review] reviewers in xlq.toml)")
    index = reviews.finding_index(store)
    current = {(i.finding.department, i.finding.period, i.finding.indicator, i.finding.rule, i.finding.value): i
               for i in index.values() if i.submission.current}
    decisions: list[Decision] = []
    notes: list[str] = []
    for row in parsed.decisions:
        choice = next((d for d in DECISIONS if d.casefold() == row.decision.strip().casefold()), None)
        if not row.decision.strip():
            continue
        fid = open_ref(token, row.ref)
        item = index.get(fid or "")
        if choice is None or item is None:
            why = (f"unknown decision {row.decision!r}" if choice is None else
                   "its Ref is not one this workspace issued (changed or forged)" if fid is None else "unknown finding")
            decisions.append(Decision((fid or row.ref)[:24], "", "", "", "", "", choice or row.decision[:20], row.note,
                                      who, moment, "refused", why))
            notes.append(f"row {row.row}: refused: {why}")
            continue
        f = item.finding
        state, why = "applied", ""
        if not item.submission.current:
            again = current.get((f.department, f.period, f.indicator, f.rule, f.value))
            if again is not None:
                fid, f = again.id, again.finding
            else:
                now = [sv.value.raw or sv.value.marker or "" for sv in store.values(
                    indicator=f.indicator, department=f.department, period=f.period)]
                state = "stale"
                why = (f"the value has changed since ({f.value or 'blank'} -> {now[0] if now else 'blank'}): "
                       "a newer return arrived; decide again on the new review workbook")
        decisions.append(Decision(fid or "", f.department or "", f.period or "", f.indicator or "", f.rule,
                                  f.value or "", choice, row.note, who, moment, state, why))
        where = f"{f.department} {month_label(f.period)} {f.indicator}"
        notes.append(f"row {row.row}: {where}: {choice} " + ("applied" if state == "applied" else f"NOT applied: {why}"))
    signs = _sign_offs(parsed, store, who, moment, decisions, notes)
    return Judged("", tuple(decisions), tuple(signs), tuple(notes))


def _sign_offs(parsed: ReviewReturn, store: Store, who: str, moment: str, decisions: list[Decision],
               notes: list[str]) -> list[SignOff]:
    out: list[SignOff] = []
    decided = {d.finding_id for d in decisions if d.state == "applied"}
    for row in parsed.sign_offs:
        if row.value.strip().casefold() != SIGN_OFF.casefold():
            notes.append(f"sign-off row {row.row}: {row.value!r} is not '{SIGN_OFF}'; nothing signed off")
            continue
        subs = [s for s in store.submissions(department=row.department, period=row.period, current_only=True)
                if s.kind != "import"]
        if not subs:
            notes.append(f"sign-off {row.department} {row.period}: no current return to sign off")
            continue
        state = review_state(store, (row.period,))
        undecided = [i for i in state.open if i.finding.department == row.department and i.id not in state.by_id
                     and i.id not in decided]
        if undecided:
            notes.append(f"sign-off {row.department} {month_label(row.period)}: not signed off, "
                         f"{len(undecided)} finding(s) still have no decision")
            continue
        out.append(SignOff(row.department, row.period, subs[0].sha256, who, moment))
        notes.append(f"sign-off {row.department} {month_label(row.period)}: signed off by {who}")
    return out


class ReviewIntake:
    """Handles the files of the review folder for one pipeline (its claimer, filer, store, worker)."""

    def __init__(self, claimer: Claimer, filer: Filer, store: Callable[[], Store], read: Callable[[str], ReviewReturn],
                 close_claims: Callable[[list[int], str], None], mark_stale: Callable[[], None]) -> None:
        self.workspace, self.claimer, self.filer = filer.workspace, claimer, filer
        self._store, self._read, self._close, self._mark_stale = store, read, close_claims, mark_stale

    def process(self, candidates: Sequence[Candidate]) -> list[FileResult]:
        if not candidates:
            return []
        claimed, left = self.claimer.claim(candidates)
        results = [FileResult(str(c.path), None, None, "deferred", note=why) for c, why in left]
        for item in claimed:
            results.append(self._one(item))
        return results

    def _one(self, item: Claimed) -> FileResult:
        name, source = item.candidate.path.name, item.candidate.path
        try:
            self.claimer.step("hash", source, item.path)
            sha, _ = self.claimer.digest(item)
        except (Changed, OSError) as exc:
            self.claimer.give_back(item)
            self._close([item.claim.id], "returned")
            return FileResult(str(item.candidate.path), None, None, "deferred", note=str(exc))
        store = self._store()
        known = reviews.has_file(store, sha)
        if known is None:
            self.claimer.step("read", source, item.path)
        parsed = ReviewReturn(str(item.path), sha, problem="") if known else self._read(str(item.path))
        if parsed.sha256 and parsed.sha256 != sha:
            parsed = ReviewReturn(str(item.path), sha, problem="it changed while it was read")
        moment, dest = self.filer.destination("archive/reviews" if known is None else "archive/duplicates", name)
        when = moment.isoformat(timespec="seconds")
        judged = Judged("") if known else judge(parsed, store, self.workspace, when)
        if judged.refusal:
            _, dest = self.filer.destination("rejected", name)
        outcome = "refused" if judged.refusal else "applied"
        if known is None:
            self.claimer.step("store", source, item.path)
            self._mark_stale()
            reviews.record_review(store, ReviewFile(sha, name, item.candidate.arrived_in, when,
                                                    self.filer.relative(dest), parsed.reviewer[:80], outcome,
                                                    judged.refusal), judged.decisions, judged.sign_offs,
                                  claim=item.claim.id)
        self.claimer.step("move", source, item.path)
        lines = self._report(name, parsed.reviewer, when, judged, known)
        where = file_review(self.filer, store, item.path, dest, lines, sha if known is None else None)
        if note := self.claimer.done(item):
            log.warning("%s: %s", shown(name, 120), note)
        self._close([item.claim.id], "moved")
        applied = sum(d.state == "applied" for d in judged.decisions)
        note = judged.refusal or (f"same content as a review received {known.received_at[:16]}" if known else
                                  f"{applied} decision(s) applied, {len(judged.decisions) - applied} not, "
                                  f"{len(judged.sign_offs)} sign-off(s)")
        return FileResult(str(item.candidate.path), None, None, "rejected" if judged.refusal else "accepted",
                          moved_to=where, sha256=sha, kind="review", note=note)

    def _report(self, name: str, reviewer: str, when: str, judged: Judged, known: ReviewFile | None) -> list[str]:
        head = [f"Review workbook {shown(name, 200)}, received {when}, reviewer {shown(reviewer, 80) or '(none)'}"]
        if known is not None:
            return [*head, f"The same file was received {known.received_at}; nothing changed."]
        if judged.refusal:
            return [*head, f"Refused: {shown(judged.refusal, 300)}", "No decision in it was applied."]
        return [*head, *(shown(n, 400) for n in judged.notes or ["No decisions in it."])]


def file_review(filer: Filer, store: Store, staged: Path, dest: Path, lines: Sequence[str], recorded: str | None,
                *, again: bool = False) -> str:
    """The reason file (refused), the reviewer's result file, then the move out of staging;
    where the file now is. `recorded` is the hash of a file recorded in `review_files`, whose
    stored location follows the file when its planned name has been taken meanwhile; `again`
    (after a restart) keeps a reason or result file written before the stop."""
    if os.path.lexists(dest) or (os.path.lexists(dest.with_name(dest.name + ".reason.txt")) and not again):
        dest = filer.unique(dest.parent, dest.name)
        if recorded is not None:
            reviews.set_location(store, recorded, filer.relative(dest))
    text = "\n".join(lines) + "\n"
    reason = dest.with_name(dest.name + ".reason.txt")
    result = filer.workspace.feedback_path / filer.workspace.review.folder / f"{dest.name}.result.txt"
    for path in ([reason] if filer.relative(dest).startswith("rejected/") else []) + [result]:
        if not (again and path.exists()):
            write_text(path, text)
    move(staged, dest)
    return filer.relative(dest)


def finish_review(filer: Filer, store: Store, staged: Path, source: Path) -> FileResult | None:
    """A review workbook recorded before a stop but not moved: filed now where the store says
    (`xlq.watch.recovery`), its result file written from what the store recorded. None when
    the store holds no review workbook with its bytes (it is then judged afresh)."""
    digest = hashlib.sha256()
    with open(staged, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    sha = digest.hexdigest()
    received = reviews.has_file(store, sha)
    if received is None:
        return None
    lines = [f"Review workbook {shown(received.original_name, 200)}, received {received.received_at}, reviewer "
             f"{shown(received.reviewer, 80) or '(none)'}", "(Written after a restart, from what the store recorded.)"]
    if received.outcome == "refused":
        lines += [f"Refused: {shown(received.reason, 300)}", "No decision in it was applied."]
    for d in reviews.decisions(store, applied_only=False, file_sha256=sha):
        where = f"{d.department} {month_label(d.period)} {d.indicator}: " if d.department else ""
        lines.append(shown(f"{where}{d.decision} " + ("applied" if d.state == "applied" else
                                                       f"NOT applied ({d.state}): {d.reason}"), 400))
    lines += [shown(f"sign-off {s.department} {month_label(s.period)}: signed off by {s.reviewer}", 400)
              for s in reviews.sign_offs(store, file_sha256=sha)]
    where = file_review(filer, store, staged, filer.root / received.location, lines, sha, again=True)
    return FileResult(str(source), None, None, "rejected" if received.outcome == "refused" else "accepted",
                      moved_to=where, sha256=sha, kind="review", note="recovered an interrupted move")


def record_answers(store: Store, submission_id: int, department: str | None,
                   answers: Sequence[tuple[str, str]], received_at: dt.datetime | str) -> int:
    """The responses a department typed into its template's Queries block, recorded against the
    queries they answer; a reference this workspace did not issue, or another department's
    query, is ignored. Returns how many were recorded."""
    token = workspace_token(store)
    if not answers or not token or not department:
        return 0
    in_force = reviews.in_force(store)
    found = []
    for ref, text in answers:
        fid = open_ref(token, ref)
        decided = in_force.get(fid or "")
        if decided is not None and decided.decision == "Query" and decided.department == department and text.strip():
            found.append((decided.id, text.strip()[:1000]))
    moment = received_at if isinstance(received_at, str) else received_at.isoformat(timespec="seconds")
    reviews.record_responses(store, submission_id, found, moment)
    return len(found)
