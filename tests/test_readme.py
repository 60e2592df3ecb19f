"""The README's claims that code can check: the rule table and the Quick start commands."""

from __future__ import annotations

import re
from pathlib import Path

from xlq.cli import build_parser
from xlq.core.rules import RULES, rules_markdown

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_readme_rule_table_is_the_one_xlq_rules_prints():
    table = README.split("<!-- rules:begin -->")[1].split("<!-- rules:end -->")[0].strip()
    assert table == rules_markdown()
    assert all(f"`{code}`" in table for code in RULES)


def test_quick_start_has_exactly_two_commands_a_demo_and_the_tests():
    section = README.split("## Quick start")[1].split("\n## ")[0]
    block = re.search(r"```\n(.*?)```", section, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["python3 dev.py demo", "python3 dev.py test"]


def test_every_cli_command_is_in_the_readme_commands_table():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    table = README.split("## Commands")[1].split("\n## ")[0]
    for name in commands:
        assert f"`xlq {name}" in table, name


def test_readme_has_no_unfilled_placeholders():
    assert not re.search(r"\b[A-Z]+_(SECTION|TABLE)\b", README)
