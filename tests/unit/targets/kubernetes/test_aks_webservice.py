"""AKS webservices under the mock runtime: the exact inputs of every Kubernetes object of the
example stacks, the front end, controlled rollout, a model-only change as an in-place rolling
update, keys and certificates kept secret, and the state from what the cluster reports."""

from __future__ import annotations

import pytest

from components.image.build_context import build_context
from components.image.model_versions import model_version
from components.offline import evaluate as offline
from components.offline.evaluate import evaluate_stack
from components.plan_values import SECRET_PLACEHOLDER
from components.targets.kubernetes.mocks import MOCK_GATEWAY_ADDRESS
from components.targets.kubernetes.webservice import cpu_quantity, memory_quantity
from components.targets.states import deployment_state, service_state
from tests.unit.plan_helpers import SECRET, by_type, fake_digest, images_by_digest, mock_key, parent_of, revealed_inputs

MANAGED = {"app.kubernetes.io/managed-by": "modelstack"}
# pulumi-kubernetes leaves the wait for Deployments and Services to their KubernetesRollout
FORCE = {"pulumi.com/patchForce": "true"}  # the stack takes back its fields from kubectl edits
SKIP_AWAIT = {"pulumi.com/skipAwait": "true"}
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
ROLLOUT = "pulumi-python:dynamic/modelstack:KubernetesRollout"
K8S_PREFIX = "kubernetes:"


def workload(service: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": service, "modelstack.io/workload": service}


def image_of(project, config, service: str, login_server: str) -> str:
    context = build_context(project.root, service, config.services[service], config.models)
    return f"{login_server}/{service}@{fake_digest(context.tag)}"


def probe(**extra) -> dict:
    return {
        "failureThreshold": 3,
        "httpGet": {"path": "/", "port": "http"},
        "periodSeconds": 10,
        "timeoutSeconds": 1,
        **extra,
    }


# --- prod: FastProd cluster with a leaf_domain_label, autoscaled services ----------------------------


def test_prod_front_end(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    _, plan = evaluate_stack("prod", project.root)
    # The class of the Traefik the stack declares on the cluster it creates (components.targets.azure.aks_gateway).
    assert seen["aks-prod-frontend"] == {"gateway_class": "modelstack", "namespace": "modelstack-prod", "tls": "acme"}
    assert seen["aks-prod-frontend-namespace-modelstack-prod"] == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "annotations": FORCE,
            "labels": {**MANAGED, "modelstack.io/frontend": "modelstack-prod"},
            "name": "modelstack-prod",
        },
    }
    fqdn = "modelstack-prod.westeurope.cloudapp.azure.com"
    routes = {
        "namespaces": {"from": "Selector", "selector": {"matchLabels": {"modelstack.io/frontend": "modelstack-prod"}}}
    }
    assert seen["aks-prod-frontend-gateway"] == {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {
            "annotations": {
                "cert-manager.io/cluster-issuer": "letsencrypt",
                "pulumi.com/waitFor": "condition=Programmed",
                **FORCE,
            },
            "labels": MANAGED,
            "name": "modelstack",
            "namespace": "modelstack-prod",
        },
        "spec": {
            "gatewayClassName": "modelstack",
            # Traefik's entry point ports (its Service publishes them on 443 and 80); the DNS label
            # is on Traefik's Service, not here.
            "listeners": [
                {
                    "allowedRoutes": routes,
                    "hostname": fqdn,
                    "name": "https",
                    "port": 8443,
                    "protocol": "HTTPS",
                    "tls": {
                        "certificateRefs": [{"kind": "Secret", "name": "modelstack-frontend-tls"}],
                        "mode": "Terminate",
                    },
                },
                {
                    "allowedRoutes": {"namespaces": {"from": "Same"}},
                    "hostname": fqdn,
                    "name": "http",
                    "port": 8000,
                    "protocol": "HTTP",
                },
            ],
        },
    }
    frontend = plan.named("aks-prod-frontend")
    assert parent_of(plan, "aks-prod-frontend").endswith("modelstack:aks:AksCluster::aks-prod"), (
        "one front end per cluster, under the cluster"
    )
    assert plan.named("aks-prod-frontend-gateway").parent == frontend.urn


def test_prod_service_objects_run_the_built_image_and_the_generated_keys(project, monkeypatch):
    """The prod stack's Kubernetes objects are pinned, field by field, by tests/golden/webservices-prod.json
    (tests/unit/test_webservice_snapshots.py), where model versions and digests are placeholders.
    Here: what the placeholders stand for, and where the objects go."""
    seen = revealed_inputs(monkeypatch)
    images_by_digest(monkeypatch)
    config, plan = evaluate_stack("prod", project.root)
    # The keys' Secret holds the keys the stack generated, under the names the server reads.
    assert seen["diabetes-keys"]["stringData"] == {
        SECRET: {"primary_key": mock_key("diabetes-primary-key"), "secondary_key": mock_key("diabetes-secondary-key")}
    }
    # Each Deployment runs its service's own build by digest, and says which model versions are in it.
    for service in ("diabetes", "diabetes-multi"):
        versions = build_context(project.root, service, config.services[service], config.models).model_versions
        template = seen[f"{service}-deployment"]["spec"]["template"]
        assert template["spec"]["containers"][0]["image"] == image_of(
            project, config, service, "modelstackprod66885afe.azurecr.io"
        )
        assert template["metadata"]["annotations"]["modelstack.io/model-versions"] == ",".join(
            f"{m}={v}" for m, v in sorted(versions.items())
        )
    # Every Kubernetes object goes through the cluster's provider.
    # (The cluster's own objects, its Gateway API implementation, are tests/unit/targets/azure/test_aks_gateway.py's.)
    for resource in plan.resources:
        if resource.type.startswith(K8S_PREFIX) and resource.type != "pulumi:providers:kubernetes":
            assert resource.name.startswith(
                (
                    "aks-prod-frontend",
                    "aks-prod-gateway-api-crds",
                    "aks-prod-traefik",
                    "aks-prod-cert-manager",
                    "aks-prod-letsencrypt",
                    "diabetes",
                )
            ), resource.urn


def test_prod_outputs(project, monkeypatch):
    images_by_digest(monkeypatch)
    config, plan = evaluate_stack("prod", project.root)
    base = "https://modelstack-prod.westeurope.cloudapp.azure.com/api/v1/service/diabetes"
    assert plan.outputs["services"]["diabetes"] == {
        "image": image_of(project, config, "diabetes", "modelstackprod66885afe.azurecr.io"),
        "model_versions": build_context(
            project.root, "diabetes", config.services["diabetes"], config.models
        ).model_versions,
        "scoring_uri": f"{base}/score",
        "state": "Healthy",
        "swagger_uri": f"{base}/swagger.json",
    }
    assert plan.outputs["service_keys"] == SECRET_PLACEHOLDER


# --- staging: DevTest cluster, fixed replicas, plain HTTP front end ------------------------------------


def test_staging_runs_fixed_replicas_without_an_hpa(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    _, plan = evaluate_stack("staging", project.root)
    assert not plan.by_type(HPA)
    assert seen["diabetes-deployment"]["spec"]["replicas"] == 1
    listeners = seen["aks-staging-frontend-gateway"]["spec"]["listeners"]
    assert listeners == [
        {
            "allowedRoutes": {
                "namespaces": {
                    "from": "Selector",
                    "selector": {"matchLabels": {"modelstack.io/frontend": "modelstack-staging"}},
                }
            },
            "name": "http",
            "port": 8000,
            "protocol": "HTTP",
        }
    ]
    assert "infrastructure" not in seen["aks-staging-frontend-gateway"]["spec"]
    assert (
        seen["diabetes-route"]["spec"]["parentRefs"][0]["sectionName"] == "http"
        and "hostnames" not in seen["diabetes-route"]["spec"]
    )
    # Without a name of its own, the front end's address is what the cluster reports on the Gateway.
    assert (
        plan.outputs["services"]["diabetes"]["scoring_uri"]
        == f"http://{MOCK_GATEWAY_ADDRESS}/api/v1/service/diabetes/score"
    )


# --- a model-only change: an in-place rolling update ------------------------------------------------------


def test_changing_only_the_model_rolls_the_deployment_and_touches_nothing_else(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    images_by_digest(monkeypatch)
    _, before_plan = evaluate_stack("prod", project.root)
    before = dict(seen)
    model = project.root / "examples" / "diabetes" / "model" / "ridge.joblib"
    model.write_bytes(model.read_bytes() + b"\0")  # retrained: new bytes, new version
    _, after_plan = evaluate_stack("prod", project.root)
    after = dict(seen)

    def identity(plan):
        return sorted((r.type, r.name, r.parent) for r in plan.resources)

    assert identity(before_plan) == identity(after_plan), "the same resources, under the same names and parents"
    changed = sorted(name for name in before if before[name] != after[name])
    # diabetes-multi serves the ridge model too, so it rolls as well; its Service, HPA, Secret... do not.
    # Each changed Deployment's rollout wait runs again (its revision follows the image).
    assert changed == [
        "diabetes-deployment",
        "diabetes-image",
        "diabetes-multi-deployment",
        "diabetes-multi-image",
        "diabetes-multi-rollout",
        "diabetes-rollout",
    ]
    assert before["diabetes-rollout"]["revision"] != after["diabetes-rollout"]["revision"]
    assert {k: v for k, v in before["diabetes-rollout"].items() if k != "revision"} == {
        k: v for k, v in after["diabetes-rollout"].items() if k != "revision"
    }
    old, new = before["diabetes-deployment"], after["diabetes-deployment"]
    assert old["metadata"] == new["metadata"] and old["spec"]["selector"] == new["spec"]["selector"], (
        "name, namespace and selector (immutable) are unchanged: an update, not a replacement"
    )
    old_pod, new_pod = old["spec"]["template"], new["spec"]["template"]
    assert old_pod["spec"]["containers"][0]["image"] != new_pod["spec"]["containers"][0]["image"]
    assert old_pod["metadata"]["annotations"] != new_pod["metadata"]["annotations"]

    def strip(pod):
        return {
            **pod,
            "metadata": {**pod["metadata"], "annotations": None},
            "spec": {**pod["spec"], "containers": [{**c, "image": None} for c in pod["spec"]["containers"]]},
        }

    assert strip(old_pod) == strip(new_pod), "only the image and the model-versions annotation change"
    assert old["spec"]["strategy"] == {
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
        "type": "RollingUpdate",
    }, "zero downtime"


def test_no_kubernetes_object_asks_to_be_replaced(project):
    _, plan = evaluate_stack("prod", project.root)
    checked = 0
    for resource in plan.resources:
        if resource.type.startswith(K8S_PREFIX):
            assert (resource.options["replace_on_changes"], resource.options["delete_before_replace"]) == ([], False), (
                resource.name
            )
            checked += 1
    assert checked > 10, "prod declares its Kubernetes objects"


# --- controlled rollout -----------------------------------------------------------------------------------


def rollout_stack(project, versions: list[dict], name: str = "rollout", **deploy) -> str:
    project.write_stack(
        name,
        {
            "registry": {"kind": "acr"},
            "clusters": {"aks-ml": {"cluster_purpose": "DevTest", "agent_count": 2, "vm_size": "Standard_D4s_v5"}},
            "services": {
                "diabetes": {"target": "aks", "compute": "aks-ml", "deploy": deploy, "versions": versions},
                "diabetes-multi": None,
            },
        },
    )
    return name


BLUE_GREEN = [
    {"version_name": "blue", "is_default": True, "is_control_version_type": True, "traffic_percentile": 80},
    {"version_name": "green", "traffic_percentile": 10, "models": ["diabetes-lasso"]},
    {"version_name": "canary", "traffic_percentile": 0, "models": ["diabetes-lasso"]},
]


def test_versions_get_their_objects_and_their_share(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    images_by_digest(monkeypatch)
    config, plan = evaluate_stack(rollout_stack(project, BLUE_GREEN), project.root)
    assert sorted(by_type(plan, DEPLOYMENT)) == [
        "diabetes-blue-deployment",
        "diabetes-canary-deployment",
        "diabetes-green-deployment",
    ]
    # One image per distinct set of models: blue serves the service's, green and canary share one.
    images = sorted(r.name for r in plan.by_type("pulumi-python:dynamic/modelstack:ServiceImage"))
    assert images == ["diabetes-green-image", "diabetes-image"]
    green = seen["diabetes-green-deployment"]
    assert green["metadata"]["name"] == "diabetes-green"
    assert green["spec"]["template"]["metadata"]["labels"] == {
        **MANAGED,
        "app.kubernetes.io/name": "diabetes",
        "modelstack.io/workload": "diabetes-green",
        "modelstack.io/version": "green",
        "modelstack.io/version-type": "treatment",
    }
    assert {"name": "SERVICE_VERSION", "value": "green"} in green["spec"]["template"]["spec"]["containers"][0]["env"]
    assert (
        seen["diabetes-canary-deployment"]["spec"]["template"]["spec"]["containers"][0]["image"]
        == green["spec"]["template"]["spec"]["containers"][0]["image"]
    )
    rewrite = [
        {"type": "URLRewrite", "urlRewrite": {"path": {"replacePrefixMatch": "/", "type": "ReplacePrefixMatch"}}}
    ]
    path = {"type": "PathPrefix", "value": "/api/v1/service/diabetes"}

    def backend(name: str, weight: int | None = None) -> dict:
        return {
            "group": "",
            "kind": "Service",
            "name": f"diabetes-{name}",
            "port": 80,
            **({"weight": weight} if weight is not None else {}),
        }

    assert seen["diabetes-route"]["spec"]["rules"] == [
        *[
            {
                "backendRefs": [backend(v)],
                "filters": rewrite,
                "matches": [{"headers": [{"name": "x-modelstack-version", "type": "Exact", "value": v}], "path": path}],
            }
            for v in ("blue", "green", "canary")
        ],
        # 10% not assigned to any version goes to the default (blue): 90%.
        {
            "backendRefs": [backend("blue", 9000), backend("green", 1000), backend("canary", 0)],
            "filters": rewrite,
            "matches": [{"path": path}],
        },
    ]
    outputs = plan.outputs["services"]["diabetes"]
    assert {name: v["traffic_percentile"] for name, v in outputs["versions"].items()} == {
        "blue": 90,
        "green": 10,
        "canary": 0,
    }
    lasso = model_version(project.root / config.models["diabetes-lasso"].path)
    assert (
        outputs["versions"]["green"]["model_versions"]
        == outputs["versions"]["canary"]["model_versions"]
        == {"diabetes-lasso": lasso}
    )


def test_promoting_a_treatment_to_100_is_a_change_of_weights_only(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    images_by_digest(monkeypatch)
    _, before_plan = evaluate_stack(rollout_stack(project, BLUE_GREEN), project.root)
    before = dict(seen)
    promoted = [{**BLUE_GREEN[0], "traffic_percentile": 0}, {**BLUE_GREEN[1], "traffic_percentile": 100}, BLUE_GREEN[2]]
    _, after_plan = evaluate_stack(rollout_stack(project, promoted), project.root)
    after = dict(seen)
    assert sorted(name for name in before if before[name] != after[name]) == ["diabetes-aks", "diabetes-route"]
    weights = [b["weight"] for b in after["diabetes-route"]["spec"]["rules"][-1]["backendRefs"]]
    assert weights == [0, 10000, 0]
    assert sorted(r.name for r in before_plan.resources) == sorted(r.name for r in after_plan.resources), (
        "no rebuild, no new objects"
    )


# --- TLS, load balancer and namespaces ----------------------------------------------------------------------


def test_the_clusters_certificate_terminates_tls_on_the_front_end(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    (project.root / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n")
    (project.root / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\nsecret-key-bytes\n-----END PRIVATE KEY-----\n")
    project.write_stack(
        "tls",
        {
            "registry": {"kind": "acr"},
            "clusters": {
                "aks-ml": {
                    "cluster_purpose": "DevTest",
                    "agent_count": 1,
                    "vm_size": "Standard_D4s_v5",
                    "ssl_cname": "ml.example.com",
                    "ssl_cert_pem_file": "cert.pem",
                    "ssl_key_pem_file": "key.pem",
                }
            },
            "services": {"diabetes": {"target": "aks", "compute": "aks-ml"}, "diabetes-multi": None},
        },
    )
    _, plan = evaluate_stack("tls", project.root)
    assert seen["aks-ml-frontend-tls"] == {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {
            "annotations": FORCE,
            "labels": MANAGED,
            "name": "modelstack-frontend-tls",
            "namespace": "modelstack-tls",
        },
        "stringData": {
            SECRET: {
                "tls.crt": "-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n",
                "tls.key": "-----BEGIN PRIVATE KEY-----\nsecret-key-bytes\n-----END PRIVATE KEY-----\n",
            }
        },
    }
    gateway = seen["aks-ml-frontend-gateway"]
    assert [listener["name"] for listener in gateway["spec"]["listeners"]] == ["https"], "no plain HTTP listener"
    assert gateway["spec"]["listeners"][0]["hostname"] == "ml.example.com"
    assert "cert-manager.io/cluster-issuer" not in gateway["metadata"]["annotations"]
    assert "secret-key-bytes" not in offline.plan_json(plan)
    assert plan.outputs["services"]["diabetes"]["scoring_uri"] == "https://ml.example.com/api/v1/service/diabetes/score"


def test_an_internal_load_balancer_front_end(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    project.write_stack(
        "internal",
        {
            "registry": {"kind": "acr"},
            "clusters": {
                "aks-ml": {
                    "cluster_purpose": "DevTest",
                    "agent_count": 1,
                    "vm_size": "Standard_D4s_v5",
                    "load_balancer_type": "InternalLoadBalancer",
                    "load_balancer_subnet": "ml-frontends",
                }
            },
            "services": {"diabetes": {"target": "aks", "compute": "aks-ml"}, "diabetes-multi": None},
        },
    )
    evaluate_stack("internal", project.root)
    # A created cluster: the load balancer is the stack's Traefik's Service.
    assert seen["aks-ml-traefik"]["values"]["service"] == {
        "annotations": {
            "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
            "service.beta.kubernetes.io/azure-load-balancer-internal-subnet": "ml-frontends",
        }
    }
    assert "infrastructure" not in seen["aks-ml-frontend-gateway"]["spec"]


def test_services_naming_one_namespace_share_it(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    project.write_stack(
        "ns",
        {
            "registry": {"kind": "acr"},
            "clusters": {"aks-ml": {"cluster_purpose": "DevTest", "agent_count": 1, "vm_size": "Standard_D4s_v5"}},
            "services": {
                "diabetes": {"target": "aks", "compute": "aks-ml", "deploy": {"namespace": "scoring"}},
                "diabetes-multi": {"target": "aks", "compute": "aks-ml", "deploy": {"namespace": "scoring"}},
            },
        },
    )
    _, plan = evaluate_stack("ns", project.root)
    namespaces = sorted(r.name for r in plan.by_type("kubernetes:core/v1:Namespace"))
    assert namespaces == ["aks-ml-frontend-namespace-modelstack-ns", "aks-ml-frontend-namespace-scoring"]
    assert (
        seen["aks-ml-frontend-namespace-scoring"]["metadata"]["labels"]["modelstack.io/frontend"] == "modelstack-ns"
    ), "its routes may attach to the stack's Gateway"
    assert seen["diabetes-route"]["metadata"]["namespace"] == "scoring"
    assert seen["diabetes-route"]["spec"]["parentRefs"][0]["namespace"] == "modelstack-ns"


def test_sizing_gpu_limits_and_server_settings(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    project.write_stack(
        "sized",
        {
            "registry": {"kind": "acr"},
            "clusters": {
                "aks-ml": {"cluster_purpose": "DevTest", "agent_count": 2, "vm_size": "Standard_NC8as_T4_v3"}
            },  # a GPU size: gpu_cores needs one
            "services": {
                "diabetes": {
                    "target": "aks",
                    "compute": "aks-ml",
                    "deploy": {
                        "num_replicas": 3,
                        "cpu_cores": 1.5,
                        "memory_gb": 2.5,
                        "cpu_cores_limit": 2,
                        "memory_gb_limit": 4,
                        "gpu_cores": 1,
                        "scoring_timeout_ms": 400000,
                        "replica_max_concurrent_requests": 4,
                        "auth_enabled": False,
                        "period_seconds": 20,
                        "initial_delay_seconds": 60,
                        "timeout_seconds": 5,
                        "success_threshold": 2,
                        "failure_threshold": 6,
                        "access_control_allow_origins": ["https://app.example.com"],
                        "description": "scores diabetes",
                        "tags": {"team": "ml"},
                    },
                },
                "diabetes-multi": None,
            },
        },
    )
    _, plan = evaluate_stack("sized", project.root)
    deployment = seen["diabetes-deployment"]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert deployment["spec"]["replicas"] == 3 and not plan.by_type(HPA)
    assert container["resources"] == {
        "limits": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": 1},
        "requests": {"cpu": "1500m", "memory": "2560Mi"},
    }
    assert pod["tolerations"] == [{"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"}]
    assert container["env"] == [
        {"name": "MODELSTACK_AUTH_ENABLED", "value": "false"},
        {"name": "MODELSTACK_CORS_ORIGINS", "value": "https://app.example.com"},
        {"name": "SCORING_TIMEOUT_MS", "value": "400000"},
        {"name": "SERVICE_PATH_PREFIX", "value": "api/v1/service/diabetes"},
        {"name": "WORKER_COUNT", "value": "4"},
    ]
    assert container["livenessProbe"] == {
        "failureThreshold": 6,
        "httpGet": {"path": "/", "port": "http"},
        "initialDelaySeconds": 60,
        "periodSeconds": 20,
        "successThreshold": 1,
        "timeoutSeconds": 5,
    }
    assert container["readinessProbe"] == {
        "failureThreshold": 6,
        "httpGet": {"path": "/", "port": "http"},
        "periodSeconds": 20,
        "successThreshold": 2,
        "timeoutSeconds": 5,
    }
    assert pod["terminationGracePeriodSeconds"] == 400 + 5 + 5 + 5
    assert "volumes" not in pod and "volumeMounts" not in container, "auth off: no keys mounted"
    assert not plan.by_type("kubernetes:core/v1:Secret") and not plan.by_type(
        "random:index/randomPassword:RandomPassword"
    )
    assert deployment["metadata"]["annotations"] == {
        **SKIP_AWAIT,
        **FORCE,
        "modelstack.io/azureml-metadata": '{"description": "scores diabetes", "tags": {"team": "ml"}}',
    }


# --- state -------------------------------------------------------------------------------------------------


def condition(type_: str, status: str, reason: str = "") -> dict:
    return {"type": type_, "status": status, "reason": reason}


@pytest.mark.parametrize(
    "status, state",
    [
        (None, "Transitioning"),
        (
            {
                "replicas": 2,
                "readyReplicas": 2,
                "updatedReplicas": 2,
                "conditions": [
                    condition("Available", "True"),
                    condition("Progressing", "True", "NewReplicaSetAvailable"),
                ],
            },
            "Healthy",
        ),
        (
            {
                "replicas": 3,
                "readyReplicas": 2,
                "updatedReplicas": 1,
                "conditions": [condition("Available", "True"), condition("Progressing", "True", "ReplicaSetUpdated")],
            },
            "Transitioning",
        ),
        (
            {
                "replicas": 2,
                "readyReplicas": 0,
                "conditions": [condition("Available", "False", "MinimumReplicasUnavailable")],
            },
            "Unhealthy",
        ),
        ({"replicas": 2, "conditions": [condition("Progressing", "False", "ProgressDeadlineExceeded")]}, "Failed"),
        ({"replicas": 2, "conditions": [condition("ReplicaFailure", "True", "FailedCreate")]}, "Unschedulable"),
    ],
)
def test_deployment_status_in_azure_ml_states(status, state):
    assert deployment_state(status) == state


def test_a_service_is_as_healthy_as_its_least_healthy_version():
    assert service_state(["Healthy", "Healthy"]) == "Healthy"
    assert service_state(["Healthy", "Transitioning"]) == "Transitioning"
    assert service_state(["Unschedulable", "Unhealthy", "Healthy"]) == "Unschedulable"
    assert service_state(["Failed", "Healthy"]) == "Failed"


def test_state_output_is_the_worst_of_its_versions_rollouts(project, monkeypatch):
    """The state comes from each version's KubernetesRollout (Healthy after `up`, the cluster's
    word after a refresh: tests/cluster/test_failure_states.py reads it from real pods)."""
    monkeypatch.setitem(
        offline.MOCK_OUTPUTS,
        ROLLOUT,
        lambda args: {"state": "Unschedulable" if args.name == "diabetes-green-rollout" else "Healthy"},
    )
    stack = rollout_stack(
        project,
        [
            {"version_name": "blue", "is_control_version_type": True, "traffic_percentile": 90},
            {"version_name": "green", "traffic_percentile": 10},
        ],
    )
    _, plan = evaluate_stack(stack, project.root)
    assert plan.outputs["services"]["diabetes"]["state"] == "Unschedulable"
    monkeypatch.setitem(offline.MOCK_OUTPUTS, ROLLOUT, lambda args: {"state": "Healthy"})
    _, plan = evaluate_stack(stack, project.root)
    assert plan.outputs["services"]["diabetes"]["state"] == "Healthy"


def test_quantities():
    assert [cpu_quantity(c) for c in (0.1, 0.5, 1, 2.25)] == ["100m", "500m", "1", "2250m"]
    assert [memory_quantity(m) for m in (0.5, 1, 1.5, 16)] == ["512Mi", "1Gi", "1536Mi", "16Gi"]


def test_keys_never_appear_in_the_plan(project):
    _, plan = evaluate_stack("prod", project.root)
    text = offline.plan_json(plan)
    for key in ("diabetes-primary-key", "diabetes-secondary-key", "diabetes-multi-primary-key"):
        assert mock_key(key) not in text
    assert plan.named("diabetes-keys").inputs["stringData"] == SECRET_PLACEHOLDER


def test_the_azmlinfsrv_fallback_also_gets_gunicorn_worker_timeout(project, monkeypatch):
    """WORKER_TIMEOUT is gunicorn's (azmlinfsrv's) silent-worker limit: 400 s of scoring
    timeout + 30 s; modelstack's server has no such knob, so its pods do not get it."""
    seen = revealed_inputs(monkeypatch)
    project.write_stack(
        "fallback",
        {
            "registry": {"kind": "acr"},
            "clusters": {"aks-ml": {"cluster_purpose": "DevTest", "agent_count": 1, "vm_size": "Standard_D4s_v5"}},
            "services": {
                "diabetes": {
                    "target": "aks",
                    "compute": "aks-ml",
                    "scoring_server": "azmlinfsrv",
                    "deploy": {
                        "scoring_timeout_ms": 400000,
                        "replica_max_concurrent_requests": 3,
                        "auth_enabled": False,
                    },
                },
                "diabetes-multi": None,
            },
        },
    )
    evaluate_stack("fallback", project.root)
    assert seen["diabetes-deployment"]["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "MODELSTACK_AUTH_ENABLED", "value": "false"},
        {"name": "SCORING_TIMEOUT_MS", "value": "400000"},
        {"name": "SERVICE_PATH_PREFIX", "value": "api/v1/service/diabetes"},
        {"name": "WORKER_COUNT", "value": "3"},
        {"name": "WORKER_TIMEOUT", "value": "430"},
    ]


def test_token_auth_mounts_a_signing_key_and_no_keys(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    project.write_stack(
        "tokens",
        {
            "registry": {"kind": "acr"},
            "clusters": {"aks-ml": {"cluster_purpose": "DevTest", "agent_count": 1, "vm_size": "Standard_D4s_v5"}},
            "services": {
                "diabetes": {
                    "target": "aks",
                    "compute": "aks-ml",
                    "deploy": {"token_auth_enabled": True, "num_replicas": 1},
                },
                "diabetes-multi": None,
            },
        },
    )
    _, plan = evaluate_stack("tokens", project.root)
    passwords = {r.name: r.inputs for r in plan.by_type("random:index/randomPassword:RandomPassword")}
    assert passwords == {"diabetes-token-signing-key": {"length": 64, "special": False}}, "no primary or secondary key"
    assert seen["diabetes-keys"]["stringData"] == {
        SECRET: {"token_signing_key": mock_key("diabetes-token-signing-key", 64)}
    }
    assert plan.named("diabetes-keys").inputs["stringData"] == SECRET_PLACEHOLDER
    pod = seen["diabetes-deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["volumes"] == [
        {
            "name": "keys",
            "secret": {
                "items": [{"key": "token_signing_key", "path": "token_signing_key"}],
                "secretName": "diabetes-keys",
            },
        }
    ]
    assert container["volumeMounts"] == [{"mountPath": "/var/run/modelstack/keys", "name": "keys", "readOnly": True}]
    assert container["env"] == [
        {"name": "MODELSTACK_AUTH_ENABLED", "value": "false"},
        {"name": "MODELSTACK_KEYS_DIR", "value": "/var/run/modelstack/keys"},
        {"name": "MODELSTACK_TOKEN_AUDIENCE", "value": "diabetes"},
        {"name": "MODELSTACK_TOKEN_AUTH_ENABLED", "value": "true"},
        {"name": "SCORING_TIMEOUT_MS", "value": "60000"},
        {"name": "SERVICE_PATH_PREFIX", "value": "api/v1/service/diabetes"},
        {"name": "WORKER_COUNT", "value": "1"},
    ]
    assert mock_key("diabetes-token-signing-key", 64) not in offline.plan_json(plan)


@pytest.mark.parametrize(
    "deploy, scoring_server, message",
    [
        (
            {"token_auth_enabled": True, "auth_enabled": True},
            "modelstack",
            "modelstack:services.diabetes.deploy.token_auth_enabled: auth_enabled and token_auth_enabled are both true",
        ),
        (
            {"token_auth_enabled": True},
            "azmlinfsrv",
            "modelstack:services.diabetes.deploy.token_auth_enabled: token_auth_enabled with scoring_server: azmlinfsrv",
        ),
        (
            {"token_auth_enabled": True, "primary_key": "k" * 32},
            "modelstack",
            "modelstack:services.diabetes.deploy.primary_key: primary_key is set while the service authenticates with tokens",
        ),
    ],
    ids=["both", "azmlinfsrv", "a key with tokens"],
)
def test_token_auth_that_cannot_work_is_refused(project, deploy, scoring_server, message):
    from components.errors import ConfigErrors

    project.write_stack(
        "tokens",
        {
            "registry": {"kind": "acr"},
            "clusters": {"aks-ml": {"cluster_purpose": "DevTest", "agent_count": 1, "vm_size": "Standard_D4s_v5"}},
            "services": {
                "diabetes": {"target": "aks", "compute": "aks-ml", "scoring_server": scoring_server, "deploy": deploy},
                "diabetes-multi": None,
            },
        },
    )
    with pytest.raises(ConfigErrors) as caught:
        project.load("tokens")
    assert message in [str(e).split("\n")[0] for e in caught.value.errors]
