"""Months as xlq writes them (`YYYY-MM`): labels for people, arithmetic, and spans.

One home for month handling, so every stage counts months the same way."""

from __future__ import annotations

import datetime as dt
import functools
import re

PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def month_label(period: str | None) -> str:
    """`2024-03` -> `Mar-2024`, the way the seed and the templates show a period."""
    if not period:
        return ""
    year, month = period.split("-")
    names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    return f"{names[int(month) - 1]}-{year}"


def moment_label(iso: str | None) -> str:
    """A stored timestamp (`2023-12-27T09:30:00+00:00`) as people read it: `27 Dec 2023 09:30`,
    in local time; text that is not a timestamp comes back as it was."""
    if not iso:
        return ""
    try:
        moment = dt.datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    return f"{moment.day} {moment:%b %Y %H:%M}"


def shift_period(period: str, months: int) -> str:
    """`2024-01` shifted by -1 -> `2023-12`."""
    year, month = (int(p) for p in period.split("-"))
    index = year * 12 + month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def months_ending(end: str, count: int) -> tuple[str, ...]:
    """The `count` months ending with `end`, oldest first."""
    return tuple(shift_period(end, n) for n in range(1 - count, 1))


def months_apart(first: str, last: str) -> int:
    """How many months `last` is after `first`: `2023-11` to `2024-02` is 3 (negative when earlier)."""
    return (int(last[:4]) - int(first[:4])) * 12 + int(last[5:]) - int(first[5:])


@functools.lru_cache(maxsize=1024)
def months_between(first: str, last: str) -> tuple[str, ...]:
    """Every month from `first` to `last`, both included (empty when `last` is earlier).
    Cached: validation asks for the same few spans thousands of times a run."""
    span = months_apart(first, last) + 1
    return months_ending(last, span) if span > 0 else ()
