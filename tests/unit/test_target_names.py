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


def target_names_in(source: str, filename: str) -> list[tuple[int, str]]:
    """(line, name) of every string constant equal to a target name, docstrings and marked lines aside."""
    tree = ast.parse(source, filename)
    lines = source.splitlines()
    docstrings = docstring_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value in TARGET_NAMES
            and id(node) not in docstrings
        ):
            if MARK not in lines[node.lineno - 1]:
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
    source = '"""Serves aci."""\nif service.target == "aci":\n    pass\nSTACKS = ("local", "dev")  # not a target: stack names\n'
    assert target_names_in(source, "example.py") == [(2, "aci")]
