"""Azure Container Apps services under the mock runtime, as `modelstack check --stack aca`
evaluates them: the exact inputs of the environment, its workspace and each container app,
written with the azure-native SDK's argument classes (an unknown or misspelt field fails where
the expectation is built); scale to zero; keys as the app's secrets only; the URIs and state from
what Container Apps reports. Ids, domains and keys come from components/targets/azure/mocks.py and components/targets/aca/mocks.py
(what Azure and the random provider would compute), never from the program."""

from __future__ import annotations

from enum import Enum
from typing import Any

import pytest
from pulumi import _types
from pulumi_azure_native import app, operationalinsights

from components.config import naming
from components.errors import ConfigError, ConfigErrors
from components.image.build_context import build_context
from components.offline import evaluate as offline
from components.offline.evaluate import evaluate_stack
from components.plan_values import SECRET_PLACEHOLDER
from components.targets.aca.mocks import MOCK_WORKSPACE_SHARED_KEY
from components.targets.azure import mocks as azure_mocks
from tests.unit.plan_helpers import SECRET, fake_digest, images_by_digest, mock_key, revealed_inputs

SUB = azure_mocks.MOCK_SUBSCRIPTION_ID


def group_id(stack: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/rg-modelstack-{stack}"


def pull_identity(stack: str) -> str:
    return f"{group_id(stack)}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/modelstack-{stack}-aci-pull"


def login_server(stack: str) -> str:
    return f"{naming.registry_name('modelstack', stack, SUB).lower()}.azurecr.io"


DOMAIN = f"mock{azure_mocks.fake_guid('aca-domain', 'modelstack-aca-aca').replace('-', '')[:8]}.westeurope.azurecontainerapps.io"
CONTAINER_APP = "azure-native:app:ContainerApp"


def wire(value: Any) -> Any:
    """An SDK argument object as the engine receives it: a map of its wire names (the SDK's own
    conversion), nested objects and enums included."""
    if _types.is_input_type(type(value)):
        return wire(_types.input_type_to_dict(value))
    if isinstance(value, dict):
        return {key: wire(item) for key, item in value.items()}
    if isinstance(value, list):
        return [wire(item) for item in value]
    if isinstance(value, Enum):
        return value.value
    return value


def secret(value: Any) -> dict[str, Any]:
    return {SECRET: value}


def tags(**extra: str) -> dict[str, str]:
    return {
        "cost-center": "ml-platform",
        "environment": "aca",
        "managed-by": "modelstack",
        "modelstack-project": "modelstack",
        "modelstack-stack": "aca",
        **extra,
    }


def image_of(project, config, service: str) -> str:
    context = build_context(project.root, service, config.services[service], config.models)
    return f"{login_server(config.stack)}/{service}@{fake_digest(context.tag)}"


def health_probe(
    kind: str,
    *,
    period_seconds: int,
    timeout_seconds: int,
    failure_threshold: int,
    initial_delay_seconds: int | None = None,
    success_threshold: int | None = None,
) -> app.ContainerAppProbeArgs:
    return app.ContainerAppProbeArgs(
        type=kind,
        http_get=app.ContainerAppProbeHttpGetArgs(path="/", port=5001, scheme="HTTP"),
        period_seconds=period_seconds,
        timeout_seconds=timeout_seconds,
        failure_threshold=failure_threshold,
        initial_delay_seconds=initial_delay_seconds,
        success_threshold=success_threshold,
    )


PROBES = [
    health_probe("Startup", initial_delay_seconds=5, period_seconds=30, timeout_seconds=2, failure_threshold=10),
    health_probe("Liveness", period_seconds=10, timeout_seconds=2, failure_threshold=3),
    health_probe("Readiness", period_seconds=5, timeout_seconds=2, success_threshold=1, failure_threshold=3),
]


def key_variables() -> list[app.EnvironmentVarArgs]:
    return [
        app.EnvironmentVarArgs(name="MODELSTACK_PRIMARY_KEY", secret_ref="primary-key"),
        app.EnvironmentVarArgs(name="MODELSTACK_SECONDARY_KEY", secret_ref="secondary-key"),
    ]


def plain_variables(auth: str = "true") -> list[app.EnvironmentVarArgs]:
    return [
        app.EnvironmentVarArgs(name="MODELSTACK_AUTH_ENABLED", value=auth),
        app.EnvironmentVarArgs(name="SCORING_TIMEOUT_MS", value="60000"),
        app.EnvironmentVarArgs(name="WORKER_COUNT", value="1"),
    ]


def expected_app(
    *,
    name: str,
    service: str,
    image: str,
    external: bool,
    cpu: float,
    memory: str,
    min_replicas: int,
    max_replicas: int,
    concurrent: int,
    secrets: list[app.SecretArgs] | None,
    variables: list[app.EnvironmentVarArgs],
    allow_insecure: bool = False,
    stack: str = "aca",
    app_tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    expected = wire(
        app.ContainerAppArgs(
            container_app_name=name,
            resource_group_name=f"rg-modelstack-{stack}",
            location="westeurope",
            environment_id=f"{group_id(stack)}/providers/Microsoft.App/managedEnvironments/modelstack-{stack}-aca",
            workload_profile_name="Consumption",
            identity=app.ManagedServiceIdentityArgs(
                type="UserAssigned", user_assigned_identities=[pull_identity(stack)]
            ),
            configuration=app.ConfigurationArgs(
                active_revisions_mode="Single",
                ingress=app.IngressArgs(
                    external=external,
                    target_port=5001,
                    transport="http",
                    allow_insecure=allow_insecure,
                    traffic=[app.TrafficWeightArgs(latest_revision=True, weight=100)],
                ),
                registries=[app.RegistryCredentialsArgs(server=login_server(stack), identity=pull_identity(stack))],
                secrets=secrets,
            ),
            template=app.TemplateArgs(
                containers=[
                    app.ContainerArgs(
                        name=service,
                        image=image,
                        resources=app.ContainerResourcesArgs(cpu=cpu, memory=memory),
                        env=variables,
                        probes=PROBES,
                    )
                ],
                scale=app.ScaleArgs(
                    min_replicas=min_replicas,
                    max_replicas=max_replicas,
                    rules=[
                        app.ScaleRuleArgs(
                            name="http-requests",
                            http=app.HttpScaleRuleArgs(metadata={"concurrentRequests": str(concurrent)}),
                        )
                    ],
                ),
            ),
            tags=app_tags if app_tags is not None else tags(**{"modelstack-service": service}),
        )
    )
    if secrets:
        # A secret anywhere in the configuration makes the whole property secret on the wire.
        expected["configuration"] = secret(expected["configuration"])
    return expected


def aca_stack(project, deploy: dict, name: str = "acatest", **more) -> str:
    project.write_stack(
        name,
        {
            "registry": {"kind": "acr"},
            "services": {"diabetes": {"target": "aca", "deploy": deploy}, "diabetes-multi": None},
            **more,
        },
    )
    return name


# --- the example stack --------------------------------------------------------------------------


def test_the_aca_stack_declares_this_tree(project):
    _, plan = evaluate_stack("aca", project.root)
    names: dict[str | None, str] = {r.urn: r.name for r in plan.resources}
    aca = sorted(
        (r.type, r.name, names.get(r.parent, "<stack>"))
        for r in plan.resources
        if ":app:" in r.type or ":aca:" in r.type or "operationalinsights" in r.type
    )
    assert aca == [
        ("azure-native:app:ContainerApp", "diabetes-aca-app", "diabetes-aca"),
        ("azure-native:app:ContainerApp", "diabetes-multi-aca-app", "diabetes-multi-aca"),
        ("azure-native:app:ManagedEnvironment", "aca-environment-environment", "aca-environment"),
        ("azure-native:operationalinsights:Workspace", "aca-environment-logs", "aca-environment"),
        ("modelstack:aca:AcaEnvironment", "aca-environment", "<stack>"),
        ("modelstack:aca:AcaWebservice", "diabetes-aca", "diabetes"),
        ("modelstack:aca:AcaWebservice", "diabetes-multi-aca", "diabetes-multi"),
    ]
    assert [r.name for r in plan.by_type("azure-native:managedidentity:UserAssignedIdentity")] == [
        "registry-pull-identity"
    ], "the platform's pull identity, made for aca"


def generated_key_secrets(service: str) -> list[app.SecretArgs]:
    """The container app's secrets: the keys the stack generated for `service`."""
    return [
        app.SecretArgs(name="primary-key", value=mock_key(f"{service}-primary-key")),
        app.SecretArgs(name="secondary-key", value=mock_key(f"{service}-secondary-key")),
    ]


def test_the_container_app_of_a_service_that_scales_to_zero(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    images_by_digest(monkeypatch)
    config, _ = evaluate_stack("aca", project.root)
    assert seen["diabetes-aca-app"] == expected_app(
        name="modelstack-aca-diabetes",
        service="diabetes",
        image=image_of(project, config, "diabetes"),
        external=True,
        cpu=0.5,
        memory="1Gi",
        min_replicas=0,
        max_replicas=5,
        concurrent=10,
        secrets=generated_key_secrets("diabetes"),
        variables=plain_variables() + key_variables(),
    )
    scale = seen["diabetes-aca-app"]["template"]["scale"]
    assert scale["minReplicas"] == 0, "min_replicas 0: no replica while idle (scale to zero)"
    assert scale["rules"] == [{"name": "http-requests", "http": {"metadata": {"concurrentRequests": "10"}}}], (
        "requests wake it: the HTTP rule"
    )
    assert seen["diabetes-aca"] == {
        "allow_insecure": False,
        "auth_enabled": True,
        "cpu_cores": 0.5,
        "external": True,
        "max_replicas": 5,
        "memory_gb": 1,
        "min_replicas": 0,
        "properties": {},
    }


def test_a_warm_internal_service(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    images_by_digest(monkeypatch)
    config, _ = evaluate_stack("aca", project.root)
    assert seen["diabetes-multi-aca-app"] == expected_app(
        name="modelstack-aca-diabetes-multi",
        service="diabetes-multi",
        image=image_of(project, config, "diabetes-multi"),
        external=False,
        cpu=1,
        memory="2Gi",
        min_replicas=1,
        max_replicas=3,
        concurrent=10,
        secrets=generated_key_secrets("diabetes-multi"),
        variables=plain_variables() + key_variables(),
    )


def test_the_environment_and_its_workspace_are_declared_once(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    _, plan = evaluate_stack("aca", project.root)
    assert (
        len(plan.by_type("azure-native:app:ManagedEnvironment")) == 1
        and len(plan.by_type("azure-native:operationalinsights:Workspace")) == 1
    )
    assert seen["aca-environment-logs"] == wire(
        operationalinsights.WorkspaceArgs(
            workspace_name="modelstack-aca-aca-logs",
            resource_group_name="rg-modelstack-aca",
            location="westeurope",
            sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
            retention_in_days=30,
            tags=tags(),
        )
    )
    environment = wire(
        app.ManagedEnvironmentArgs(
            environment_name="modelstack-aca-aca",
            resource_group_name="rg-modelstack-aca",
            location="westeurope",
            app_logs_configuration=app.AppLogsConfigurationArgs(
                destination="log-analytics",
                log_analytics_configuration=app.LogAnalyticsConfigurationArgs(
                    customer_id=azure_mocks.fake_guid("workspace", "modelstack-aca-aca-logs"),
                    shared_key=MOCK_WORKSPACE_SHARED_KEY,
                ),
            ),
            workload_profiles=[app.WorkloadProfileArgs(name="Consumption", workload_profile_type="Consumption")],
            tags=tags(),
        )
    )
    environment["appLogsConfiguration"] = secret(environment["appLogsConfiguration"])  # the workspace's shared key
    assert seen["aca-environment-environment"] == environment


def test_outputs_come_from_what_container_apps_reports(project, monkeypatch):
    images_by_digest(monkeypatch)
    config, plan = evaluate_stack("aca", project.root)
    services = plan.outputs["services"]
    assert services["diabetes"] == {
        "image": image_of(project, config, "diabetes"),
        "model_versions": build_context(
            project.root, "diabetes", config.services["diabetes"], config.models
        ).model_versions,
        "scoring_uri": f"https://modelstack-aca-diabetes.{DOMAIN}/score",
        "state": "Healthy",
        "swagger_uri": f"https://modelstack-aca-diabetes.{DOMAIN}/swagger.json",
    }
    assert (
        services["diabetes-multi"]["scoring_uri"] == f"https://modelstack-aca-diabetes-multi.internal.{DOMAIN}/score"
    ), "internal ingress: the environment's internal name"


def test_keys_are_the_apps_secrets_and_never_plain(project):
    _, plan = evaluate_stack("aca", project.root)
    text = offline.plan_json(plan)
    for resource in (
        "diabetes-primary-key",
        "diabetes-secondary-key",
        "diabetes-multi-primary-key",
        "diabetes-multi-secondary-key",
    ):
        assert mock_key(resource) not in text
    assert MOCK_WORKSPACE_SHARED_KEY not in text
    application = plan.named("diabetes-aca-app").inputs
    assert application["configuration"] == SECRET_PLACEHOLDER, "the configuration holding the secrets is masked"
    variables = application["template"]["containers"][0]["env"]
    assert [v for v in variables if "KEY" in v["name"]] == [
        {"name": "MODELSTACK_PRIMARY_KEY", "secretRef": "primary-key"},
        {"name": "MODELSTACK_SECONDARY_KEY", "secretRef": "secondary-key"},
    ]
    assert plan.outputs["service_keys"] == SECRET_PLACEHOLDER, "keys are a secret output of their own"
    assert SECRET_PLACEHOLDER not in str(plan.outputs["services"]), "the services output stays readable"


def test_configured_keys_are_used_and_none_generated(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    (project.root / "stacks" / "Pulumi.acakeys.yaml").write_text(
        "config:\n  modelstack:registry:\n    kind: acr\n  modelstack:services:\n    diabetes-multi: null\n    diabetes:\n      target: aca\n"
        "      deploy:\n        primary_key:\n          secure: v1:c2FsdA==:cHJpbWFyeQ==\n"
    )
    _, plan = evaluate_stack("acakeys", project.root)
    # Offline, a configured secret stays encrypted: the program receives its placeholder.
    assert seen["diabetes-aca-app"]["configuration"][SECRET]["secrets"] == [
        {"name": "primary-key", "value": "[secret]"},
        {"name": "secondary-key", "value": mock_key("diabetes-secondary-key")},
    ]
    assert [r.name for r in plan.by_type("random:index/randomPassword:RandomPassword")] == ["diabetes-secondary-key"]


def test_auth_off_has_no_keys_and_says_so(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    images_by_digest(monkeypatch)
    config, plan = evaluate_stack(
        aca_stack(
            project,
            {
                "auth_enabled": False,
                "allow_insecure": True,
                "min_replicas": 2,
                "max_replicas": 4,
                "concurrent_requests": 25,
                "cpu_cores": 2,
                "memory_gb": 4,
                "app_name": "scorer",
                "tags": {"team": "ml"},
            },
        ),
        project.root,
    )
    expected = expected_app(
        name="scorer",
        service="diabetes",
        image=image_of(project, config, "diabetes"),
        external=True,
        cpu=2,
        memory="4Gi",
        min_replicas=2,
        max_replicas=4,
        concurrent=25,
        secrets=None,
        variables=plain_variables("false"),
        allow_insecure=True,
        stack="acatest",
        app_tags={
            "managed-by": "modelstack",
            "modelstack-project": "modelstack",
            "modelstack-service": "diabetes",
            "modelstack-stack": "acatest",
            "team": "ml",
        },
    )
    assert seen["diabetes-aca-app"] == expected
    assert not plan.by_type("random:index/randomPassword:RandomPassword")
    assert "service_keys" not in plan.outputs


def test_a_stack_without_aca_services_has_no_environment(project):
    _, plan = evaluate_stack("dev", project.root)
    assert not plan.by_type("azure-native:app:ManagedEnvironment") and not plan.by_type(CONTAINER_APP)
    assert [r.name for r in plan.by_type("azure-native:operationalinsights:Workspace")] == []


def test_a_local_registry_is_refused_with_the_key_and_the_fix(project):
    project.write_stack(
        "acalocal", {"registry": {"kind": "local"}, "services": {"diabetes": {"target": "aca"}, "diabetes-multi": None}}
    )
    with pytest.raises((ConfigErrors, ConfigError)) as caught:
        project.load("acalocal")
    message = str(caught.value)
    assert "modelstack:services.diabetes.target: target is aca but the stack's registry is kind: local" in message
    assert "Azure Container Apps" in message and "Fix: set modelstack:registry to kind: acr" in message
