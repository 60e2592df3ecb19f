"""What `xlq export` and `open_workspace` can give, and their one-line errors; no pandas here, so
the command line can check its options before pandas is loaded."""

from __future__ import annotations

from xlq.core.errors import UsageError

TABLES = ("values", "organisation", "findings", "submissions", "indicators", "departments")
"""The tables a workspace gives, in the order `xlq export all` writes them."""
FORMATS = ("csv", "parquet", "xlsx")


class AnalysisError(UsageError):
    """A table that cannot be given as asked (a bad month, an unknown code, a missing
    optional package); the message is one line for the user."""
