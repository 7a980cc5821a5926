"""What the stack tells the scoring server about its metrics and its version, through the image
contract's variables: `metrics_auth: false` opens /metrics (MODELSTACK_METRICS_AUTH), and a
declared rollout version is named to the containers that serve it (MODELSTACK_VERSION). The
server's side of both: tests/server/test_metrics.py."""

from __future__ import annotations

from pulumi_azure_native import app

from components.config.rollout import RolloutVersion
from components.targets.aca.container_app import plain_environment
from components.targets.aca.schema import AcaDeploy
from components.targets.aci.schema import AciDeploy
from components.targets.aci.webservice import container_environment
from components.targets.kubernetes.schema import AksDeploy
from components.targets.kubernetes.webservice import server_environment
from modelstack_server import contract

IMPLICIT = RolloutVersion("diabetes", ("diabetes-ridge",), 100.0, True, True, declared=False)
GREEN = RolloutVersion("green", ("diabetes-lasso",), 10.0, False, False, declared=True)


def variables(listed: list[dict]) -> dict[str, str]:
    return {variable["name"]: variable["value"] for variable in listed if "value" in variable}


def test_the_contract_names_the_variables():
    assert (
        contract.METRICS_AUTH_ENV,
        contract.ROLLOUT_VERSION_ENV,
        contract.METRICS_ROUTE,
        contract.VERSION_HEADER,
    ) == (
        "MODELSTACK_METRICS_AUTH",
        "MODELSTACK_VERSION",
        "/metrics",
        "x-modelstack-version",
    )


def test_metrics_stay_protected_unless_the_stack_opens_them_on_kubernetes():
    assert "MODELSTACK_METRICS_AUTH" not in variables(server_environment("diabetes", IMPLICIT, AksDeploy()))
    opened = variables(server_environment("diabetes", IMPLICIT, AksDeploy(metrics_auth=False)))
    assert opened["MODELSTACK_METRICS_AUTH"] == "false" and opened["MODELSTACK_AUTH_ENABLED"] == "true"


def test_metrics_stay_protected_unless_the_stack_opens_them_on_aci():
    assert "MODELSTACK_METRICS_AUTH" not in container_environment(AciDeploy(auth_enabled=True))
    assert container_environment(AciDeploy(auth_enabled=True, metrics_auth=False))["MODELSTACK_METRICS_AUTH"] == "false"


def test_metrics_stay_protected_unless_the_stack_opens_them_on_aca():
    def names(deploy: AcaDeploy) -> dict[str, str | None]:
        listed: list[app.EnvironmentVarArgs] = plain_environment(deploy)
        return {str(v.name): v.value for v in listed}  # type: ignore[misc]

    assert "MODELSTACK_METRICS_AUTH" not in names(AcaDeploy())
    assert names(AcaDeploy(metrics_auth=False))["MODELSTACK_METRICS_AUTH"] == "false"


def test_a_declared_version_is_named_to_its_containers():
    assert variables(server_environment("diabetes", GREEN, AksDeploy()))["MODELSTACK_VERSION"] == "green"
    # without declared versions the server names the service (SERVICE_NAME, set in the image)
    assert "MODELSTACK_VERSION" not in variables(server_environment("diabetes", IMPLICIT, AksDeploy()))
