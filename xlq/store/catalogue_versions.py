"""Catalogue versions in the store (issue 21): every change to `catalogue.toml` or the
departments in `xlq.toml` is kept with who made it, when, and what changed.

`record_version` is called whenever xlq reads a workspace to issue templates or process
returns; it stores a new version only when the catalogue's text or the departments differ
from the latest one. A return made on an older template is read against the version it was
issued under (`version_for_label`), so a target change never refuses it.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from xlq.core.catalogue import Catalogue, parse_catalogue
from xlq.core.config import Department, Workspace
from xlq.core.months import moment_label
from xlq.core.text import shown
from xlq.core.timeline import catalogue_changes, department_changes

if TYPE_CHECKING:
    from xlq.store.db import Store

_COLUMNS = "id, label, sha256, catalogue, departments, changes, recorded_by, recorded_at"


@dataclass(frozen=True)
class CatalogueVersion:
    """One recorded version: `number` counts versions in this store, `label` is the catalogue's own."""

    number: int
    label: str
    sha256: str
    catalogue_text: str
    departments_json: str
    changes: tuple[str, ...]
    recorded_by: str
    recorded_at: str

    def catalogue(self) -> Catalogue:
        return parse_catalogue(self.catalogue_text, f"catalogue version {self.number}")

    def departments(self) -> tuple[Department, ...]:
        return tuple(Department(**{**d, "renamed": tuple(tuple(p) for p in d.get("renamed", ()))})
                     for d in json.loads(self.departments_json))


def current_user() -> str:
    """Who is making the change: `XLQ_USER` when set (a service account acting for someone), else the login."""
    try:
        return os.environ.get("XLQ_USER") or getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "unknown"


def _version(row: tuple) -> CatalogueVersion:
    number, label, sha, text, departments, changes, who, when = row
    return CatalogueVersion(number, label, sha, text, departments, tuple(json.loads(changes)), who, when)


def versions(store: Store) -> list[CatalogueVersion]:
    """Every recorded version, oldest first."""
    return [_version(r) for r in store._query(f"SELECT {_COLUMNS} FROM catalogue_versions ORDER BY id")]


def latest_version(store: Store) -> CatalogueVersion | None:
    rows = store._query(f"SELECT {_COLUMNS} FROM catalogue_versions ORDER BY id DESC LIMIT 1")
    return _version(rows[0]) if rows else None


def version_for_label(store: Store, label: str) -> CatalogueVersion | None:
    """The last version recorded under the catalogue's `version` label (what a template carries)."""
    rows = store._query(f"SELECT {_COLUMNS} FROM catalogue_versions WHERE label = ? ORDER BY id DESC LIMIT 1",
                        (label,))
    return _version(rows[0]) if rows else None


def record_version(store: Store, catalogue_text: str, catalogue: Catalogue, departments: tuple[Department, ...], *,
                   who: str | None = None, when: dt.datetime | None = None) -> CatalogueVersion | None:
    """Store the catalogue and departments as a new version if they differ from the latest;
    returns the new version, or None when nothing changed."""
    departments_json = json.dumps([asdict(d) for d in departments], sort_keys=True)
    sha = hashlib.sha256(f"{catalogue_text}\n--\n{departments_json}".encode()).hexdigest()
    latest = latest_version(store)
    if latest is not None and latest.sha256 == sha:
        return None
    old_catalogue = latest.catalogue() if latest is not None else None
    changes = catalogue_changes(old_catalogue, catalogue) + department_changes(
        latest.departments() if latest is not None else None, departments)
    moment = (when or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    who = who or current_user()
    with store._transaction() as db:
        (number,) = db.execute(
            "INSERT INTO catalogue_versions (label, sha256, catalogue, departments, changes, recorded_by, recorded_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (catalogue.version, sha, catalogue_text, departments_json, json.dumps(changes), who, moment)).fetchone()
    return CatalogueVersion(number, catalogue.version, sha, catalogue_text, departments_json, tuple(changes), who,
                            moment)


def record_workspace(store: Store, workspace: Workspace, catalogue: Catalogue, *, who: str | None = None,
                     when: dt.datetime | None = None) -> CatalogueVersion | None:
    """`record_version` for a workspace's catalogue.toml and departments as they are now."""
    try:
        text = Path(catalogue.path or workspace.catalogue_path).read_text(encoding="utf-8")
    except OSError:  # the catalogue came from elsewhere (a test's object): nothing to version
        return None
    return record_version(store, text, catalogue, workspace.departments, who=who, when=when)


def diff_text(history: Sequence[CatalogueVersion]) -> str:
    """`xlq catalogue diff`: each version with who and when, and what changed, newest last."""
    if not history:
        return "No catalogue versions recorded yet (xlq records one when it issues templates or reads returns)."
    lines = []
    for v in history:
        lines.append(f"version {v.number}  catalogue {shown(v.label, 60)}  recorded {moment_label(v.recorded_at)} "
                     f"by {shown(v.recorded_by, 60)}")  # who comes from the environment, labels from the file
        lines += [f"  - {shown(change, 400)}" for change in v.changes] or ["  (no change to indicators or departments)"]
    return "\n".join(lines)
