"""A workspace's TOML files, parsed once per version (issue 20).

Every command reads `xlq.toml` and most read `catalogue.toml`. `tomllib` is pure Python: a
trust with 420 departments whose catalogue names, for each indicator, the ~300 that report
it has a 187 KB catalogue that takes ~40 ms to parse, a fifth of `xlq validate one.xlsx`.
The same data loads from JSON in ~1 ms. So what a file parsed to is kept as JSON in the
workspace's `.xlq-cache/`, under the SHA-256 of the file's text: an edited file has another
name, so a kept entry can never be stale, only unused (the next one written removes it).

The cache only ever saves time. An entry that cannot be read, parsed or trusted is ignored
and the text is parsed again; a workspace that cannot be written to parses every time. Data
that JSON cannot carry back exactly (a TOML date, a NaN) is not kept. An entry is as trusted
as the store beside it: whoever can write the workspace's own folder can change either.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import tempfile
import tomllib
from pathlib import Path

CACHE_DIR = ".xlq-cache"
MAX_ENTRY_BYTES = 8 * 1024 * 1024  # far above any real catalogue; a larger entry is not ours


def load_toml(text: str, cache: Path | None, stem: str) -> dict:
    """`tomllib.loads(text)`, from `cache` when it holds this exact text's parse.

    `stem` names the file the text came from (`catalogue`, `xlq`): each keeps one entry.
    Raises `tomllib.TOMLDecodeError` as `tomllib.loads` does.
    """
    if cache is None:
        return tomllib.loads(text)
    entry = cache / f"{stem}-{hashlib.sha256(text.encode('utf-8')).hexdigest()}.json"
    kept = _read(entry)
    if kept is not None:
        return kept
    data = tomllib.loads(text)
    _write(cache, entry, stem, data)
    return data


def _read(entry: Path) -> dict | None:
    try:
        if entry.parent.is_symlink():
            return None
        # O_NOFOLLOW: an entry swapped for a link after any check is still not followed (POSIX;
        # on Windows the link check before opening stands); O_NONBLOCK: a pipe put in its place
        # does not hold the command up, and is then refused as not a regular file
        if not hasattr(os, "O_NOFOLLOW") and entry.is_symlink():
            return None
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(entry, flags)
        with open(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                return None
            raw = file.read(MAX_ENTRY_BYTES + 1)
        data = json.loads(raw) if len(raw) <= MAX_ENTRY_BYTES else None
    except (OSError, ValueError, RecursionError):  # missing, unreadable, not JSON: parse the text instead
        return None
    # no null can hide in bytes that never spell it (the walk takes ~2 ms for a large catalogue)
    return data if isinstance(data, dict) and (b"null" not in raw or _toml_shaped(data)) else None


def _toml_shaped(data: dict) -> bool:
    """Nothing a TOML file could not have given (JSON's null): so an entry changed by hand is no
    worse than the same change made to the file itself, which xlq reports in one line."""
    todo: list[object] = [data]
    while todo:
        item = todo.pop()
        if item is None:
            return False
        if isinstance(item, dict):
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return True


def _write(cache: Path, entry: Path, stem: str, data: dict) -> None:
    try:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):  # a date or time: JSON would bring it back as text
        return
    if json.loads(text) != data:  # NaN, or anything else that does not come back the same
        return
    with contextlib.suppress(OSError):  # a read-only workspace: parse every time
        cache.mkdir(exist_ok=True)
        if cache.is_symlink():
            return
        fd, temp = tempfile.mkstemp(dir=cache, prefix=f".{stem}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(text)
            os.chmod(temp, 0o644)  # mkstemp's 0600 would hide it from the workspace's other users
            os.replace(temp, entry)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        # Only names this cache writes (stem, dash, 64 hex digits) are removed: were the folder
        # swapped for a link after the check above, nothing else in its target is touched.
        ours = re.compile(rf"{re.escape(stem)}-[0-9a-f]{{64}}\.json")
        for name in os.listdir(cache):
            if name != entry.name and ours.fullmatch(name):
                with contextlib.suppress(OSError):
                    os.unlink(cache / name)
