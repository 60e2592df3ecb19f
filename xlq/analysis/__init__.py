"""Analysts get the data out: a workspace's figures as pandas DataFrames, and `xlq export`.

`open_workspace(path)` reads a workspace without ever writing to it, while a watcher runs
(see docs/analysis.md). The DataFrame code needs pandas (`pip install "xlq[analysis]"`) and
is imported on first use, so importing this package, or anything outside it, does not load
pandas: `xlq validate` and the watcher start without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xlq.analysis.workspace import Workspace, open_workspace

TABLES = ("values", "organisation", "findings", "submissions", "indicators", "departments")
"""The tables a workspace gives, in the order `xlq export all` writes them."""
FORMATS = ("csv", "parquet", "xlsx")


class AnalysisError(ValueError):
    """A table that cannot be given as asked (a bad month, an unknown code, a missing
    optional package); the message is one line for the user."""


def __getattr__(name: str) -> object:
    if name in ("Workspace", "open_workspace"):
        from xlq.analysis import workspace

        return getattr(workspace, name)
    raise AttributeError(f"module 'xlq.analysis' has no attribute {name!r}")


__all__ = ["FORMATS", "TABLES", "AnalysisError", "Workspace", "open_workspace"]
