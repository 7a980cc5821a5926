"""A scratch project holding Azure ML's examples (tests/fixtures/azureml) as a user's checkout
would: the v1 CLI files and SDK script in `seed/`, the v2 endpoint in `azureml/`, and a model
trained on the fly (the seeds' sklearn_mnist_model.pkl is a ridge regression on ten features)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.workspace import REPO, copy_project

FIXTURES = REPO / "tests" / "fixtures" / "azureml"


class Workspace:
    def __init__(self, root: Path):
        self.root = root
        self.seed = root / "seed"
        self.v2 = root / "azureml" / "v2"

    def run(self, *args: str, cwd: Path | None = None):
        import os

        from components.commands.cli import app

        previous = os.getcwd()
        os.chdir(cwd or self.seed)
        try:
            return CliRunner().invoke(
                app, ["import", *args], env={"MODELSTACK_PROJECT_DIR": str(self.root), "COLUMNS": "300"}
            )
        finally:
            os.chdir(previous)

    def fingerprint(self) -> dict[str, str]:
        """Every file of the project but the sources, by content: a failed import changes none."""
        found = {}
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and ".modelstack" not in path.parts:
                found[path.relative_to(self.root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
        return found


def make_workspace(root: Path, trained_example) -> Workspace:
    copy_project(root)
    workspace = Workspace(root)
    shutil.copytree(FIXTURES / "v1-cli", workspace.seed)
    shutil.copy(FIXTURES / "v1-sdk" / "deploy.py", workspace.seed / "deploy.py")
    (workspace.seed / "outputs").mkdir()
    shutil.copy(trained_example / "ridge.joblib", workspace.seed / "outputs" / "sklearn_mnist_model.pkl")
    workspace.v2.mkdir(parents=True)
    for name in ("endpoint.yml", "blue-deployment.yml", "green-deployment.yml"):
        shutil.copy(FIXTURES / "v2" / name, workspace.v2 / name)
    (root / "azureml" / "model").mkdir()
    for name in ("ridge.joblib", "lasso.joblib"):
        shutil.copy(trained_example / name, root / "azureml" / "model" / name)
    shutil.copytree(REPO / "examples" / "diabetes" / "src", root / "azureml" / "src")
    (root / "azureml" / "environment").mkdir()
    shutil.copy(FIXTURES / "v1-cli" / "myenv.yml", root / "azureml" / "environment" / "conda.yaml")
    return workspace


@pytest.fixture
def workspace(tmp_path, trained_example) -> Workspace:
    return make_workspace(tmp_path / "project", trained_example)
