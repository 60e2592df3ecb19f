"""Rewrite the rule table in docs/rules.md from what `xlq rules` prints.

    python scripts/update_rules_doc.py     # with the Python that has xlq installed (.venv)

Run it after adding or changing a rule; tests/test_docs.py fails until the table matches.
Only the block between the `rules:begin` and `rules:end` markers is replaced, so the prose
around it is kept. It goes through the command, not xlq's modules, so it does not depend on
where the rules live in the package.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "rules.md"
BEGIN, END = "<!-- rules:begin -->", "<!-- rules:end -->"


def main() -> int:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    table = subprocess.run([sys.executable, "-m", "xlq.cli", "rules"], capture_output=True, text=True,
                           encoding="utf-8", env=env, check=True).stdout.strip()
    text = DOC.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    updated = f"{head}{BEGIN}\n{table}\n{END}{tail}"
    if updated == text:
        print(f"{DOC} is up to date")
    else:
        DOC.write_text(updated, encoding="utf-8")
        print(f"rewrote the rule table in {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
