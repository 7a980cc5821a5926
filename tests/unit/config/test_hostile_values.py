"""Values of the wrong type or out of range: booleans are not numbers, numbers are finite and
bounded by what the target accepts, and a secret's value is never echoed in an error."""

from __future__ import annotations

import pytest

from components.errors import ConfigError, ConfigErrors


def errors_of(project, stack_config: dict) -> list[str]:
    project.write_stack("local", stack_config)
    with pytest.raises((ConfigErrors, ConfigError)) as caught:
        project.load("local")
    error = caught.value
    return [str(e) for e in error.errors] if isinstance(error, ConfigErrors) else [str(error)]


def deploy_errors(project, target: str, deploy: dict) -> list[str]:
    extra = (
        {"clusters": {"c": {"cluster_purpose": "DevTest", "agent_count": 1, "vm_size": "Standard_D2s_v5"}}}
        if target == "aks"
        else {}
    )
    service = {"target": target, "deploy": deploy, **({"compute": "c"} if target == "aks" else {})}
    return errors_of(project, {"registry": {"kind": "acr"}, **extra, "services": {"diabetes": service}})


@pytest.mark.parametrize(
    "target, field, value",
    [
        ("aci", "cpu_cores", True),
        ("aci", "memory_gb", False),
        ("aks", "cpu_cores", True),
        ("aks", "num_replicas", True),
        ("aks", "scoring_timeout_ms", False),
        ("local", "port", True),
    ],
)
def test_a_boolean_is_not_a_number(project, target, field, value):
    shown = "True" if value else "False"
    assert deploy_errors(project, target, {field: value}) == [
        f"modelstack:services.diabetes.deploy.{field}: is {shown}\n"
        "  Rule: a number is a number: true and false are not numbers\n"
        f"  Fix: set modelstack:services.diabetes.deploy.{field} to a number (without quotes)"
    ]


@pytest.mark.parametrize(
    "config, key",
    [
        ({"clusters": {"c": {"agent_count": True}}}, "clusters.c.agent_count"),
        ({"registry": {"kind": "local", "port": True}}, "registry.port"),
    ],
)
def test_a_boolean_is_not_a_number_outside_deploy_either(project, config, key):
    assert f"modelstack:{key}: is True\n  Rule: a number is a number: true and false are not numbers" in "\n".join(
        errors_of(project, config)
    )


@pytest.mark.parametrize(
    "target, field, value, shown",
    [
        ("aci", "cpu_cores", float("nan"), "nan"),
        ("aci", "memory_gb", float("inf"), "inf"),
        ("aks", "cpu_cores_limit", float("-inf"), "-inf"),
        ("aks", "memory_gb", float("nan"), "nan"),
    ],
)
def test_numbers_are_finite(project, target, field, value, shown):
    assert deploy_errors(project, target, {field: value}) == [
        f"modelstack:services.diabetes.deploy.{field}: is {shown}\n"
        "  Rule: numbers are finite: nan and inf are not accepted\n"
        f"  Fix: set modelstack:services.diabetes.deploy.{field} to a finite number"
    ]


def test_nan_written_in_yaml_is_refused(project):
    (project.root / "stacks" / "Pulumi.local.yaml").write_text(
        "config:\n  modelstack:registry: {kind: acr}\n  modelstack:services:\n    diabetes:\n      target: aci\n      deploy:\n        cpu_cores: .nan\n        memory_gb: .inf\n"
    )
    with pytest.raises(ConfigErrors) as caught:
        project.load("local")
    text = str(caught.value)
    assert "deploy.cpu_cores: is nan\n  Rule: numbers are finite" in text
    assert "deploy.memory_gb: is inf\n  Rule: numbers are finite" in text


@pytest.mark.parametrize(
    "target, field, value, bound",
    [
        ("aci", "cpu_cores", 5, "must be at most 4"),
        ("aci", "memory_gb", 16.5, "must be at most 16"),
        ("aks", "cpu_cores", 1000, "must be at most 416"),
        ("aks", "memory_gb", 20000, "must be at most 11400"),
        ("aks", "gpu_cores", 9, "must be at most 8"),
        ("aks", "num_replicas", 2**31, "must be at most 2147483647"),
        ("aks", "scoring_timeout_ms", 10**12, "must be at most 2147483647"),
        ("aks", "initial_delay_seconds", 2**40, "must be at most 2147483647"),
        ("aks", "period_seconds", 0, "must be at least 1"),
        ("aks", "gpu_cores", -1, "must be at least 0"),
        ("local", "port", 70000, "must be at most 65535"),
        ("local", "port", 0, "must be at least 1"),
    ],
)
def test_numbers_are_bounded_by_what_the_target_accepts(project, target, field, value, bound):
    assert deploy_errors(project, target, {field: value}) == [
        f"modelstack:services.diabetes.deploy.{field}: is {value!r}\n"
        f"  Rule: {bound}\n"
        f"  Fix: set modelstack:services.diabetes.deploy.{field} to a value that {bound.replace('must be', 'is')}"
    ]


@pytest.mark.parametrize(
    "field, value", [("agent_count", 1001), ("autoscale_max_nodes", 5000), ("autoscale_min_nodes", 2**31)]
)
def test_node_counts_are_bounded_by_aks_pool_limits(project, field, value):
    config = {"registry": {"kind": "acr"}, "clusters": {"c": {field: value}}}
    assert f"modelstack:clusters.c.{field}: is {value}\n  Rule: must be at most 1000" in "\n".join(
        errors_of(project, config)
    )


@pytest.mark.parametrize(
    "value, rule",
    [("2", "must be a number, not text"), (2.5, "must be a valid integer"), (2.0, "must be a valid integer")],
)
def test_counts_are_integers_not_text_or_fractions(project, value, rule):
    assert deploy_errors(project, "local", {"port": value}) == [
        f"modelstack:services.diabetes.deploy.port: is {value!r}\n  Rule: {rule}\n"
        + (
            "  Fix: set modelstack:services.diabetes.deploy.port to a number without quotes"
            if isinstance(value, str)
            else "  Fix: correct modelstack:services.diabetes.deploy.port"
        )
    ]


def test_an_integer_is_a_valid_amount(project):
    project.write_stack(
        "local",
        {
            "registry": {"kind": "acr"},
            "services": {
                "diabetes": {"target": "aci", "deploy": {"cpu_cores": 2, "memory_gb": 16, "auth_enabled": True}}
            },
        },
    )
    deploy = project.load("local").services["diabetes"].deploy
    assert (deploy.cpu_cores, deploy.memory_gb) == (2.0, 16.0)


def test_a_long_value_is_cut_short_in_the_message(project):
    message = deploy_errors(project, "local", {"port": list(range(10_000))})[0]
    assert len(message.splitlines()[0]) < 200 and message.splitlines()[0].endswith("...")


# --- secrets ---------------------------------------------------------------------------------

SECRET_VALUES = [1234567890123, ["hunter2-in-a-list"], {"nested": "hunter2-in-a-map"}, 3.14159265, True]


def _leaks(text: str, value) -> bool:
    return (
        any(part in text for part in ("1234567890123", "hunter2", "3.14159265", "True")) if value is not None else False
    )


@pytest.mark.parametrize("value", SECRET_VALUES)
@pytest.mark.parametrize("target, field", [("aci", "primary_key"), ("aci", "secondary_key"), ("aks", "primary_key")])
def test_an_error_about_a_key_never_echoes_its_value(project, target, field, value):
    errors = deploy_errors(project, target, {field: value, "auth_enabled": True})
    text = "\n".join(errors)
    assert (
        f"modelstack:services.diabetes.deploy.{field}: is a {type(value).__name__} (value not shown: it is a secret)"
        in text
    )
    assert not _leaks(text, value)


@pytest.mark.parametrize("value", SECRET_VALUES)
def test_an_error_about_a_registry_password_never_echoes_it(project, value):
    env = {
        "base_image": "example.azurecr.io/base:1",
        "base_image_registry": {"address": "example.azurecr.io", "username": "u", "password": value},
    }
    text = "\n".join(errors_of(project, {"services": {"diabetes": {"environment": env}}}))
    assert "modelstack:services.diabetes.environment.base_image_registry.password: is a " in text
    assert not _leaks(text, value)
