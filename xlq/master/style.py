"""Formats, colours and the cell-writing helpers every master sheet shares.

Text from returns is only ever written with `write_string` after `clean()`, so nothing a
department typed can become a formula or a link whatever the workbook options say.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from xlq.core.catalogue import Indicator
from xlq.master.plan import LINK_LIMIT, NOTE_LIMIT, URL_LIMIT, cell_ref, clean

NAVY = "#1F3864"
INK = "#262626"
GREY = "#7F7F7F"
RULE_GREY = "#BFBFBF"
PURPLE = "#7030A0"
RAG = {
    "green": {"bg_color": "#C6EFCE", "font_color": "#006100"},
    "amber": {"bg_color": "#FFEB9C", "font_color": "#9C5700"},
    "red": {"bg_color": "#FFC7CE", "font_color": "#9C0006"},
}
SPARK_HIGH_LOW = {  # direction -> (high point colour, low point colour)
    "higher": ("#00B050", "#C00000"),
    "lower": ("#C00000", "#00B050"),
    "neither": ("#7F7F7F", "#7F7F7F"),
}
STATUS_STYLE = {  # submission status -> (label, fill, font)
    "accepted": ("Accepted", "#C6EFCE", "#006100"),
    "accepted_with_warnings": ("Accepted with warnings", "#FFEB9C", "#9C5700"),
    "accepted_with_errors": ("Accepted with errors", "#FCE4D6", "#C00000"),
    "late": ("Late", "#F8CBAD", "#843C0C"),
    "rejected": ("Rejected", "#FFC7CE", "#9C0006"),
    "missing": ("Missing", "#D9D9D9", "#404040"),
}
BASE: dict[str, Any] = {"font_size": 10, "valign": "vcenter", "font_color": INK}
CELL_BORDER: dict[str, Any] = {"border": 1, "border_color": RULE_GREY}
FLAG_BORDER: dict[str, Any] = {"border": 2, "border_color": PURPLE}
NO_VALUE_FILL: dict[str, Any] = {"pattern": 13, "fg_color": "#A6A6A6", "bg_color": "#FFFFFF"}
NOT_REPORTED_FILL: dict[str, Any] = {"bg_color": "#F2F2F2"}


def print_setup(ws: Any, paper: int, *, area: tuple[int, int] | None = None,
                header_row: int | tuple[int, int] | None = None, footer: str | None = None) -> None:
    """How a sheet prints: landscape, one page wide on `paper` (8 is A3, 9 is A4). `area` (last
    row, last column) sets the print area and narrow margins; `header_row` (a row, or the first
    and last of several) repeats on every page; `footer` goes on the left of the footer and page
    numbers on the right."""
    ws.set_landscape()
    ws.set_paper(paper)
    ws.fit_to_pages(1, 0)
    header = (header_row, header_row) if isinstance(header_row, int) else header_row
    if header is not None:
        ws.repeat_rows(*header)
    if area is not None:
        ws.print_area(0, 0, max(area[0], header[1] if header else 0), area[1])
        ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
    if footer is not None:
        ws.set_footer(f"&L{clean(footer, 120).replace('&', '&&')}&RPage &P of &N")


class Styles:
    """One XlsxWriter Format per distinct set of properties (Excel caps a file's formats)."""

    def __init__(self, workbook: Any):
        self.workbook = workbook
        self._cache: dict[tuple, Any] = {}
        self._values: dict[tuple, Any] = {}  # `value` is asked once per figure cell: skip the merging
        self.rag = {name: workbook.add_format(props) for name, props in RAG.items()}

    def __call__(self, *layers: dict[str, Any], **props: Any) -> Any:
        merged: dict[str, Any] = dict(BASE)
        for layer in layers:
            merged.update(layer)
        merged.update(props)
        key = tuple(sorted(merged.items()))
        if key not in self._cache:
            self._cache[key] = self.workbook.add_format(merged)
        return self._cache[key]

    def title(self) -> Any:
        return self(font_size=18, bold=True, font_color=NAVY)

    def subtitle(self) -> Any:
        return self(font_size=12, bold=True)

    def small(self, **props: Any) -> Any:
        return self({"font_size": 9, "font_color": GREY}, props)

    def header(self, **props: Any) -> Any:
        return self(CELL_BORDER, {"bold": True, "font_color": "#FFFFFF", "bg_color": NAVY, "text_wrap": True,
                                  "align": "center"}, props)

    def section(self) -> Any:
        return self(bold=True, font_size=11, font_color="#FFFFFF", bg_color="#2F5597")

    def subsection(self) -> Any:
        return self(bold=True, italic=True, font_color=NAVY, bg_color="#DDEBF7", bottom=1, bottom_color=RULE_GREY)

    def text(self, **props: Any) -> Any:
        return self(CELL_BORDER, {"text_wrap": True}, props)

    def value(self, indicator: Indicator | None, *, flagged: bool = False, no_value: bool = False,
              not_reported: bool = False, marker: bool = False) -> Any:
        number_format = indicator.number_format() if indicator is not None and not marker else None
        key = (number_format, flagged, no_value, not_reported, marker)
        if (known := self._values.get(key)) is not None:
            return known
        layers: list[dict[str, Any]] = [CELL_BORDER]
        if not_reported:
            layers.append(NOT_REPORTED_FILL)
        if no_value:
            layers.append(NO_VALUE_FILL)
        if flagged:
            layers.append(FLAG_BORDER)
        props: dict[str, Any] = {"align": "center"}
        if marker:
            props["font_color"] = GREY
        elif number_format is not None:
            props["num_format"] = number_format
        self._values[key] = self(*layers, **props)
        return self._values[key]

    def link(self, **props: Any) -> Any:
        return self(CELL_BORDER, {"font_color": "#0563C1", "underline": 1}, props)


@dataclass
class Links:
    """Counts a sheet's links so none is silently dropped: past Excel's limit (or for an
    over-long target) the cell is written without a link and the sheet says so."""

    sheet: Any
    count: int = 0
    skipped: int = 0
    first_skipped: str | None = field(default=None)

    def add(self, row: int, col: int, url: str, tip: str = "", text: str = "", fmt: Any = None) -> bool:
        if self.count >= LINK_LIMIT or len(url) > URL_LIMIT:
            self.skipped += 1
            if self.first_skipped is None:
                self.first_skipped = cell_ref(row, col)
            return False
        self.count += 1
        self.sheet.write_url(row, col, url, fmt, clean(text, 255), clean(tip, 255) or None)
        return True

    def notice(self) -> str:
        if not self.skipped:
            return ""
        return (f"{self.skipped:,} links were left out from cell {self.first_skipped} on: "
                f"Excel allows {LINK_LIMIT:,} links per sheet.")


def wrapped_height(cells: list[tuple[str, float]], line: float = 12.75, minimum: float = 15.0) -> float:
    """A row height that shows wrapped text in full: viewers do not re-measure rows an
    XlsxWriter file leaves at the default height. `cells` pairs text with column width."""
    lines = 1
    for text, width in cells:
        per_line = max(1, int(width * 1.2) - 3)
        text = str(text)
        if len(text) < per_line and "\n" not in text:  # most cells: one line, nothing to count
            continue
        lines = max(lines, sum(1 + len(part) // per_line for part in text.split("\n")))
    return max(minimum, min(409.0, lines * line + 3))


def write_value(ws: Any, row: int, col: int, value: float | None, marker: str | None, fmt_for: Any) -> None:
    """A month's figure: the number itself, a marker as text, or a formatted blank.
    `fmt_for(marker: bool)` picks the format. A number that is not finite (XlsxWriter refuses
    it and the whole master would fail) is left blank: reconciliation has said why."""
    if value is not None and math.isfinite(value):
        ws.write_number(row, col, value, fmt_for(False))
    elif marker:
        ws.write_string(row, col, clean(marker, 20), fmt_for(True))
    else:
        ws.write_blank(row, col, None, fmt_for(False))


def write_note(ws: Any, row: int, col: int, title: str, reasons: list[str], footer: str = "") -> None:
    lines = [title, *(f"• {r}" for r in reasons)]
    if footer:
        lines.append(footer)
    text = clean("\n".join(lines), NOTE_LIMIT)
    height = min(12, 2 + sum(1 + len(line) // 48 for line in lines))
    ws.write_comment(row, col, text, {"author": "xlq", "x_scale": 2.2, "y_scale": max(1.0, height / 4),
                                      "font_size": 9})


def add_sparklines(ws: Any, direction: str, locations: list[str], ranges: list[str]) -> None:
    """One grouped call per direction: XlsxWriter rebuilds its style tables per call."""
    high, low = SPARK_HIGH_LOW.get(direction, SPARK_HIGH_LOW["neither"])
    ws.add_sparkline(0, 0, {
        "location": locations, "range": ranges, "type": "line",
        "high_point": True, "low_point": True, "last_point": True,
        "high_color": high, "low_color": low, "last_color": "#1F3864",
        "series_color": "#5B6B82", "markers_color": "#5B6B82",
        "empty_cells": "gaps", "show_hidden": True, "weight": 1.25,
    })
