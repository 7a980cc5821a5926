"""KubernetesWebservice: Azure ML's AKS webservice, as Kubernetes objects on the stack's cluster (AKS, or any).

Per service, in its namespace (`namespace`, default modelstack-<stack>, owned by the cluster's
front end, `components.targets.kubernetes.frontend`):
- a Secret with the keys (when `auth_enabled`), or the key that signs its tokens (when
  `token_auth_enabled`), mounted into the pods, where the image's server checks
  `Authorization: Bearer <key or token>`; a rotated key is picked up without a restart;
- per version (one implicit version without `versions:`): a Deployment, a ClusterIP Service,
  a HorizontalPodAutoscaler (or fixed `num_replicas`) and a PodDisruptionBudget;
- an HTTPRoute on the front end's Gateway at /api/v1/service/<service>, weighted across the
  versions (`components.config.rollout`), with a header (`x-modelstack-version`) to call one version.

How deploy_configuration parameters map (names and defaults are Azure ML's):
- cpu_cores, memory_gb -> container requests; cpu_cores_limit, memory_gb_limit -> limits;
  gpu_cores -> the `nvidia.com/gpu` limit (and a toleration for AKS GPU pools);
- period_seconds, initial_delay_seconds, timeout_seconds, failure_threshold -> the liveness
  probe on `GET /`; the readiness probe uses the same period, timeout and thresholds plus
  success_threshold (Kubernetes requires 1 on liveness probes) and no initial delay, so a
  pod takes traffic as soon as init() is done;
- scoring_timeout_ms -> SCORING_TIMEOUT_MS (the server's own timeout: run() past it answers
  500 and the worker takes the next request), and the grace period of a stopping pod; with
  `scoring_server: azmlinfsrv` also a gunicorn worker timeout (WORKER_TIMEOUT) above it;
- replica_max_concurrent_requests -> WORKER_COUNT: the requests a replica serves at once. Both
  servers run WORKER_COUNT worker processes, each with its own init() and one run() at a time
  (entry scripts assume that); modelstack's server holds further connections open (up to
  MODELSTACK_MAX_CONNECTIONS) and queues their requests for the next free worker, instead of
  leaving them in the listen backlog as gunicorn's sync workers do;
- autoscale_* -> the HPA (min/max replicas, target CPU utilisation; refresh seconds as the
  period of a scale-up step); num_replicas -> a fixed replica count and no HPA;
- tags, properties, description -> an annotation (Azure ML workspace metadata).
max_request_wait_time (queueing in Azure ML's front end) has no counterpart and is not used.

`up` waits for each version to roll out (components.targets.kubernetes.rollout: the Deployment
and Service carry `pulumi.com/skipAwait`, and a KubernetesRollout waits for them instead), and
fails at once with the pod, its reason and its last log lines when it cannot.

Updates roll out with zero downtime: a new pod must be ready before an old one goes
(maxUnavailable 0), and a stopping pod waits a few seconds (preStop) before the server drains
its requests. Changing only the model changes the pods' image and annotation: an in-place
rolling update of the Deployment; Service, HPA, PDB, Secret and HTTPRoute are untouched.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.config import capacity
from components.config.deploy_rules import (
    autoscale_enabled,
    key_auth_enabled,
    replica_bounds,
    target_utilization,
    token_auth_enabled,
)
from components.config.rollout import VERSION_HEADER, RolloutVersion, workload_name
from components.config.schema import AksDeploy
from components.targets.keys import (
    APP_INSIGHTS_CONNECTION_STRING_ENV,
    APP_INSIGHTS_SECRET_KEY,
    KEY_FILES,
    KEYS_DIR_ENV,
    TOKEN_AUDIENCE_ENV,
    TOKEN_KEY_FILE,
    ServiceKeys,
    front_environment,
)
from components.targets.kubernetes.frontend import (
    GATEWAY_API_VERSION,
    GATEWAY_NAME,
    MANAGED_BY_LABELS,
    OWNED_BY_STACK,
    GatewayApiObject,
    KubernetesFrontend,
    service_base_uri,
    service_path,
)
from components.targets.kubernetes.rollout import DEFAULT_PATIENCE_SECONDS, SKIP_AWAIT, KubernetesRollout, revision_with
from components.targets.states import K8S_SERVICE_LABEL, service_state
from modelstack_server import contract

SERVICE_PORT = 80
PRE_STOP_SECONDS = 5
DEFAULT_REFRESH_SECONDS = 1
SERVER_WORKER_TIMEOUT_SECONDS = 300  # azmlinfsrv's default; init() runs within it
GPU_RESOURCE = "nvidia.com/gpu"


# --- pure decisions -------------------------------------------------------------------------------


def cpu_quantity(cores: float) -> str:
    millicores = capacity.millicores(cores)  # what the capacity check sums
    return f"{millicores // 1000}" if millicores % 1000 == 0 else f"{millicores}m"


def memory_quantity(gigabytes: float) -> str:
    mebibytes = capacity.mebibytes(gigabytes)
    return f"{mebibytes // 1024}Gi" if mebibytes % 1024 == 0 else f"{mebibytes}Mi"


def selector_labels(service: str, version: RolloutVersion) -> dict[str, str]:
    """What a version's Service, PDB and HPA find its pods by (immutable on a Deployment)."""
    return {K8S_SERVICE_LABEL: service, contract.K8S_WORKLOAD_LABEL: workload_name(service, version)}


def workload_labels(service: str, version: RolloutVersion) -> dict[str, str]:
    labels = {**selector_labels(service, version), **MANAGED_BY_LABELS}
    if version.declared:
        labels.update(
            {
                contract.K8S_VERSION_LABEL: version.name,
                contract.K8S_VERSION_TYPE_LABEL: "control" if version.is_control else "treatment",
            }
        )
    return labels


def metadata_annotations(deploy: AksDeploy) -> dict[str, str]:
    metadata = {
        k: v
        for k, v in (
            ("description", deploy.description),
            ("properties", dict(deploy.properties)),
            ("tags", dict(deploy.tags)),
        )
        if v
    }
    return {contract.K8S_AZUREML_METADATA_ANNOTATION: json.dumps(metadata, sort_keys=True)} if metadata else {}


def resources(deploy: AksDeploy) -> dict[str, Any]:
    requested = {"cpu": cpu_quantity(deploy.cpu_cores), "memory": memory_quantity(deploy.memory_gb)}
    limits: dict[str, Any] = {}
    if deploy.cpu_cores_limit is not None:
        limits["cpu"] = cpu_quantity(deploy.cpu_cores_limit)
    if deploy.memory_gb_limit is not None:
        limits["memory"] = memory_quantity(deploy.memory_gb_limit)
    if deploy.gpu_cores:
        limits[GPU_RESOURCE] = deploy.gpu_cores
    return {"requests": requested, **({"limits": limits} if limits else {})}


def probes(deploy: AksDeploy) -> dict[str, Any]:
    check = {
        "httpGet": {"path": contract.HEALTH_ROUTE, "port": "http"},
        "periodSeconds": deploy.period_seconds,
        "timeoutSeconds": deploy.timeout_seconds,
        "failureThreshold": deploy.failure_threshold,
    }
    return {
        "livenessProbe": {**check, "initialDelaySeconds": deploy.initial_delay_seconds, "successThreshold": 1},
        "readinessProbe": {**check, "successThreshold": deploy.success_threshold},
    }


def scoring_timeout_seconds(deploy: AksDeploy) -> int:
    return math.ceil(deploy.scoring_timeout_ms / 1000)


def server_environment(
    service: str, version: RolloutVersion, deploy: AksDeploy, scoring_server: str = "modelstack"
) -> list[dict[str, Any]]:
    environment = {
        contract.WORKER_COUNT_ENV: str(deploy.replica_max_concurrent_requests),
        contract.SCORING_TIMEOUT_ENV: str(deploy.scoring_timeout_ms),
        # The swagger document's paths, as clients see them through the front end.
        contract.SERVICE_PATH_PREFIX_ENV: service_path(service).lstrip("/"),
        **front_environment(deploy),
    }
    if scoring_server == "azmlinfsrv":
        # gunicorn aborts a worker silent for this long; init() and run() must fit within it.
        environment["WORKER_TIMEOUT"] = str(max(SERVER_WORKER_TIMEOUT_SECONDS, scoring_timeout_seconds(deploy) + 30))
    if version.declared:
        environment[contract.SERVICE_VERSION_ENV] = version.name
        # The name every response, log line and metric of this version carries (without declared
        # versions the server names the service).
        environment[contract.ROLLOUT_VERSION_ENV] = version.name
    if secret_files(deploy):
        environment[KEYS_DIR_ENV] = contract.KEYS_MOUNT
    if token_auth_enabled(deploy):
        environment[TOKEN_AUDIENCE_ENV] = service  # tokens are issued for one service
    listed: list[dict[str, Any]] = [{"name": name, "value": value} for name, value in environment.items()]
    if deploy.enable_app_insights:
        # From the service's Secret, never a plain value in the Deployment.
        listed.append(
            {
                "name": APP_INSIGHTS_CONNECTION_STRING_ENV,
                "valueFrom": {"secretKeyRef": {"name": keys_secret_name(service), "key": APP_INSIGHTS_SECRET_KEY}},
            }
        )
    return sorted(listed, key=lambda variable: variable["name"])


def secret_files(deploy: AksDeploy) -> tuple[str, ...]:
    """The files of the keys' Secret the pods mount: the two keys, or the tokens' signing key."""
    if token_auth_enabled(deploy):
        return (TOKEN_KEY_FILE,)
    return KEY_FILES if key_auth_enabled(deploy) else ()


def keys_secret_name(service: str) -> str:
    return f"{service}-keys"


def keys_secret_manifest(service: str, namespace: str) -> dict[str, Any]:
    """The keys' Secret without its data (that goes in as a Pulumi secret)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": keys_secret_name(service),
            "namespace": namespace,
            "labels": {K8S_SERVICE_LABEL: service, **MANAGED_BY_LABELS},
            "annotations": dict(OWNED_BY_STACK),
        },
    }


def deployment_manifest(
    service: str,
    version: RolloutVersion,
    deploy: AksDeploy,
    namespace: str,
    image: Any,
    model_versions: dict[str, str],
    scoring_server: str = "modelstack",
) -> dict[str, Any]:
    name = workload_name(service, version)
    selector = selector_labels(service, version)
    container: dict[str, Any] = {
        "name": "scoring",
        "image": image,
        "ports": [{"name": "http", "containerPort": contract.PORT, "protocol": "TCP"}],
        "env": server_environment(service, version, deploy, scoring_server),
        "resources": resources(deploy),
        **probes(deploy),
        "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SECONDS}}},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    pod: dict[str, Any] = {
        "containers": [container],
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": contract.IMAGE_USER_ID,
            "runAsGroup": contract.IMAGE_USER_ID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # Server drain (scoring timeout + the contract's margin: modelstack_server/server.py, and
        # modelstack_server/azmlinfsrv_front.py for azmlinfsrv) after preStop.
        "terminationGracePeriodSeconds": scoring_timeout_seconds(deploy)
        + contract.DRAIN_MARGIN_SECONDS
        + PRE_STOP_SECONDS
        + 5,
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector},
            }
        ],
    }
    if secret_files(deploy):
        container["volumeMounts"] = [{"name": "keys", "mountPath": contract.KEYS_MOUNT, "readOnly": True}]
        pod["volumes"] = [
            {
                "name": "keys",
                "secret": {
                    "secretName": keys_secret_name(service),
                    "items": [{"key": k, "path": k} for k in secret_files(deploy)],
                },
            }
        ]
    if deploy.gpu_cores:
        pod["tolerations"] = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
    spec: dict[str, Any] = {
        "selector": {"matchLabels": selector},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
        "template": {
            "metadata": {
                "labels": workload_labels(service, version),
                "annotations": {
                    contract.K8S_MODEL_VERSIONS_ANNOTATION: ",".join(
                        f"{m}={v}" for m, v in sorted(model_versions.items())
                    )
                },
            },
            "spec": pod,
        },
    }
    if not autoscale_enabled(deploy):
        spec["replicas"] = deploy.num_replicas or 1
    # pulumi-kubernetes does not wait for it: its KubernetesRollout does, and says why it fails
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": workload_labels(service, version),
        "annotations": {**SKIP_AWAIT, **OWNED_BY_STACK, **metadata_annotations(deploy)},
    }
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}


def service_manifest(service: str, version: RolloutVersion, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": workload_name(service, version),
            "namespace": namespace,
            "labels": workload_labels(service, version),
            "annotations": {**SKIP_AWAIT, **OWNED_BY_STACK},
        },
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(service, version),
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP", "appProtocol": "http"}
            ],
        },
    }


def hpa_manifest(service: str, version: RolloutVersion, deploy: AksDeploy, namespace: str) -> dict[str, Any] | None:
    if not autoscale_enabled(deploy):
        return None
    low, high = replica_bounds(deploy)
    name = workload_name(service, version)
    target = target_utilization(deploy)
    refresh = deploy.autoscale_refresh_seconds or DEFAULT_REFRESH_SECONDS
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": workload_labels(service, version),
            "annotations": dict(OWNED_BY_STACK),
        },
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": low,
            "maxReplicas": high,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}},
                }
            ],
            "behavior": {
                "scaleUp": {
                    "stabilizationWindowSeconds": 0,
                    "policies": [{"type": "Percent", "value": 100, "periodSeconds": refresh}],
                }
            },
        },
    }


def pdb_manifest(service: str, version: RolloutVersion, namespace: str) -> dict[str, Any]:
    """At most one pod of a version is evicted at a time (node drains, upgrades)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {
            "name": workload_name(service, version),
            "namespace": namespace,
            "labels": workload_labels(service, version),
            "annotations": dict(OWNED_BY_STACK),
        },
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector_labels(service, version)}},
    }


def _rule(prefix: str, backends: list[dict[str, Any]], headers: list[dict[str, str]] | None = None) -> dict[str, Any]:
    match: dict[str, Any] = {"path": {"type": "PathPrefix", "value": prefix}}
    if headers:
        match["headers"] = headers
    return {
        "matches": [match],
        # /api/v1/service/<service>/score -> /score on the pods
        "filters": [
            {"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}}
        ],
        "backendRefs": backends,
    }


def route_manifest(
    service: str,
    versions: list[RolloutVersion],
    namespace: str,
    gateway_namespace: str,
    listener: str,
    hostname: str | None,
) -> dict[str, Any]:
    prefix = service_path(service)

    def backend(version: RolloutVersion, weight: int | None = None) -> dict[str, Any]:
        ref: dict[str, Any] = {
            "group": "",
            "kind": "Service",
            "name": workload_name(service, version),
            "port": SERVICE_PORT,
        }
        if weight is not None:
            ref["weight"] = weight
        return ref

    rules = [
        _rule(prefix, [backend(v)], [{"type": "Exact", "name": VERSION_HEADER, "value": v.name}])
        for v in versions
        if v.declared
    ]
    rules.append(_rule(prefix, [backend(v, v.weight) for v in versions]))
    spec: dict[str, Any] = {
        "parentRefs": [
            {
                "group": "gateway.networking.k8s.io",
                "kind": "Gateway",
                "name": GATEWAY_NAME,
                "namespace": gateway_namespace,
                "sectionName": listener,
            }
        ],
        "rules": rules,
    }
    if hostname:
        spec["hostnames"] = [hostname]
    return {
        "apiVersion": GATEWAY_API_VERSION,
        "kind": "HTTPRoute",
        "metadata": {
            "name": service,
            "namespace": namespace,
            "labels": {K8S_SERVICE_LABEL: service, **MANAGED_BY_LABELS},
            "annotations": dict(OWNED_BY_STACK),
        },
        "spec": spec,
    }


# --- the component --------------------------------------------------------------------------------


# Named for AKS before any cluster could run it: stacks recorded under the old type keep their
# resources (the alias tells the engine it is the same component, so nothing is replaced).
PREVIOUS_WEBSERVICE_TYPE = "modelstack:aks:AksWebservice"


class KubernetesWebservice(pulumi.ComponentResource):
    """One service on a Kubernetes cluster (AKS or any other): `scoring_uri`, `swagger_uri`,
    `state`, `namespace_name`, `deployments`."""

    scoring_uri: pulumi.Output[str | None]  # None while the Gateway has no address
    swagger_uri: pulumi.Output[str | None]
    state: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        service: str,
        deploy: AksDeploy,
        versions: list[RolloutVersion],
        images: dict[str, pulumi.Input[str]],  # by version name
        model_versions: dict[str, dict[str, str]],  # by version name
        keys: ServiceKeys | None,
        frontend: KubernetesFrontend,
        provider: k8s.Provider,
        kubeconfig: pulumi.Input[str],  # a secret: the rollout waits read the cluster with it
        context: str | None = None,
        rollout_patience_seconds: int = DEFAULT_PATIENCE_SECONDS,
        scoring_server: str = "modelstack",  # services.<name>.scoring_server: what the image runs
        app_insights_connection_string: pulumi.Input[str] | None = None,  # with enable_app_insights
        opts: pulumi.ResourceOptions | None = None,
    ):
        self.namespace_name = deploy.namespace or frontend.gateway_namespace
        props = {
            "namespace": self.namespace_name,
            "versions": {v.name: v.percent for v in versions},
            "auth_enabled": key_auth_enabled(deploy),
            **({"token_auth_enabled": True} if token_auth_enabled(deploy) else {}),
        }
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=PREVIOUS_WEBSERVICE_TYPE)])
        )
        super().__init__("modelstack:kubernetes:Webservice", name, props, opts)
        namespace = frontend.ensure_namespace(self.namespace_name)

        def child(*depends: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[namespace, *depends])

        self.keys_secret = None
        secret_data: dict[str, pulumi.Input[str]] = dict(keys.as_output()) if keys is not None else {}
        if deploy.enable_app_insights:
            # The platform declares Application Insights when a service enables it (aks; the rules
            # refuse enable_app_insights on other clusters).
            assert app_insights_connection_string is not None
            secret_data[APP_INSIGHTS_SECRET_KEY] = app_insights_connection_string
        if secret_data:
            secret = keys_secret_manifest(service, self.namespace_name)
            self.keys_secret = k8s.core.v1.Secret(
                f"{service}-keys",
                metadata=secret["metadata"],
                type=secret["type"],
                string_data=secret_data,
                opts=child(),
            )
        self.deployments: dict[str, k8s.apps.v1.Deployment] = {}
        services = []
        rollouts = []
        for version in versions:
            prefix = workload_name(service, version)
            manifest = deployment_manifest(
                service,
                version,
                deploy,
                self.namespace_name,
                images[version.name],
                model_versions[version.name],
                scoring_server,
            )
            needs = [self.keys_secret] if self.keys_secret is not None else []
            self.deployments[version.name] = k8s.apps.v1.Deployment(
                f"{prefix}-deployment", metadata=manifest["metadata"], spec=manifest["spec"], opts=child(*needs)
            )
            service_object = service_manifest(service, version, self.namespace_name)
            services.append(
                k8s.core.v1.Service(
                    f"{prefix}-service", metadata=service_object["metadata"], spec=service_object["spec"], opts=child()
                )
            )
            # The wait pulumi-kubernetes skips (SKIP_AWAIT); it runs again whenever either object changes.
            rollouts.append(
                KubernetesRollout(
                    f"{prefix}-rollout",
                    kubeconfig=kubeconfig,
                    context=context,
                    namespace=self.namespace_name,
                    deployment=manifest["metadata"]["name"],
                    service=service,
                    k8s_service=service_object["metadata"]["name"],
                    workload_selector=",".join(
                        f"{k}={v}" for k, v in sorted(selector_labels(service, version).items())
                    ),
                    revision=pulumi.Output.from_input(manifest).apply(revision_with(service_object)),
                    applied=pulumi.Output.all(
                        self.deployments[version.name].metadata.generation, services[-1].metadata.uid
                    ).apply(lambda parts: "/".join(map(str, parts))),
                    patience_seconds=rollout_patience_seconds,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[self.deployments[version.name], services[-1]]),
                )
            )
            hpa = hpa_manifest(service, version, deploy, self.namespace_name)
            if hpa is not None:
                k8s.autoscaling.v2.HorizontalPodAutoscaler(
                    f"{prefix}-hpa",
                    metadata=hpa["metadata"],
                    spec=hpa["spec"],
                    opts=child(self.deployments[version.name]),
                )
            pdb = pdb_manifest(service, version, self.namespace_name)
            k8s.policy.v1.PodDisruptionBudget(f"{prefix}-pdb", metadata=pdb["metadata"], spec=pdb["spec"], opts=child())
        exposed = frontend.exposure
        route = route_manifest(
            service, versions, self.namespace_name, frontend.gateway_namespace, exposed.route_listener, exposed.hostname
        )
        # The route moves traffic only once every version has rolled out behind its Service.
        self.route = GatewayApiObject(f"{service}-route", route, child(frontend.gateway, *services, *rollouts))
        base = frontend.address.apply(
            lambda host: service_base_uri(exposed.scheme, host, frontend.client_port, service) if host else None
        )
        self.scoring_uri = base.apply(lambda uri: f"{uri}{contract.SCORE_ROUTE}" if uri else None)
        self.swagger_uri = base.apply(lambda uri: f"{uri}{contract.SWAGGER_ROUTE}" if uri else None)
        self.state = pulumi.Output.all(*[r.state for r in rollouts]).apply(service_state)
        self.register_outputs(
            {
                "scoring_uri": self.scoring_uri,
                "swagger_uri": self.swagger_uri,
                "state": self.state,
                "namespace": self.namespace_name,
            }
        )
