"""The local stack under the mock runtime: every resource, its exact inputs, and its parent."""

from __future__ import annotations

import json
import subprocess
import sys

from components.image.build_context import build_context
from components.offline.evaluate import evaluate_stack, plan_json
from components.plan_values import SECRET_PLACEHOLDER, UNKNOWN_PLACEHOLDER

STACK_URN = "urn:pulumi:local::modelstack::pulumi:pulumi:Stack::modelstack-local"
WEBSERVICE = "modelstack:webservice:Webservice"


def local_plan(project):
    return evaluate_stack("local", project.root)


# Inputs a provider computes (None when declared) do not travel to the engine, so they are
# absent from these dictionaries.


def test_local_stack_declares_exactly_these_resources(project):
    _, plan = local_plan(project)
    assert sorted((r.type.rsplit(":", 1)[-1], r.name) for r in plan.resources) == [
        ("LocalRegistry", "registry"),
        ("LocalWebservice", "diabetes-local"),
        ("LocalWebservice", "diabetes-multi-local"),
        ("ServiceImage", "diabetes-image"),
        ("ServiceImage", "diabetes-multi-image"),
        ("Webservice", "diabetes"),
        ("Webservice", "diabetes-multi"),
    ]


def test_registry_inputs(project):
    _, plan = local_plan(project)
    registry = plan.named("registry")
    assert registry.parent == STACK_URN
    assert registry.inputs == {
        "port": 5050,
        "root_dir": ".modelstack/registry/5050/storage",
        "state_dir": ".modelstack/registry/5050/run",
    }


def test_image_inputs(project):
    config, plan = local_plan(project)
    context = build_context(project.root, "diabetes", config.services["diabetes"], config.models)
    image = plan.named("diabetes-image")
    assert image.parent.endswith(f"{WEBSERVICE}::diabetes")
    assert image.inputs == {
        "model_specs": {"diabetes-ridge": {"path": "examples/diabetes/model/ridge.joblib"}},
        "model_versions": context.model_versions,
        "repository": "localhost:5050/diabetes",
        "service": "diabetes",
        "service_spec": {
            "entry_script": "score.py",
            "environment": {"pip_requirements": "examples/diabetes/requirements.txt"},
            "models": ["diabetes-ridge"],
            "source_directory": "examples/diabetes/src",
        },
        "tag": context.tag,
    }


def test_the_fallback_server_is_an_image_input(project):
    """scoring_server changes the image, so the image resource sees it (IMAGE_FIELDS); the
    default (modelstack) is left out, as every default of the spec is."""
    project.write_stack(
        "local", {"registry": {"kind": "local"}, "services": {"diabetes": {"scoring_server": "azmlinfsrv"}}}
    )
    config, plan = local_plan(project)
    image = plan.named("diabetes-image")
    assert image.inputs["service_spec"]["scoring_server"] == "azmlinfsrv"
    assert (
        image.inputs["tag"] == build_context(project.root, "diabetes", config.services["diabetes"], config.models).tag
    )
    assert "scoring_server" not in plan.named("diabetes-multi-image").inputs["service_spec"]


def test_local_webservice_inputs(project):
    _, plan = local_plan(project)
    web = plan.named("diabetes-local")
    assert web.parent.endswith(f"{WEBSERVICE}::diabetes")
    assert web.inputs == {
        "container_name": "modelstack-local-diabetes",
        "environment": {},
        "image": UNKNOWN_PLACEHOLDER,  # the digest exists once the image is pushed
        "port": 6789,
        "service": "diabetes",
        "stack": "local",
    }
    assert "port" not in plan.named("diabetes-multi-local").inputs, "an unset port is picked at deploy time"


def test_webservice_components_hang_off_the_stack(project):
    _, plan = local_plan(project)
    for name in ("diabetes", "diabetes-multi"):
        component = plan.named(name)
        assert (component.type, component.parent, component.custom, component.inputs) == (
            WEBSERVICE,
            STACK_URN,
            False,
            {
                "target": "local",
                "stack": "local",
                "image_source": "build",
                "auth_enabled": False,
                "public": False,
                "tls_enabled": False,
            },
        )


def test_stack_outputs_per_service(project):
    config, plan = local_plan(project)
    services = plan.outputs["services"]
    assert sorted(services) == ["diabetes", "diabetes-multi"]
    diabetes = services["diabetes"]
    context = build_context(project.root, "diabetes", config.services["diabetes"], config.models)
    assert diabetes == {
        "image": UNKNOWN_PLACEHOLDER,
        "model_versions": context.model_versions,
        "scoring_uri": "http://localhost:6789/score",
        "state": "Healthy",
        "swagger_uri": "http://localhost:6789/swagger.json",
    }
    assert services["diabetes-multi"]["scoring_uri"] == UNKNOWN_PLACEHOLDER


def test_base_image_password_is_a_secret_in_the_plan(project):
    (project.root / "stacks" / "Pulumi.local.yaml").write_text(
        "config:\n  modelstack:registry:\n    kind: local\n  modelstack:services:\n    diabetes:\n      environment:\n        base_image: team/python:3.11\n"
        "        base_image_registry:\n          address: myregistry.azurecr.io\n          username: puller\n"
        "          password:\n            secure: v1:c2FsdA==:Y2lwaGVy\n"
    )
    _, plan = local_plan(project)
    assert plan.named("diabetes-image").inputs["base_image_password"] == SECRET_PLACEHOLDER
    assert "Y2lwaGVy" not in plan_json(plan)


def test_two_evaluations_give_byte_identical_json(project):
    command = [sys.executable, "-m", "components.commands.cli", "check", "--stack", "local", "--json"]
    env = {"MODELSTACK_PROJECT_DIR": str(project.root), "PATH": "/usr/bin:/bin"}
    first = subprocess.run(command, capture_output=True, text=True, env=env, cwd=project.root)
    second = subprocess.run(command, capture_output=True, text=True, env=env, cwd=project.root)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    document = json.loads(first.stdout)
    assert document["violations"] == [] and len(document["resources"]) == 7
