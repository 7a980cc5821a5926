"""The rules of `target: aca` deploy parameters, pinned by their messages (key, rule and fix).
Stacks go through the whole config pipeline (`project.load`), as `check` does; the figures are
Azure's ("Containers in Azure Container Apps": CPU/memory pairs; "Set scaling rules": 0-1,000
replicas)."""

from __future__ import annotations

import pytest

from components.errors import ConfigError, ConfigErrors
from components.targets.aca import names

KEY = "modelstack:services.diabetes.deploy"
PAIRS = "on Azure Container Apps' consumption profile a replica's size is one of Azure's pairs: cpu_cores 0.25 to 4 in steps of 0.25, with memory_gb twice cpu_cores (0.25/0.5, 0.5/1, ... 4/8)"


def errors_of(project, deploy: dict, **services) -> list[str]:
    project.write_stack(
        "rules",
        {
            "registry": {"kind": "acr"},
            "services": {"diabetes": {"target": "aca", "deploy": deploy}, "diabetes-multi": None, **services},
        },
    )
    with pytest.raises((ConfigErrors, ConfigError)) as caught:
        project.load("rules")
    error = caught.value
    return [str(e) for e in error.errors] if isinstance(error, ConfigErrors) else [str(error)]


@pytest.mark.parametrize("cpu, memory", [(0.25, 0.5), (0.5, 1), (1.75, 3.5), (4, 8)])
def test_azures_pairs_pass(project, cpu, memory):
    project.write_stack(
        "ok",
        {
            "registry": {"kind": "acr"},
            "services": {
                "diabetes": {"target": "aca", "deploy": {"cpu_cores": cpu, "memory_gb": memory}},
                "diabetes-multi": None,
            },
        },
    )
    assert project.load("ok").services["diabetes"].deploy.memory_gb == memory


def test_the_defaults_are_a_pair_and_scale_to_zero(project):
    project.write_stack(
        "ok", {"registry": {"kind": "acr"}, "services": {"diabetes": {"target": "aca"}, "diabetes-multi": None}}
    )
    deploy = project.load("ok").services["diabetes"].deploy
    assert (
        deploy.cpu_cores,
        deploy.memory_gb,
        deploy.min_replicas,
        deploy.max_replicas,
        deploy.concurrent_requests,
    ) == (0.5, 1, 0, 10, 10)
    assert (deploy.auth_enabled, deploy.external, deploy.allow_insecure) == (True, True, False)


def test_a_cpu_azure_does_not_offer(project):
    assert errors_of(project, {"cpu_cores": 0.3}) == [
        f"{KEY}.cpu_cores: cpu_cores 0.3 is not a size Azure Container Apps offers\n"
        f"  Rule: {PAIRS}\n"
        "  Fix: set cpu_cores: 0.5 with memory_gb: 1"
    ]


def test_memory_that_does_not_go_with_the_cpu(project):
    assert errors_of(project, {"cpu_cores": 1}) == [
        f"{KEY}.memory_gb: memory_gb 1 (the default) does not go with cpu_cores 1\n"
        f"  Rule: {PAIRS}\n"
        "  Fix: set memory_gb: 2 for cpu_cores 1, or cpu_cores: 0.5 for memory_gb 1"
    ]
    assert errors_of(project, {"cpu_cores": 2, "memory_gb": 3}) == [
        f"{KEY}.memory_gb: memory_gb 3 does not go with cpu_cores 2\n"
        f"  Rule: {PAIRS}\n"
        "  Fix: set memory_gb: 4 for cpu_cores 2, or cpu_cores: 1.5 for memory_gb 3"
    ]


def test_more_than_a_replica_can_have(project):
    assert errors_of(project, {"cpu_cores": 4.25, "memory_gb": 8.5}) == [
        f"{KEY}.cpu_cores: is 4.25\n  Rule: must be at most 4\n  Fix: set {KEY}.cpu_cores to a value that is at most 4",
        f"{KEY}.memory_gb: is 8.5\n  Rule: must be at most 8\n  Fix: set {KEY}.memory_gb to a value that is at most 8",
    ]


def test_replica_bounds(project):
    assert errors_of(project, {"min_replicas": 12}) == [
        f"{KEY}.min_replicas: min_replicas (12) is greater than max_replicas (10, the default)\n"
        "  Rule: 0 <= min_replicas <= max_replicas <= 1000 (Azure Container Apps' scale limits; 0 scales to zero)\n"
        "  Fix: lower min_replicas to at most 10, or raise max_replicas to at least 12"
    ]
    assert errors_of(project, {"max_replicas": 1001}) == [
        f"{KEY}.max_replicas: is 1001\n  Rule: must be at most 1000\n  Fix: set {KEY}.max_replicas to a value that is at most 1000"
    ]
    assert errors_of(project, {"min_replicas": -1}) == [
        f"{KEY}.min_replicas: is -1\n  Rule: must be at least 0\n  Fix: set {KEY}.min_replicas to a value that is at least 0"
    ]
    assert errors_of(project, {"max_replicas": 0}) == [
        f"{KEY}.max_replicas: is 0\n  Rule: must be at least 1\n  Fix: set {KEY}.max_replicas to a value that is at least 1"
    ]


def test_an_app_name_azure_refuses(project):
    assert errors_of(project, {"app_name": "My_App"}) == [
        f"{KEY}.app_name: app_name 'My_App' is not a valid container app name\n"
        "  Rule: a container app's name is 2-32 lowercase letters, digits and '-', starting with a letter, ending with a letter or digit, without '--'\n"
        "  Fix: use e.g. 'my-app', or remove app_name to use <project>-<stack>-<service>"
    ]
    assert errors_of(project, {"app_name": "a--b"})[0].startswith(
        f"{KEY}.app_name: app_name 'a--b' is not a valid container app name"
    )
    assert errors_of(project, {"app_name": "x" * 33})[0].startswith(
        f"{KEY}.app_name: app_name '{'x' * 33}' is not a valid container app name"
    )


def test_two_services_cannot_be_one_app(project):
    assert errors_of(
        project, {"app_name": "scorer"}, **{"diabetes-multi": {"target": "aca", "deploy": {"app_name": "scorer"}}}
    ) == [
        "modelstack:services.diabetes-multi.deploy.app_name: services diabetes and diabetes-multi are both the container app 'scorer'\n"
        "  Rule: each service is a container app of its own, and names are unique in the stack's resource group\n"
        "  Fix: give diabetes-multi another app_name"
    ]


def test_keys_without_auth(project):
    (project.root / "stacks" / "Pulumi.rules.yaml").write_text(
        "config:\n  modelstack:registry:\n    kind: acr\n  modelstack:services:\n    diabetes-multi: null\n    diabetes:\n      target: aca\n"
        "      deploy:\n        auth_enabled: false\n        secondary_key:\n          secure: v1:c2FsdA==:cHJpbWFyeQ==\n"
    )
    with pytest.raises((ConfigErrors, ConfigError)) as caught:
        project.load("rules")
    assert str(caught.value) == (
        f"{KEY}.secondary_key: secondary_key is set while auth_enabled is false\n"
        "  Rule: keys authenticate requests only when auth_enabled is true\n"
        "  Fix: set auth_enabled: true, or remove secondary_key"
    )


def test_another_targets_parameter_is_named_as_such(project):
    assert errors_of(project, {"autoscale_enabled": True}) == [
        f"{KEY}.autoscale_enabled: unknown key\n"
        "  Rule: 'autoscale_enabled' is a deploy parameter of target aks and kubernetes, not of target 'aca'\n"
        "  Fix: remove 'autoscale_enabled', or change the service's target"
    ]


def test_derived_names_are_names_azure_takes():
    assert names.app_name("modelstack", "dev", "diabetes") == "modelstack-dev-diabetes"
    long = names.app_name("modelstack", "staging", "a-service-with-a-long-name")
    assert len(long) == 32 and names.valid_app_name(long) and long.startswith("modelstack-staging-a-serv-")
    assert long != names.app_name("modelstack", "staging", "a-service-with-a-long-name-2"), (
        "shortened names stay distinct"
    )
    assert names.environment_name("modelstack", "dev") == "modelstack-dev-aca"
    assert names.log_workspace_name("modelstack", "dev") == "modelstack-dev-aca-logs"
    assert names.suggested_app_name("9_Lives") == "lives"
    assert names.suggested_app_name("___") is None


def test_an_app_name_that_is_another_services_default_name(project):
    """diabetes-multi, without an app_name, is the container app modelstack-rules-diabetes-multi."""
    assert errors_of(
        project,
        {"app_name": "modelstack-rules-diabetes-multi"},
        **{"diabetes-multi": {"target": "aca"}},
    ) == [
        f"{KEY}.app_name: app_name 'modelstack-rules-diabetes-multi' is the container app service diabetes-multi gets by default (<project>-<stack>-<service>)\n"
        "  Rule: each service is a container app of its own, and names are unique in the stack's resource group\n"
        "  Fix: give diabetes another app_name, or give diabetes-multi an app_name of its own"
    ]


def test_service_tags_past_azures_limit_with_the_stacks(project):
    """Azure's 50 tags per resource: 3 of modelstack's stack tags, the service's name tag, the
    stack's own tags and the service's."""
    tags = {f"t{i}": "v" for i in range(60)}
    assert errors_of(project, {"tags": tags}) == [
        f"{KEY}.tags: the container app would carry 64 tags: 60 of the service's, with the stack's and modelstack's\n"
        "  Rule: an Azure resource has at most 50 tags; the stack's tags and modelstack's take 4 of them here\n"
        f"  Fix: keep at most 46 tags under {KEY}.tags, or fewer stack tags"
    ]
    project.write_stack(
        "rules",
        {
            "registry": {"kind": "acr"},
            "tags": {f"s{i}": "v" for i in range(10)},
            "services": {
                "diabetes": {"target": "aca", "deploy": {"tags": {f"t{i}": "v" for i in range(36)}}},
                "diabetes-multi": None,
            },
        },
    )
    project.load("rules")  # 36 + 10 + 4 = 50: at the limit
    project.write_stack(
        "rules",
        {
            "registry": {"kind": "acr"},
            "tags": {f"s{i}": "v" for i in range(10)},
            "services": {
                "diabetes": {"target": "aca", "deploy": {"tags": {f"t{i}": "v" for i in range(37)}}},
                "diabetes-multi": None,
            },
        },
    )
    with pytest.raises((ConfigErrors, ConfigError)) as caught:
        project.load("rules")
    assert "the container app would carry 51 tags" in str(caught.value)
    assert "the stack's tags and modelstack's take 14 of them here" in str(caught.value)
