"""The local stack for real: build, push to a local registry, run through the providers' own
methods, score, drift, replace and delete. Docker, the registry and the containers are real.

One module-scoped project and registry are shared; tests run in file order and build on each
other (the cold build first, so the later ones measure cache reuse against it).
"""

from __future__ import annotations

import json
import os
import socket
import uuid

import joblib
import numpy as np
import pytest
import requests

from components.errors import BuildError, DeploymentError, ModelstackError
from components.image.build_context import build_context
from components.image.builder import ensure_image, registry_digest
from components.image.service_image import ServiceImageProvider
from components.targets.local import registry_server as local_registry
from components.targets.local.webservice import LocalWebserviceProvider
from components.webservice import image_inputs
from tests.conftest import remove_image_references
from tests.provider_results import outputs_of
from tests.workspace import REPO as REPO_ROOT, copy_project, free_port

REPO = REPO_ROOT
SAMPLE = json.loads((REPO / "examples" / "diabetes" / "sample-requests.jsonl").read_text().splitlines()[0])
RUN = uuid.uuid4().hex[:6]  # keeps this run's containers apart from a live local stack's


@pytest.fixture(scope="module")
def stack(tmp_path_factory, trained_example, docker_client):
    """A copy of the project with a registry of its own on a free port."""
    root = copy_project(tmp_path_factory.mktemp("local-stack") / "project")
    port = free_port()
    state = root / ".modelstack" / "registry"
    local_registry.start(port, str(state / "storage"), str(state / "run"))
    previous = os.environ.get("MODELSTACK_PROJECT_DIR")
    os.environ["MODELSTACK_PROJECT_DIR"] = str(root)
    from components.config.load import load_from_files

    yield {"root": root, "port": port, "config": lambda: load_from_files("local", root), "client": docker_client}
    local_registry.stop(str(state / "run"))
    if previous is None:
        os.environ.pop("MODELSTACK_PROJECT_DIR", None)
    else:
        os.environ["MODELSTACK_PROJECT_DIR"] = previous
    for container in docker_client.containers.list(all=True, filters={"label": f"modelstack.stack=test-{RUN}"}):
        container.remove(force=True)
    remove_image_references(docker_client, f"localhost:{port}/")  # what was built, pushed and pulled for this registry


def image_props(stack, service: str) -> dict:
    config = stack["config"]()
    spec, model_specs = image_inputs(config.services[service], config.models)
    context = build_context(stack["root"], service, config.services[service], config.models)
    return {
        "service": service,
        "repository": f"localhost:{stack['port']}/{service}",
        "tag": context.tag,
        "model_versions": context.model_versions,
        "service_spec": spec,
        "model_specs": model_specs,
        "base_image_password": None,
    }


def web_props(service: str, image: str, port: int | None = None) -> dict:
    return {
        "service": service,
        "stack": f"test-{RUN}",
        "image": image,
        "port": port,
        "environment": {},
        "container_name": f"modelstack-test-{RUN}-{service}",
    }


def predictions_of(stack, model_file: str) -> list[float]:
    model = joblib.load(stack["root"] / "examples" / "diabetes" / "model" / model_file)
    return model.predict(np.array(SAMPLE["data"])).tolist()


def test_cold_build_from_a_clean_cache_then_push(stack):
    config = stack["config"]()
    context = build_context(stack["root"], "diabetes", config.services["diabetes"], config.models)
    repository = f"localhost:{stack['port']}/diabetes"
    from components.image.builder import build, push

    report = build(stack["client"], context, repository, stack["root"] / ".modelstack", no_cache=True)
    assert not any(cached for _, cached in report.steps), "a clean-cache build reuses no layer"
    digest = push(stack["client"], repository, context.tag)
    assert registry_digest(repository, context.tag) == digest
    assert "diabetes" in local_registry.catalog(stack["port"])


def test_second_build_builds_nothing(stack):
    config = stack["config"]()
    context = build_context(stack["root"], "diabetes", config.services["diabetes"], config.models)
    result = ensure_image(
        stack["client"], context, f"localhost:{stack['port']}/diabetes", stack["root"] / ".modelstack"
    )
    assert (result.built, result.pushed) == (False, False)


def test_provider_creates_the_image_and_the_service_scores(stack):
    image = ServiceImageProvider().create(image_props(stack, "diabetes"))
    assert outputs_of(image)["image"].startswith(f"localhost:{stack['port']}/diabetes@sha256:")
    created = LocalWebserviceProvider().create(web_props("diabetes", outputs_of(image)["image"]))
    stack["diabetes"] = created
    outs = outputs_of(created)
    assert outs["state"] == "Healthy" and outs["scoring_uri"] == f"http://localhost:{outs['port']}/score"
    response = requests.post(outs["scoring_uri"], json=SAMPLE, timeout=10)
    assert response.status_code == 200
    assert response.json() == pytest.approx(predictions_of(stack, "ridge.joblib"))


def test_swagger_carries_the_input_schema(stack):
    swagger = requests.get(outputs_of(stack["diabetes"])["swagger_uri"], timeout=10).json()
    text = json.dumps(swagger)
    assert "ServiceInput" in swagger["definitions"], sorted(swagger["definitions"])
    assert '"data"' in text and '"type": "array"' in text


def test_multi_model_service_scores_with_both_models(stack):
    image = ServiceImageProvider().create(image_props(stack, "diabetes-multi"))
    created = LocalWebserviceProvider().create(web_props("diabetes-multi", outputs_of(image)["image"]))
    try:
        result = requests.post(outputs_of(created)["scoring_uri"], json=SAMPLE, timeout=10).json()
        assert result["ridge"] == pytest.approx(predictions_of(stack, "ridge.joblib"))
        assert result["lasso"] == pytest.approx(predictions_of(stack, "lasso.joblib"))
        assert result["ridge"] != result["lasso"]
    finally:
        LocalWebserviceProvider().delete(created.id, outputs_of(created))


def test_stopping_the_container_is_drift_that_update_repairs(stack):
    provider, created = LocalWebserviceProvider(), stack["diabetes"]
    stack["client"].containers.get(created.id).stop(timeout=2)
    read = provider.read(created.id, outputs_of(created))
    assert outputs_of(read)["state"] == "Failed"
    diff = provider.diff(created.id, outputs_of(created), web_props("diabetes", outputs_of(created)["image"]))
    assert diff.changes and not diff.replaces, "a stopped container is restarted, not replaced"
    updated = provider.update(created.id, outputs_of(created), web_props("diabetes", outputs_of(created)["image"]))
    assert outputs_of(updated)["state"] == "Healthy"
    assert requests.post(outputs_of(created)["scoring_uri"], json=SAMPLE, timeout=10).status_code == 200


def test_model_change_replaces_image_and_container_and_reuses_dependency_layers(stack):
    old_image_props = image_props(stack, "diabetes")
    old_image = ServiceImageProvider().read(
        f"{old_image_props['repository']}:{old_image_props['tag']}", old_image_props
    )
    from examples.diabetes.train import train

    train(stack["root"] / "examples" / "diabetes" / "model", alpha=2.0)
    new_image_props = image_props(stack, "diabetes")
    assert ServiceImageProvider().diff("", outputs_of(old_image), new_image_props).replaces == ["tag"]
    config = stack["config"]()
    context = build_context(stack["root"], "diabetes", config.services["diabetes"], config.models)
    result = ensure_image(stack["client"], context, new_image_props["repository"], stack["root"] / ".modelstack")
    assert result.built and result.build is not None and result.build.cached("pip install"), (
        "dependency layers come from the cache"
    )
    assert not result.build.cached("COPY models/"), "the model layer is rebuilt"
    created = stack["diabetes"]
    diff = LocalWebserviceProvider().diff(created.id, outputs_of(created), web_props("diabetes", result.reference))
    assert diff.replaces == ["image"] and diff.delete_before_replace
    LocalWebserviceProvider().delete(created.id, outputs_of(created))
    replaced = LocalWebserviceProvider().create(web_props("diabetes", result.reference))
    stack["diabetes"] = replaced
    answer = requests.post(outputs_of(replaced)["scoring_uri"], json=SAMPLE, timeout=10).json()
    assert answer == pytest.approx(predictions_of(stack, "ridge.joblib")), "the new model answers"


def test_removed_container_reads_as_gone(stack):
    created = stack["diabetes"]
    stack["client"].containers.get(created.id).remove(force=True)
    assert LocalWebserviceProvider().read(created.id, outputs_of(created)).id == ""


def test_delete_leaves_no_container(stack):
    image = image_props(stack, "diabetes")
    created = LocalWebserviceProvider().create(web_props("diabetes", f"{image['repository']}:{image['tag']}"))
    LocalWebserviceProvider().delete(created.id, outputs_of(created))
    assert stack["client"].containers.list(all=True, filters={"label": f"modelstack.stack=test-{RUN}"}) == []


def test_port_in_use_is_a_clear_error(stack):
    image = image_props(stack, "diabetes")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(DeploymentError) as caught:
            LocalWebserviceProvider().create(web_props("diabetes", f"{image['repository']}:{image['tag']}", port=port))
    assert str(caught.value) == (
        f"modelstack:services.diabetes.deploy.port: port {port} is already in use on this machine\n"
        "  Rule: a local webservice publishes its own port on localhost\n"
        "  Fix: pick another port, stop whatever listens on it, or remove deploy.port to get a free one"
    )


def test_init_failure_is_failed_with_the_log_tail_and_leaves_nothing(stack):
    source = stack["root"] / "examples" / "diabetes" / "src"
    (source / "score_broken.py").write_text(
        "def init():\n    raise RuntimeError('model file is corrupt')\n\n\ndef run(data):\n    return data\n"
    )
    (stack["root"] / "stacks" / "Pulumi.local.yaml").write_text(
        "config:\n  modelstack:registry:\n    kind: local\n  modelstack:services:\n    broken:\n      models: [diabetes-ridge]\n"
        "      source_directory: examples/diabetes/src\n      entry_script: score_broken.py\n"
        "      environment:\n        pip_requirements: examples/diabetes/requirements.txt\n"
    )
    image = ServiceImageProvider().create(image_props(stack, "broken"))
    with pytest.raises(DeploymentError) as caught:
        LocalWebserviceProvider().create(web_props("broken", outputs_of(image)["image"]))
    message = str(caught.value)
    assert message.startswith("service broken is Failed: its container exited")
    assert "RuntimeError: model file is corrupt" in message, message
    assert message.endswith(
        "Fix: fix the error above in the entry script (or the model it loads), then run `pulumi up` again"
    )
    assert stack["client"].containers.list(all=True, filters={"name": f"modelstack-test-{RUN}-broken"}) == []


def test_missing_locally_built_base_image_says_how_to_build_it(stack):
    (stack["root"] / "stacks" / "Pulumi.local.yaml").write_text(
        "config:\n  modelstack:registry:\n    kind: local\n  modelstack:services:\n    diabetes:\n      environment:\n"
        "        base_image: modelstack/python-base:absent-in-this-test\n"
    )
    props = image_props(stack, "diabetes")
    with pytest.raises(ModelstackError) as caught:
        ServiceImageProvider().create(props)
    assert "modelstack:services.diabetes.environment.base_image" in str(caught.value)
    assert "build-base-image.sh" in str(caught.value)
    assert not isinstance(caught.value, BuildError) or "pull" not in str(caught.value)
