"""The `modelstack` command: exit codes, messages without tracebacks, stable JSON for every stack."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

STACKS = ("local", "dev", "staging", "prod", "aca")


def modelstack(project, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "components.commands.cli", *args],
        capture_output=True,
        text=True,
        cwd=project.root,
        env={"MODELSTACK_PROJECT_DIR": str(project.root), "PATH": "/usr/bin:/bin"},
    )


@pytest.mark.parametrize("stack", STACKS)
def test_every_example_stack_is_clean_and_its_json_is_byte_identical_twice(project, stack):
    first, second = (
        modelstack(project, "check", "--stack", stack, "--json"),
        modelstack(project, "check", "--stack", stack, "--json"),
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert [v for v in json.loads(first.stdout)["violations"] if v["enforcement"] == "mandatory"] == []


def test_tree_is_printed_for_people(project):
    result = modelstack(project, "check", "--stack", "local")
    assert result.returncode == 0
    assert "diabetes-image (ServiceImage)" in result.stdout and "clean: config valid" in result.stdout


def test_violation_exits_1_with_the_message_and_no_traceback(project):
    project.write_stack("local", {"registry": {"kind": "local"}, "services": {"diabetes": {"entry_scrpt": "x.py"}}})
    result = modelstack(project, "check", "--stack", "local")
    assert result.returncode == 1
    assert "modelstack:services.diabetes.entry_scrpt: unknown key" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_bad_usage_exits_2(project):
    assert modelstack(project, "check").returncode == 2
    assert modelstack(project, "check", "--stack", "local", "--bogus").returncode == 2


def test_package_of_an_unknown_service_names_the_services(project, tmp_path):
    result = modelstack(project, "package", "nope", "--stack", "local", "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "Fix: use one of: diabetes, diabetes-multi" in result.stderr
