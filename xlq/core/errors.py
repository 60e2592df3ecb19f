"""The one family of operational failures: everything xlq raises on purpose is an `XlqError`.

A validation finding is not an error: it is a value (`xlq.core.model.Finding`) that travels to
the master, the log, feedback and JSON. An `XlqError` is a failure of the job itself (a bad
setting, a store that cannot be used, a workspace another process holds), and its message is
one line written for the person at the keyboard; `xlq.cli.main` catches the base once and
prints it with exit status 2. Third-party exceptions that would cross a stage boundary are
re-raised as one of these (`raise StoreError(...) from exc`), so callers need to know only
this family.
"""

from __future__ import annotations


class XlqError(Exception):
    """Base of every failure xlq reports; the message is one line for the user."""


class ConfigError(XlqError):
    """An unusable xlq.toml or catalogue.toml, or a setting given on the command line."""


class CatalogueError(ConfigError):
    """An indicator catalogue that cannot be used (bad code, unit, target or reference)."""


class UsageError(ConfigError):
    """A command-line argument the user can fix (an unknown department, a malformed month)."""


class StoreError(XlqError):
    """A store that cannot be used: locked too long, read-only, corrupt or from a newer xlq."""


class StoreBusy(StoreError):
    """Another process held the store longer than the busy timeout; try again shortly."""


class WorkspaceBusy(XlqError):
    """Another xlq process is already processing this workspace's inbox."""


class InputRefused(XlqError):
    """A file the user handed over cannot be used as a whole (an import CSV, a demo folder)."""


class WorkerUnavailable(XlqError):
    """The isolated reader process cannot start at all: an installation problem, not a bad
    file, so the files waiting for it are left in inbox/ rather than rejected."""


class MasterUnwritable(XlqError):
    """The master workbook could not be written; the previous master is left intact."""
