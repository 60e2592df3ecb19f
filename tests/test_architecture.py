"""The import rules of docs/architecture.md, checked by parsing every import in xlq/.

Every `import` and `from ... import` counts: at module level, inside functions and under
`TYPE_CHECKING`. A stage may import only the stages the table allows; no module may take
part in an import circle; nothing re-exports names; an import inside a function says why.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "xlq"
ARCHITECTURE = PACKAGE.parent / "docs" / "architecture.md"

# stage -> the stages it may import (itself always allowed). The top of the tree (the
# modules directly in xlq/) may import every stage.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "store": {"core"},
    "intake": {"core", "store"},
    "template": {"core"},
    "master": {"core", "store"},
    "watch": {"core", "store", "intake", "master"},
}
TOP = "top"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _stage(module: str) -> str:
    parts = module.split(".")
    if len(parts) >= 3 and parts[1] in ALLOWED:
        return parts[1]
    if len(parts) == 2 and parts[1] in ALLOWED:
        return parts[1]
    return TOP


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")[: -node.level]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, path: Path) -> list[tuple[str, int, bool]]:
    """(imported xlq module, line, inside a function) for every import of xlq code."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    known = _modules()
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, in_function) for alias in child.names
                             if alias.name.split(".")[0] == "xlq")
            elif isinstance(child, ast.ImportFrom):
                target = _resolve(module, child)
                if target.split(".")[0] != "xlq":
                    continue
                for alias in child.names:  # `from xlq.core import rules` imports the module xlq.core.rules
                    candidate = f"{target}.{alias.name}"
                    found.append((candidate if candidate in known else target, child.lineno, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: {target for target, _, _ in _imports(name, path) if target != name and target in modules
                   and target != "xlq"}
            for name, path in modules.items()}


def test_each_stage_imports_only_the_stages_below_it() -> None:
    wrong = []
    for name, path in _modules().items():
        stage = _stage(name)
        if stage == TOP:
            continue
        for target, line, _ in _imports(name, path):
            other = _stage(target)
            if target == "xlq" or other == stage:
                continue
            if other == TOP or other not in ALLOWED[stage]:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({stage}) imports {target} ({other})")
    assert wrong == []


def test_no_module_takes_part_in_an_import_circle() -> None:
    graph = _graph()
    circles: list[list[str]] = []
    state: dict[str, int] = {}

    def walk(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                walk(nxt, trail + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node, [node])
    assert circles == []


def test_no_package_re_exports_names() -> None:
    offenders = []
    for name, path in _modules().items():
        text = path.read_text(encoding="utf-8")
        if "noqa: F401" in text or "__all__" in text:
            offenders.append(name)
        if path.name == "__init__.py" and name != "xlq":
            tree = ast.parse(text)
            if any(isinstance(node, ast.Import | ast.ImportFrom) for node in tree.body):
                offenders.append(name)
    assert offenders == []


def test_an_import_inside_a_function_says_why() -> None:
    """A lazy import is kept only for start-up time (or an optional or platform-only package),
    and the comment on its line or the line above says so."""
    unexplained = []
    for path in _modules().values():
        lines = path.read_text(encoding="utf-8").splitlines()
        tree = ast.parse("\n".join(lines))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    above = inner.lineno - 2  # the line above, past the rest of a block of imports
                    while above > 0 and re.match(r"\s*(from \S+ )?import ", lines[above]):
                        above -= 1
                    while above > 0 and lines[above - 1].strip().startswith("#"):
                        above -= 1
                    around = " ".join(lines[above: inner.end_lineno])
                    if not re.search(r"#.*(start-up|optional|only on|platform)", around):
                        unexplained.append(f"{path.relative_to(PACKAGE.parent)}:{inner.lineno}")
    assert unexplained == []


def test_the_architecture_document_has_the_same_table() -> None:
    """docs/architecture.md states the rule this file enforces; the two stay equal."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)/` \| ([^|]*) \|", text, re.M))
    documented = {stage: {part.strip(" `/") for part in allowed.split(",") if part.strip(" `/-")}
                  for stage, allowed in rows.items()}
    assert documented == ALLOWED


@pytest.mark.parametrize("stage", sorted(ALLOWED))
def test_every_stage_is_a_package(stage: str) -> None:
    assert (PACKAGE / stage / "__init__.py").exists()


def test_modules_stay_small() -> None:
    """A module past ~500 lines is doing more than one job."""
    big = {name: n for name, path in _modules().items()
           if (n := len(path.read_text(encoding="utf-8").splitlines())) > 520}
    assert big == {}
