"""Shared fixtures: LibreOffice conversion, the `--update-golden` option, and a guard against leaked
threads and processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import workspaces


def _soffice_binary() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


@pytest.fixture(scope="session")
def soffice() -> str:
    """Path to LibreOffice; a missing one skips locally but fails under CI=true."""
    binary = _soffice_binary()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("LibreOffice (soffice) is required under CI=true; .ci/run installs it")
        pytest.skip("LibreOffice (soffice) not installed")
    return binary


@pytest.fixture
def libreoffice_convert(soffice: str, tmp_path: Path):
    """Convert a file with LibreOffice headless: `libreoffice_convert(path, "xlsx"|"pdf") -> Path`."""

    def convert(path: Path, fmt: str, outdir: Path | None = None) -> Path:
        outdir = outdir or tmp_path / f"lo-{fmt}"
        outdir.mkdir(parents=True, exist_ok=True)
        profile = tmp_path / "lo-profile"
        subprocess.run(
            [soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", fmt,
             "--outdir", str(outdir), str(path)],
            check=True, capture_output=True, timeout=180,
        )
        out = outdir / (Path(path).stem + "." + fmt.split(":")[0])
        assert out.exists(), f"LibreOffice did not write {out}"
        return out

    return convert


@pytest.fixture(scope="session")
def demo_workspace(tmp_path_factory) -> Path:
    """The workspace `xlq demo` builds (about 35 s), made once per session by the real command
    for every test that reads it (test_demo.py, test_analysis.py). A test may rebuild it in
    place with `xlq demo` but must not leave it different from what the demo builds."""
    root = tmp_path_factory.mktemp("demo") / "demo"
    result = subprocess.run([sys.executable, "-m", "xlq.cli", "demo", str(root)], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Master scorecard: {root / 'outbox' / 'scorecard.xlsx'}" in result.stdout
    return root


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """Fail a test that leaves threads running, the way watchdog's own suite does."""
    before = set(threading.enumerate())
    yield
    deadline = 5.0
    leaked: list[threading.Thread] = []
    for thread in set(threading.enumerate()) - before:
        thread.join(timeout=deadline)
        if thread.is_alive():
            leaked.append(thread)
    assert not leaked, f"test leaked threads: {leaked}"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite the golden files in tests/golden/ from this build instead of comparing "
                          "(for an intended change to the master; review the diff before committing)")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True under `--update-golden`: golden-file tests write what they built instead of comparing."""
    return bool(request.config.getoption("--update-golden"))


# -- the store's two engines -------------------------------------------------------------------------

POSTGRES_URL_ENV = "XLQ_TEST_POSTGRES_URL"
"""A PostgreSQL URL whose role may create databases (.ci/run exports it); each test gets a fresh
database. Unset, the local server's socket is tried as the current user (`postgresql:///postgres`)."""


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The URL of a PostgreSQL server the tests may create databases on. Unreachable, the
    PostgreSQL tests skip locally and FAIL under CI=true (.ci/run starts one)."""
    url = os.environ.get(POSTGRES_URL_ENV) or "postgresql:///postgres"
    try:
        import psycopg  # optional: the `postgres` extra (in the `test` extra too)

        with psycopg.connect(url, connect_timeout=5, autocommit=True) as db:
            db.execute("SELECT 1")
    except Exception as exc:  # ImportError, or the server is unreachable
        reason = f"PostgreSQL not reachable at {url} ({str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; .ci/run installs and starts PostgreSQL and sets {POSTGRES_URL_ENV}")
        pytest.skip(f"{reason}; set {POSTGRES_URL_ENV} to run the PostgreSQL tests")
    return url


def with_database(url: str, name: str) -> str:
    """The same server URL naming another database (`postgresql:///postgres` -> `postgresql:///name`)."""
    base, _, query = url.partition("?")
    scheme, _, rest = base.partition("://")
    host = rest.split("/", 1)[0]
    return f"{scheme}://{host}/{name}" + (f"?{query}" if query else "")


@pytest.fixture
def postgres_url(postgres_server: str):
    """A fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    import psycopg  # optional: the `postgres` extra

    name = f"xlq_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\'')
    yield with_database(postgres_server, name)
    with psycopg.connect(postgres_server, autocommit=True) as db:
        try:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except psycopg.errors.InsufficientPrivilege:
            # FORCE must signal every session, and a role that is not a superuser (as .ci/run
            # makes it) may not signal an autovacuum worker busy on the database; a plain DROP
            # stops that worker itself. A killed test's own session may take a moment to go.
            deadline = time.monotonic() + 30
            while True:
                try:
                    db.execute(f'DROP DATABASE IF EXISTS "{name}"')
                    break
                except psycopg.errors.ObjectInUse:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_engine(request: pytest.FixtureRequest):
    """Run the test against both engines; workspaces written meanwhile use this one's store."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    workspaces.STORE_URL = url
    yield request.param
    workspaces.STORE_URL = None


@pytest.fixture
def store_target(store_engine: str, tmp_path: Path) -> Path | str:
    """Where a test's store is: a SQLite file, or (the postgresql run) a fresh database's URL."""
    return workspaces.STORE_URL or tmp_path / "s.sqlite"
