"""What happened to each file and to a run: the values the watch stage hands to its callers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from xlq.core.model import Outcome, outcome_words
from xlq.core.report import plain

FileOutcome = Literal[Outcome, "duplicate", "deferred"]
"""A return's verdict (`core.model.Outcome`, the one list of verdicts), or what happened to a
file that was not judged: the same content as an accepted return (duplicate) or left in inbox/
to try again (deferred)."""


@dataclass(frozen=True)
class FileResult:
    """What happened to one file; `outcome` "deferred" means it was left in inbox/ to retry."""

    path: str
    department: str | None
    period: str | None
    outcome: FileOutcome
    errors: int = 0
    warnings: int = 0
    moved_to: str | None = None
    sha256: str = ""
    kind: str = ""
    note: str = ""

    @property
    def recorded(self) -> bool:
        return self.outcome != "deferred"

    def line(self) -> str:
        parts = [f"{outcome_words(self.outcome):<24}", f"{self.department or '-':<6}", f"{self.period or '-':<7}",
                 plain(Path(self.path).name, 120), f"errors={self.errors} warnings={self.warnings}"]
        if self.kind and self.kind not in ("new", "duplicate"):
            parts.append(self.kind)
        if self.moved_to:
            parts.append(f"-> {plain(self.moved_to, 300)}")
        if self.note:
            parts.append(f"({plain(self.note, 200)})")
        return " ".join(parts)


@dataclass(frozen=True)
class RunSummary:
    results: tuple[FileResult, ...]
    rebuilt: bool
    master: str | None
    seconds: float
    waiting: int = 0

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    def describe(self) -> str:
        if not self.results and not self.rebuilt:
            text = "nothing new in inbox/"
        else:
            counts = [f"{n} {outcome_words(o)}" for o in get_args(FileOutcome) if (n := self.count(o))]
            text = f"{len(self.results)} file(s): " + (", ".join(counts) or "none processed")
        if self.waiting:
            text += f"; {self.waiting} still being copied (left for the next run)"
        if self.rebuilt and self.master:
            text += f"; master rebuilt: {self.master}"
        return text + f" ({self.seconds:.2f} s)"
