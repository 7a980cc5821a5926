"""Where a service runs is the targets' business: outside components/targets/, no code names a
target. Everything else asks the registry (components.targets.registry) and the Target it returns,
so adding a target cannot leave a silent branch behind (a comparison with "aci" somewhere that
the new target falls through).

A string constant equal to a target's name is refused in components/ (outside targets/),
policies/ and the scoring server, docstrings aside. A line that uses the same word for something
else (the `local` stack, a registry of kind local) says so with `# not a target`.
"""

from __future__ import annotations

import ast
from pathlib import Path

from components.targets.registry import TARGET_NAMES
from tests.workspace import REPO

SCANNED = ("components", "policies", "modelstack_server")
EXEMPT = REPO / "components" / "targets"
MARK = "# not a target"


def docstring_nodes(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                found.add(id(first.value))
    return found


def own_lines(statement: ast.stmt) -> tuple[int, int]:
    """The lines a statement spans without the statements it holds (a compound statement's header)."""
    body = getattr(statement, "body", None)
    if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
        return statement.lineno, body[0].lineno - 1
    return statement.lineno, statement.end_lineno or statement.lineno


def innermost_statements(tree: ast.AST) -> dict[int, tuple[int, int]]:
    """The lines of the innermost statement around each node, by the node's id (a formatter may
    spread a statement over lines, so its marker may sit on another line of it)."""
    found: dict[int, tuple[int, int]] = {}
    for statement in ast.walk(tree):  # breadth first: a statement comes after those around it
        if isinstance(statement, ast.stmt):
            span = own_lines(statement)
            for node in ast.walk(statement):
                found[id(node)] = span
    return found


def target_names_in(source: str, filename: str) -> list[tuple[int, str]]:
    """(line, name) of every string constant equal to a target name, docstrings and marked
    statements aside."""
    tree = ast.parse(source, filename)
    lines = source.splitlines()
    docstrings = docstring_nodes(tree)
    statements = innermost_statements(tree)
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value in TARGET_NAMES
            and id(node) not in docstrings
        ):
            first, last = statements.get(id(node), (node.lineno, node.lineno))
            if not any(MARK in line for line in lines[first - 1 : last]):
                found.append((node.lineno, node.value))
    return found


def scanned_files() -> list[Path]:
    files = []
    for folder in SCANNED:
        files += [p for p in sorted((REPO / folder).rglob("*.py")) if EXEMPT not in p.parents]
    return files


def test_no_code_outside_the_targets_names_a_target():
    assert scanned_files(), "the scan finds the package"
    named = [
        f"{path.relative_to(REPO)}:{line} names target '{name}'"
        for path in scanned_files()
        for line, name in target_names_in(path.read_text(), str(path))
    ]
    assert named == []


def test_the_scan_can_fail():
    """A comparison with a target's name is caught; a docstring and a marked line are not."""
    source = (
        '"""Serves aci."""\nif service.target == "aci":\n    pass\nSTACKS = ("local", "dev")  # not a target: stack names\n'
        'MODES = (\n    "local",  # not a target: a backend\n    "user",\n)\nif mode == "local":\n    KIND = "aks"  # not a target: marks only its own statement\n'
    )
    assert target_names_in(source, "example.py") == [(2, "aci"), (9, "local")]
