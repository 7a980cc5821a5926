"""The seeds' `az ml model deploy -m sklearn_mnist:1 --ic inferenceconfig.json --dc
deploymentconfig.json`, imported with `modelstack import`, then `check`, `package` and a real
`pulumi up` of the local stack: the imported entry script answers POST /score with the imported
model. One real end-to-end run, in a copy of the project with a stack of its own."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import joblib
import numpy as np
import pytest
import requests
import yaml

from tests.e2e.engine import Engine, tear_down_local_stack
from tests.workspace import REPO, copy_project, free_port

STACK = "e2e-import"  # a throwaway stack: the empty passphrase of the tests is its to use
SEED = REPO / "tests" / "fixtures" / "azureml" / "v1-cli"
# The seeds' client: two rows of ten features.
SAMPLE = {"data": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]]}

pytestmark = [pytest.mark.engine]


@pytest.fixture(scope="module")
def engine(tmp_path_factory, trained_example, docker_client):
    home = tmp_path_factory.mktemp("engine")
    root = copy_project(home / "project", runnable=True)
    # Only the imported service in this copy: the example's services are not part of this test.
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())
    project["config"] = {}
    (root / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    registry_port = free_port()
    (root / "stacks" / f"Pulumi.{STACK}.yaml").write_text(
        yaml.safe_dump({"config": {"modelstack:registry": {"kind": "local", "port": registry_port}}})
    )
    seed = root / "seed"
    shutil.copytree(SEED, seed)
    # The seeds' score.py imports sklearn.externals.joblib, which scikit-learn removed in 0.23:
    # the one line a user changes today (docs/import.md).
    script = seed / "score.py"
    script.write_text(script.read_text().replace("from sklearn.externals import joblib", "import joblib"))
    (seed / "deploymentconfig.json").write_text(json.dumps({"computeType": "local", "port": free_port()}))
    (seed / "outputs").mkdir()
    shutil.copy(trained_example / "ridge.joblib", seed / "outputs" / "sklearn_mnist_model.pkl")
    runner = Engine(root, home, STACK)
    runner.run("stack", "init")
    yield runner
    tear_down_local_stack(runner, docker_client, registry_port)


def modelstack(engine, *args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "components.commands.cli", *args],
        cwd=cwd or engine.root,
        capture_output=True,
        text=True,
        timeout=600,
        env={**engine.env, "MODELSTACK_PROJECT_DIR": str(engine.root), "COLUMNS": "300"},
    )


def test_imported_seed_checks_packages_and_serves(engine, tmp_path):
    imported = modelstack(
        engine,
        "import",
        "inferenceconfig.json",
        "deploymentconfig.json",
        "--stack",
        STACK,
        "--service",
        "myservice",
        "--model",
        "sklearn_mnist:1=outputs/sklearn_mnist_model.pkl",
        "--pip-requirements",
        "../examples/diabetes/requirements.txt",
        cwd=engine.root / "seed",
    )
    assert imported.returncode == 0, imported.stderr
    checked = modelstack(engine, "check", "--stack", STACK)
    assert checked.returncode == 0 and "clean:" in checked.stdout, checked.stdout + checked.stderr
    packaged = modelstack(engine, "package", "myservice", "--stack", STACK, "--out", str(tmp_path / "context"))
    assert packaged.returncode == 0, packaged.stderr
    engine.run("up", "--yes", "--skip-preview")
    service = engine.outputs()["myservice"]
    assert service["state"] == "Healthy"
    answer = requests.post(service["scoring_uri"], json=SAMPLE, timeout=10)
    assert answer.status_code == 200, answer.text
    expected = (
        joblib.load(engine.root / "seed" / "outputs" / "sklearn_mnist_model.pkl")
        .predict(np.array(SAMPLE["data"]))
        .tolist()
    )
    assert answer.json() == pytest.approx(expected)
