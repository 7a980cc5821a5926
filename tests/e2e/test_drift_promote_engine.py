"""drift and promote against real stacks: two local stacks (own registries and ports) stand in
for staging and prod, driven by the real engine in a scratch copy of the project."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

from tests.conftest import remove_image_references
from tests.workspace import copy_project, derive_local_stack

REPO = Path(__file__).resolve().parents[2]
ENGINE = REPO / ".tools" / "bin" / "pulumi"
SAMPLE = json.loads((REPO / "examples" / "diabetes" / "sample-requests.jsonl").read_text().splitlines()[0])
SOURCE, TARGET = "e2e-staging", "e2e-prod"

pytestmark = [pytest.mark.engine]  # needs the engine: tests/e2e/conftest.py requires it


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_example, docker_client):
    home = tmp_path_factory.mktemp("promote")
    root = copy_project(home / "project", runnable=True)
    (root / ".tools").symlink_to(REPO / ".tools")
    registry_ports = [
        derive_local_stack(root, stack)["config"]["modelstack:registry"]["port"] for stack in (SOURCE, TARGET)
    ]
    env = {
        **os.environ,
        "PATH": f"{ENGINE.parent}:{os.environ.get('PATH', '')}",
        "PULUMI_HOME": str(home / "pulumi-home"),
        "PULUMI_BACKEND_URL": f"file://{home / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": "",
        "MODELSTACK_PROJECT_DIR": str(root),
    }
    (home / "state").mkdir()
    context = {"root": root, "env": env}
    for stack in (SOURCE, TARGET):
        pulumi(context, "stack", "init", "--stack", stack)
    yield context
    for stack in (SOURCE, TARGET):
        pulumi(context, "destroy", "--yes", "--stack", stack, check=False)
    for stack in (SOURCE, TARGET):
        for container in docker_client.containers.list(all=True, filters={"label": f"modelstack.stack={stack}"}):
            container.remove(force=True)
    for port in registry_ports:  # the images built, pushed and pulled for each stack's registry
        remove_image_references(docker_client, f"localhost:{port}/")


def pulumi(context, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["pulumi", *args, "--non-interactive"],
        cwd=context["root"],
        env=context["env"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"pulumi {' '.join(args)} exited {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def modelstack(context, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "components.commands.cli", *args],
        cwd=context["root"],
        env=context["env"],
        capture_output=True,
        text=True,
        timeout=600,
    )


def outputs(context, stack: str) -> dict:
    return json.loads(pulumi(context, "stack", "output", "--json", "--stack", stack).stdout)["services"]


def test_1_source_stack_up_and_no_drift(project):
    pulumi(project, "up", "--yes", "--skip-preview", "--stack", SOURCE)
    result = modelstack(project, "drift", "--stack", SOURCE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"no drift: stack {SOURCE} matches what runs" in result.stdout


def test_2_stopped_container_is_drift_and_blocks_promotion(project, docker_client):
    docker_client.containers.get(f"modelstack-{SOURCE}-diabetes").stop(timeout=2)
    result = modelstack(project, "drift", "--stack", SOURCE, "--json")
    assert result.returncode == 1
    drifted = json.loads(result.stdout)
    assert [(d["name"], d["fields"]["state"]) for d in drifted] == [
        ("diabetes-local", {"recorded": "Healthy", "live": "Failed"})
    ]
    refused = modelstack(project, "promote", "--from", SOURCE, "--to", TARGET)
    assert refused.returncode == 1
    assert f"stack {SOURCE} has services that are not Healthy: diabetes (Failed)" in refused.stderr
    assert "modelstack:release" not in (project["root"] / "stacks" / f"Pulumi.{TARGET}.yaml").read_text(), (
        "nothing written on refusal"
    )
    state_file = json.loads(pulumi(project, "stack", "export", "--stack", SOURCE).stdout)
    local = next(r for r in state_file["deployment"]["resources"] if r["urn"].endswith("::diabetes-local"))
    assert local["outputs"]["state"] == "Healthy", "drift does not write state"


def test_3_promotion_copies_by_digest_and_the_target_builds_nothing(project):
    pulumi(project, "up", "--yes", "--skip-preview", "--stack", SOURCE)  # repairs the stopped container
    source = outputs(project, SOURCE)
    result = modelstack(project, "promote", "--from", SOURCE, "--to", TARGET)
    assert result.returncode == 0, result.stderr
    pins = yaml.safe_load((project["root"] / "stacks" / f"Pulumi.{TARGET}.yaml").read_text())["config"][
        "modelstack:release"
    ]
    for name, service in source.items():
        digest = service["image"].split("@")[1]
        assert pins[name]["image"].endswith(f"/{name}@{digest}") and not pins[name]["image"].startswith(
            service["image"].split("/")[0]
        )
        assert pins[name]["model_versions"] == service["model_versions"] and pins[name]["source_stack"] == SOURCE
    up = pulumi(project, "up", "--yes", "--skip-preview", "--stack", TARGET)
    assert "building" not in up.stdout + up.stderr
    state = json.loads(pulumi(project, "stack", "export", "--stack", TARGET).stdout)
    assert not [r for r in state["deployment"]["resources"] if r["type"].endswith(":ServiceImage")], (
        "a promoted stack has no image builds"
    )
    target = outputs(project, TARGET)
    for name, service in target.items():
        assert service["state"] == "Healthy"
        assert service["image"] == pins[name]["image"]
        assert service["model_versions"] == source[name]["model_versions"]
    answer = requests.post(target["diabetes"]["scoring_uri"], json=SAMPLE, timeout=10).json()
    assert answer == requests.post(source["diabetes"]["scoring_uri"], json=SAMPLE, timeout=10).json()
