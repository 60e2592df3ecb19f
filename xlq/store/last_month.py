"""The template's "Last month" column: a department's current values of the month before, as text."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from xlq.store.queries import StoredValue

if TYPE_CHECKING:
    from xlq.core.catalogue import Catalogue


def last_month_text(values: Iterable[StoredValue], catalogue: Catalogue | None = None) -> dict[str, str]:
    """Markers as given; numbers as plain text ("0.93"), or shown the way the catalogue's unit
    and decimals say ("93%", "93% (93/100)") when `catalogue` is given."""
    out: dict[str, str] = {}
    for stored in values:
        v = stored.value
        indicator = catalogue[v.indicator] if catalogue is not None and v.indicator in catalogue else None
        if v.marker:
            out[v.indicator] = v.marker
            continue
        number = v.number
        if number is None:
            continue
        if indicator is None:
            out[v.indicator] = _plain(number)
        else:
            text = indicator.display(number, grouping=False)
            if indicator.is_percent and v.numerator is not None and v.denominator is not None:
                text += f" ({_plain(v.numerator)}/{_plain(v.denominator)})"
            out[v.indicator] = text
    return out


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else repr(float(number))
