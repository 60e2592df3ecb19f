"""The inbox side of the pipeline: which files to read and when they have finished arriving.

A file is a candidate only if nobody is still working on it: Office lock files (`~$*`),
temporary files (`*.tmp`, Excel's extension-less 8-character names), hidden files and folders
and symlinks (never followed: a link could point anywhere) are skipped.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from xlq.core.config import Workspace

log = logging.getLogger("xlq")

_IGNORED_NAMES = frozenset(("thumbs.db", "desktop.ini", "icon\r"))
_TEMP_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", ".download", "~")
_EXCEL_TEMP = re.compile(r"^[0-9A-Za-z]{8}$")


def ignored(name: str) -> str | None:
    """Why a file name is never read, or None: lock, temp and hidden files are someone's work in progress."""
    if name.startswith("~$"):
        return "Office lock file"
    if name.startswith("."):
        return "hidden"
    lowered = name.lower()
    if lowered in _IGNORED_NAMES or lowered.endswith(_TEMP_SUFFIXES):
        return "temporary file"
    if _EXCEL_TEMP.match(name):
        return "Excel temporary file"
    return None


def hidden_on_windows(info: os.stat_result) -> bool:
    return bool(getattr(info, "st_file_attributes", 0) & getattr(stat, "FILE_ATTRIBUTE_HIDDEN", 0))


@dataclass(frozen=True)
class Candidate:
    """A file in inbox/ that may be a return; `department` is its folder's authority, if any."""

    path: Path
    arrived_in: str
    department: str | None
    size: int
    mtime_ns: int




HEAD_BYTES = 512


def arriving(path: Path) -> str | None:
    """Why a file looks like a copy still in progress, or None: empty, zeros where a file's
    first bytes would be (Explorer and SMB copies pre-allocate the size with zeros), or a zip
    whose central directory (written last) cannot be read."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEAD_BYTES)
    except OSError:
        return "unreadable"
    if not head:
        return "it is 0 bytes"
    if not head.strip(b"\0"):
        return "it starts with zeros"  # space reserved by a copy that has not written it yet
    if head[:2] != b"PK":
        return None
    try:
        with zipfile.ZipFile(path):
            return None
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return "it is cut short"


def zip_state(path: Path) -> Literal["complete", "incomplete", "other"]:
    """"incomplete" while a file is still arriving (see `arriving`), "complete" for a whole
    zip, "other" for anything else (judged by the reader)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEAD_BYTES)
    except OSError:
        return "incomplete"
    if not head.strip(b"\0"):
        return "incomplete"
    if head[:2] != b"PK":
        return "other"
    try:
        with zipfile.ZipFile(path):
            return "complete"
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return "incomplete"


class Settler:
    """Decides when a file has finished arriving: size and mtime unchanged for `settle`
    seconds and, for a zip, a readable central directory. A zip that stays incomplete for
    `incomplete` seconds is handed on anyway (the reader rejects it as cut short)."""

    def __init__(self, settle: float, incomplete: float) -> None:
        self.settle = settle
        self.incomplete = max(incomplete, settle)
        self._seen: dict[Path, tuple[int, int, float]] = {}

    def __len__(self) -> int:
        return len(self._seen)

    def forget(self, path: Path) -> None:
        self._seen.pop(path, None)

    def ready(self, candidate: Candidate, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        key = (candidate.size, candidate.mtime_ns)
        seen = self._seen.get(candidate.path)
        state: str | None = None  # this size and mtime's zip state, once looked at
        if seen is None or seen[:2] != key:
            since = now
            if seen is None:
                age = time.time() - candidate.mtime_ns / 1e9
                state = zip_state(candidate.path) if age >= self.settle else None
                if age >= self.settle and state == "complete":
                    since = now - age  # moved in whole, or arrived while we were down
                elif state == "incomplete" and (untouched := _untouched_for(candidate, age)) >= self.incomplete:
                    since = now - untouched  # cut short long ago: `xlq run` would otherwise never judge it
            self._seen[candidate.path] = (*key, since)
            seen = self._seen[candidate.path]
        stable_for = now - seen[2]
        if stable_for < self.settle:
            return False
        if state is None:  # a file found whole at first sight is not opened twice (a cold run's 1,000)
            state = zip_state(candidate.path)
        return state != "incomplete" or stable_for >= self.incomplete

    def next_check(self, now: float | None = None) -> float:
        """Seconds until some watched file may become ready."""
        now = time.monotonic() if now is None else now
        waits = [since + self.settle - now for _, _, since in self._seen.values()]
        return max(0.05, min(waits, default=self.settle))


def _untouched_for(candidate: Candidate, age: float) -> float:
    """Seconds since the file last changed. A copy tool may give the file its source's old
    mtime, but never an old ctime (inode change on Unix, creation time on Windows), so the
    younger of the two says whether a copy could still be running."""
    try:
        changed = os.stat(candidate.path).st_ctime
    except OSError:
        return 0.0
    return min(age, time.time() - changed)


class InboxScanner:
    """Finds the files in one workspace's inbox/ that may be returns, and the folder authority of each.

    Links are never followed, anywhere on the path; each one is logged once.
    """

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.root = workspace.root
        self.inbox = workspace.folder("inbox")
        self._warned: set[Path] = set()

    def candidate(self, path: Path | str) -> Candidate | None:
        """The Candidate for a path inside inbox/, or None when it is not a file to read."""
        path = Path(path)
        try:
            parts = path.relative_to(self.inbox).parts
        except ValueError:
            return None
        if not parts or any(ignored(part) for part in parts):
            return None
        current = self.inbox
        for part in parts:
            current = current / part
            try:
                info = os.lstat(current)
            except OSError:
                return None
            if stat.S_ISLNK(info.st_mode):
                self._warn_link(current)
                return None
            if hidden_on_windows(info):
                return None
        if not stat.S_ISREG(info.st_mode):
            return None
        folder = parts[0].upper() if len(parts) > 1 else None
        department = folder if folder and self.workspace.department(folder) else None
        arrived = Path("inbox", *parts[:-1]).as_posix()
        return Candidate(path, arrived, department, info.st_size, info.st_mtime_ns)

    def _warn_special(self, path: Path) -> None:
        """A pipe, socket or device is refused at once (opening a pipe would wait for ever)."""
        if path not in self._warned:
            self._warned.add(path)
            log.warning("ignored %s: not a regular file (pipes and devices are never opened)",
                        path.relative_to(self.root))

    def _warn_link(self, link: Path) -> None:
        if link in self._warned:
            return
        self._warned.add(link)
        try:
            target = Path(os.path.realpath(link))
            inside = target.is_relative_to(self.inbox.resolve())
        except OSError:
            target, inside = Path("?"), False
        where = "inside" if inside else "outside"
        log.warning("ignored symlink %s -> %s (points %s inbox/; links are never followed)",
                    link.relative_to(self.root), target, where)

    def lingering(self, older_than: float = 86400.0, now: float | None = None) -> list[tuple[str, str]]:
        """(path under inbox/, why) for every entry that has sat in inbox/ longer than
        `older_than` seconds: names xlq never reads (a mis-named file is otherwise silent for
        ever), links, pipes, and returns nobody has processed."""
        now = time.time() if now is None else now
        out: list[tuple[str, str]] = []
        stack = [self.inbox]
        while stack:
            current = stack.pop()
            try:
                entries = sorted(os.scandir(current), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if entry.is_dir(follow_symlinks=False) and not ignored(entry.name):
                    stack.append(Path(entry.path))
                    continue
                if now - info.st_mtime < older_than:
                    continue
                why = ignored(entry.name)
                if stat.S_ISLNK(info.st_mode):
                    why = "link (never followed)"
                elif entry.is_dir(follow_symlinks=False):
                    why = f"folder ignored ({why})"
                elif not stat.S_ISREG(info.st_mode):
                    why = "not a regular file (never read)"
                elif why is None:
                    why = "not read yet (is `xlq watch` running?)" if info.st_size else "empty: still being copied?"
                else:
                    why += ", never read"
                out.append((Path(entry.path).relative_to(self.root).as_posix(), why))
        return sorted(out)

    def scan(self, folder: Path | None = None) -> list[Candidate]:
        """Every file under `folder` (default inbox/) that may be a return, oldest first."""
        found: list[Candidate] = []
        stack = [folder or self.inbox]
        while stack:
            current = stack.pop()
            try:
                entries = list(os.scandir(current))
            except OSError:
                continue
            for entry in entries:
                if ignored(entry.name):
                    continue
                if entry.is_symlink():
                    self._warn_link(Path(entry.path))
                elif entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    if found_one := self.candidate(entry.path):
                        found.append(found_one)
                else:
                    self._warn_special(Path(entry.path))
        return sorted(found, key=lambda c: (c.mtime_ns, str(c.path)))
