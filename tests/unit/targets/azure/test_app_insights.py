"""enable_app_insights under the mock runtime: the exact inputs of the Log Analytics workspace and
the Application Insights component the stack creates, the connection string reaching each
service as a secret only (ACI secure variable, a key of the AKS service's Secret), an existing
resource used by its connection string, and the rules."""

from __future__ import annotations

import pytest

from components.offline import evaluate as offline
from components.offline.evaluate import evaluate_stack
from components.plan_values import SECRET_PLACEHOLDER
from components.targets.azure.mocks import MOCK_SUBSCRIPTION_ID, fake_guid
from tests.unit.plan_helpers import SECRET, revealed_inputs

TAGS = {
    "cost-center": "ml-platform",
    "environment": "dev",
    "managed-by": "modelstack",
    "modelstack-project": "modelstack",
    "modelstack-stack": "dev",
}
GROUP_ID = f"/subscriptions/{MOCK_SUBSCRIPTION_ID}/resourceGroups/rg-modelstack-dev"
KEY = fake_guid("instrumentation-key", "modelstack-dev-insights")
CONNECTION_STRING = f"InstrumentationKey={KEY};IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/;LiveEndpoint=https://westeurope.livediagnostics.monitor.azure.com/"


def dev_with_insights(project, *, multi: dict | None = None, app_insights: dict | None = None) -> None:
    aci = {"auth_enabled": True, "cpu_cores": 0.5, "memory_gb": 1}
    config = {
        "location": "westeurope",
        "tags": {"environment": "dev", "cost-center": "ml-platform"},
        "registry": {"kind": "acr", "sku": "Basic"},
        "services": {
            "diabetes": {"target": "aci", "deploy": {**aci, "enable_app_insights": True}},
            "diabetes-multi": {"target": "aci", "deploy": multi or aci},
        },
    }
    if app_insights is not None:
        config["app_insights"] = app_insights
    project.write_stack("dev", config)


def test_the_stack_creates_a_workspace_based_component(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    dev_with_insights(project)
    _, plan = evaluate_stack("dev", project.root)
    assert seen["app-insights-logs"] == {
        "location": "westeurope",
        "resourceGroupName": "rg-modelstack-dev",
        "retentionInDays": 90,
        "sku": {"name": "PerGB2018"},
        "tags": TAGS,
        "workspaceName": "modelstack-dev-logs",
    }
    assert seen["app-insights-component"] == {
        "applicationType": "web",
        "ingestionMode": "LogAnalytics",
        "kind": "web",
        "location": "westeurope",
        # the SDK's defaults, sent as they are
        "flowType": "Bluefield",
        "publicNetworkAccessForIngestion": "Enabled",
        "publicNetworkAccessForQuery": "Enabled",
        "requestSource": "rest",
        "resourceGroupName": "rg-modelstack-dev",
        "resourceName": "modelstack-dev-insights",
        "retentionInDays": 90,
        "tags": TAGS,
        "workspaceResourceId": f"{GROUP_ID}/providers/Microsoft.OperationalInsights/workspaces/modelstack-dev-logs",
    }
    # The containers hold secrets, so the whole list is one (its items are shown unmarked).
    containers = {name: seen[f"{name}-group"]["containers"][SECRET][0] for name in ("diabetes", "diabetes-multi")}
    insights = [
        v
        for v in containers["diabetes"]["environmentVariables"]
        if v["name"] == "MODELSTACK_APP_INSIGHTS_CONNECTION_STRING"
    ]
    assert insights == [{"name": "MODELSTACK_APP_INSIGHTS_CONNECTION_STRING", "secureValue": CONNECTION_STRING}]
    assert not [v for v in containers["diabetes-multi"]["environmentVariables"] if "APP_INSIGHTS" in v["name"]], (
        "only the service that asked for it"
    )
    assert KEY not in offline.plan_json(plan), "the connection string is a secret in the plan"


def test_an_existing_resource_is_used_by_its_connection_string(project, monkeypatch):
    from pydantic import SecretStr

    from components.config.schema import AppInsightsSpec

    seen = revealed_inputs(monkeypatch)
    dev_with_insights(project)
    existing = "InstrumentationKey=11111111-2222-3333-4444-555555555555;IngestionEndpoint=https://northeurope-2.in.applicationinsights.azure.com/"
    # The config as the engine hands it over, the secret decrypted.
    config = project.load("dev").model_copy(
        update={"app_insights": AppInsightsSpec(connection_string=SecretStr(existing))}
    )
    plan = offline.evaluate(config)
    assert not plan.by_type("azure-native:applicationinsights:Component") and not plan.by_type(
        "azure-native:operationalinsights:Workspace"
    )
    variables = seen["diabetes-group"]["containers"][SECRET][0]["environmentVariables"]
    assert {"name": "MODELSTACK_APP_INSIGHTS_CONNECTION_STRING", "secureValue": existing} in variables
    assert "11111111-2222" not in offline.plan_json(plan)


def test_aks_services_read_it_from_their_secret(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    project.write_stack(
        "insights",
        {
            "registry": {"kind": "acr"},
            "clusters": {"aks-ml": {"cluster_purpose": "DevTest", "agent_count": 1, "vm_size": "Standard_D4s_v5"}},
            "services": {
                "diabetes": {
                    "target": "aks",
                    "compute": "aks-ml",
                    "deploy": {"enable_app_insights": True, "auth_enabled": False, "num_replicas": 1},
                },
                "diabetes-multi": None,
            },
        },
    )
    _, plan = evaluate_stack("insights", project.root)
    key = fake_guid("instrumentation-key", "modelstack-insights-insights")
    assert seen["diabetes-keys"]["stringData"] == {
        SECRET: {
            "app_insights_connection_string": f"InstrumentationKey={key};IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/;LiveEndpoint=https://westeurope.livediagnostics.monitor.azure.com/"
        }
    }
    assert plan.named("diabetes-keys").inputs["stringData"] == SECRET_PLACEHOLDER
    container = seen["diabetes-deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert {
        "name": "MODELSTACK_APP_INSIGHTS_CONNECTION_STRING",
        "valueFrom": {"secretKeyRef": {"key": "app_insights_connection_string", "name": "diabetes-keys"}},
    } in container["env"]
    assert "volumes" not in seen["diabetes-deployment"]["spec"]["template"]["spec"], (
        "auth off: nothing mounted; the connection string is an environment variable"
    )


def test_without_enable_app_insights_nothing_is_created(project):
    _, plan = evaluate_stack("dev", project.root)
    assert not plan.by_type("azure-native:applicationinsights:Component")
    assert "APP_INSIGHTS" not in offline.plan_json(plan)


@pytest.mark.parametrize(
    "service, message",
    [
        (
            {
                "target": "aci",
                "scoring_server": "azmlinfsrv",
                "deploy": {"auth_enabled": True, "enable_app_insights": True},
            },
            "modelstack:services.diabetes.deploy.enable_app_insights: enable_app_insights with scoring_server: azmlinfsrv",
        ),
    ],
    ids=["azmlinfsrv"],
)
def test_app_insights_that_cannot_work_is_refused(project, service, message):
    from components.errors import ConfigErrors

    project.write_stack("dev", {"registry": {"kind": "acr"}, "services": {"diabetes": service, "diabetes-multi": None}})
    with pytest.raises(ConfigErrors) as caught:
        project.load("dev")
    assert message in [str(e).split("\n")[0] for e in caught.value.errors]


def test_a_plain_text_connection_string_is_refused(project):
    from components.errors import ConfigErrors

    dev_with_insights(project, app_insights={"connection_string": "InstrumentationKey=abc"})
    with pytest.raises(ConfigErrors) as caught:
        project.load("dev")
    assert [e.key for e in caught.value.errors] == ["modelstack:app_insights.connection_string"]
