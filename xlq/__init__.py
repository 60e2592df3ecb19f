"""xlq: departmental Excel returns in, one trustworthy master scorecard out."""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """`xlq.open_workspace(path)`: read a workspace as pandas DataFrames (docs/analysis.md).
    Imported on first use, so `import xlq` never loads pandas."""
    if name == "open_workspace":
        # imported here for start-up time: the one public entry point for analysts, never loaded by the collector
        from xlq.analysis.workspace import open_workspace

        return open_workspace
    raise AttributeError(f"module 'xlq' has no attribute {name!r}")
