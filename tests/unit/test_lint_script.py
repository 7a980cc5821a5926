"""scripts/lint.sh passes clean code and fails, naming the check, on a lint finding, on code the
formatter would change and on a type error. It runs in a scratch copy of the project's lint setup
(the script, its logging helper, pyproject.toml, the venv's tools) over files written here."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 180

CLEAN = '''"""A module the checks accept."""


def total(values: list[int]) -> int:
    return sum(values)
'''


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    if not (REPO / "venv" / "bin" / "ruff").exists() or not (REPO / "venv" / "bin" / "mypy").exists():
        pytest.skip("the venv has no ruff or mypy (scripts/setup.sh installs them from requirements-test.txt)")
    (tmp_path / "scripts" / "lib").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "lint.sh", tmp_path / "scripts" / "lint.sh")
    shutil.copy(REPO / "scripts" / "lib" / "progress.sh", tmp_path / "scripts" / "lib" / "progress.sh")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "venv").symlink_to(REPO / "venv")
    (tmp_path / "components").mkdir()
    (tmp_path / "components" / "__init__.py").write_text("")
    return tmp_path


def lint(project: Path, module: str) -> subprocess.CompletedProcess[str]:
    (project / "components" / "sample.py").write_text(module)
    env = {"PATH": os.environ["PATH"], "HOME": str(project)}
    return subprocess.run(
        ["bash", "scripts/lint.sh"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )


def failed_checks(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("[lint] FAILED: ")]
    assert len(lines) == 1, result.stderr
    return lines[0].removeprefix("[lint] FAILED: ").split(" (see above")[0]


def test_clean_code_passes(project: Path):
    result = lint(project, CLEAN)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[lint] clean" in result.stderr


def test_an_unused_import_fails_ruff_check_only(project: Path):
    result = lint(project, CLEAN.replace('"""\n', '"""\n\nimport os\n', 1))
    assert result.returncode == 1
    assert failed_checks(result) == "ruff check"
    assert "F401" in result.stdout


def test_code_the_formatter_would_change_fails_the_format_check_only(project: Path):
    result = lint(project, CLEAN.replace("return sum(values)", "return sum( values )"))
    assert result.returncode == 1
    assert failed_checks(result) == "ruff format --check"


def test_a_type_error_fails_mypy_only(project: Path):
    result = lint(project, CLEAN.replace("return sum(values)", "return str(sum(values))"))
    assert result.returncode == 1
    assert failed_checks(result) == "mypy"
    assert 'Incompatible return value type (got "str", expected "int")' in result.stdout
