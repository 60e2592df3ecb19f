#!/usr/bin/env python3
"""The two Quick start commands: `python3 dev.py demo` and `python3 dev.py test`.

Each makes its own virtual environment in .venv (standard library only, so a fresh machine
with Python 3.11+ needs nothing else), installs xlq into it and runs. Works the same on
Windows (`py dev.py demo`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"


def _python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _ensure_env() -> Path:
    if sys.version_info < (3, 11):  # noqa: UP036 - this script is what tells an older Python so
        sys.exit(f"xlq needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    python = _python()
    stamp = VENV / ".xlq-installed"
    pyproject = ROOT / "pyproject.toml"
    if not python.exists():
        print(f"creating {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    if not stamp.exists() or stamp.stat().st_mtime < pyproject.stat().st_mtime:
        print("installing xlq and its dependencies ...", flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "-e", f"{ROOT}[test]"], check=True)
        stamp.touch()
    return python


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test"):
        print(__doc__.strip())
        return 2
    python = _ensure_env()
    if argv[0] == "demo":
        return subprocess.run([str(python), "-m", "xlq.cli", "demo", *argv[1:]], cwd=ROOT).returncode
    tests = subprocess.run([str(python), "-m", "pytest", *argv[1:]], cwd=ROOT).returncode
    sources = [name for name in ("xlq", "tests", "benchmarks", "scripts", "dev.py") if (ROOT / name).exists()]
    lint = subprocess.run([str(python), "-m", "ruff", "check", *sources], cwd=ROOT).returncode
    return tests or lint


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
