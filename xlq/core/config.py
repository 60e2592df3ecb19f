"""A workspace: one folder holding `xlq.toml`, the catalogue, the store and the drop folders.

Every command works on one workspace (`--workspace DIR`, default the current folder).
Configuration problems are `ConfigError`s whose message is one line naming the file, the
line and the key, so the CLI can print it instead of a traceback.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from xlq.core.catalogue import DEFAULT_CATALOGUE
from xlq.core.errors import ConfigError
from xlq.core.months import PERIOD_RE, shift_period
from xlq.core.toml_cache import CACHE_DIR, load_toml

CONFIG_NAME = "xlq.toml"
FOLDERS = ("templates", "inbox", "outbox", "archive", "rejected")
_CODE_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,15}$")



@dataclass(frozen=True)
class Department:
    """A department; `active_from` / `closed_from` (YYYY-MM) bound the months it reports,
    `merged_into` names the department that reports for it from `closed_from`, and `renamed`
    maps a month to the name it goes by from then (issue 21, `xlq.core.timeline`)."""

    code: str
    name: str
    email: str = ""
    active_from: str | None = None
    closed_from: str | None = None
    merged_into: str | None = None
    renamed: tuple[tuple[str, str], ...] = ()

    def in_force(self, period: str) -> bool:
        return (self.active_from is None or period >= self.active_from) and (
            self.closed_from is None or period < self.closed_from)

    def name_in(self, period: str) -> str:
        return next((name for month, name in reversed(self.renamed) if period >= month), self.name)


@dataclass(frozen=True)
class WatchSettings:
    """How the watcher finds files: native events unless `poll_seconds` > 0 (network shares)."""

    poll_seconds: float = 0.0
    settle_seconds: float = 1.0
    rescan_seconds: float = 60.0
    batch_seconds: float = 0.25
    require_department_folders: bool = False
    stall_minutes: float = 10.0
    """An empty or zero-filled file (a copy pre-allocating its size) is still arriving until it
    has been unchanged this long; only then is it rejected as incomplete."""
    workers: int = 0
    """Isolated reader processes parsing returns side by side; 0 means one per core."""
    lease_seconds: float = 60.0
    """Several watchers on a PostgreSQL store: a watcher silent this long is dead and another
    takes over the files it had claimed (its heartbeat renews the lease every third of it)."""


@dataclass(frozen=True)
class SpcSettings:
    """Making Data Count defaults as NHSRplotthedots sets them: 7 points trending, 7 on one side."""

    trend_length: int = 7
    shift_length: int = 7
    baseline_points: int = 0
    rebase: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ReviewSettings:
    """The review loop (issue 17): the inbox folder review workbooks are dropped into, and who may
    decide (an empty list: anyone who puts their name in the workbook)."""

    folder: str = "_review"
    reviewers: tuple[str, ...] = ()

    def allows(self, name: str) -> bool:
        return not self.reviewers or name.strip().casefold() in {r.casefold() for r in self.reviewers}


@dataclass(frozen=True)
class Workspace:
    root: Path
    organisation: str
    departments: tuple[Department, ...]
    due_day: int = 10
    current_period: str | None = None
    store_path: Path = field(default=Path("xlq.sqlite"))
    store_url: str | None = None
    """`[store] url`: a PostgreSQL database (`postgresql://...`) instead of the SQLite file."""
    catalogue_path: Path = field(default=Path("catalogue.toml"))
    watch: WatchSettings = WatchSettings()
    spc: SpcSettings = SpcSettings()
    max_magnitude: float = 1e12
    """No figure a board could print is larger: a bigger one is a cell error (a catalogue
    indicator may set its own `max`)."""
    feedback_folder: str = "feedback"
    share_inbox: str = ""
    share_feedback: str = ""
    review: ReviewSettings = ReviewSettings()

    @property
    def review_path(self) -> Path:
        """The review workbook, rebuilt beside the master."""
        return self.root / "outbox" / "review.xlsx"

    @property
    def cache_dir(self) -> Path:
        """Where the workspace's TOML files are kept parsed (core/toml_cache.py)."""
        return self.root / CACHE_DIR

    @property
    def store_target(self) -> Path | str:
        """Where the store is: the PostgreSQL URL when `[store] url` is set, else the SQLite file."""
        return self.store_url or self.store_path

    @property
    def feedback_path(self) -> Path:
        """Where feedback copies are written (`[feedback] path`; default `feedback/` beside the inbox)."""
        return self.root / self.feedback_folder

    def people_inbox(self, department: str | None = None) -> str:
        """The drop folder as people see it (`[share] inbox`, e.g. a UNC path), never the server's
        own path: `inbox/LUT/` by default."""
        base = self.share_inbox.rstrip("/\\") if self.share_inbox else "inbox"
        sep = "\\" if "\\" in base else "/"
        return f"{base}{sep}{department}{sep}" if department else f"{base}{sep}"

    def people_feedback(self, department: str | None = None) -> str:
        """The feedback folder as people see it (`[share] feedback`), default `feedback/LUT/`."""
        base = self.share_feedback.rstrip("/\\") if self.share_feedback else "feedback"
        sep = "\\" if "\\" in base else "/"
        return f"{base}{sep}{department}{sep}" if department else f"{base}{sep}"

    @property
    def department_codes(self) -> tuple[str, ...]:
        """Every department the workspace has ever had; `departments_in` gives a month's."""
        return tuple(d.code for d in self.departments)

    def departments_in(self, period: str) -> tuple[str, ...]:
        """The departments in force in `period`: added, closed and merged ones respected."""
        return tuple(d.code for d in self.departments if d.in_force(period))

    def department(self, code: str) -> Department | None:
        return next((d for d in self.departments if d.code == code), None)

    def folder(self, name: str) -> Path:
        return self.root / name

    @property
    def master_path(self) -> Path:
        return self.root / "outbox" / "scorecard.xlsx"

    def reporting_period(self, today: dt.date | None = None) -> str:
        """The month being collected: `current` from xlq.toml, else last month."""
        if self.current_period:
            return self.current_period
        today = today or dt.date.today()
        first = today.replace(day=1) - dt.timedelta(days=1)
        return f"{first.year:04d}-{first.month:02d}"

    def due_date(self, period: str) -> dt.date:
        """Returns for a month are due on `due_day` of the following month."""
        year, month = (int(p) for p in shift_period(period, 1).split("-"))
        return dt.date(year, month, min(self.due_day, 28))


def _department(code: str, entry: dict, fail) -> Department:
    months = {key: entry.get(key) for key in ("active_from", "closed_from")}
    for key, month in months.items():
        if month is not None and not PERIOD_RE.match(str(month)):
            raise fail(key, f"department {code}: {month!r} is not a month written YYYY-MM")
    merged = entry.get("merged_into")
    if merged and not months["closed_from"]:
        raise fail("merged_into", f"department {code}: merged_into needs closed_from (the first month merged)")
    renamed = entry.get("renamed", {})
    if not isinstance(renamed, dict) or not all(PERIOD_RE.match(str(m)) and isinstance(n, str) for m, n in renamed.items()):
        raise fail("renamed", f"department {code}: renamed must map months (YYYY-MM) to names")
    return Department(code, entry["name"].strip(), str(entry.get("email", "")), months["active_from"],
                      months["closed_from"], merged or None, tuple(sorted(renamed.items())))


def _workers(raw: object) -> int:
    """`[watch] workers`: a whole number of reader processes, 0 for one per core."""
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= 256:
        raise ValueError(f"workers {raw!r} must be a whole number from 0 (one per core) to 256")
    return raw


def _line_of(text: str, key: str) -> int:
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=", re.MULTILINE)
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else 1


def load_workspace(root: Path | str = ".", *, keep_parsed: bool = True) -> Workspace:
    """Read `xlq.toml` in `root`; any problem is one `ConfigError` line. `keep_parsed=False`
    neither reads nor writes `.xlq-cache/` (core/toml_cache.py), for readers that must not write."""
    root = Path(root).resolve()
    path = root / CONFIG_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found (run 'xlq init {root}' to create a workspace)") from None
    try:
        data = load_toml(text, root / CACHE_DIR if keep_parsed else None, "xlq")
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None

    def fail(key: str, message: str) -> ConfigError:
        return ConfigError(f"{path}:{_line_of(text, key.split('.')[-1])}: {key}: {message}")

    org = data.get("organisation", {})
    name = org.get("name") if isinstance(org, dict) else None
    if not isinstance(name, str) or not name.strip():
        raise fail("organisation.name", "missing; give the organisation's name")
    departments = []
    for n, entry in enumerate(data.get("department", []), 1):
        code = entry.get("code") if isinstance(entry, dict) else None
        if not isinstance(code, str) or not _CODE_RE.match(code):
            raise fail("department.code", f"department #{n}: code {code!r} must be 1-16 capitals, digits or _")
        if not isinstance(entry.get("name"), str) or not entry["name"].strip():
            raise fail("department.name", f"department {code}: missing name")
        departments.append(_department(code, entry, fail))
    if not departments:
        raise fail("department", "no [[department]] entries")
    if len({d.code for d in departments}) != len(departments):
        raise fail("department.code", "a department code is used twice")
    for d in departments:
        if d.merged_into and d.merged_into not in {x.code for x in departments}:
            raise fail("merged_into", f"department {d.code}: merged into unknown department {d.merged_into!r}")

    calendar = data.get("calendar", {})
    due_day = calendar.get("due_day", 10)
    if not isinstance(due_day, int) or not 1 <= due_day <= 28:
        raise fail("calendar.due_day", f"{due_day!r} must be a day of the month from 1 to 28")
    current = calendar.get("current") or None
    if current is not None and not PERIOD_RE.match(str(current)):
        raise fail("calendar.current", f"{current!r} is not a month written YYYY-MM")

    store = data.get("store", {})
    url = store.get("url") if isinstance(store, dict) else None
    if url is not None and (not isinstance(url, str) or url.split("://", 1)[0] not in ("postgresql", "postgres")):
        raise fail("store.url", "must be a PostgreSQL URL: postgresql://user@host/database (the password from "
                   "PGPASSWORD or ~/.pgpass, TLS settings as ?sslmode=...)")
    catalogue = data.get("catalogue", {})
    watch = data.get("watch", {})
    spc = data.get("spc", {})
    share = data.get("share", {})
    feedback = data.get("feedback", {})
    if not isinstance(share, dict) or not all(isinstance(share.get(k, ""), str) for k in ("inbox", "feedback")):
        raise fail("share", "inbox and feedback must be text: the folders as people open them, e.g. '\\\\server\\share\\inbox'")
    if not isinstance(feedback, dict) or not isinstance(feedback.get("path", "feedback"), str):
        raise fail("feedback.path", "must be a folder path (relative to this folder, or absolute)")
    try:
        watch_settings = WatchSettings(
            poll_seconds=float(watch.get("poll_seconds", 0)),
            settle_seconds=float(watch.get("settle_seconds", 1.0)),
            rescan_seconds=float(watch.get("rescan_seconds", 60)),
            batch_seconds=float(watch.get("batch_seconds", 0.25)),
            require_department_folders=bool(watch.get("require_department_folders", False)),
            stall_minutes=float(watch.get("stall_minutes", 10.0)),
            workers=_workers(watch.get("workers", 0)),
            lease_seconds=float(watch.get("lease_seconds", 60.0)),
        )
        if watch_settings.lease_seconds < 1:
            raise ValueError(f"watch.lease_seconds {watch_settings.lease_seconds!r} must be at least 1 second")
        validation = data.get("validation", {})
        max_magnitude = float(validation.get("max_magnitude", 1e12))
        if not 0 < max_magnitude < 1e300:
            raise ValueError(f"validation.max_magnitude {max_magnitude!r} must be a positive number below 1e300")
    except (TypeError, ValueError) as exc:
        raise fail("watch", f"settings must be numbers ({exc})") from None  # also [validation]
    review = data.get("review", {})
    reviewers = review.get("reviewers", []) if isinstance(review, dict) else None
    folder = review.get("folder", "_review") if isinstance(review, dict) else None
    if not isinstance(reviewers, list) or not all(isinstance(r, str) and r.strip() for r in reviewers):
        raise fail("review.reviewers", "must be a list of names, e.g. [\"A. Reviewer\"]")
    if not isinstance(folder, str) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_ .-]{0,63}", folder) \
            or _CODE_RE.match(folder.upper()) and folder.upper() in {d.code for d in departments}:
        raise fail("review.folder", f"{folder!r} must be one folder name under inbox/, not a department's")
    rebase = spc.get("rebase", {})
    if not isinstance(rebase, dict) or not all(PERIOD_RE.match(str(v)) for v in rebase.values()):
        raise fail("spc.rebase", "must map indicator codes to months written YYYY-MM")
    for key in ("trend_length", "shift_length", "baseline_points"):
        if not isinstance(spc.get(key, 7), int) or spc.get(key, 7) < (0 if key == "baseline_points" else 2):
            raise fail(f"spc.{key}", f"{spc.get(key)!r} must be a whole number (at least 2 for run lengths)")
    spc_settings = SpcSettings(
        trend_length=int(spc.get("trend_length", 7)),
        shift_length=int(spc.get("shift_length", 7)),
        baseline_points=int(spc.get("baseline_points", 0)),
        rebase=tuple(sorted((str(k), str(v)) for k, v in rebase.items())),
    )
    return Workspace(
        root=root,
        organisation=name.strip(),
        departments=tuple(departments),
        due_day=due_day,
        current_period=current,
        store_path=root / str(store.get("path", "xlq.sqlite")),
        store_url=url,
        catalogue_path=root / str(catalogue.get("path", "catalogue.toml")),
        watch=watch_settings,
        spc=spc_settings,
        max_magnitude=max_magnitude,
        feedback_folder=str(feedback.get("path", "feedback")),
        share_inbox=share.get("inbox", ""),
        share_feedback=share.get("feedback", ""),
        review=ReviewSettings(folder, tuple(r.strip() for r in reviewers)),
    )


SAMPLE_CONFIG = """\
# xlq workspace settings. Periods are months written YYYY-MM.

[organisation]
name = "Cambridgeshire Community Services NHS Trust"

[calendar]
due_day = 10            # a month's returns are due on this day of the next month
# current = "2023-12"   # the month being collected; default: last month

[store]
path = "xlq.sqlite"     # SQLite file, relative to this folder
# url = "postgresql://xlq@dbhost/xlq?sslmode=verify-full"   # PostgreSQL instead (password: PGPASSWORD or ~/.pgpass)

[catalogue]
path = "catalogue.toml"

[watch]
poll_seconds = 0        # > 0 polls every N seconds (network shares raise no file events)
settle_seconds = 1      # a file is read once its size and mtime have been stable this long
rescan_seconds = 60     # full rescan regardless of events
lease_seconds = 60      # PostgreSQL store, several watchers: a watcher silent this long is taken over
batch_seconds = 0.25    # rebuild this long after the last stored file (a burst gives one rebuild)
require_department_folders = false
stall_minutes = 10      # an empty or zero-filled file is still being copied until unchanged this long
workers = 0             # reader processes side by side (each isolated, with its limits); 0 = one per core

[validation]
max_magnitude = 1e12    # a larger figure is a cell error (an indicator may set its own `max`)

[feedback]
path = "feedback"       # feedback copies go to <path>/<DEPT>/; relative to this folder, or a path on the share

[share]
# How people reach the folders, for the templates' instructions (never the server's own path):
# inbox = '\\\\trust-fs01\\performance\\inbox'
# feedback = '\\\\trust-fs01\\performance\\feedback'

[spc]
trend_length = 7        # points in a row rising or falling (NHSRplotthedots default)
shift_length = 7        # points in a row on one side of the mean

[review]
folder = "_review"      # reviewers drop the filled outbox/review.xlsx into inbox/<folder>/
# reviewers = ["A. Reviewer"]   # decisions from any other name are refused (default: anyone)

[[department]]
code = "LUT"
name = "Luton Adult Services"
email = "luton.adults@example.nhs.uk"

[[department]]
code = "MSK"
name = "MSK Services"
email = "msk@example.nhs.uk"

[[department]]
code = "ICASH"
name = "iCaSH (sexual health)"
email = "icash@example.nhs.uk"

[[department]]
code = "DENT"
name = "Community Dental Services"
email = "dental@example.nhs.uk"

[[department]]
code = "BEDS"
name = "Bedfordshire Children's 0-19 Services"
email = "beds.0-19@example.nhs.uk"

[[department]]
code = "NORF"
name = "Norfolk Children's 0-19 Services"
email = "norfolk.0-19@example.nhs.uk"

[[department]]
code = "CORP"
name = "Corporate Services (Workforce, Governance)"
email = "corporate@example.nhs.uk"
"""


def init_workspace(root: Path, config_text: str = SAMPLE_CONFIG) -> Path:
    """Create a workspace; never overwrites an existing xlq.toml or catalogue."""

    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    for name in FOLDERS:
        (root / name).mkdir(exist_ok=True)
    config = root / CONFIG_NAME
    if not config.exists():
        config.write_text(config_text, encoding="utf-8")
    catalogue = root / "catalogue.toml"
    if not catalogue.exists():
        shutil.copyfile(DEFAULT_CATALOGUE, catalogue)
    return root
