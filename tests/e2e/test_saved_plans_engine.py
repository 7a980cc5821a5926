"""Saved plans through the real engine on a local stack: `modelstack plan` then `modelstack apply`
runs exactly the reviewed steps; a plan whose stack moved in between (another update), whose
config changed, whose file was edited, which expired, or which names another stack, is refused
and changes nothing. Runs in a copy of the project as stack `e2e-plans`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import joblib
import pytest
import requests
import yaml

from components.state import plans
from tests.e2e.engine import Engine, tear_down_local_stack
from tests.workspace import copy_project, derive_local_stack, free_port

STACK = "e2e-plans"
REPO = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((REPO / "examples" / "diabetes" / "sample-requests.jsonl").read_text().splitlines()[0])

pytestmark = [pytest.mark.engine]


@pytest.fixture(scope="module")
def engine(tmp_path_factory, trained_example, docker_client):
    home = tmp_path_factory.mktemp("plans")
    root = copy_project(home / "project", runnable=True)
    registry_port = derive_local_stack(root, STACK)["config"]["modelstack:registry"]["port"]
    runner = Engine(root, home, STACK)
    yield runner
    tear_down_local_stack(runner, docker_client, registry_port)


def modelstack(engine: Engine, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "components.commands.cli", *args],
        cwd=engine.root,
        env={**engine.env, "MODELSTACK_PROJECT_DIR": str(engine.root), "COLUMNS": "400"},
        capture_output=True,
        text=True,
        timeout=900,
    )


def plan(engine: Engine, name: str) -> tuple[Path, dict]:
    path = engine.root.parent / f"{name}.json"
    result = modelstack(engine, "plan", "--stack", STACK, "--out", str(path), "--summary", str(path) + ".md")
    assert result.returncode == 0, result.stdout + result.stderr
    return path, json.loads(path.read_text())


def changed_steps(document: dict) -> dict[str, str]:
    return {step["urn"].rsplit("::", 1)[-1]: step["op"] for step in document["body"]["steps"] if step["op"] != "same"}


def refused(result: subprocess.CompletedProcess, *phrases: str) -> None:
    text = result.stdout + result.stderr
    assert result.returncode == 1, text
    assert "Traceback" not in text, text
    for phrase in phrases:
        assert phrase in text, text


def exported(engine: Engine) -> dict:
    return json.loads(engine.run("stack", "export").stdout)


def last_update_changes(engine: Engine) -> dict[str, int]:
    history = json.loads(engine.run("stack", "history", "--json").stdout)
    return {op: count for op, count in history[0]["resourceChanges"].items() if op != "same"}


def score(engine: Engine, service: str):
    uri = json.loads(engine.run("stack", "output", "--json").stdout)["services"][service]["scoring_uri"]
    response = requests.post(uri, json=SAMPLE, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_1_a_plan_from_nothing_applies_exactly_and_serves(engine):
    path, document = plan(engine, "first")
    assert set(changed_steps(document).values()) == {"create"}
    assert set(document["body"]["bindings"]["images"]) == {"diabetes-image", "diabetes-multi-image"}
    assert "### Saved plan" in Path(str(path) + ".md").read_text()
    applied = modelstack(engine, "apply", str(path), "--stack", STACK)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert f"applied plan {plans.plan_id(document['body'])}" in applied.stdout
    assert score(engine, "diabetes")
    engine.run("preview", "--expect-no-changes")
    # applied once: the state it was bound to is gone, so a second apply is stale
    refused(modelstack(engine, "apply", str(path), "--stack", STACK), "is stale", "the stack's state changed")


def test_2_a_plan_overtaken_by_another_update_is_refused_then_replanned(engine):
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Lasso

    lasso = engine.root / "examples" / "diabetes" / "model" / "lasso.joblib"
    released = lasso.read_bytes()
    features, target = load_diabetes(return_X_y=True)
    joblib.dump(Lasso(alpha=0.3).fit(features, target), lasso)
    retrained = lasso.read_bytes()
    reviewed, document = plan(engine, "model-change")
    assert changed_steps(document) == {"diabetes-multi-image": "replace", "diabetes-multi-local": "replace"}

    # Meanwhile someone else, in a checkout without the new model, moves the diabetes service to
    # another port and applies that with the engine.
    lasso.write_bytes(released)
    stack_file = engine.root / "stacks" / f"Pulumi.{STACK}.yaml"
    stack = yaml.safe_load(stack_file.read_text())
    stack["config"]["modelstack:services"]["diabetes"]["deploy"]["port"] = free_port()
    stack_file.write_text(yaml.safe_dump(stack, sort_keys=False))
    engine.run("up", "--yes", "--skip-preview")
    assert last_update_changes(engine) == {"replace": 1}  # the diabetes container only
    lasso.write_bytes(retrained)
    before = exported(engine)

    result = modelstack(engine, "apply", str(reviewed), "--stack", STACK)
    refused(result, "is stale", "the stack's state changed", "the program or the stack's configuration changed")
    assert exported(engine) == before, "a refused apply changes nothing"

    replanned, document = plan(engine, "model-change-again")
    assert changed_steps(document) == {"diabetes-multi-image": "replace", "diabetes-multi-local": "replace"}
    applied = modelstack(engine, "apply", str(replanned), "--stack", STACK)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert last_update_changes(engine) == {"replace": 2}
    assert score(engine, "diabetes-multi")["lasso"] == pytest.approx(
        joblib.load(engine.root / "examples" / "diabetes" / "model" / "lasso.joblib").predict(SAMPLE["data"]).tolist()
    )


def test_3_edited_expired_other_stack_and_config_edit_are_refused(engine):
    path, document = plan(engine, "to-tamper")
    before = exported(engine)

    edited = engine.root.parent / "edited.json"
    tampered = json.loads(path.read_text())
    tampered["body"]["steps"].append({"urn": tampered["body"]["steps"][0]["urn"], "op": "delete"})
    edited.write_text(json.dumps(tampered))
    refused(modelstack(engine, "apply", str(edited), "--stack", STACK), "signature does not match")

    # A plan signed with the stack's key whose time ran out (made 25 hours ago, 24-hour lifetime).
    expired = engine.root.parent / "expired.json"
    old = json.loads(path.read_text())
    old["body"]["created"], old["body"]["expires"] = "2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z"
    old["signature"] = plans.sign(old["body"], plans.signing_key(engine.env, STACK))
    expired.write_text(json.dumps(old))
    refused(modelstack(engine, "apply", str(expired), "--stack", STACK), "expired at 2020-01-02T00:00:00Z")

    refused(modelstack(engine, "apply", str(path), "--stack", "e2e-other"), f"the plan is for stack {STACK}")

    stack_file = engine.root / "stacks" / f"Pulumi.{STACK}.yaml"
    original = stack_file.read_text()
    stack_file.write_text(original.replace("config:", "config:\n  modelstack:tags: {team: ml}", 1))
    refused(
        modelstack(engine, "apply", str(path), "--stack", STACK), "the program or the stack's configuration changed"
    )
    stack_file.write_text(original)

    assert exported(engine) == before, "no refused apply changed the state"
    applied = modelstack(engine, "apply", str(path), "--stack", STACK)
    assert applied.returncode == 0, applied.stdout + applied.stderr
