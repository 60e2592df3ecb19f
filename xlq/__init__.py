"""xlq: departmental Excel returns in, one trustworthy master scorecard out."""

__version__ = "0.1.0"
