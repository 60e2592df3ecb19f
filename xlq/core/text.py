"""The one sanitiser for untrusted text shown on a console or written to the log.

A file name is chosen by whoever drops the file, so it may hold newlines (a second, forged log
line), escape sequences (clearing or recolouring the admin's terminal) or bidi controls (a name
that reads differently from what it is). `shown` turns every such character into a visible
escape, so a name is always one line of inert text; nothing is dropped, so two different names
never look the same.
"""

from __future__ import annotations

import logging
import os
import re

# C0 controls (ESC and newlines among them), DEL, C1 controls (CSI 0x9b drives terminals too),
# bidi embeddings, overrides, isolates and marks, and the Unicode line and paragraph separators.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def shown(text: object, limit: int = 0) -> str:
    """`text` (a str, a path, an exception) as one line of printable text; cut to `limit` if given."""
    value = os.fspath(text) if isinstance(text, os.PathLike) else str(text)
    result = _UNSAFE.sub(_escape, value)
    if limit and len(result) > limit:
        result = result[: limit - 1] + "…"
    return result


class SafeArgs(logging.Filter):
    """Passes every %-argument of a log record through `shown`, so a name logged as `%s`
    cannot break its line; numbers are left as they are (for %d, %.2f)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(a if isinstance(a, int | float) or a is None else shown(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: a if isinstance(a, int | float) or a is None else shown(a) for k, a in record.args.items()}
        return True
