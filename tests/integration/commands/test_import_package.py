"""The seeds' `az ml model deploy` flow imported, checked, packaged, built and run in Docker: the
imported entry script answers POST /score with the imported model (the engine's `up` of the
same import is tests/e2e/test_import_engine.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import joblib
import numpy as np
import pytest
import requests

from tests.workspace import REPO, free_port, wait_until_healthy

SEED = REPO / "tests" / "fixtures" / "azureml" / "v1-cli"
SAMPLE = {"data": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]]}


def test_imported_seed_packages_builds_and_serves(project, docker_client, tmp_path):
    seed = project.root / "seed"
    shutil.copytree(SEED, seed)
    script = (
        seed / "score.py"
    )  # scikit-learn removed sklearn.externals.joblib in 0.23: the one line a user changes today
    script.write_text(script.read_text().replace("from sklearn.externals import joblib", "import joblib"))
    (seed / "outputs").mkdir()
    shutil.copy(
        project.root / "examples" / "diabetes" / "model" / "ridge.joblib", seed / "outputs" / "sklearn_mnist_model.pkl"
    )
    env = {"MODELSTACK_PROJECT_DIR": str(project.root), "PATH": "/usr/bin:/bin", "COLUMNS": "300"}

    def modelstack(*args, cwd=project.root):
        return subprocess.run(
            [sys.executable, "-m", "components.commands.cli", *args],
            capture_output=True,
            text=True,
            cwd=cwd,
            env=env,
            timeout=600,
        )

    imported = modelstack(
        "import",
        "inferenceconfig.json",
        "deploymentconfig-local.json",
        "--stack",
        "local",
        "--service",
        "myservice",
        "--model",
        "sklearn_mnist:1=outputs/sklearn_mnist_model.pkl",
        "--pip-requirements",
        "../examples/diabetes/requirements.txt",
        cwd=seed,
    )
    assert imported.returncode == 0, imported.stderr
    checked = modelstack("check", "--stack", "local")
    assert checked.returncode == 0 and "clean:" in checked.stdout, checked.stdout + checked.stderr
    out = tmp_path / "context"
    packaged = modelstack("package", "myservice", "--stack", "local", "--out", str(out))
    assert packaged.returncode == 0, packaged.stderr
    manifest = json.loads((out / "modelstack-context.json").read_text())
    image, _ = docker_client.images.build(path=str(out), tag=f"modelstack-test/import:{manifest['tag']}", rm=True)
    port = free_port()
    container = docker_client.containers.run(image.id, detach=True, ports={"5001/tcp": ("127.0.0.1", port)})
    try:
        wait_until_healthy(port)
        answer = requests.post(f"http://127.0.0.1:{port}/score", json=SAMPLE, timeout=10)
        assert answer.status_code == 200, answer.text
        expected = joblib.load(seed / "outputs" / "sklearn_mnist_model.pkl").predict(np.array(SAMPLE["data"])).tolist()
        assert answer.json() == pytest.approx(expected)
    finally:
        container.remove(force=True)
        docker_client.images.remove(image.id, force=True)
