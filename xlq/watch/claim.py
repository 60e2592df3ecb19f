"""Claim, then read: a file leaves inbox/ by one atomic rename before anything reads it.

inbox/ is a shared folder: anyone who can drop a file can also replace, delete or swap it for a
symbolic link at any moment. So each settled file is first claimed: its claim is committed to
the store's journal (`xlq.store.journal`), then the file is renamed into the workspace's private
staging folder (`.xlq-staging/<claim>/.claimed`, on the same file system as inbox/, so the
rename is atomic and moves the very inode that was looked at; the inode is checked after).

Hashing copies the claimed bytes into the claim's snapshot (`.xlq-staging/<claim>/<name>`) in
the same pass, through a descriptor that never follows a link, and from then on only the
snapshot is used: it is read, recorded (by that one hash), copied into feedback and archived.
Nobody who can write to inbox/ can reach it.

A writer that still holds the file open (a copy resumed after a pause) can go on writing after
the rename, so the claimed file's size, mtime and inode are compared with the claim before it
is read and before it is recorded; a file that changed is still arriving and goes back to
inbox/ unjudged. If it changes after it was recorded, the recorded bytes (the snapshot) are
archived and the newer bytes go back to inbox/ as a new arrival: nothing is lost either way.
A link or other non-regular file swapped in at the last moment is put back where it was found,
never read.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from xlq.core.errors import XlqError
from xlq.core.text import shown
from xlq.store.journal import Claim, Intent, Journal
from xlq.watch.inbox import Candidate

log = logging.getLogger("xlq")

STAGING = ".xlq-staging"
HELD = ".claimed"
Hook = Callable[[str, Path, Path | None], None]
"""Called with a step name (claim, hash, read, store, move), the file's place in inbox/ and its
staged path (None before the claim): tests pause there to change the file under the pipeline."""

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_DIR_FD = os.rename in os.supports_dir_fd and os.open in os.supports_dir_fd
_BINARY = getattr(os, "O_BINARY", 0)


class Changed(XlqError):
    """The claimed file is no longer the file that was claimed (still being written, or not a
    regular file): it goes back to inbox/ unjudged."""


@dataclass(frozen=True)
class Claimed:
    """A file that is ours: `candidate` is where it was found, `path` its snapshot (what is
    read, recorded and archived) and `held` the claimed file itself."""

    candidate: Candidate
    claim: Claim
    path: Path

    @property
    def held(self) -> Path:
        return self.path.parent / HELD


class Claimer:
    """Claims files for one workspace and checks that a claimed file stays the one claimed."""

    def __init__(self, root: Path, journal: Callable[[], Journal], hook: Hook | None = None) -> None:
        self.root = root
        self.staging = root / STAGING
        self._journal = journal
        self.hook = hook
        self._warned_exdev = False

    def step(self, name: str, source: Path, staged: Path | None) -> None:
        if self.hook is not None:
            self.hook(name, source, staged)

    def claim(self, candidates: Sequence[Candidate]) -> tuple[list[Claimed], list[tuple[Candidate, str]]]:
        """Claim each settled candidate; the rest come back with the reason they were left."""
        left: list[tuple[Candidate, str]] = []
        ready: list[tuple[Candidate, os.stat_result]] = []
        for candidate in candidates:
            try:
                info = os.lstat(candidate.path)
            except OSError:
                left.append((candidate, "gone before it was read"))
                continue
            if not stat.S_ISREG(info.st_mode):
                left.append((candidate, "not a regular file; only regular files are read"))
            elif (info.st_size, info.st_mtime_ns) != (candidate.size, candidate.mtime_ns):
                left.append((candidate, "still arriving (it changed after it settled)"))
            else:
                ready.append((candidate, info))
        if not ready:
            return [], left
        journal = self._journal()
        claims = journal.open([Intent(c.path.name, c.arrived_in, i.st_size, i.st_mtime_ns, i.st_ino) for c, i in ready])
        claimed: list[Claimed] = []
        void: list[int] = []
        returned: list[int] = []
        for (candidate, _), claim in zip(ready, claims, strict=True):
            staged = self.root / claim.staged
            self.step("claim", candidate.path, None)
            try:
                staged.parent.mkdir(parents=True, exist_ok=True)
                self._rename_in(candidate.path, staged.parent / HELD)
            except OSError as exc:
                void.append(claim.id)
                _rmdir(staged.parent)
                left.append((candidate, self._why_not(exc)))
                continue
            item = Claimed(candidate, claim, staged)
            try:
                self.check(item)
            except Changed as exc:
                self.give_back(item)
                returned.append(claim.id)
                left.append((candidate, str(exc)))
                continue
            claimed.append(item)
        journal.close(void, "void")
        journal.close(returned, "returned")
        return claimed, left

    def _rename_in(self, source: Path, held: Path) -> None:
        """Rename `source` to `held` without following a link anywhere on the way: each folder
        from the workspace down is opened with O_NOFOLLOW and the rename is relative to the
        last one, so a department folder swapped for a link at this moment fails the claim
        instead of pulling in a file from wherever the link points."""
        if not _DIR_FD or not _NOFOLLOW:  # Windows: no openat; the lstat checks before and after remain
            os.rename(source, held)
            return
        parts = source.relative_to(self.root).parts
        fd = os.open(self.root, os.O_RDONLY | _DIRECTORY)
        try:
            for part in parts[:-1]:
                inner = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW, dir_fd=fd)
                os.close(fd)
                fd = inner
            if stat.S_ISLNK(os.stat(parts[-1], dir_fd=fd, follow_symlinks=False).st_mode):
                raise OSError(errno.ELOOP, "a link was swapped in", str(source))
            os.rename(parts[-1], held, src_dir_fd=fd)
        finally:
            os.close(fd)

    def _why_not(self, exc: OSError) -> str:
        if exc.errno == errno.ENOENT:
            return "gone before it was read"
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            return "a link was swapped in for the file or its folder; links are never followed"
        if exc.errno == errno.EXDEV:
            if not self._warned_exdev:
                self._warned_exdev = True
                log.error("inbox/ is on another file system than %s; files cannot be claimed atomically and stay "
                          "in inbox/ (keep the workspace and its inbox/ on one share)", self.staging)
            return "inbox/ and the workspace are on different file systems"
        return f"could not be claimed ({exc.strerror or exc})"

    def check(self, item: Claimed) -> None:
        """Changed unless the claimed file is still the regular file that was claimed, unchanged."""
        try:
            info = os.lstat(item.held)
        except OSError:
            raise Changed("gone from the staging folder") from None
        _same(info, item.claim)

    def digest(self, item: Claimed) -> tuple[str, int]:
        """sha256 and size of the claimed file, copied into the snapshot in the same pass, read
        through a descriptor that never follows a link."""
        try:
            fd = os.open(item.held, os.O_RDONLY | _NOFOLLOW | _BINARY)
        except OSError as exc:
            raise Changed(f"could not be opened ({exc.strerror or exc})") from None
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "rb") as handle:
            _same(os.fstat(handle.fileno()), item.claim)
            if os.path.lexists(item.path):
                os.unlink(item.path)
            out = os.open(item.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY, 0o640)
            with os.fdopen(out, "wb") as snapshot:
                while block := handle.read(1 << 20):
                    digest.update(block)
                    snapshot.write(block)
                    size += len(block)
            _same(os.fstat(handle.fileno()), item.claim)
        if size != item.claim.size:
            raise Changed("still arriving (its size changed while it was hashed)")
        with contextlib.suppress(OSError):  # the archived copy keeps the department's own time stamp
            os.utime(item.path, ns=(item.claim.mtime_ns, item.claim.mtime_ns))
        return digest.hexdigest(), size

    def give_back(self, item: Claimed) -> Path | None:
        """Put a claimed file back into inbox/, under its own name if that is free: it was not
        judged, so it must not be lost or moved anywhere a department would not look."""
        target = item.candidate.path
        n = 2
        while os.path.lexists(target):
            target = target.with_name(f"{Path(item.claim.original_name).stem} (returned {n})"
                                      f"{Path(item.claim.original_name).suffix}")
            n += 1
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(item.held, target)
        except FileNotFoundError:
            target = None
        except OSError as exc:
            log.error("could not put %s back into inbox/ (%s); it is in %s", item.claim.original_name, exc, item.held)
            return None
        with contextlib.suppress(OSError):
            os.unlink(item.path)
        _rmdir(item.path.parent)
        return target

    def done(self, item: Claimed) -> str:
        """After the snapshot is archived: the claimed file goes too, unless it changed since it
        was claimed (a writer still at it): then those newer bytes go back to inbox/ as a new
        arrival. Returns a note for the log when that happened."""
        note = ""
        try:
            self.check(item)
        except Changed as exc:
            if os.path.lexists(item.held):
                back = self.give_back(item)
                note = f"it changed after it was recorded ({exc}); the newer bytes are back in inbox/ as {back}"
        else:
            with contextlib.suppress(OSError):
                os.unlink(item.held)
        _rmdir(item.path.parent)
        return note


def _same(info: os.stat_result, claim: Claim) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise Changed("not a regular file (a link or device was swapped in); it was not read")
    if info.st_ino != claim.inode:
        raise Changed("replaced while it was being claimed; the new file is read on its own")
    if (info.st_size, info.st_mtime_ns) != (claim.size, claim.mtime_ns):
        raise Changed("still arriving (it changed after it was claimed)")


def _rmdir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not empty, or gone: either way nothing to do
        folder.rmdir()


def describe(path: Path, root: Path) -> str:
    """A path for the log, relative to the workspace when it is inside it, always sanitised."""
    try:
        return shown(path.relative_to(root).as_posix())
    except ValueError:
        return shown(path)
