"""Every command that takes a stack checks its name by one rule (components.config.load's
STACK_NAME) before it reads or writes anything: a name that would leave stacks/, an empty name or
one with a space is bad usage (exit 2) naming the option, the rule and the fix."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

RULE = "a stack's name is 1-100 letters, digits, '_', '.' and '-'"
BAD = ["x/../../../outside/evil", "", "My Stack"]


def run(project, *args: str):
    from components.commands.cli import app

    return CliRunner().invoke(app, list(args), env={"MODELSTACK_PROJECT_DIR": str(project.root), "COLUMNS": "300"})


@pytest.mark.parametrize("name", BAD)
@pytest.mark.parametrize(
    "args, option",
    [
        (("check", "--stack", "{}"), "--stack"),
        (("drift", "--stack", "{}"), "--stack"),
        (("token", "diabetes", "--stack", "{}"), "--stack"),
        (("logs", "diabetes", "--stack", "{}"), "--stack"),
        (("package", "diabetes", "--stack", "{}", "--out", "build/x"), "--stack"),
        (("promote", "--from", "{}", "--to", "prod"), "--from"),
        (("promote", "--from", "staging", "--to", "{}"), "--to"),
    ],
)
def test_a_stack_name_breaking_the_rule_is_bad_usage_everywhere(project, name, args, option):
    before = sorted(p.relative_to(project.root).as_posix() for p in project.root.rglob("*"))
    result = run(project, *(a.format(name) for a in args))
    assert result.exit_code == 2, result.output
    assert f"- {option}: stack name {name!r} is not allowed" in result.output and RULE in result.output
    assert "Fix: " in result.output and "Traceback" not in result.output
    assert sorted(p.relative_to(project.root).as_posix() for p in project.root.rglob("*")) == before
