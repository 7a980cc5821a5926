"""ACI webservices under the mock runtime: the exact inputs of the container group for the dev
stack, keys kept secret end to end, SSL, vnet, and the state and URIs from what ACI reports."""

from __future__ import annotations

import pytest

from components.config.schema import AciDeploy
from components.image.build_context import build_context
from components.offline import evaluate as offline
from components.offline.evaluate import evaluate_stack
from components.plan_values import SECRET_PLACEHOLDER
from components.targets.aci.webservice import endpoint_host, endpoint_uris
from components.targets.azure import mocks as azure_mocks
from components.targets.states import aci_state
from tests.unit.plan_helpers import SECRET, fake_digest, images_by_digest, mock_key, parent_of, revealed_inputs

SUB = azure_mocks.MOCK_SUBSCRIPTION_ID
PULL_IDENTITY = f"/subscriptions/{SUB}/resourceGroups/rg-modelstack-dev/providers/Microsoft.ManagedIdentity/userAssignedIdentities/modelstack-dev-aci-pull"
LOGIN_SERVER = "modelstackdev3ee9a8d2.azurecr.io"


def probe(delay: int, period: int, scheme: str = "http") -> dict:
    return {
        "failureThreshold": 3,
        "httpGet": {"path": "/", "port": 5001, "scheme": scheme},
        "initialDelaySeconds": delay,
        "periodSeconds": period,
        "successThreshold": 1,
        "timeoutSeconds": 2,
    }


def image_of(project, config, service: str) -> str:
    context = build_context(project.root, service, config.services[service], config.models)
    return f"{LOGIN_SERVER}/{service}@{fake_digest(context.tag)}"


def test_dev_container_group_runs_the_built_image_with_the_generated_keys(project, monkeypatch):
    """The dev stack's container groups are pinned, field by field, by tests/golden/webservices-dev.json
    (tests/unit/test_webservice_snapshots.py), where digests are placeholders. Here: what they stand
    for, that the keys are the ones the stack generated, and where the group sits."""
    seen = revealed_inputs(monkeypatch)
    images_by_digest(monkeypatch)
    config, plan = evaluate_stack("dev", project.root)
    # A secure value anywhere in the containers makes the whole property secret on the wire.
    (container,) = seen["diabetes-group"]["containers"][SECRET]
    assert container["image"] == image_of(project, config, "diabetes")
    secure = {v["name"]: v["secureValue"] for v in container["environmentVariables"] if "secureValue" in v}
    assert secure == {
        "MODELSTACK_PRIMARY_KEY": mock_key("diabetes-primary-key"),
        "MODELSTACK_SECONDARY_KEY": mock_key("diabetes-secondary-key"),
    }
    assert seen["diabetes-group"]["imageRegistryCredentials"] == [{"identity": PULL_IDENTITY, "server": LOGIN_SERVER}]
    assert parent_of(plan, "diabetes-group").endswith("modelstack:aci:AciWebservice$modelstack:aci:AciGroup::diabetes")


def test_dev_outputs_come_from_what_aci_reports(project, monkeypatch):
    images_by_digest(monkeypatch)
    config, plan = evaluate_stack("dev", project.root)
    diabetes = plan.outputs["services"]["diabetes"]
    context = build_context(project.root, "diabetes", config.services["diabetes"], config.models)
    fqdn = f"diabetes-dev.{azure_mocks.fake_guid('dns', 'diabetes-group')[:6]}.westeurope.azurecontainer.io"
    assert diabetes == {
        "image": image_of(project, config, "diabetes"),
        "model_versions": context.model_versions,
        "scoring_uri": f"http://{fqdn}:5001/score",
        "state": "Healthy",
        "swagger_uri": f"http://{fqdn}:5001/swagger.json",
    }


def test_keys_never_appear_in_the_plan(project):
    _, plan = evaluate_stack("dev", project.root)
    text = offline.plan_json(plan)
    assert mock_key("diabetes-primary-key") not in text and mock_key("diabetes-secondary-key") not in text
    assert plan.named("diabetes-group").inputs["containers"] == SECRET_PLACEHOLDER
    assert plan.outputs["service_keys"] == SECRET_PLACEHOLDER, "keys are a secret output of their own"
    assert "service_keys" not in plan.outputs["services"]["diabetes"], "the services output stays readable"


def aci_stack(project, deploy: dict, name: str = "aci") -> str:
    project.write_stack(
        name,
        {
            "registry": {"kind": "acr"},
            "services": {"diabetes": {"target": "aci", "deploy": deploy}, "diabetes-multi": None},
        },
    )
    return name


def test_auth_off_has_no_keys(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    _, plan = evaluate_stack(aci_stack(project, {}), project.root)  # ACI's default: auth_enabled false
    container = seen["diabetes-group"]["containers"][0]
    # ACI's deploy_configuration has no concurrency or timeout: Azure ML's defaults, explicitly
    assert container["environmentVariables"] == [
        {"name": "MODELSTACK_AUTH_ENABLED", "value": "false"},
        {"name": "SCORING_TIMEOUT_MS", "value": "60000"},
        {"name": "WORKER_COUNT", "value": "1"},
    ]
    assert not plan.by_type("random:index/randomPassword:RandomPassword")
    assert "service_keys" not in plan.outputs


def test_configured_keys_are_used_and_none_generated(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    (project.root / "stacks" / "Pulumi.keys.yaml").write_text(
        "config:\n  modelstack:registry:\n    kind: acr\n  modelstack:services:\n    diabetes-multi: null\n    diabetes:\n      target: aci\n"
        "      deploy:\n        auth_enabled: true\n        primary_key:\n          secure: v1:c2FsdA==:cHJpbWFyeQ==\n"
    )
    _, plan = evaluate_stack("keys", project.root)
    variables = seen["diabetes-group"]["containers"][SECRET][0]["environmentVariables"]
    # Offline, a configured secret stays encrypted: the program receives its placeholder.
    assert {"name": "MODELSTACK_PRIMARY_KEY", "secureValue": "[secret]"} in variables
    assert [r.name for r in plan.by_type("random:index/randomPassword:RandomPassword")] == ["diabetes-secondary-key"]


def test_ssl_serves_https_with_the_certificate_as_a_secret(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    (project.root / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n")
    (project.root / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\nprivate-key-bytes\n-----END PRIVATE KEY-----\n")
    deploy = {
        "auth_enabled": True,
        "ssl_enabled": True,
        "ssl_cert_pem_file": "cert.pem",
        "ssl_key_pem_file": "key.pem",
        "ssl_cname": "ml.example.com",
        "dns_name_label": "diabetes-ssl",
    }
    _, plan = evaluate_stack(aci_stack(project, deploy), project.root)
    container = seen["diabetes-group"]["containers"][SECRET][0]
    variables = {v["name"]: v.get("value", v.get("secureValue")) for v in container["environmentVariables"]}
    assert variables["MODELSTACK_TLS_CERT"].startswith("-----BEGIN CERTIFICATE-----")
    assert "private-key-bytes" in variables["MODELSTACK_TLS_KEY"]
    assert container["livenessProbe"] == probe(310, 10, "https") and container["readinessProbe"] == probe(5, 5, "https")
    assert "private-key-bytes" not in offline.plan_json(plan)
    assert plan.outputs["services"]["diabetes"]["scoring_uri"] == "https://ml.example.com:5001/score"


def test_vnet_gives_a_private_group_in_that_subnet(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    _, plan = evaluate_stack(
        aci_stack(
            project, {"vnet_name": "vnet-ml", "subnet_name": "aci", "location": "northeurope", "tags": {"team": "ml"}}
        ),
        project.root,
    )
    group = seen["diabetes-group"]
    assert group["subnetIds"] == [
        {
            "id": f"/subscriptions/{SUB}/resourceGroups/rg-modelstack-aci/providers/Microsoft.Network/virtualNetworks/vnet-ml/subnets/aci"
        }
    ]
    assert group["ipAddress"] == {"ports": [{"port": 5001, "protocol": "TCP"}], "type": "Private"}
    assert group["location"] == "northeurope" and group["tags"]["team"] == "ml"
    assert plan.outputs["services"]["diabetes"]["scoring_uri"] == "http://10.0.0.4:5001/score"


def test_cors_origins_reach_the_container(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    evaluate_stack(
        aci_stack(project, {"access_control_allow_origins": ["https://app.example.com", "https://admin.example.com"]}),
        project.root,
    )
    assert {"name": "MODELSTACK_CORS_ORIGINS", "value": "https://app.example.com,https://admin.example.com"} in seen[
        "diabetes-group"
    ]["containers"][0]["environmentVariables"]


@pytest.mark.parametrize(
    "provisioning, instance, state",
    [
        ("Succeeded", "Running", "Healthy"),
        ("Creating", None, "Transitioning"),
        ("Succeeded", "Pending", "Transitioning"),
        ("Updating", "Running", "Transitioning"),
        ("Succeeded", "Stopped", "Unhealthy"),
        ("Failed", "Running", "Failed"),
        ("Succeeded", "Failed", "Failed"),
    ],
)
def test_aci_states_in_azure_ml_terms(provisioning, instance, state):
    assert aci_state(provisioning, instance) == state


def test_endpoint_uris():
    plain = AciDeploy()
    assert endpoint_uris(plain, endpoint_host(plain, "x.westeurope.azurecontainer.io", "20.0.0.1")) == {
        "scoring_uri": "http://x.westeurope.azurecontainer.io:5001/score",
        "swagger_uri": "http://x.westeurope.azurecontainer.io:5001/swagger.json",
    }
    assert endpoint_uris(plain, endpoint_host(plain, None, "10.0.0.4"))["scoring_uri"] == "http://10.0.0.4:5001/score"
    assert endpoint_uris(plain, None) == {"scoring_uri": None, "swagger_uri": None}
