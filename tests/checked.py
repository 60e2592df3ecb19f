"""Validated returns built directly, for store and reconcile tests that need no workbook."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from xlq.core.model import Checked, Finding, Identity, ParsedReturn, Value


def make_return(dept: str, period: str, values: dict[str, object], *, outcome: str = "accepted",
                findings: tuple[Finding, ...] = (), comments: dict[str, str] | None = None, tag: str = "") -> Checked:
    """A return as validate would hand it over: numbers, markers (str), (numerator, denominator)
    or None for a blank; `tag` makes otherwise identical returns distinct files."""
    comments = comments or {}
    out = []
    for row, (code, given_value) in enumerate(values.items(), start=10):
        if isinstance(given_value, tuple):
            num, den = given_value
            v = Value(code, dept, period, num / den if den else None, float(num), float(den), raw=f"{num}/{den}")
        elif isinstance(given_value, str):
            v = Value(code, dept, period, None, marker=given_value, raw=given_value)
        elif given_value is None:
            v = Value(code, dept, period, None)
        else:
            v = Value(code, dept, period, float(given_value), raw=str(given_value))
        out.append(replace(v, cell=f"F{row}", comment=comments.get(code, "")))
    sha = hashlib.sha256(repr((dept, period, values, outcome, findings, comments, tag)).encode()).hexdigest()
    parsed = ParsedReturn(f"inbox/{dept}-{period}.xlsx", sha, 1000, Identity("Test Trust", dept, period, "t1", "1"))
    return Checked(parsed, tuple(out) if outcome != "rejected" else (), findings, outcome)  # type: ignore[arg-type]
