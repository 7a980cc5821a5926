"""`modelstack package` against a hostile --out: links placed in the folder (with --force) are
replaced, never written through; --out inside what the image is built from is refused; a source
file that cannot be read is the project's error, not --out's."""

from __future__ import annotations

import subprocess
import sys

import pytest

from components.errors import ConfigError
from components.image.build_context import build_context, write_context
from tests.workspace import REPO


def context_of(project):
    config = project.load("local")
    return build_context(project.root, "diabetes", config.services["diabetes"], config.models)


def test_a_dockerfile_link_in_out_is_replaced_not_written_through(project, tmp_path):
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "Dockerfile").symlink_to(outside)
    (tmp_path / "wheels").mkdir()
    write_context(context_of(project), out, tmp_path / "wheels")
    assert outside.read_text() == "keep me\n", "the file the link pointed at is untouched"
    assert not (out / "Dockerfile").is_symlink() and (out / "Dockerfile").read_text().startswith(
        ("FROM", "#", "ARG", "# syntax")
    )


def test_a_folder_link_in_out_is_replaced_not_written_through(project, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "src").symlink_to(elsewhere, target_is_directory=True)
    (out / "modelstack-context.json").symlink_to(tmp_path / "manifest-elsewhere.json")
    (tmp_path / "wheels").mkdir()
    write_context(context_of(project), out, tmp_path / "wheels")
    assert list(elsewhere.iterdir()) == [], "nothing written into the folder the link named"
    assert not (tmp_path / "manifest-elsewhere.json").exists()
    assert (out / "src").is_dir() and not (out / "src").is_symlink() and (out / "src" / "score.py").is_file()


def test_a_source_file_that_cannot_be_read_is_the_source_directorys_error(project, tmp_path):
    context = context_of(project)
    (project.root / "examples" / "diabetes" / "src" / "score.py").unlink()  # gone after the context was planned
    (tmp_path / "wheels").mkdir()
    with pytest.raises(ConfigError) as caught:
        write_context(context, tmp_path / "out", tmp_path / "wheels")
    assert caught.value.key == "modelstack:services.diabetes.source_directory"
    assert "cannot read" in str(caught.value) and "score.py" in str(caught.value)


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
        env={"MODELSTACK_PROJECT_DIR": str(project.root), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
        timeout=120,
    )


@pytest.mark.parametrize(
    "out, inside",
    [
        ("examples/diabetes/src/build", "src"),
        ("examples/diabetes/src", "src"),
        ("examples/diabetes/model/build", "model"),
    ],
)
def test_out_inside_what_the_image_is_built_from_is_refused(project, out, inside):
    model = project.root / "examples" / "diabetes" / "model"
    if inside == "model":  # a model that is a folder
        (project.root / "Pulumi.yaml").write_text(
            (project.root / "Pulumi.yaml")
            .read_text()
            .replace("path: examples/diabetes/model/ridge.joblib", "path: examples/diabetes/model")
        )
    before = sorted(
        p.name for p in (model if inside == "model" else project.root / "examples" / "diabetes" / "src").iterdir()
    )
    result = package(project, str(project.root / out), "--force")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "- --out: " in result.stderr and f"is inside {inside}, which modelstack:" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    after = sorted(
        p.name for p in (model if inside == "model" else project.root / "examples" / "diabetes" / "src").iterdir()
    )
    assert after == before, "nothing written"
