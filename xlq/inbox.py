"""The inbox side of the pipeline: which files to read, when they have finished arriving,
where they go, and who may process the workspace.

A file is a candidate only if nobody is still working on it: Office lock files (`~$*`),
temporary files (`*.tmp`, Excel's extension-less 8-character names), hidden files and folders
and symlinks (never followed: a link could point anywhere) are skipped. Moves never overwrite.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import re
import shutil
import stat
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from xlq.pipeline import FileResult

LOCK_NAME = ".xlq.lock"
MAX_NAME_BYTES = 200
_IGNORED_NAMES = frozenset(("thumbs.db", "desktop.ini", "icon\r"))
_TEMP_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", ".download", "~")
_EXCEL_TEMP = re.compile(r"^[0-9A-Za-z]{8}$")


class WorkspaceBusy(RuntimeError):
    """Another xlq process is already processing this workspace's inbox."""


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




class WorkspaceLock:
    """An exclusive lock on the workspace, released by the OS if the process dies (kill -9)."""

    def __init__(self, root: Path) -> None:
        self.path = root / LOCK_NAME
        self._handle = None

    def acquire(self) -> None:
        handle = open(self.path, "a+")  # noqa: SIM115 - held open for as long as the lock
        try:
            if os.name == "nt":
                import msvcrt

                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            raise WorkspaceBusy(f"{self.path.parent}: another xlq ({holder or 'unknown process'}) is processing "
                                "this workspace; stop it or let it do the work") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def zip_state(path: Path) -> Literal["complete", "incomplete", "other"]:
    """A zip whose central directory (written last) cannot be read is still being copied."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError:
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


class TtyProgress:
    """A one-line progress bar on stderr, only when it is a terminal."""

    def __init__(self, total: int, stream=None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = total >= 10 and hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last = 0.0
        self.done = 0

    def __call__(self, result: FileResult) -> None:
        self.done += 1
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and self.done < self.total:
            return
        self._last = now
        width = 30
        filled = width * self.done // max(1, self.total)
        self.stream.write(f"\r\x1b[Kxlq run [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def receipt_time(last: list[dt.datetime], clock: Callable[[], dt.datetime] | None = None) -> dt.datetime:
    moment = (clock() if clock else dt.datetime.now()).astimezone()
    if last and moment <= last[0]:
        moment = last[0] + dt.timedelta(microseconds=1)
    last[:] = [moment]
    return moment


def short_name(name: str, limit: int = MAX_NAME_BYTES) -> str:
    """Names stay within filesystem limits once the receipt time and `.feedback.xlsx` are added."""
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, dot, suffix = name.rpartition(".")
    if not dot or len(suffix) > 10:
        stem, suffix = name, ""
    budget = limit - len(suffix.encode("utf-8")) - 2
    cut = stem.encode("utf-8")[:budget].decode("utf-8", "ignore")
    return f"{cut}~" + (f".{suffix}" if suffix else "")




def move(src: Path, dest: Path) -> None:
    """Move without ever overwriting; a copy across filesystems lands under a temporary name first."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(dest):
        raise FileExistsError(errno.EEXIST, "destination exists", str(dest))
    try:
        os.rename(src, dest)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    temporary = dest.with_name("." + dest.name + ".part")
    shutil.copy2(src, temporary)
    with open(temporary, "rb+") as handle:
        os.fsync(handle.fileno())
    os.rename(temporary, dest)
    os.unlink(src)


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name("." + path.name + ".part")
    temporary.write_text(text, encoding="utf-8", newline="\r\n" if os.name == "nt" else None)
    os.replace(temporary, path)
