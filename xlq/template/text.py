"""The words a department reads in its template: unit help, prompts, alerts, instructions.

Kept apart from the layout code in `xlq.template.workbook` so the wording can be reviewed (and
changed) by the people who answer the department's questions, without reading openpyxl.
"""

from __future__ import annotations

from xlq.core.config import Workspace
from xlq.core.months import month_label

MARKER_TEXT = 'N/A (does not apply), TBA (not available yet) or - (nothing to report)'

UNIT_LABELS = {"count": "Count", "percent": "Percent", "ratio": "Num / Den", "rate": "Rate", "days": "Days",
               "number": "Number"}
UNIT_HELP = {
    "count": "Count: a whole number, 0 or more (e.g. 12). Do not type 0 when you mean 'not known'.",
    "percent": "Percent: between 0% and 100%. Type 85% (with the % sign) or 0.85; both mean 85%.",
    "ratio": "Num / Den: type the numerator (e.g. staff trained) and the denominator (e.g. staff eligible); "
             "counts of people or events are whole numbers, FTE, days and hours may have decimals (sickness: "
             "289.4 FTE days lost / 4194.6 FTE days available). The % column works out the percentage. "
             "The numerator cannot exceed the denominator.",
    "rate": "Rate: a number, 0 or more, as defined for the indicator (decimals allowed).",
    "days": "Days: a number of days, 0 or more (decimals allowed).",
    "number": "Number: a number, 0 or more (decimals allowed).",
}
PROMPTS = {
    "count": ("Count: whole number", "Type a whole number, 0 or more (e.g. 12)."),
    "percent": ("Percent: 0% to 100%", "Type the percentage with the % sign (85%) or as a fraction (0.85)."),
    "numerator": ("Numerator: whole number", "Type the numerator, a whole number no larger than the denominator."),
    "denominator": ("Denominator: whole number", "Type the denominator, a whole number no smaller than the numerator."),
    "numerator_decimal": ("Numerator: decimals allowed", "Type the numerator (e.g. 289.4 FTE days), no larger than the "
                          "denominator."),
    "denominator_decimal": ("Denominator: decimals allowed", "Type the denominator (e.g. 4194.6 FTE days), no smaller "
                            "than the numerator."),
    "decimal": ("Number, 0 or more", "Type a number, 0 or more; decimals are allowed."),
}
ERRORS = {
    "count": "A count must be a whole number of 0 or more (no decimals, no minus sign), or {m}.",
    "percent": "A percentage must be between 0% and 100%: type 85% or 0.85 for eighty-five per cent, or {m}.",
    "numerator": "The numerator must be a whole number of 0 or more and not larger than the denominator, or {m}.",
    "denominator": "The denominator must be a whole number of 0 or more and not smaller than the numerator, or {m}.",
    "numerator_decimal": "The numerator must be a number of 0 or more and not larger than the denominator, or {m}.",
    "denominator_decimal": "The denominator must be a number of 0 or more and not smaller than the numerator, or {m}.",
    "decimal": "This must be a number of 0 or more (decimals are fine), or {m}.",
}
COMMENT_SUGGESTIONS = (
    "Checked and correct: <say why the figure is unusual>",
    "N/A: this indicator does not apply to our service this month",
    "TBA: figure not yet available from <system>; expected by <date>",
    "Nothing to report this month",
    "Includes a correction to an earlier month: <which month and why>",
    "Provisional figure: data still being validated",
    "Lower than usual because of <staffing / service closure / IT outage>",
    "Higher than usual because of <seasonal demand / backlog cleared / new service>",
    "Definition or data source changed this month: <details>",
)


def instruction_blocks(workspace: Workspace, code: str, period: str) -> list[tuple[str, str]]:
    """The Instructions sheet as (kind, text) blocks: title, h(eading), p(aragraph), b(ullet)."""
    dept = workspace.department(code)
    assert dept is not None
    due = workspace.due_date(period)
    inbox = workspace.people_inbox(code)
    feedback = workspace.people_feedback(code)
    return [
        ("title", f"How to complete the {month_label(period)} return - {dept.name}"),
        ("h", "What to fill in"),
        ("p", "Fill in only the yellow cells on the Return sheet: your name, email and the date at the top, then "
              "one figure per indicator in Value (or Numerator and Denominator) and, where useful, a Comment. "
              "Everything else is locked so the form cannot be broken by accident. The sheets are protected "
              "without a password: Review > Unprotect Sheet works, but please do not change the layout, "
              "the Code column or the hidden sheets; the return is read by these, and a changed template may be rejected."),
        ("p", "Work through the checklist at the top of the Return sheet: it counts, as you type, the required "
              "figures still empty and the figures not accepted (shown red). Send the return when it says 'Yes'."),
        ("p", "Last month shows the figure we accepted from you for the previous month, to help you spot a typing slip."),
        ("h", "Units"),
        *(("b", text) for text in UNIT_HELP.values()),
        ("h", "Blank, N/A, TBA and -"),
        ("b", "N/A: the indicator does not apply to your service this month. Say why in Comment."),
        ("b", "TBA: the figure is not available yet. Say when it will be in Comment, and send a corrected "
              "return when you have it."),
        ("b", "- (a dash): nothing to report."),
        ("b", "Blank: not filled in. A blank required figure is reported as missing; a blank is never read as 0. "
              "Type 0 only when the answer really is zero."),
        ("h", "Explaining an unusual value"),
        ("p", "If a figure is much higher or lower than last month, or outside the target, say why in Comment "
              "(e.g. 'Checked and correct: two incidents reported late from November'). The Comment cell offers "
              "starting phrases in a drop-down; you can type any text. Unexplained large changes are flagged "
              "for the quality team to ask about."),
        ("h", "Where to send it"),
        ("p", f"Save the workbook as .xlsx (keep the name {code}.xlsx or any name you like) and drop it in the "
              f"folder {inbox}. "
              f"It is due by {due.day} {due:%B %Y}. Do not email it and do not save it as .xls, .csv or PDF."),
        ("h", "What happens next"),
        ("p", "The file is picked up automatically within minutes. Every figure is checked; accepted figures go into "
              "the trust's master scorecard. If anything needs your attention, a copy of your workbook appears in "
              f"{feedback}: it opens on a page saying what happened (accepted; accepted with warnings; accepted with "
              "errors, when some figures could not be used; or rejected) and what to do, with each problem cell "
              "marked. To correct a return, fix it and drop it in the folder again: the newest file replaces the "
              "earlier one."),
        ("h", "Whom to ask"),
        ("p", f"The performance and quality team at {workspace.organisation} (reply to the message that sent you "
              "this template). If we need to check a figure we will contact the person named on the return"
              + (f", or {dept.email}." if dept.email else ".")),
    ]
