"""The GitHub Actions workflows pass actionlint, with shellcheck over their `run:` scripts.

`scripts/actionlint.sh` builds the pinned actionlint from Go modules into `.tools/` (reused after)
and installs Debian's shellcheck when it is missing. When actionlint can be neither built nor
found (exit 69), these tests skip with the reason, except under CI=true, where they fail: a CI
run must not pass with its workflows unchecked.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "actionlint.sh"
EX_UNAVAILABLE = 69  # scripts/actionlint.sh: actionlint could not be built or found
# A cold build (module downloads, compile) plus an apt-get install of shellcheck.
TIMEOUT_S = 900

# One job with one problem of each kind the linter must find, each on a line of its own.
BROKEN_WORKFLOW = """\
name: broken
on: push
jobs:
  build:
    runs-on: 42
    timeout-minutes: soon
    steps:
      - run: echo "${{ matrix.x }}"
      - run: echo $UNQUOTED
"""
RUNS_ON_LINE, TIMEOUT_LINE, MATRIX_LINE, SHELL_LINE = 5, 6, 8, 9


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> None:
    """Fail under CI=true, skip elsewhere."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: the workflows must be linted)", pytrace=False)
    pytest.skip(reason)


def run_script(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            ["bash", str(SCRIPT), *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as exc:  # no bash
        unavailable(f"cannot run {SCRIPT}: {exc}")
        raise


def tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


@pytest.fixture(scope="module")
def actionlint() -> Path:
    """The actionlint binary the script builds or finds (built once, on first use)."""
    result = run_script("--print-path")
    if result.returncode == EX_UNAVAILABLE:
        unavailable(f"actionlint could not be built or found:\n{tail(result.stderr)}")
    assert result.returncode == 0, (
        f"scripts/actionlint.sh --print-path failed (exit {result.returncode}):\n{tail(result.stderr)}"
    )
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.is_file() and os.access(path, os.X_OK), f"not an executable: {path}"
    return path


@pytest.fixture(scope="module")
def repo_lint(actionlint) -> subprocess.CompletedProcess:
    """scripts/actionlint.sh over .github/workflows/, as a developer or CI runs it."""
    return run_script()


def shellcheck_state(stderr: str) -> str:
    """What the script says about shellcheck ('on (...)' or 'off (...)')."""
    for line in stderr.splitlines():
        if "shellcheck on run: scripts:" in line:
            return line.split("shellcheck on run: scripts:", 1)[1].strip()
    raise AssertionError(f"scripts/actionlint.sh did not say whether shellcheck ran:\n{tail(stderr)}")


def test_workflows_are_clean(repo_lint):
    assert repo_lint.returncode == 0 and repo_lint.stdout.strip() == "", (
        f"actionlint reported problems in .github/workflows (exit {repo_lint.returncode}):\n"
        f"{repo_lint.stdout}\n{tail(repo_lint.stderr, 6)}"
    )
    assert "result: clean" in repo_lint.stderr
    assert "workflow file(s) in .github/workflows/" in repo_lint.stderr


def test_shellcheck_checked_the_run_scripts(repo_lint):
    state = shellcheck_state(repo_lint.stderr)
    if not state.startswith("on"):
        unavailable(f"shellcheck did not run, so run: scripts were not checked: {state}")


def test_linter_reports_a_broken_workflow(actionlint, tmp_path):
    """The check can fail: a workflow with known problems is reported, each at its line."""
    broken = tmp_path / "broken.yml"
    broken.write_text(BROKEN_WORKFLOW)
    result = run_script("-format", "{{json .}}", str(broken), cwd=tmp_path)
    assert result.returncode == 1, (
        f"expected exit 1 (problems found), got {result.returncode}:\n{result.stdout}\n{tail(result.stderr)}"
    )
    findings = json.loads(result.stdout)
    assert all(Path(f["filepath"]).name == "broken.yml" for f in findings)
    by_line: dict[int, list[dict]] = {}
    for finding in findings:
        by_line.setdefault(finding["line"], []).append(finding)

    def reported(line: int, kind: str, fragment: str) -> bool:
        return any(f["kind"] == kind and fragment in f["message"] for f in by_line.get(line, []))

    summary = "\n".join(f"{f['line']}:{f['column']} [{f['kind']}] {f['message'][:120]}" for f in findings)
    assert reported(RUNS_ON_LINE, "runner-label", '"42"'), f"runs-on: 42 not reported:\n{summary}"
    assert reported(TIMEOUT_LINE, "syntax-check", "float number"), f"timeout-minutes: soon not reported:\n{summary}"
    assert reported(MATRIX_LINE, "expression", 'property "x" is not defined'), (
        f"${{{{ matrix.x }}}} without a matrix not reported:\n{summary}"
    )
    if shellcheck_state(result.stderr).startswith("on"):
        assert reported(SHELL_LINE, "shellcheck", "SC2086"), (
            f"unquoted $UNQUOTED not reported by shellcheck:\n{summary}"
        )


def test_linter_reports_a_broken_workflow_in_the_repo_layout(actionlint, tmp_path):
    """Without path arguments the script lints <repo>/.github/workflows/: a copy of the script
    in a scratch repo with one broken workflow fails, and names the file."""
    scratch = tmp_path / "repo"
    (scratch / "scripts").mkdir(parents=True)
    (scratch / ".github" / "workflows").mkdir(parents=True)
    (scratch / "scripts" / "actionlint.sh").write_text(SCRIPT.read_text())
    # the progress helper every script sources
    (scratch / "scripts" / "lib").mkdir()
    (scratch / "scripts" / "lib" / "progress.sh").write_text((SCRIPT.parent / "lib" / "progress.sh").read_text())
    (scratch / ".github" / "workflows" / "broken.yml").write_text(BROKEN_WORKFLOW)
    # Reuse the binary already built: no second build into the scratch repo's .tools/.
    tools = scratch / ".tools" / "actionlint" / actionlint.parent.name
    tools.mkdir(parents=True)
    (tools / "actionlint").symlink_to(actionlint)
    result = subprocess.run(
        ["bash", str(scratch / "scripts" / "actionlint.sh"), "-oneline"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1, f"expected exit 1, got {result.returncode}:\n{result.stdout}\n{tail(result.stderr)}"
    assert ".github/workflows/broken.yml:5:" in result.stdout, result.stdout
    assert "result: problems found" in result.stderr
