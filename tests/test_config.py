"""Workspace configuration: a usable default, and one-line errors naming file, line and key."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from xlq.core.config import SAMPLE_CONFIG, init_workspace, load_workspace
from xlq.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def write_config(tmp_path: Path, text: str) -> Path:
    (tmp_path / "xlq.toml").write_text(text, encoding="utf-8")
    return tmp_path


def test_sample_config_loads_with_seven_departments_and_defaults(tmp_path):
    workspace = load_workspace(write_config(tmp_path, SAMPLE_CONFIG))
    assert workspace.organisation == "Cambridgeshire Community Services NHS Trust"
    assert workspace.department_codes == ("LUT", "MSK", "ICASH", "DENT", "BEDS", "NORF", "CORP")
    assert workspace.store_path == tmp_path.resolve() / "xlq.sqlite"
    assert workspace.due_day == 10
    assert workspace.watch.poll_seconds == 0


def test_repository_root_is_a_workspace_for_the_sample_trust():
    workspace = load_workspace(REPO)
    assert workspace.current_period == "2023-12"
    assert workspace.catalogue_path == REPO / "xlq" / "data" / "catalogue.toml"
    for folder in ("templates", "inbox", "outbox", "archive", "rejected"):
        assert (REPO / folder).is_dir()


def test_reporting_period_defaults_to_last_month_and_due_date_is_next_month(tmp_path):
    workspace = load_workspace(write_config(tmp_path, SAMPLE_CONFIG))
    assert workspace.reporting_period(dt.date(2024, 1, 15)) == "2023-12"
    assert workspace.due_date("2023-12") == dt.date(2024, 1, 10)
    assert workspace.due_date("2023-05") == dt.date(2023, 6, 10)


def test_missing_config_names_the_file_and_how_to_create_one(tmp_path):
    with pytest.raises(ConfigError, match=r"xlq\.toml: not found \(run 'xlq init"):
        load_workspace(tmp_path)


def test_toml_syntax_error_names_file_and_line(tmp_path):
    write_config(tmp_path, '[organisation]\nname = "A"\n[calendar\n')
    with pytest.raises(ConfigError) as caught:
        load_workspace(tmp_path)
    message = str(caught.value)
    assert "xlq.toml" in message and "line 3" in message and "\n" not in message


@pytest.mark.parametrize(
    ("change", "key", "line"),
    [
        (("due_day = 10", "due_day = 40"), "calendar.due_day", 7),
        (('name = "Cambridgeshire Community Services NHS Trust"', 'name = ""'), "organisation.name", 4),
        (('code = "MSK"', 'code = "msk"'), "department.code", None),
        (("# current = \"2023-12\"", 'current = "Dec 2023"'), "calendar.current", 8),
    ],
)
def test_bad_value_names_file_line_and_key(tmp_path, change, key, line):
    write_config(tmp_path, SAMPLE_CONFIG.replace(*change))
    with pytest.raises(ConfigError) as caught:
        load_workspace(tmp_path)
    message = str(caught.value)
    assert f"{key}:" in message and "xlq.toml:" in message and "\n" not in message
    if line is not None:
        assert f"xlq.toml:{line}:" in message


def test_init_creates_folders_config_and_catalogue_without_overwriting(tmp_path):
    root = init_workspace(tmp_path / "ws")
    for name in ("templates", "inbox", "outbox", "archive", "rejected"):
        assert (root / name).is_dir()
    (root / "xlq.toml").write_text(SAMPLE_CONFIG.replace("due_day = 10", "due_day = 5"), encoding="utf-8")
    init_workspace(root)
    assert load_workspace(root).due_day == 5
    assert (root / "catalogue.toml").read_text(encoding="utf-8").startswith("#")


def test_cli_prints_one_line_error_and_exit_2_for_a_broken_config(tmp_path):
    write_config(tmp_path, "[organisation\n")
    result = subprocess.run([sys.executable, "-m", "xlq.cli", "status", "--workspace", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("xlq: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
