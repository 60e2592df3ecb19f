"""The store's schema: tables, indexes, the `current_submissions` and `current_values` views and
ordered migrations.

The schema version (`PRAGMA user_version` on SQLite, the table `xlq_schema_version` on
PostgreSQL) counts the migrations applied; each runs in its own write transaction, so an
interrupted upgrade leaves a store at a known version. A store from a newer xlq is refused. The
statements are written once for both engines (conventions in store/engine.py).
"""

from __future__ import annotations

from collections.abc import Callable

from xlq.core.errors import StoreError
from xlq.store.connection import Connection

CURRENT = "outcome != 'rejected' AND kind != 'duplicate' AND superseded_by IS NULL"
"""The one definition of "the current submission" for a department and month: accepted (with or
without warnings), not a duplicate, not superseded. Only the unique index and the view below use
it; every query reads the view `current_submissions` instead of repeating it.

An import (kind 'import', issue 15) is current beside the department's return: it is a row of
the view too, but never "the department's return" (queries that mean the return exclude it)."""

CURRENT_VALUE = "superseded_by IS NULL AND submission_id IN (SELECT id FROM current_submissions)"
"""Migration 5's definition of "a current value": its submission is current and no import has
replaced that one value (`submitted_values.superseded_by`). Kept as migration 5 wrote it; the
view has been CURRENT_VALUES since migration 9, which says the same as a join."""

CURRENT_VALUES = ("SELECT v.* FROM submitted_values v JOIN current_submissions s ON s.id = v.submission_id "
                  "WHERE v.superseded_by IS NULL")
"""The one definition of "the current values", the view `current_values`: CURRENT_VALUE as a join
(issue 20). SQLite answered the IN form by listing every current submission again for each query
that read the view: 8-10 ms for one department's month at 10,000 returns, asked once per return
validated, against 0.1 ms as a join, which looks each value's submission up by its id. Every
query of values reads the view."""

_V1 = (
    """CREATE TABLE submissions (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL,
        original_name TEXT NOT NULL,
        arrived_in TEXT NOT NULL,
        received_at TEXT NOT NULL,
        location TEXT NOT NULL,
        department TEXT,
        period TEXT,
        outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'accepted_with_warnings', 'rejected')),
        kind TEXT NOT NULL CHECK (kind IN ('new', 'duplicate', 'resubmission', 'correction')),
        duplicate_of INTEGER REFERENCES submissions(id),
        superseded_by INTEGER REFERENCES submissions(id) DEFERRABLE INITIALLY DEFERRED,
        organisation TEXT,
        catalogue_version TEXT,
        template_version TEXT,
        contact TEXT NOT NULL DEFAULT '[]',
        recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now'))
    )""",
    """CREATE TABLE submitted_values (
        submission_id INTEGER NOT NULL REFERENCES submissions(id),
        indicator TEXT NOT NULL,
        department TEXT NOT NULL,
        period TEXT NOT NULL,
        value REAL,
        numerator REAL,
        denominator REAL,
        marker TEXT,
        sheet TEXT NOT NULL,
        cell TEXT NOT NULL,
        raw TEXT NOT NULL,
        comment TEXT NOT NULL,
        comment_from INTEGER REFERENCES submissions(id),
        PRIMARY KEY (submission_id, indicator)
    )""",
    """CREATE TABLE findings (
        id INTEGER PRIMARY KEY,
        submission_id INTEGER NOT NULL REFERENCES submissions(id),
        rule TEXT NOT NULL,
        severity TEXT NOT NULL,
        message TEXT NOT NULL,
        department TEXT,
        period TEXT,
        indicator TEXT,
        sheet TEXT,
        cell TEXT,
        value TEXT,
        file TEXT
    )""",
)
_V2 = (
    "CREATE INDEX submissions_by_hash ON submissions(sha256)",
    "CREATE INDEX submissions_by_month ON submissions(department, period)",
    "CREATE INDEX values_by_indicator ON submitted_values(indicator, period, department)",
    "CREATE INDEX findings_by_submission ON findings(submission_id)",
    f"CREATE UNIQUE INDEX one_current_return ON submissions(department, period) WHERE {CURRENT}",
)
_V3 = (
    f"CREATE VIEW current_submissions AS SELECT * FROM submissions WHERE {CURRENT}",
)
_CLAIMS_JOURNAL = (
    # Intake's journal (issue 14), one self-contained step: each file is claimed (renamed out of
    # inbox/ into the workspace's private staging folder) before it is read; a claim is
    # `claimed`, then `recorded` with its submission in the same transaction, then `moved`
    # (archived), `returned` (put back in inbox/) or `void` (the rename never happened).
    # Only a `recorded` claim whose staged file is still there is an interrupted move.
    """CREATE TABLE claims (
        id INTEGER PRIMARY KEY,
        original_name TEXT NOT NULL,
        arrived_in TEXT NOT NULL,
        staged TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        inode INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('claimed', 'recorded', 'moved', 'returned', 'void')),
        submission_id INTEGER REFERENCES submissions(id),
        claimed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now'))
    )""",
    "CREATE INDEX unfinished_claims ON claims(state) WHERE state IN ('claimed', 'recorded')",
    # The workspace the store serves: a second workspace pointing at this store is refused.
    """CREATE TABLE served_workspace (
        "only" INTEGER PRIMARY KEY CHECK ("only" = 1),
        token TEXT NOT NULL,
        root TEXT NOT NULL
    )""",
)
_CATALOGUE_VERSIONS = (
    # Issue 21: every change to catalogue.toml or the departments, with who and when
    # (`xlq catalogue diff`); `label` is the catalogue's own `version`, which templates carry.
    """CREATE TABLE catalogue_versions (
        id INTEGER PRIMARY KEY,
        label TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        catalogue TEXT NOT NULL,
        departments TEXT NOT NULL,
        changes TEXT NOT NULL,
        recorded_by TEXT NOT NULL,
        recorded_at TEXT NOT NULL
    )""",
    "CREATE INDEX catalogue_versions_by_label ON catalogue_versions(label)",
)
_REVIEW_LOOP = (
    # Issue 17: every review workbook received, every decision in it (applied, stale or refused,
    # with who, when and from which file), every sign-off and every department's response to a
    # query. Nothing is ever deleted: the latest applied decision on a finding is the one in force.
    """CREATE TABLE review_files (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL,
        original_name TEXT NOT NULL,
        arrived_in TEXT NOT NULL,
        received_at TEXT NOT NULL,
        location TEXT NOT NULL,
        reviewer TEXT NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('applied', 'refused')),
        reason TEXT NOT NULL
    )""",
    """CREATE TABLE review_decisions (
        id INTEGER PRIMARY KEY,
        review_file INTEGER NOT NULL REFERENCES review_files(id),
        finding_id TEXT NOT NULL,
        department TEXT NOT NULL,
        period TEXT NOT NULL,
        indicator TEXT NOT NULL,
        rule TEXT NOT NULL,
        value TEXT NOT NULL,
        decision TEXT NOT NULL,
        note TEXT NOT NULL,
        reviewer TEXT NOT NULL,
        decided_at TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('applied', 'stale', 'refused')),
        reason TEXT NOT NULL,
        CHECK (state = 'refused' OR decision IN ('Accept', 'Query', 'Exclude'))
    )""",
    "CREATE INDEX review_decisions_by_finding ON review_decisions(finding_id)",
    "CREATE INDEX review_decisions_by_month ON review_decisions(department, period)",
    """CREATE TABLE review_sign_offs (
        id INTEGER PRIMARY KEY,
        review_file INTEGER NOT NULL REFERENCES review_files(id),
        department TEXT NOT NULL,
        period TEXT NOT NULL,
        submission_sha256 TEXT NOT NULL,
        reviewer TEXT NOT NULL,
        signed_at TEXT NOT NULL
    )""",
    """CREATE TABLE query_responses (
        id INTEGER PRIMARY KEY,
        decision_id INTEGER NOT NULL REFERENCES review_decisions(id),
        submission_id INTEGER NOT NULL REFERENCES submissions(id),
        response TEXT NOT NULL,
        received_at TEXT NOT NULL
    )""",
)


_SEVERAL_WATCHERS = (
    # Issue 19, one self-contained step: several watchers on one PostgreSQL store. Each claim
    # names its owner; a watcher's row says it is alive until `lease_until` (renewed by its
    # heartbeat), after which another watcher may take its unfinished claims over. The master
    # request counter: a watcher that cannot take the master lock counts one up, and the
    # holder rebuilds again until the count it started from is still the count.
    "ALTER TABLE claims ADD COLUMN owner TEXT",
    """CREATE TABLE watchers (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        heartbeat_at TEXT NOT NULL,
        lease_until TEXT NOT NULL
    )""",
    """CREATE TABLE master_requests (
        "only" INTEGER PRIMARY KEY CHECK ("only" = 1),
        generation INTEGER NOT NULL
    )""",
    'INSERT INTO master_requests ("only", generation) VALUES (1, 0)',
)


def _outcomes_and_merging_imports(connection: Connection) -> None:
    """Outcomes that never hide a loss, and imports that merge (issue 15), in one self-contained step:

    - `submissions.outcome` may be 'accepted_with_errors' (some values were not used);
    - `submissions.kind` may be 'import': a CSV row that supersedes one value, not the return;
    - `submitted_values.superseded_by` names the import that replaced that one value;
    - an import is current beside the department's return, so the one-current index skips it;
    - the view `current_values`: the values that count (CURRENT_VALUE).

    SQLite cannot alter a CHECK constraint, and rebuilding `submissions` would break the foreign
    keys pointing at it, so the table's CREATE text is edited in place (the documented way for a
    change no stored row can violate: every existing row satisfies the wider constraints)."""
    old_outcome = "CHECK (outcome IN ('accepted', 'accepted_with_warnings', 'rejected'))"
    new_outcome = "CHECK (outcome IN ('accepted', 'accepted_with_warnings', 'accepted_with_errors', 'rejected'))"
    old_kind = "CHECK (kind IN ('new', 'duplicate', 'resubmission', 'correction'))"
    new_kind = "CHECK (kind IN ('new', 'duplicate', 'resubmission', 'correction', 'import'))"
    if connection.engine == "postgresql":
        # PostgreSQL alters a CHECK constraint in place (the names are PostgreSQL's defaults)
        for column, check in (("outcome", new_outcome), ("kind", new_kind)):
            connection.execute(f"ALTER TABLE submissions DROP CONSTRAINT submissions_{column}_check")
            connection.execute(f"ALTER TABLE submissions ADD CONSTRAINT submissions_{column}_check {check}")
    else:
        _edit_sqlite_table(connection, "submissions", ((old_outcome, new_outcome), (old_kind, new_kind)))
    for statement in (
        "ALTER TABLE submitted_values ADD COLUMN superseded_by INTEGER REFERENCES submissions(id)",
        "DROP INDEX one_current_return",
        """CREATE UNIQUE INDEX one_current_return ON submissions(department, period)
            WHERE outcome != 'rejected' AND kind NOT IN ('duplicate', 'import') AND superseded_by IS NULL""",
        # the view of migration 3 reads `submissions *`: made again so it is compiled against the edited table
        "DROP VIEW current_submissions",
        f"CREATE VIEW current_submissions AS SELECT * FROM submissions WHERE {CURRENT}",
        f"CREATE VIEW current_values AS SELECT * FROM submitted_values WHERE {CURRENT_VALUE}",
    ):
        connection.execute(statement)


def _edit_sqlite_table(connection: Connection, table: str, edits: tuple[tuple[str, str], ...]) -> None:
    """Edit a table's CREATE text in sqlite_master (SQLite only; every stored row must satisfy the new text)."""
    (sql,) = connection.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
    if not all(old in sql for old, _ in edits):
        raise StoreError(f"the store's {table} table is not the one this migration expects")
    for old, new in edits:
        sql = sql.replace(old, new)
    version = connection.execute("PRAGMA schema_version").fetchone()[0]
    connection.execute("PRAGMA writable_schema = ON")
    try:
        connection.execute("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?", (sql, table))
        connection.execute(f"PRAGMA schema_version = {version + 1}")
    finally:
        connection.execute("PRAGMA writable_schema = OFF")


_CURRENT_VALUES_BY_JOIN = (
    # Issue 20: the same rows, found by a join (see CURRENT_VALUES).
    "DROP VIEW current_values",
    f"CREATE VIEW current_values AS {CURRENT_VALUES}",
)


MIGRATIONS: tuple[tuple[str, ...] | Callable[[Connection], None], ...] = (
    _V1, _V2, _V3, _CLAIMS_JOURNAL, _outcomes_and_merging_imports, _CATALOGUE_VERSIONS, _REVIEW_LOOP,
    _SEVERAL_WATCHERS, _CURRENT_VALUES_BY_JOIN)
"""Ordered schema steps; the store's schema version is how many have been applied. A new step goes at the end."""
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(connection: Connection, upto: int = SCHEMA_VERSION) -> int:
    """Apply the missing migrations, each in its own write transaction, and return the version reached."""
    version = connection.schema_version()
    if version > SCHEMA_VERSION:
        raise StoreError(f"the store has schema version {version}; this xlq knows up to {SCHEMA_VERSION} (upgrade xlq)")
    for number in range(version + 1, upto + 1):
        connection.begin(write=True)
        try:
            if connection.schema_version() >= number:  # another process migrated it meanwhile
                connection.execute("ROLLBACK")
                continue
            step = MIGRATIONS[number - 1]
            if callable(step):
                step(connection)
            else:
                for statement in step:
                    connection.execute(statement)
            connection.set_schema_version(number)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
    return connection.schema_version()
