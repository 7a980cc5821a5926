"""Every rule of a service's deploy configuration and versions, pinned by its message: key,
rule and fix. Stacks go through the whole config pipeline (`project.load`), as `check` does."""

from __future__ import annotations

import pytest

from components.errors import ConfigError, ConfigErrors

CLUSTER = {"aks-ml": {"cluster_purpose": "DevTest", "agent_count": 1, "vm_size": "Standard_D4s_v5"}}


def errors_of(project, service: dict, *, registry: str = "acr") -> list[str]:
    project.write_stack(
        "rules",
        {
            "registry": {"kind": registry},
            "clusters": CLUSTER,
            "services": {"diabetes": service, "diabetes-multi": None},
        },
    )
    with pytest.raises((ConfigErrors, ConfigError)) as caught:
        project.load("rules")
    error = caught.value
    return [str(e) for e in error.errors] if isinstance(error, ConfigErrors) else [str(error)]


def aks(deploy: dict | None = None, **service) -> dict:
    return {"target": "aks", "compute": "aks-ml", "deploy": deploy or {}, **service}


def aci(deploy: dict | None = None, **service) -> dict:
    return {"target": "aci", "deploy": deploy or {}, **service}


KEY = "modelstack:services.diabetes"


def test_the_examples_and_a_plain_aks_service_pass(project):
    for stack in ("local", "dev", "staging", "prod"):
        project.load(stack)
    project.write_stack(
        "ok",
        {"registry": {"kind": "acr"}, "clusters": CLUSTER, "services": {"diabetes": aks(), "diabetes-multi": aci()}},
    )
    project.load("ok")


# --- autoscaling ---------------------------------------------------------------------------------


def test_autoscale_together_with_num_replicas(project):
    assert errors_of(project, aks({"autoscale_enabled": True, "num_replicas": 3})) == [
        f"{KEY}.deploy.num_replicas: num_replicas is set while autoscale_enabled is true\n"
        "  Rule: a service autoscales (autoscale_enabled, the default when num_replicas is unset) or runs a fixed num_replicas, not both\n"
        "  Fix: remove num_replicas to autoscale, or set autoscale_enabled: false to run num_replicas replicas"
    ]


def test_autoscale_parameters_while_num_replicas_turns_it_off(project):
    assert errors_of(project, aks({"num_replicas": 2, "autoscale_max_replicas": 5})) == [
        f"{KEY}.deploy.autoscale_max_replicas: autoscale_max_replicas is set while autoscaling is off (num_replicas is set, which turns it off)\n"
        "  Rule: autoscale_* parameters apply only when the service autoscales (autoscale_enabled, the default when num_replicas is unset)\n"
        "  Fix: remove autoscale_max_replicas, or remove num_replicas and autoscale_enabled: false to autoscale"
    ]


def test_autoscale_parameters_while_autoscale_is_off(project):
    messages = errors_of(
        project, aks({"autoscale_enabled": False, "autoscale_min_replicas": 2, "autoscale_target_utilization": 50})
    )
    assert [m.splitlines()[0] for m in messages] == [
        f"{KEY}.deploy.autoscale_min_replicas: autoscale_min_replicas is set while autoscaling is off (autoscale_enabled is false)",
        f"{KEY}.deploy.autoscale_target_utilization: autoscale_target_utilization is set while autoscaling is off (autoscale_enabled is false)",
    ]


def test_min_replicas_above_max(project):
    assert errors_of(project, aks({"autoscale_min_replicas": 5, "autoscale_max_replicas": 3})) == [
        f"{KEY}.deploy.autoscale_min_replicas: autoscale_min_replicas (5) is greater than autoscale_max_replicas (3)\n"
        "  Rule: autoscale_min_replicas <= autoscale_max_replicas (defaults 1 and 10)\n"
        "  Fix: lower autoscale_min_replicas to at most 3, or raise autoscale_max_replicas to at least 5"
    ]


def test_min_replicas_above_the_default_max(project):
    assert errors_of(project, aks({"autoscale_min_replicas": 12}))[0].splitlines()[0] == (
        f"{KEY}.deploy.autoscale_min_replicas: autoscale_min_replicas (12) is greater than autoscale_max_replicas (10, the default)"
    )


# --- auth ------------------------------------------------------------------------------------------


def test_key_and_token_auth_together(project):
    assert errors_of(project, aks({"auth_enabled": True, "token_auth_enabled": True})) == [
        f"{KEY}.deploy.token_auth_enabled: auth_enabled and token_auth_enabled are both true\n"
        "  Rule: an AKS service authenticates with keys (auth_enabled) or with tokens (token_auth_enabled), not both\n"
        "  Fix: keep one: remove token_auth_enabled for keys, or auth_enabled for tokens"
    ]


def test_token_auth_with_auth_enabled_left_at_its_default_is_token_auth(project):
    from components.config.deploy_rules import key_auth_enabled, token_auth_enabled

    project.write_stack(
        "rules",
        {
            "registry": {"kind": "acr"},
            "clusters": CLUSTER,
            "services": {"diabetes": aks({"token_auth_enabled": True}), "diabetes-multi": None},
        },
    )
    deploy = project.load("rules").services["diabetes"].deploy
    assert (key_auth_enabled(deploy), token_auth_enabled(deploy)) == (False, True)


def test_keys_while_auth_is_off(project):
    path = project.root / "stacks" / "Pulumi.rules.yaml"
    path.write_text(
        "config:\n  modelstack:registry:\n    kind: acr\n  modelstack:services:\n    diabetes-multi: null\n    diabetes:\n      target: aci\n"
        "      deploy:\n        secondary_key:\n          secure: v1:c2FsdA==:a2V5\n"
    )
    with pytest.raises(ConfigErrors) as caught:
        project.load("rules")
    assert [str(e) for e in caught.value.errors] == [
        f"{KEY}.deploy.secondary_key: secondary_key is set while auth_enabled is false\n"
        "  Rule: keys authenticate requests only when auth_enabled is true\n"
        "  Fix: set auth_enabled: true, or remove secondary_key"
    ]


# --- sizing and namespace --------------------------------------------------------------------------


def test_limits_below_requests(project):
    assert errors_of(project, aks({"cpu_cores": 1, "cpu_cores_limit": 0.5, "memory_gb_limit": 0.25})) == [
        f"{KEY}.deploy.cpu_cores_limit: cpu_cores_limit (0.5) is below cpu_cores (1)\n"
        "  Rule: a limit is at least its request: cpu_cores_limit >= cpu_cores and memory_gb_limit >= memory_gb\n"
        "  Fix: raise cpu_cores_limit to at least 1, or lower cpu_cores",
        f"{KEY}.deploy.memory_gb_limit: memory_gb_limit (0.25 GB) is below memory_gb (0.5 GB, the default)\n"
        "  Rule: a limit is at least its request: cpu_cores_limit >= cpu_cores and memory_gb_limit >= memory_gb\n"
        "  Fix: raise memory_gb_limit to at least 0.5, or lower memory_gb",
    ]


def test_invalid_namespace(project):
    assert errors_of(project, aks({"namespace": "ML_Scoring"})) == [
        f"{KEY}.deploy.namespace: namespace 'ML_Scoring' is not a valid Kubernetes namespace\n"
        "  Rule: a namespace is 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit (^[a-z0-9]([a-z0-9-]{,61}[a-z0-9])?$)\n"
        "  Fix: use e.g. 'ml-scoring', or remove namespace to use modelstack-<stack>"
    ]


def test_kubernetes_own_namespaces_are_refused(project):
    assert errors_of(project, aks({"namespace": "kube-system"})) == [
        f"{KEY}.deploy.namespace: namespace 'kube-system' belongs to Kubernetes itself\n"
        "  Rule: webservices do not run in default, kube-system, kube-public, kube-node-lease: the stack owns its namespaces, and deleting the stack would delete them\n"
        "  Fix: pick a namespace of your own, or remove namespace to use modelstack-<stack>"
    ]


# --- parameters of the other target ----------------------------------------------------------------


@pytest.mark.parametrize(
    "service, field, owner, target",
    [
        (aci({"autoscale_enabled": True}), "autoscale_enabled", "aks and kubernetes", "aci"),
        (aci({"num_replicas": 2}), "num_replicas", "aks and kubernetes", "aci"),
        (aci({"namespace": "ml"}), "namespace", "aks and kubernetes", "aci"),
        (aks({"dns_name_label": "diabetes"}), "dns_name_label", "aci", "aks"),
        (aks({"ssl_enabled": True}), "ssl_enabled", "aci", "aks"),
        (aks({"vnet_name": "vnet-ml"}), "vnet_name", "aci", "aks"),
    ],
)
def test_a_parameter_of_the_other_target_names_its_target(project, service, field, owner, target):
    assert errors_of(project, service) == [
        f"{KEY}.deploy.{field}: unknown key\n"
        f"  Rule: '{field}' is a deploy parameter of target {owner}, not of target '{target}'\n"
        f"  Fix: remove '{field}', or change the service's target"
    ]


def test_versions_are_for_services_on_a_kubernetes_cluster_only(project):
    assert errors_of(project, aci(versions=[{"version_name": "blue", "is_control_version_type": True}])) == [
        f"{KEY}.versions: versions are declared for target 'aci'\n"
        "  Rule: controlled rollout (versions) is for services on a Kubernetes cluster (aks, kubernetes): the versions share one endpoint on the cluster's front end\n"
        "  Fix: remove versions, or set target: aks or kubernetes"
    ]


def test_aci_and_aks_need_an_azure_registry(project):
    assert errors_of(project, aci(), registry="local") == [
        f"{KEY}.target: target is aci but the stack's registry is kind: local\n"
        "  Rule: ACI, AKS and Azure Container Apps pull images from the stack's Azure Container Registry\n"
        "  Fix: set modelstack:registry to kind: acr in this stack, or set target: local"
    ]


# --- ACI -----------------------------------------------------------------------------------------


def test_aci_ssl_needs_certificate_key_and_cname(project):
    assert errors_of(project, aci({"ssl_enabled": True, "ssl_cname": "ml.example.com"})) == [
        f"{KEY}.deploy.ssl_enabled: ssl_enabled is true but ssl_cert_pem_file, ssl_key_pem_file are not set\n"
        "  Rule: an ACI service with ssl_enabled needs ssl_cert_pem_file, ssl_key_pem_file and ssl_cname\n"
        "  Fix: set ssl_cert_pem_file, ssl_key_pem_file, or set ssl_enabled: false"
    ]


def test_aci_certificate_without_ssl_enabled(project):
    (project.root / "cert.pem").write_text("x")
    assert errors_of(project, aci({"ssl_cert_pem_file": "cert.pem"})) == [
        f"{KEY}.deploy.ssl_cert_pem_file: ssl_cert_pem_file is set while ssl_enabled is false\n"
        "  Rule: the certificate, key and cname are used only with ssl_enabled: true\n"
        "  Fix: set ssl_enabled: true, or remove ssl_cert_pem_file"
    ]


def test_aci_missing_pem_file(project):
    (project.root / "cert.pem").write_text("x")
    messages = errors_of(
        project,
        aci(
            {
                "ssl_enabled": True,
                "ssl_cert_pem_file": "cert.pem",
                "ssl_key_pem_file": "nowhere/key.pem",
                "ssl_cname": "ml.example.com",
            }
        ),
    )
    assert messages == [
        f"{KEY}.deploy.ssl_key_pem_file: ssl_key_pem_file 'nowhere/key.pem' does not exist\n"
        "  Rule: the ssl_key_pem_file is a file inside the project (paths are relative to Pulumi.yaml's folder)\n"
        "  Fix: create nowhere/key.pem, or correct the path"
    ]


def test_aci_vnet_and_subnet_together(project):
    assert errors_of(project, aci({"subnet_name": "aci"})) == [
        f"{KEY}.deploy.subnet_name: subnet_name is set without vnet_name\n"
        "  Rule: vnet_name and subnet_name are set together (the group joins that subnet) or not at all\n"
        "  Fix: set vnet_name, or remove subnet_name"
    ]


@pytest.mark.parametrize("field", ["collect_model_data"])
def test_workspace_features_are_not_supported_yet(project, field):
    messages = errors_of(project, aks({field: True}))
    assert len(messages) == 1 and messages[0].startswith(
        f"{KEY}.deploy.{field}: {field} is not supported yet\n  Rule: "
    )
    assert messages[0].endswith(f"\n  Fix: remove {field}")


def test_cors_origins_are_origins(project):
    assert errors_of(
        project, aks({"access_control_allow_origins": ["https://app.example.com", "app.example.com/path"]})
    ) == [
        f"{KEY}.deploy.access_control_allow_origins[1]: 'app.example.com/path' is not an origin\n"
        "  Rule: an origin is a scheme and a host (and port), as browsers send it: https://app.example.com; or '*' for any\n"
        "  Fix: write it as e.g. 'https://app.example.com'"
    ]


# --- controlled rollout -----------------------------------------------------------------------------


def version(name: str, traffic: float = 0, **extra) -> dict:
    return {"version_name": name, "traffic_percentile": traffic, **extra}


def test_traffic_over_100(project):
    versions = [version("blue", 70, is_control_version_type=True), version("green", 40)]
    assert errors_of(project, aks(versions=versions)) == [
        f"{KEY}.versions: traffic_percentile adds up to 110 (blue 70, green 40)\n"
        "  Rule: the versions' traffic_percentile add up to at most 100; what is not assigned goes to the default version\n"
        "  Fix: lower some traffic_percentile so that they add up to 100 or less"
    ]


def test_more_than_6_versions(project):
    versions = [version("v0", is_control_version_type=True)] + [version(f"v{i}") for i in range(1, 7)]
    assert errors_of(project, aks(versions=versions)) == [
        f"{KEY}.versions: 7 versions are declared\n"
        "  Rule: an endpoint has at most 6 versions (Azure ML's AksEndpoint)\n"
        "  Fix: remove versions that no longer take traffic"
    ]


def test_two_control_versions(project):
    versions = [version("blue", 50, is_control_version_type=True), version("green", 50, is_control_version_type=True)]
    assert errors_of(project, aks(versions=versions)) == [
        f"{KEY}.versions: 2 versions are control versions (blue, green)\n"
        "  Rule: a controlled rollout has exactly one control version (is_control_version_type: true) and any number of treatments\n"
        "  Fix: keep is_control_version_type: true on one version only"
    ]


def test_no_control_version(project):
    assert errors_of(project, aks(versions=[version("blue", 100)])) == [
        f"{KEY}.versions: no version is the control version\n"
        "  Rule: a controlled rollout has exactly one control version (is_control_version_type: true) and any number of treatments\n"
        "  Fix: set is_control_version_type: true on the version that serves today's traffic"
    ]


def test_two_default_versions(project):
    versions = [
        version("blue", 50, is_control_version_type=True, is_default=True),
        version("green", 50, is_default=True),
    ]
    assert errors_of(project, aks(versions=versions)) == [
        f"{KEY}.versions: 2 versions are the default (blue, green)\n"
        "  Rule: one version is the default: it takes the traffic no version is assigned (the first version when none is marked)\n"
        "  Fix: keep is_default: true on one version only"
    ]


def test_version_names(project):
    versions = [version("blue", is_control_version_type=True), version("Green_2"), version("blue")]
    assert errors_of(project, aks(versions=versions)) == [
        f"{KEY}.versions[1].version_name: version_name 'Green_2' is not allowed\n"
        "  Rule: a version name is 1-30 lowercase letters, digits and '-', starting with a letter and not ending with '-' (it names the version's Kubernetes objects)\n"
        "  Fix: rename the version",
        f"{KEY}.versions[2].version_name: version_name 'blue' is used twice\n"
        "  Rule: version names are unique within a service\n"
        "  Fix: rename one of them",
    ]


def test_version_models_are_declared(project):
    assert errors_of(
        project, aks(versions=[version("blue", is_control_version_type=True, models=["diabetes-lasoo"])])
    ) == [
        f"{KEY}.versions[0].models[0]: names model 'diabetes-lasoo', which is not declared\n"
        "  Rule: a version serves models declared under modelstack:models\n"
        "  Fix: did you mean 'diabetes-lasso'?"
    ]


def test_check_reports_deploy_rules_without_a_traceback(project, capsys):
    import os
    import subprocess
    import sys

    project.write_stack(
        "rules",
        {
            "registry": {"kind": "acr"},
            "clusters": CLUSTER,
            "services": {
                "diabetes": aks({"autoscale_min_replicas": 5, "autoscale_max_replicas": 3}),
                "diabetes-multi": None,
            },
        },
    )
    env = {**os.environ, "MODELSTACK_PROJECT_DIR": str(project.root)}
    result = subprocess.run(
        [sys.executable, "-m", "components.commands.cli", "check", "--stack", "rules"],
        capture_output=True,
        text=True,
        env=env,
        cwd=project.root,
    )
    assert result.returncode == 1
    assert "autoscale_min_replicas (5) is greater than autoscale_max_replicas (3)" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
