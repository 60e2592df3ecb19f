"""Analysts get the data out: a workspace's figures as pandas DataFrames, and `xlq export`.

`open_workspace(path)` reads a workspace without ever writing to it, while a watcher runs.
This package imports pandas (install it with `pip install "xlq[analysis]"`); nothing outside
it does, so `xlq validate` and the watcher start without it.
"""

from xlq.analysis.workspace import TABLES, Workspace, open_workspace

__all__ = ["TABLES", "Workspace", "open_workspace"]
