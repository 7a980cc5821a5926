"""The local stack through the real Pulumi engine: up, no-op preview, model change, drift,
policy pack, destroy. Runs in a copy of the project, as a stack named `e2e` made from the
local stack's file with ports of its own, so a local stack the developer has up is left alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pytest
import requests

from tests.e2e.engine import Engine, tear_down_local_stack
from tests.workspace import copy_project, derive_local_stack

REPO = Path(__file__).resolve().parents[2]
STACK = "e2e"
SAMPLE = json.loads((REPO / "examples" / "diabetes" / "sample-requests.jsonl").read_text().splitlines()[0])

pytestmark = [pytest.mark.engine]  # needs the engine: tests/e2e/conftest.py requires it


@pytest.fixture(scope="module")
def engine(tmp_path_factory, trained_example, docker_client):
    home = tmp_path_factory.mktemp("engine")
    root = copy_project(home / "project", runnable=True)
    registry_port = derive_local_stack(root, STACK)["config"]["modelstack:registry"]["port"]
    runner = Engine(root, home, STACK)
    runner.run("stack", "init")
    yield runner
    tear_down_local_stack(runner, docker_client, registry_port)


def score(uri: str):
    response = requests.post(uri, json=SAMPLE, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def model_predictions(root: Path, file: str) -> list[float]:
    return joblib.load(root / "examples" / "diabetes" / "model" / file).predict(np.array(SAMPLE["data"])).tolist()


def test_1_up_serves_predictions(engine):
    result = engine.run("up", "--yes", "--skip-preview")
    assert "[modelstack] building" in result.stdout + result.stderr, "progress is shown"
    services = engine.outputs()
    assert services["diabetes"]["state"] == "Healthy"
    assert score(services["diabetes"]["scoring_uri"]) == pytest.approx(model_predictions(engine.root, "ridge.joblib"))
    multi = score(services["diabetes-multi"]["scoring_uri"])
    assert multi["lasso"] == pytest.approx(model_predictions(engine.root, "lasso.joblib"))


def test_1b_logs_show_the_containers_log(engine):
    """`modelstack logs` on the local target: the scoring server's own lines, the last N of them."""
    import subprocess
    import sys

    def logs(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "components.commands.cli", "logs", *args, "--stack", STACK],
            cwd=engine.root,
            env={**engine.env, "MODELSTACK_PROJECT_DIR": str(engine.root), "COLUMNS": "400"},
            capture_output=True,
            text=True,
            timeout=120,
        )

    shown = logs("diabetes", "--tail", "1000")
    assert shown.returncode == 0, shown.stderr
    assert "Users's init has completed successfully" in shown.stdout
    assert len(logs("diabetes", "--tail", "2").stdout.strip().splitlines()) == 2
    unknown = logs("nope")
    assert (
        unknown.returncode == 1
        and "stack e2e has no service 'nope'" in unknown.stderr
        and "Traceback" not in unknown.stderr
    )


def test_2_second_preview_plans_no_changes_and_builds_nothing(engine):
    result = engine.run("preview", "--expect-no-changes")
    assert "building" not in result.stdout + result.stderr


def test_3_model_change_replaces_exactly_its_image_and_container(engine):
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Lasso

    features, target = load_diabetes(return_X_y=True)
    joblib.dump(
        Lasso(alpha=0.5).fit(features, target), engine.root / "examples" / "diabetes" / "model" / "lasso.joblib"
    )
    steps = engine.steps()
    changed = {name: op for name, op in steps.items() if op != "same" and name != f"modelstack-{STACK}"}
    assert changed == {"diabetes-multi-image": "replace", "diabetes-multi-local": "replace"}, steps
    engine.run("up", "--yes", "--skip-preview")
    multi = score(engine.outputs()["diabetes-multi"]["scoring_uri"])
    assert multi["lasso"] == pytest.approx(model_predictions(engine.root, "lasso.joblib"))


def test_4_stopped_container_is_drift_that_up_repairs(engine, docker_client):
    docker_client.containers.get(f"modelstack-{STACK}-diabetes").stop(timeout=2)
    refresh = engine.run("refresh", "--preview-only", "--diff")
    assert "diabetes-local" in refresh.stdout and "Failed" in refresh.stdout, refresh.stdout[-3000:]
    engine.run("up", "--yes", "--skip-preview")
    services = engine.outputs()
    assert services["diabetes"]["state"] == "Healthy"
    score(services["diabetes"]["scoring_uri"])


def test_5_preview_runs_the_policy_pack(engine):
    result = engine.run("preview", "--policy-pack", str(engine.root / "policies"))
    assert "Policies:" in result.stdout and "modelstack" in result.stdout, result.stdout[-2000:]


def test_6_destroy_leaves_nothing(engine, docker_client):
    engine.run("destroy", "--yes", "--skip-preview")
    exported = json.loads(engine.run("stack", "export").stdout)
    assert exported["deployment"].get("resources") in (None, [])
    assert docker_client.containers.list(all=True, filters={"label": f"modelstack.stack={STACK}"}) == []
