"""Promoting a release with a two-version rollout: every version's image is copied for real
(Docker pulls by digest from one real registry and pushes to another), the pins name each
version's image, and the stack they land in plans no build.

The source is an AKS stack, which cannot be deployed here: its `services` output and a healthy
refresh are recorded (what `pulumi stack output` and the engine would hand over), and its
images live in a real local registry. The destination's registry is a real local registry too;
the pins are then planned in the prod stack (AKS, two versions) under the mock runtime.
"""

from __future__ import annotations

import io
import tarfile
import uuid
from types import SimpleNamespace

import pytest
import requests
import yaml

from components.commands import drift, engine
from components.commands.promote import promote
from components.image.builder import push
from components.targets.local import registry_server
from components.targets.local.registry import local_registry_dirs
from tests.conftest import remove_image_references
from tests.workspace import free_port


def image_with(docker_client, text: str, repository: str) -> str:
    """A one-file image of its own, pushed to `repository`; returns its digest."""
    data = text.encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("model.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    tag = uuid.uuid4().hex[:12]
    docker_client.api.import_image_from_data(buf.getvalue(), repository=repository, tag=tag)
    return push(docker_client, repository, tag, log=lambda _: None)


@pytest.fixture
def registries(project, docker_client, tmp_path):
    """A source registry (the recorded stack's) and the destination stack's, both stopped by PID after."""
    source_port, target_port = free_port(), free_port()
    source = registry_server.start(source_port, str(tmp_path / "src-root"), str(tmp_path / "src-state"))
    target_state = project.root / local_registry_dirs(target_port)[1]
    yield SimpleNamespace(source=source, target_port=target_port)
    registry_server.stop(source.state_dir)
    registry_server.stop(str(target_state))  # started by promote (ensure_local_registry)
    for port in (source_port, target_port):
        remove_image_references(docker_client, f"localhost:{port}/")


def test_every_version_image_is_copied_and_the_target_builds_nothing(project, registries, docker_client, monkeypatch):
    src = f"localhost:{registries.source.port}"
    ridge = image_with(docker_client, "ridge " + uuid.uuid4().hex, f"{src}/diabetes")
    lasso = image_with(docker_client, "lasso " + uuid.uuid4().hex, f"{src}/diabetes")
    multi = image_with(docker_client, "multi " + uuid.uuid4().hex, f"{src}/diabetes-multi")
    services = {
        "diabetes": {
            "image": f"{src}/diabetes@{ridge}",
            "model_versions": {"diabetes-ridge": "r1"},
            "state": "Healthy",
            "versions": {
                "ridge": {
                    "image": f"{src}/diabetes@{ridge}",
                    "model_versions": {"diabetes-ridge": "r1"},
                    "traffic_percentile": 90,
                },
                "lasso": {
                    "image": f"{src}/diabetes@{lasso}",
                    "model_versions": {"diabetes-lasso": "l1"},
                    "traffic_percentile": 10,
                },
            },
        },
        "diabetes-multi": {
            "image": f"{src}/diabetes-multi@{multi}",
            "model_versions": {"diabetes-ridge": "r1", "diabetes-lasso": "l1"},
            "state": "Healthy",
        },
    }
    monkeypatch.setattr(
        engine,
        "select_stack",
        lambda project_dir, stack: SimpleNamespace(outputs=lambda: {"services": SimpleNamespace(value=services)}),
    )
    monkeypatch.setattr(drift, "refresh_events", lambda project_dir, stack, log=None, command="drift": [])
    # The destination: a stack whose registry is a local one on a port of its own.
    project.write_stack(
        "e2e-dst",
        {
            "registry": {"kind": "local", "port": registries.target_port},
            "services": {"diabetes": {"target": "local"}, "diabetes-multi": {"target": "local"}},
        },
    )

    said: list[str] = []
    promotions = promote(project.root, "staging", "e2e-dst", log=said.append)

    dst = f"localhost:{registries.target_port}"
    assert {p.service: p.image for p in promotions} == {
        "diabetes": f"{dst}/diabetes@{ridge}",
        "diabetes/lasso": f"{dst}/diabetes@{lasso}",
        "diabetes/ridge": f"{dst}/diabetes@{ridge}",
        "diabetes-multi": f"{dst}/diabetes-multi@{multi}",
    }
    assert sum(1 for line in said if line.startswith("pulling ")) == 3, (
        "the image the default and ridge share is copied once"
    )
    for repository, digest in (("diabetes", ridge), ("diabetes", lasso), ("diabetes-multi", multi)):
        answer = requests.head(
            f"http://127.0.0.1:{registries.target_port}/v2/{repository}/manifests/{digest}",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
            timeout=10,
        )
        assert answer.status_code == 200, f"{repository}@{digest} is not in the destination registry"
    pins = yaml.safe_load((project.root / "stacks" / "Pulumi.e2e-dst.yaml").read_text())["config"]["modelstack:release"]
    assert pins["diabetes"]["versions"] == {
        "lasso": {"image": f"{dst}/diabetes@{lasso}", "model_versions": {"diabetes-lasso": "l1"}},
        "ridge": {"image": f"{dst}/diabetes@{ridge}", "model_versions": {"diabetes-ridge": "r1"}},
    }

    # The same release pinned in the prod stack, whose diabetes service runs both versions on AKS:
    # no image is built, not even the lasso version's (whose model files are not even there).
    from components.offline.evaluate import evaluate_stack

    prod_path = project.root / "stacks" / "Pulumi.prod.yaml"
    prod = yaml.safe_load(prod_path.read_text())
    prod["config"]["modelstack:services"]["diabetes"]["versions"] = [
        {"version_name": "ridge", "is_default": True, "is_control_version_type": True, "traffic_percentile": 90},
        {"version_name": "lasso", "models": ["diabetes-lasso"], "traffic_percentile": 10},
    ]
    prod["config"]["modelstack:release"] = pins
    prod_path.write_text(yaml.safe_dump(prod, sort_keys=False))
    for model in (project.root / "examples" / "diabetes" / "model").iterdir():
        model.unlink()
    _, plan = evaluate_stack("prod", project.root)
    assert [r.name for r in plan.resources if r.type.endswith(":ServiceImage")] == []
    images = {
        r.name: r.inputs["spec"]["template"]["spec"]["containers"][0]["image"]
        for r in plan.resources
        if r.type == "kubernetes:apps/v1:Deployment"
    }
    assert images == {
        "diabetes-ridge-deployment": f"{dst}/diabetes@{ridge}",
        "diabetes-lasso-deployment": f"{dst}/diabetes@{lasso}",
        "diabetes-multi-deployment": f"{dst}/diabetes-multi@{multi}",
    }
    assert plan.outputs["services"]["diabetes"]["versions"]["lasso"]["model_versions"] == {"diabetes-lasso": "l1"}
