"""Every finding code xlq can raise, in one place: severity, scope and how to fix it.

The rule table in docs/rules.md is what `xlq rules` prints from `RULES` (see
`rules_markdown`), and a test keeps the two equal. Stages create findings only through `finding()`, which refuses unknown codes.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Literal

from xlq.core.model import Finding, Severity

Scope = Literal["file", "cell", "reconcile"]


@dataclass(frozen=True)
class Rule:
    """`scope` file: the whole return is rejected; cell: only that value is dropped (error)
    or flagged (warning); reconcile: raised when combining returns, not reading one."""

    code: str
    severity: Severity
    scope: Scope
    title: str
    message: str


_RULES = (
    # File level: the whole return is rejected, the file kept in rejected/.
    Rule("file-empty", "error", "file", "Empty file", "The file is empty (0 bytes). Save the return again and resubmit it."),
    Rule("file-incomplete", "error", "file", "Incomplete file",
         "The file is incomplete ({value}): the copy may not have finished. Copy the whole file again."),
    Rule("file-not-workbook", "error", "file", "Not a workbook",
         "This is not an Excel workbook. Fill in the .xlsx template and submit that."),
    Rule("file-wrong-format", "error", "file", "Wrong file format",
         "This is a {value} file. Open the template in Excel and save it as .xlsx (Excel Workbook)."),
    Rule("file-encrypted", "error", "file", "Password protected",
         "The workbook is password protected. Remove the password (File > Info > Protect Workbook) and resubmit."),
    Rule("file-too-large", "error", "file", "Too large to read safely",
         "The workbook is too large to read safely ({value}). Submit the template with only the return filled in."),
    Rule("file-unreadable", "error", "file", "Damaged workbook",
         "The workbook could not be read ({value}). Open it in Excel, save it again and resubmit."),
    Rule("not-a-template", "error", "file", "Not an xlq template",
         "This workbook is not one of our return templates. Use the template issued for your department."),
    Rule("wrong-organisation", "error", "file", "Another organisation's template",
         "The template belongs to '{value}'. Use the template issued by this organisation."),
    Rule("unknown-department", "error", "file", "Unknown department",
         "The template names department '{value}', which is not in the list. Use your department's own template."),
    Rule("wrong-department-folder", "error", "file", "Dropped in another department's folder",
         "The return is {value}'s but was dropped in another folder. Nothing is wrong inside the workbook: "
         "move it to inbox/{value}/ (your department's own folder)."),
    Rule("unknown-period", "error", "file", "Unknown period",
         "The template's period '{value}' is not a reporting month. Use the template for the month you report."),
    Rule("future-period", "error", "file", "Future period",
         "The return is for {value}. Keep it and drop it again once that month is being collected."),
    Rule("catalogue-mismatch", "error", "file", "Out-of-date template",
         "The template was made for catalogue version {value}, whose indicators no longer match. "
         "Download this month's template and copy your figures across."),
    Rule("department-not-in-force", "error", "file", "Department not reporting that month",
         "Department '{value}' does not report for this month (it had not started yet, or has closed or merged). "
         "Use the template of the department that reports for it."),
    Rule("older-template", "warning", "file", "Template from an earlier catalogue",
         "The template was made for catalogue version {value}; it was read against this month's indicators where "
         "they still exist."),
    Rule("nothing-filled", "error", "file", "Nothing filled in",
         "No values were filled in. Enter your figures in the yellow cells and resubmit."),
    Rule("macros-ignored", "warning", "file", "Macros ignored",
         "The workbook contains macros; they were not run, and nothing from them reaches the master. "
         "Submit a plain .xlsx next time."),
    # Cell level errors: the value is dropped, the rest of the return is kept.
    Rule("not-a-number", "error", "cell", "Not a number",
         "'{value}' is not a number. Enter a number, or N/A (not applicable) / TBA (not yet available)."),
    Rule("not-whole-number", "error", "cell", "Not a whole number",
         "'{value}' should be a whole number (a count of people or events). Enter the count without decimals."),
    Rule("negative-value", "error", "cell", "Negative value", "'{value}' is negative; this indicator cannot be below zero."),
    Rule("percent-out-of-range", "error", "cell", "Percentage out of range",
         "'{value}' is not between 0% and 100%. Enter the percentage, e.g. 85% or 0.85."),
    Rule("numerator-above-denominator", "error", "cell", "Numerator above denominator",
         "The numerator is larger than the denominator ({value}). Check both figures."),
    Rule("zero-denominator", "error", "cell", "Zero denominator",
         "The denominator is 0 but the numerator is {value}. Enter the denominator, or 0 for both."),
    Rule("missing-part", "error", "cell", "Numerator or denominator missing",
         "Only one of numerator and denominator was given ({value}). Enter both, or neither."),
    Rule("ratio-percent-mismatch", "error", "cell", "Ratio and percentage disagree",
         "In '{value}' the percentage does not match numerator / denominator. Enter the numerator and denominator only."),
    Rule("excel-error", "error", "cell", "Excel error value",
         "The cell shows the Excel error {value}. Replace it with the figure."),
    Rule("formula-no-value", "error", "cell", "Formula without a value",
         "The cell holds a formula with no saved result. Type the figure itself, or open and save in Excel."),
    Rule("wrong-type", "error", "cell", "Date or TRUE/FALSE instead of a number",
         "'{value}' is a date or TRUE/FALSE, not a number. Enter the figure."),
    Rule("unknown-indicator", "error", "cell", "Unknown indicator code",
         "Indicator code '{value}' is not in this template. Do not change the Code column."),
    Rule("duplicate-indicator", "error", "cell", "Indicator given twice",
         "Indicator '{value}' appears more than once; only the first row was used. Delete the copy."),
    Rule("value-too-large", "error", "cell", "Value too large to be believable",
         "'{value}' is larger than any figure this indicator can have. Check the figure (a stray exponent or "
         "pasted cell) and enter it again."),
    Rule("required-missing", "error", "cell", "Required value missing",
         "This indicator is required and was left blank{value}. Enter the figure, or N/A / TBA with a comment."),
    # Cell level warnings: the value is kept and flagged.
    Rule("percent-assumed", "warning", "cell", "Percentage assumed",
         "'{value}' was read as {value}% (a number above 1 in a percent row). Type 85% to be explicit."),
    Rule("percent-maybe-fraction", "warning", "cell", "Percentage may be a fraction",
         "'{value}' was read as a fraction of 100%; if you meant {value}%, type it with the % sign."),
    Rule("outside-history", "warning", "cell", "Outside the usual range",
         "{value} is outside this indicator's process limits from its own history. "
         "Check it, and explain it in Comment if it is right."),
    Rule("large-change-unexplained", "warning", "cell", "Large change without a comment",
         "{value} is a large change from last month. Check it, and explain it in Comment."),
    Rule("denominator-shift", "warning", "cell", "Denominator far from usual",
         "The denominator moved far from this department's own history ({value}); it sets the department's weight in "
         "the trust figure. Check it, and explain it in Comment if it is right."),
    Rule("parts-do-not-sum", "warning", "cell", "Parts do not add up",
         "The parts add up to {value}, which is not the total given. Check the breakdown."),
    Rule("comment-formula-like", "warning", "cell", "Comment looks like a formula",
         "The comment starts with '{value}', like a formula; it is kept as plain text."),
    Rule("comment-too-long", "warning", "cell", "Comment too long",
         "The comment is {value} characters; only the first 1,000 are shown in the master."),
    # Raised when returns are combined.
    Rule("return-missing", "error", "reconcile", "Return missing",
         "No return has been received for {value}. Send it as soon as possible."),
    Rule("return-late", "warning", "reconcile", "Return late", "The return arrived after the due date ({value})."),
    Rule("return-rejected", "error", "reconcile", "Return rejected",
         "The return was rejected: {value}. See the reason file in rejected/ and resubmit."),
    Rule("partial-coverage", "warning", "reconcile", "Partial coverage",
         "Only {value} departments contributed to this figure."),
    Rule("reconcile-difference", "warning", "reconcile", "Central and departmental figures differ",
         "{value}"),
    Rule("indicator-not-computed", "error", "reconcile", "Figure could not be computed",
         "The organisation figure could not be computed ({value}); it is left blank and the rest of the master is "
         "complete. Check this indicator's stored values."),
    Rule("correction", "info", "reconcile", "Correction of an earlier month",
         "A later return replaced the figures for this month ({value})."),
    Rule("resubmission", "info", "reconcile", "Resubmission", "This return replaced an earlier one ({value})."),
    Rule("return-reinstated", "info", "reconcile", "Earlier return sent again",
         "This file is identical to an earlier return ({value}) that a later one had replaced; "
         "it is the current return again (the latest arrival counts)."),
    Rule("duplicate-file", "info", "reconcile", "Same file again",
         "This file is identical to one already received ({value}); it was not counted twice."),
)

RULES: dict[str, Rule] = {rule.code: rule for rule in _RULES}
FILE_RULES: frozenset[str] = frozenset(r.code for r in _RULES if r.scope == "file" and r.severity == "error")


class _Lenient(string.Formatter):
    def get_value(self, key, args, kwargs):  # type: ignore[override]
        return kwargs.get(key, "") if isinstance(key, str) else super().get_value(key, args, kwargs)


def finding(code: str, value: object = "", **where: str | None) -> Finding:
    """Make a finding for rule `code`; `where` carries department, period, indicator, sheet, cell, file."""
    rule = RULES[code]
    text = "" if value is None else str(value)
    shown = text if len(text) <= 80 else text[:77] + "..."
    message = _Lenient().format(rule.message, value=shown)
    return Finding(rule=code, severity=rule.severity, message=message, value=text, **where)


def rules_markdown() -> str:
    """The rule table `xlq rules` prints and docs/rules.md holds."""
    lines = ["| Rule | Severity | Scope | What it means and how to fix it |", "|---|---|---|---|"]
    for rule in _RULES:
        lines.append(f"| `{rule.code}` | {rule.severity} | {rule.scope} | **{rule.title}.** "
                     f"{rule.message.replace('{value}', '…')} |")
    return "\n".join(lines)
