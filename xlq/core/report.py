"""Findings as people and machines read them: a text table, a log line, a JSON record.

The same `Finding` value feeds all three (and the master's Validation Errors sheet), so a
department reading `xlq validate`, an analyst reading the log and a script reading JSON see
one story.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict

from xlq.core.model import Finding, outcome_words
from xlq.core.text import shown

_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Errors first, then by where they are, so the worst is read first."""
    return sorted(
        findings,
        key=lambda f: (_SEVERITY_ORDER.get(f.severity, 3), f.file or "", f.department or "", f.period or "",
                       _cell_key(f.cell), f.indicator or ""),
    )


def _cell_key(cell: str | None) -> tuple[int, str]:
    if not cell:
        return (0, "")
    letters = cell.rstrip("0123456789")
    digits = cell[len(letters):]
    return (int(digits) if digits else 0, letters)


def plain(text: str, limit: int = 200) -> str:
    """One line of printable text (`xlq.core.text.shown`): control characters, newlines and bidi
    controls shown as escapes."""
    return shown(text, limit)


def findings_table(findings: Sequence[Finding]) -> str:
    """A fixed-width table for the terminal."""
    headers = ("Severity", "Rule", "Cell", "Indicator", "Value", "Message")
    rows = [
        (f.severity, f.rule, f.location, f.indicator or "", plain(f.value or "", 24), plain(f.message, 400))
        for f in sort_findings(findings)
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers[:-1])]
    lines = ["  " + "  ".join(h.ljust(w) for h, w in zip(headers[:-1], widths, strict=True)) + "  " + headers[-1]]
    for row in rows:
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1])
    return "\n".join(lines)


def outcome_text(outcome: str, not_used: Sequence[str] = ()) -> str:
    """The outcome in words, naming what was lost: `accepted with errors (2 values not used: A, B)`."""
    words = outcome_words(outcome)
    if not_used and outcome != "rejected":
        words += f" ({len(not_used)} value{'s' if len(not_used) != 1 else ''} not used: {', '.join(not_used)})"
    return words


def finding_dict(finding: Finding) -> dict[str, str | None]:
    data = asdict(finding)
    data["location"] = finding.location
    return data


def log_line(finding: Finding) -> str:
    """The single log line a finding becomes."""
    where = " ".join(
        part for part in (finding.department, finding.period, finding.indicator, finding.location) if part
    )
    return f"{finding.severity.upper()} {finding.rule} {where}: {plain(finding.message)}"


def status_table(status) -> str:
    """`xlq status`: one line per department for a month (a reconcile.PeriodStatus)."""
    counts = ", ".join(f"{n} {outcome_words(s)}" for s, n in sorted(status.counts().items()))
    lines = [f"Returns for {status.period} (due {status.due}): {counts}",
             f"  {'Dept':<8} {'Outcome':<24} {'Used':>4} {'Not used':>8}  {'Received':<16}  File"]
    for row in status.departments:
        when = (row.received or "-")[:16].replace("T", " ")
        words = outcome_words(row.status)
        detail = row.reason[len(words):].lstrip(" ,") if row.reason.startswith(words) else row.reason
        reason = f"  {plain(detail, 160)}" if detail else ""
        counted = row.status not in ("missing", "rejected")
        used, dropped = (str(row.used), str(row.not_used)) if counted else ("-", "-")
        review = f"  [review: {plain(row.review, 120)}]" if getattr(row, "review", "") else ""
        lines.append(f"  {row.department:<8} {outcome_words(row.status):<24} {used:>4} {dropped:>8}  {when:<16}  "
                     f"{plain(row.file or '', 50)}{reason}{review}")
    for sub in status.unidentified:
        received = sub.received_at[:16].replace("T", " ")
        lines.append(f"  {'?':<8} {'rejected (unidentified)':<24} {'-':>4} {'-':>8}  {received:<16}  "
                     f"{plain(sub.original_name, 50)}")
    return "\n".join(lines)


def history_table(indicator, history) -> str:
    """`xlq history CODE`: organisation values by month, then every departmental value with provenance."""
    formerly = f"  (formerly {', '.join(indicator.renamed_from)})" if indicator.renamed_from else ""
    lines = [f"{indicator.code}  {indicator.name}  (target {indicator.target.text}){formerly}", "  Organisation:"]
    for org in history.org:
        text = org.marker or ("" if org.value is None else indicator.display(org.value))
        note = f"  [{'; '.join(org.flags)}]" if org.flags else ""
        lines.append(f"    {org.period}  {text:>10}  {org.contributors}/{org.expected} departments{note}")
    lines.append("  Departments (superseded values marked *):")
    for entry in sorted(history.entries, key=lambda e: (e.value.period, e.value.department, e.submission_id)):
        v = entry.value
        text = v.marker or ("" if v.value is None else indicator.display(v.value))
        mark = " " if entry.current else "*"
        lines.append(f"   {mark}{v.period}  {v.department:<7} {text:>10}  {v.sheet}!{v.cell} raw {plain(v.raw, 20)!r}"
                     f"  from {plain(entry.file, 40)} ({entry.kind}, {entry.received_at[:16].replace('T', ' ')})")
    decisions = getattr(history, "reviews", ())
    if decisions:
        lines.append("  Reviews (every decision, query and response, applied or not):")
    for d in decisions:
        state = "" if d.state == "applied" else f" NOT APPLIED ({d.state}: {plain(d.reason, 160)})"
        note = f": {plain(d.note, 160)!r}" if d.note else ""
        lines.append(f"    {d.period}  {d.department:<7} {plain(d.decision, 20)} by {plain(d.reviewer, 40)} on "
                     f"{d.decided_at[:16].replace('T', ' ')}{note} from {plain(d.file, 60)}{state}")
        for text, when, file in getattr(history, "responses", {}).get(d.id, ()):
            lines.append(f"      response {when[:16].replace('T', ' ')} from {plain(file, 60)}: {plain(text, 200)!r}")
    return "\n".join(lines)


def reason_text(submission, findings: Iterable[Finding], first, workspace) -> str:
    """The plain-words `.reason.txt` beside a rejected file (`submission`, and `first` for a
    duplicate of a rejected file, are store Submissions)."""
    ordered = sort_findings(findings)
    folder = workspace.people_inbox(submission.department) if submission.department else submission.arrived_in + "/"
    lines = [f"xlq did not accept this file: {plain(submission.original_name, 300)}", "",
             f"Received:    {submission.received_at[:19].replace('T', ' ')}",
             f"Dropped in:  {submission.arrived_in}/"]
    if submission.department or submission.period:
        lines.append(f"Return for:  {submission.department or '?'} {submission.period or ''}".rstrip())
    lines.append("")
    if first is not None:
        lines += [f"This file is identical to {plain(first.original_name, 300)}, received "
                  f"{first.received_at[:16].replace('T', ' ')}, which was rejected for the reasons below.", ""]
    errors = [f for f in ordered if f.severity == "error"]
    warnings = [f for f in ordered if f.severity == "warning"]
    if workspace.watch.require_department_folders and submission.arrived_in == "inbox":
        lines += ["This workspace takes returns only from department folders: inbox/<your code>/, "
                  f"one of {', '.join(workspace.department_codes)}.", ""]
    lines.append("Why it was not accepted:" if errors else "Why it was not accepted: see below.")
    lines += [_reason_line(f) for f in errors]
    if warnings:
        lines += ["", "Also check (warnings):"] + [_reason_line(f) for f in warnings]
    lines += ["", "What to do: " + what_to_do(errors, folder, workspace.people_inbox),
              "Nothing from this file was counted.", ""]
    return "\n".join(lines)


_PLACE_ONLY = frozenset({"wrong-department-folder", "future-period", "duplicate-file"})


def what_to_do(errors: Sequence[Finding], folder: str, inbox_of: Callable[[str], str] | None = None,
               fix: str = "") -> str:
    """The one instruction a rejected return's department needs, as specific as its errors allow:
    a file in the wrong folder only needs moving, not correcting. `inbox_of` names a department's
    drop folder as people see it (`Workspace.people_inbox`); `fix` replaces the general advice."""
    codes = {f.rule for f in errors}
    if codes == {"wrong-department-folder"}:
        target = next((f.value for f in errors if f.value and f.value != "(none)"), "")
        where = (inbox_of or (lambda code: f"inbox/{code}/"))(target) if target else ""
        return (f"Nothing in the workbook needs changing: move it to {where}" if target else
                "Nothing in the workbook needs changing: move it to your department's folder in inbox/.")
    if codes == {"future-period"}:
        return f"Nothing in the workbook needs changing: drop it into {folder} again when that month is being collected."
    return fix or (f"Correct what is listed above (the feedback copy in feedback/ is your workbook with the problem "
                   f"cells highlighted and a first sheet listing each one), save it as .xlsx and drop it into {folder} "
                   "again.")


def _reason_line(finding: Finding) -> str:
    where = " ".join(p for p in (finding.location, f"({finding.indicator})" if finding.indicator else "") if p)
    return f"  - {where + ': ' if where else ''}{plain(finding.message, 600)}  [{finding.rule}]"
