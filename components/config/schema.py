"""The shape of modelstack's configuration: pydantic models and constants, nothing else.

Key names are Azure ML v1's parameter names (docs/configuration.md lists them), so that a user who knows
`AksWebservice.deploy_configuration(...)` can write a stack without a manual. Per-field types
and ranges live here (the first tier of validation); the cross-field rules are in
`components.config.rules`, and reading the files in `components.config.load`.

This module imports nothing of modelstack's, so every other module may import it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, SecretStr

NAMESPACE = "modelstack"
STACKS = ("local", "dev", "staging", "prod")
DEFAULT_BASE_IMAGE = "modelstack/python-base:bookworm"
DEFAULT_LOCATION = "westeurope"
# The project's working state on this machine (git-ignored): local state backend, registry
# storage, wheelhouse, build scratch, profiles.
STATE_DIR = ".modelstack"
# Stands in for a `secure:` value when the stack's passphrase is not at hand (offline check).
UNDECRYPTED_SECRET = "[secret]"


def config_key(*parts: str | int) -> str:
    """The full key of a setting, as errors name it: ("services", "diabetes", "models", 0) ->
    'modelstack:services.diabetes.models[0]'."""
    head, *rest = [*parts] or ["?"]
    key = f"{NAMESPACE}:{head}"
    for part in rest:
        key += f"[{part}]" if isinstance(part, int) else f".{part}"
    return key


# --- numbers ---------------------------------------------------------------------------------
# Numbers are numbers: `true` is not 1 (pydantic's strict mode refuses booleans and strings;
# an integer is still a valid float), never nan or inf, and bounded by what the target accepts.

# Kubernetes' int32 fields (Deployment replicas, HPA min/max replicas, probe periods, delays,
# timeouts and thresholds: k8s.io/api core/v1 Probe, apps/v1 DeploymentSpec).
INT32_MAX = 2**31 - 1
PORT_MAX = 65535
# ACI: a Linux container group gets at most 4 vCPUs and 16 GB of memory (Azure docs, "Resource
# availability for Azure Container Instances by region", standard container groups).
ACI_MAX_CPU_CORES = 4
ACI_MAX_MEMORY_GB = 16
# AKS: a pod fits on one node; the largest Azure VM size (Standard_M416ms_v2) has 416 vCPUs and
# 11,400 GiB of memory, and the largest GPU sizes (ND96 series) have 8 GPUs.
AKS_MAX_CPU_CORES = 416
AKS_MAX_MEMORY_GB = 11_400
AKS_MAX_GPU_CORES = 8
# AKS: at most 1,000 nodes per node pool (Azure docs, "Quotas, virtual machine size restrictions,
# and region availability in AKS"); the cluster autoscaler's bounds are per pool too.
AKS_MAX_POOL_NODES = 1000


def count(low: int, high: int = INT32_MAX) -> Any:
    """An integer in low..high; booleans, strings and floats refused."""
    return Annotated[int, Field(strict=True, ge=low, le=high)]


def amount(high: float) -> Any:
    """A finite number above 0 and at most high; booleans and strings refused."""
    return Annotated[float, Field(strict=True, gt=0, le=high, allow_inf_nan=False)]


# Booleans are booleans: true or false, not 1, 'yes' or 'true' (the engine hands YAML 1.2 values
# over, where yes and on are text; accepting them here would make `check` and the engine differ).
Flag = Annotated[bool, Field(strict=True)]
# A secret that is set is not empty (an empty key or connection string authenticates nothing).
Secret = Annotated[SecretStr, Field(min_length=1)]


class _Strict(BaseModel):
    """Unknown keys are errors (with a suggestion), never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- models -------------------------------------------------------------------------------

ModelFramework = Literal["Custom", "TensorFlow", "ScikitLearn", "Onnx", "TfKeras", "PyTorch", "Multi"]


class ModelSpec(_Strict):
    """`Model.register(...)`: a file or folder; its version is derived from its content."""

    path: str
    framework: ModelFramework = "Custom"
    framework_version: str | None = None
    tags: dict[str, str] = {}
    properties: dict[str, str] = {}
    description: str | None = None


# --- environment (InferenceConfig) -----------------------------------------------------------


class RegistryCredentials(_Strict):
    """`base_image_registry`: where a private base image comes from."""

    address: str
    username: str | None = None
    password: Secret | None = None


class EnvironmentSpec(_Strict):
    pip_requirements: str | None = None
    conda_file: str | None = None
    base_image: str | None = None
    base_image_registry: RegistryCredentials | None = None
    extra_docker_file_steps: str | None = None
    enable_gpu: Flag = False
    cuda_version: str | None = None


# --- deploy configurations, one per target --------------------------------------------------


class LocalDeploy(_Strict):
    """`LocalWebservice.deploy_configuration(port)`; a free port is picked when unset."""

    port: count(1, PORT_MAX) | None = None


class AciDeploy(_Strict):
    """`AciWebservice.deploy_configuration(...)`."""

    cpu_cores: amount(ACI_MAX_CPU_CORES) = 0.1
    memory_gb: amount(ACI_MAX_MEMORY_GB) = 0.5
    auth_enabled: Flag = False
    ssl_enabled: Flag = False
    ssl_cert_pem_file: str | None = None
    ssl_key_pem_file: str | None = None
    ssl_cname: str | None = None
    dns_name_label: str | None = None
    primary_key: Secret | None = None
    secondary_key: Secret | None = None
    enable_app_insights: Flag = False
    collect_model_data: Flag = False
    vnet_name: str | None = None
    subnet_name: str | None = None
    location: str | None = None
    # azmlinfsrv's --access_control_allow_origins: browser origins allowed to call the service.
    access_control_allow_origins: list[str] = []
    tags: dict[str, str] = {}
    properties: dict[str, str] = {}
    description: str | None = None


class AksDeploy(_Strict):
    """`AksWebservice.deploy_configuration(...)`.

    Autoscale settings default to None so that "given while autoscale is off" can be told
    apart from "left at the default"; `components.config.rules` resolves the effective values.
    """

    autoscale_enabled: Flag | None = None
    autoscale_min_replicas: count(1) | None = None
    autoscale_max_replicas: count(1) | None = None
    autoscale_refresh_seconds: count(1) | None = None
    autoscale_target_utilization: count(1, 100) | None = None
    num_replicas: count(1) | None = None
    cpu_cores: amount(AKS_MAX_CPU_CORES) = 0.1
    memory_gb: amount(AKS_MAX_MEMORY_GB) = 0.5
    cpu_cores_limit: amount(AKS_MAX_CPU_CORES) | None = None
    memory_gb_limit: amount(AKS_MAX_MEMORY_GB) | None = None
    gpu_cores: count(0, AKS_MAX_GPU_CORES) = 0
    scoring_timeout_ms: count(1) = 60000
    replica_max_concurrent_requests: count(1) = 1
    max_request_wait_time: count(1) = 500
    period_seconds: count(1) = 10
    initial_delay_seconds: count(1) = 310
    timeout_seconds: count(1) = 1
    success_threshold: count(1) = 1
    failure_threshold: count(1) = 3
    auth_enabled: Flag = True
    token_auth_enabled: Flag = False
    primary_key: Secret | None = None
    secondary_key: Secret | None = None
    enable_app_insights: Flag = False
    collect_model_data: Flag = False
    namespace: str | None = None
    # azmlinfsrv's --access_control_allow_origins: browser origins allowed to call the service.
    access_control_allow_origins: list[str] = []
    tags: dict[str, str] = {}
    properties: dict[str, str] = {}
    description: str | None = None


# `kubernetes` (any cluster by kubeconfig) takes AKS's parameters: the same Kubernetes objects.
DEPLOY_MODELS: dict[str, type[_Strict]] = {"local": LocalDeploy, "aci": AciDeploy, "aks": AksDeploy, "kubernetes": AksDeploy}
Target = Literal["local", "aci", "aks", "kubernetes"]


class VersionSpec(_Strict):
    """One version of a controlled rollout (AksEndpoint): its own Deployment, serving `models`
    (default: the service's), with `traffic_percentile` of the requests."""

    version_name: str
    traffic_percentile: Annotated[float, Field(strict=True, ge=0, le=100, allow_inf_nan=False)] = 0
    is_default: Flag = False
    is_control_version_type: Flag = False
    models: list[str] | None = None


class ServiceSpec(_Strict):
    """A webservice: InferenceConfig + target + deploy_configuration."""

    models: Annotated[list[str], Field(min_length=1)]
    entry_script: str
    source_directory: str | None = None
    environment: EnvironmentSpec = EnvironmentSpec()
    # The HTTP server that runs init()/run() in the image: modelstack's (templates/modelstack_server)
    # or Azure ML's own azureml-inference-server-http, the fallback.
    scoring_server: Literal["modelstack", "azmlinfsrv"] = "modelstack"
    target: Target = "local"
    compute: str | None = None
    deploy: Union[LocalDeploy, AciDeploy, AksDeploy] = LocalDeploy()
    versions: list[VersionSpec] = []
    description: str | None = None
    tags: dict[str, str] = {}


# --- platform ---------------------------------------------------------------------------------


class LocalRegistrySpec(_Strict):
    """A real OCI registry on this machine (Debian's `docker-registry`)."""

    kind: Literal["local"]
    port: count(1, PORT_MAX) = 5050


class AcrRegistrySpec(_Strict):
    """An Azure Container Registry."""

    kind: Literal["acr"]
    sku: Literal["Basic", "Standard", "Premium"] = "Basic"
    name: str | None = None
    admin_user_enabled: Flag = False


RegistrySpec = Annotated[Union[LocalRegistrySpec, AcrRegistrySpec], Field(discriminator="kind")]


class AttachSpec(_Strict):
    """`AksCompute.attach_configuration`: an existing cluster."""

    resource_group: str | None = None
    cluster_name: str | None = None
    resource_id: str | None = None


class ClusterSpec(_Strict):
    """`AksCompute.provisioning_configuration(...)`, or `attach:` for an existing cluster."""

    agent_count: count(1, AKS_MAX_POOL_NODES) = 3
    vm_size: str = "Standard_D3_v2"
    # Node autoscaling (AKS's cluster autoscaler; not an Azure ML parameter). agent_count is
    # the starting size; the 12-vCPU rule counts autoscale_min_nodes when autoscaling.
    autoscale_enabled: Flag = False
    autoscale_min_nodes: count(1, AKS_MAX_POOL_NODES) | None = None
    autoscale_max_nodes: count(1, AKS_MAX_POOL_NODES) | None = None
    cluster_purpose: Literal["FastProd", "DevTest"] = "FastProd"
    kubernetes_version: str | None = None
    load_balancer_type: Literal["PublicIp", "InternalLoadBalancer"] = "PublicIp"
    load_balancer_subnet: str | None = None
    ssl_cname: str | None = None
    ssl_cert_pem_file: str | None = None
    ssl_key_pem_file: str | None = None
    leaf_domain_label: str | None = None
    vnet_resourcegroup_name: str | None = None
    vnet_name: str | None = None
    subnet_name: str | None = None
    service_cidr: str | None = None
    dns_service_ip: str | None = None
    docker_bridge_cidr: str | None = None
    location: str | None = None
    attach: AttachSpec | None = None
    # An attached cluster's Gateway API implementation, by its GatewayClass (AKS's application
    # routing gateway, approuting-istio, by default). A created cluster gets Traefik from the stack.
    gateway_class: str | None = None


class VersionPin(_Strict):
    """The image of one rollout version of a promoted release, and the model versions in it."""

    image: str  # pinned by digest
    model_versions: dict[str, str] = {}


class AppInsightsSpec(_Strict):
    """Application Insights for the services with `enable_app_insights`: a workspace-based component
    the stack creates (with its Log Analytics workspace), or an existing one's connection string."""

    connection_string: Secret | None = None
    retention_in_days: count(30, 730) = 90


class KubernetesClusterSpec(_Strict):
    """A cluster the stack does not create (`target: kubernetes`): kind, k3d, minikube, Docker
    Desktop, another cloud's. It is named by a kubeconfig (the document as a Pulumi secret, or a
    file) and a context, and brings its own Gateway API implementation, named by its class."""

    kubeconfig: Secret | None = None
    kubeconfig_file: str | None = None  # relative to Pulumi.yaml's folder, or absolute; ~ expands
    context: str | None = None
    gateway_class: str | None = None  # required; a rule says so with the fix
    http_port: count(1, PORT_MAX) = 80  # the Gateway's HTTP listener (some implementations want their entry point's port)
    hostname: str | None = None  # the host clients call, when the Gateway's own address is not it


class ReleasePin(_Strict):
    """What a stack runs for a service when a release was promoted to it (`modelstack promote`):
    the image by digest and the model versions inside it, and the same for each rollout version
    (`versions:`, AKS). A pinned service is never rebuilt, nor are its versions."""

    image: str  # an image reference pinned by digest (components.config.references)
    model_versions: dict[str, str] = {}
    versions: dict[str, VersionPin] = {}
    source_stack: str | None = None


class StackConfig(_Strict):
    """Everything one stack asks for, merged and validated."""

    stack: str
    project_dir: str
    location: str = DEFAULT_LOCATION
    resource_group: str | None = None
    tags: dict[str, str] = {}
    registry: RegistrySpec = LocalRegistrySpec(kind="local")
    clusters: dict[str, ClusterSpec] = {}
    kubernetes_clusters: dict[str, KubernetesClusterSpec] = {}
    models: dict[str, ModelSpec] = {}
    services: dict[str, ServiceSpec] = {}
    release: dict[str, ReleasePin] = {}
    app_insights: AppInsightsSpec = AppInsightsSpec()


# Config keys a stack may set under the `modelstack:` namespace.
TOP_LEVEL_KEYS = ("location", "resource_group", "tags", "registry", "clusters", "kubernetes_clusters", "models", "services", "release", "app_insights")
# Keys shared by all stacks, declared in Pulumi.yaml.
SHARED_KEYS = ("models", "services")
# Fields that hold secrets: they must come from `pulumi config set --secret`.
SECRET_FIELDS = ("password", "primary_key", "secondary_key", "connection_string", "kubeconfig")
