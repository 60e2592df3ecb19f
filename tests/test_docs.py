"""What README.md and docs/*.md say that code can check.

The rule table in docs/rules.md is the one `xlq rules` prints; the Quick start is exactly two
commands; the README's commands table and the CLI name the same commands; every `xlq COMMAND`
the docs mention exists; every relative link, and every repository path the docs name, points
at something that exists inside the repository. Only `xlq.cli` is imported, so these tests
do not depend on where modules live in the package.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xlq.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RULES_DOC = ROOT / "docs" / "rules.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "RESULTS.md"]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
# Paths in backticks that name a file or folder of this repository (not of a workspace).
REPO_PATH = re.compile(r"`((?:xlq|tests|benchmarks|scripts|docs|\.ci)/[\w./-]*)`")


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _cli_commands() -> set[str]:
    return set(next(a for a in build_parser()._actions if a.dest == "command").choices)


def _readme_section(title: str) -> str:
    return _text(README).split(f"\n## {title}\n")[1].split("\n## ")[0]


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_rule_table_in_docs_is_the_one_xlq_rules_prints(capsys):
    assert main(["rules"]) == 0
    printed = capsys.readouterr().out.strip()
    table = _text(RULES_DOC).split("<!-- rules:begin -->")[1].split("<!-- rules:end -->")[0].strip()
    assert table == printed, "docs/rules.md is out of date: run `python scripts/update_rules_doc.py`"
    assert printed.count("\n| `") >= 40  # one row per rule, header and rule line apart


def test_quick_start_has_exactly_two_commands_a_demo_and_the_tests():
    block = re.search(r"```\n(.*?)```", _readme_section("Quick start"), re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["python3 dev.py demo", "python3 dev.py test"]


def test_readme_commands_table_and_the_cli_name_the_same_commands():
    table = _readme_section("Commands")
    rows = re.findall(r"^\| `xlq ([a-z]+)", table, re.M)
    assert sorted(rows) == sorted(_cli_commands())


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_xlq_command_the_docs_name_exists(doc):
    named = set(re.findall(r"`xlq ([a-z]+)\b", _text(doc)))
    assert named <= _cli_commands(), named - _cli_commands()


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_at_a_file_in_the_repository(doc):
    for target in LINK.findall(_text(doc)):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (doc.parent / path).resolve() if path else doc
        assert resolved.is_relative_to(ROOT), f"{target} leaves the repository"
        assert resolved.exists(), f"{target}: no such file"
        if anchor and resolved.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", _text(resolved), re.M)
            assert anchor in {_slug(h) for h in headings}, f"{target}: no such heading"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_repository_path_the_docs_name_exists(doc):
    for name in REPO_PATH.findall(_text(doc)):
        assert (ROOT / name).exists(), f"{name} is named in {doc.name} but does not exist"


def test_readme_names_nothing_outside_the_repository_and_stays_short():
    text = _text(README)
    assert "../" not in text
    assert len(text.splitlines()) <= 250, "the README is a five-minute read; move reference material to docs/"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_unfilled_placeholders(doc):
    assert not re.search(r"\b[A-Z]+_(SECTION|TABLE)\b", _text(doc))
