"""`modelstack package --out`: the project folder, its parents, a file, an unwritable path and
a non-empty folder (without --force) are refused before anything is written, with exit 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from components.commands.package_out import out_dir_error


def package(project, out: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "components.commands.cli",
            "package",
            "diabetes",
            "--stack",
            "local",
            "--out",
            out,
            *extra,
        ],
        capture_output=True,
        text=True,
        cwd=project.root,
        env={"MODELSTACK_PROJECT_DIR": str(project.root), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


@pytest.mark.parametrize(
    "out, said",
    [
        (lambda root: str(root), "is the project folder"),
        (lambda root: ".", "is the project folder"),
        (lambda root: str(root.parent), "is a parent of the project folder"),
        (lambda root: "/", "is a parent of the project folder"),
        (lambda root: str(root / "examples" / ".." / ".."), "is a parent of the project folder"),
    ],
)
def test_the_project_folder_and_its_parents_are_refused_even_with_force(project, out, said):
    before = sorted(p.name for p in project.root.iterdir())
    result = package(project, out(project.root), "--force")
    assert result.returncode == 2, result.stderr
    assert said in result.stderr and "- --out: " in result.stderr
    assert "Rule: --out names a new or empty folder outside the project folder's ancestry" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert sorted(p.name for p in project.root.iterdir()) == before, "nothing written"


@pytest.mark.parametrize(
    "make, said",
    [
        (lambda p: p.write_text("x"), "is a file, not a folder"),
        (lambda p: (p.mkdir(), (p / "old.txt").write_text("x")), "is not empty"),
        (lambda p: (p.mkdir(), (p / "sub").mkdir()), "is not empty"),
    ],
)
def test_a_file_or_a_non_empty_folder_is_refused(project, tmp_path, make, said):
    out = tmp_path / "out"
    make(out)
    result = package(project, str(out))
    assert result.returncode == 2 and said in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("out", ["/proc/modelstack-out", "/etc/hostname/out", "/sys/kernel/modelstack"])
def test_an_unwritable_path_is_refused(project, out):
    result = package(project, out)
    assert result.returncode == 2, result.stderr
    assert "cannot be written" in result.stderr or "cannot write to" in result.stderr or "is a file" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_force_allows_a_non_empty_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("x")
    project = tmp_path / "project"
    project.mkdir()
    refused = out_dir_error(out, project, force=False)
    assert refused is not None and refused.detail == f"{out} is not empty"
    assert out_dir_error(out, project, force=True) is None


@pytest.mark.parametrize("relative", ["build/diabetes", "new/deeper/still"])
def test_a_new_folder_inside_or_beside_the_project_is_fine(tmp_path, relative):
    project = tmp_path / "project"
    project.mkdir()
    assert out_dir_error(project / relative, project, force=False) is None
    assert out_dir_error(tmp_path / "elsewhere", project, force=False) is None


def test_a_symlink_loop_as_out_is_refused(tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    error = out_dir_error(loop, tmp_path / "project", force=False)
    assert error is not None and error.key == "--out"


@pytest.mark.skipif(
    os.geteuid() != 0, reason="root writes anywhere; as another user a read-only folder is refused by os.access"
)
def test_read_only_file_system_write_is_said_not_raised(project):
    result = package(project, "/proc/self/modelstack")
    assert result.returncode == 2 and "Traceback" not in result.stderr
