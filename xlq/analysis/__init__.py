"""Analysts get the data out: a workspace's figures as pandas DataFrames, and `xlq export`.

`open_workspace(path)` reads a workspace without ever writing to it, while a watcher runs
(see docs/analysis.md). The DataFrame code needs pandas (`pip install "xlq[analysis]"`) and
is imported on first use, so importing this package, or anything outside it, does not load
pandas: `xlq validate` and the watcher start without it.
"""
