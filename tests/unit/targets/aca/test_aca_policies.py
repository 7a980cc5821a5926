"""aca's guardrails: no plain-HTTP ingress in production, judged on the container app's inputs
(directly, and through `modelstack check` where the keys make the app's configuration secret as
a whole), and authentication required, judged by webservice-auth-enabled on aca's facts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from components.policy.rules import POLICIES
from components.policy.types import Resource
from components.targets.aca.policies import no_plain_http_in_production, stack_of

CONTAINER_APP = "azure-native:app:ContainerApp"
PARAMS = {"production_stacks": ["prod"]}


def container_app(stack: str, allow_insecure) -> Resource:
    urn = f"urn:pulumi:{stack}::modelstack::modelstack:webservice:Webservice$modelstack:aca:AcaWebservice${CONTAINER_APP}::diabetes-aca-app"
    ingress = {"external": True, "targetPort": 5001} | (
        {} if allow_insecure is None else {"allowInsecure": allow_insecure}
    )
    return Resource(urn, CONTAINER_APP, "diabetes-aca-app", {"configuration": {"ingress": ingress}})


def test_plain_http_in_production_is_refused():
    message = no_plain_http_in_production(container_app("prod", True), PARAMS)
    assert message == (
        "container app diabetes-aca-app in stack prod accepts plain HTTP (ingress allowInsecure); production endpoints are HTTPS only, "
        "so keys and payloads never cross the network in clear text. Remove allow_insecure from the service's deploy settings "
        "(Container Apps then redirects HTTP to HTTPS)."
    )


@pytest.mark.parametrize(
    "stack, allow_insecure", [("prod", False), ("prod", None), ("dev", True), ("staging", True), ("prod", "[computed]")]
)
def test_silent_otherwise(stack, allow_insecure):
    assert no_plain_http_in_production(container_app(stack, allow_insecure), PARAMS) is None


def test_other_resources_and_masked_configurations_are_not_judged():
    urn = "urn:pulumi:prod::modelstack::azure-native:containerinstance:ContainerGroup::g"
    assert (
        no_plain_http_in_production(
            Resource(
                urn,
                "azure-native:containerinstance:ContainerGroup",
                "g",
                {"configuration": {"ingress": {"allowInsecure": True}}},
            ),
            PARAMS,
        )
        is None
    )
    assert (
        no_plain_http_in_production(
            Resource(container_app("prod", True).urn, CONTAINER_APP, "a", {"configuration": "[secret]"}), PARAMS
        )
        is None
    )
    assert stack_of("urn:pulumi:prod::modelstack::pulumi:pulumi:Stack::modelstack-prod") == "prod"
    assert stack_of("not-a-urn") is None


def test_the_policy_is_judged_with_every_other():
    policy = next(p for p in POLICIES if p.name == "aca-no-plain-http-in-production")
    assert (policy.enforcement, policy.parameters) == ("mandatory", {"production_stacks": ["prod"]})


# --- through `modelstack check` -------------------------------------------------------------------


def modelstack(project, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "components.commands.cli", *args],
        capture_output=True,
        text=True,
        cwd=project.root,
        env={"MODELSTACK_PROJECT_DIR": str(project.root), "PATH": "/usr/bin:/bin"},
    )


def violations(project, stack: str, deploy: dict) -> tuple[int, list[dict]]:
    project.write_stack(
        stack,
        {
            "tags": {"environment": stack},
            "registry": {"kind": "acr"},
            "services": {"diabetes": {"target": "aca", "deploy": deploy}, "diabetes-multi": None},
        },
    )
    result = modelstack(project, "check", "--stack", stack, "--json")
    assert "Traceback" not in result.stderr
    return result.returncode, [v for v in json.loads(result.stdout)["violations"] if v["enforcement"] == "mandatory"]


def test_check_refuses_plain_http_in_prod_although_the_keys_mask_the_configuration(project):
    code, found = violations(project, "prod", {"allow_insecure": True})
    assert code == 1
    assert [(v["policy"], v["resource"].rsplit("::", 1)[-1]) for v in found] == [
        ("aca-no-plain-http-in-production", "diabetes-aca-app")
    ]


def test_check_passes_https_only_in_prod_and_plain_http_elsewhere(project):
    assert violations(project, "prod", {}) == (0, [])
    assert violations(project, "dev", {"allow_insecure": True}) == (0, [])


def test_check_requires_authentication_of_an_aca_service(project):
    code, found = violations(project, "dev", {"auth_enabled": False})
    assert code == 1
    assert [(v["policy"], v["resource"].rsplit("::", 1)[-1]) for v in found] == [
        ("webservice-auth-enabled", "diabetes")
    ]
    assert found[0]["message"].startswith("service diabetes (aca) has authentication off")


def test_the_core_policies_judge_what_only_aca_declares():
    """required-tags and images-pinned-by-digest know a container app's tags and images because
    the target says where they are (tagged_types, deployed_images)."""
    from components.policy.rules import images_pinned_by_digest, required_tags

    urn = f"urn:pulumi:prod::modelstack::{CONTAINER_APP}::diabetes-aca-app"
    app = Resource(
        urn,
        CONTAINER_APP,
        "diabetes-aca-app",
        {"tags": {"environment": "prod"}, "template": {"containers": [{"image": "registry.example/diabetes:latest"}]}},
    )
    assert required_tags(app, {"required_tags": ["environment", "managed-by"]}) == (
        "diabetes-aca-app lacks the required tag(s) managed-by; add them under modelstack:tags in the stack file "
        "(they are merged onto every resource)."
    )
    assert "'registry.example/diabetes:latest', not pinned by digest" in (images_pinned_by_digest(app, {}) or "")
    pinned = Resource(
        urn, CONTAINER_APP, "diabetes-aca-app", {"template": {"containers": [{"image": "r/d@sha256:" + "0" * 64}]}}
    )
    assert images_pinned_by_digest(pinned, {}) is None
    environment = Resource(urn, "azure-native:app:ManagedEnvironment", "aca-environment-environment", {"tags": {}})
    assert "lacks the required tag(s) environment, managed-by" in (
        required_tags(environment, {"required_tags": ["environment", "managed-by"]}) or ""
    )
