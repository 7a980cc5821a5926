"""The shape of modelstack's configuration: pydantic models and constants, nothing else.

Key names are Azure ML v1's parameter names (docs/configuration.md lists them), so that a user who knows
`AksWebservice.deploy_configuration(...)` can write a stack without a manual. Per-field types
and ranges live here (the first tier of validation); the cross-field rules are in
`components.config.rules`, and reading the files in `components.config.load`.

Each target's deploy parameters are its own (components.targets.<name>.schema); the registry
(components.targets.registry) says which target takes which. Besides those and the field types
of components.config.fields, this module imports nothing of modelstack's, so every other module
may import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, TypeAlias, Union

from pydantic import Field

from components.config.fields import (  # noqa: F401  (re-exported: the limits are part of the schema)
    ACI_MAX_CPU_CORES,
    ACI_MAX_MEMORY_GB,
    AKS_MAX_CPU_CORES,
    AKS_MAX_GPU_CORES,
    AKS_MAX_MEMORY_GB,
    AKS_MAX_POOL_NODES,
    INT32_MAX,
    PORT_MAX,
    Flag,
    Secret,
    Strict,
    int_range,
    positive_up_to,
)
from components.targets import registry
from components.targets.aci.schema import AciDeploy  # noqa: F401  (re-exported for the code that names a target's parameters)
from components.targets.kubernetes.schema import AksDeploy  # noqa: F401
from components.targets.local.schema import LocalDeploy

NAMESPACE = "modelstack"
STACKS = ("local", "dev", "staging", "prod")  # not a target: the example stacks
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


# --- models -------------------------------------------------------------------------------

ModelFramework = Literal["Custom", "TensorFlow", "ScikitLearn", "Onnx", "TfKeras", "PyTorch", "Multi"]


class ModelSpec(Strict):
    """`Model.register(...)`: a file or folder; its version is derived from its content."""

    path: str
    framework: ModelFramework = "Custom"
    framework_version: str | None = None
    tags: dict[str, str] = {}
    properties: dict[str, str] = {}
    description: str | None = None


# --- environment (InferenceConfig) -----------------------------------------------------------


class RegistryCredentials(Strict):
    """`base_image_registry`: where a private base image comes from."""

    address: str
    username: str | None = None
    password: Secret | None = None


class EnvironmentSpec(Strict):
    pip_requirements: str | None = None
    conda_file: str | None = None
    base_image: str | None = None
    base_image_registry: RegistryCredentials | None = None
    extra_docker_file_steps: str | None = None
    enable_gpu: Flag = False
    cuda_version: str | None = None


# Every target's deploy parameters, by target name (kubernetes shares aks's), from the registry.
DEPLOY_MODELS = registry.deploy_models()
if TYPE_CHECKING:
    # The names and the union come from the registry at run time, which a type checker cannot
    # evaluate; for it a target is a str and its deploy parameters some Strict model, which each
    # target narrows to its own with isinstance.
    Target: TypeAlias = str
    DeployParameters: TypeAlias = Strict
else:
    Target = Literal[registry.TARGET_NAMES]
    DeployParameters = Union[tuple(dict.fromkeys(DEPLOY_MODELS.values()))]  # noqa: UP007  (X | Y needs the members written out)


class VersionSpec(Strict):
    """One version of a controlled rollout (AksEndpoint): its own Deployment, serving `models`
    (default: the service's), with `traffic_percentile` of the requests."""

    version_name: str
    traffic_percentile: Annotated[float, Field(strict=True, ge=0, le=100, allow_inf_nan=False)] = 0
    is_default: Flag = False
    is_control_version_type: Flag = False
    models: list[str] | None = None


class ServiceSpec(Strict):
    """A webservice: InferenceConfig + target + deploy_configuration."""

    models: Annotated[list[str], Field(min_length=1)]
    entry_script: str
    source_directory: str | None = None
    environment: EnvironmentSpec = EnvironmentSpec()
    # The HTTP server that runs init()/run() in the image: modelstack's (modelstack_server/)
    # or Azure ML's own azureml-inference-server-http, the fallback.
    scoring_server: Literal["modelstack", "azmlinfsrv"] = "modelstack"
    target: Target = registry.DEFAULT_TARGET
    compute: str | None = None
    deploy: DeployParameters = LocalDeploy()
    versions: list[VersionSpec] = []
    description: str | None = None
    tags: dict[str, str] = {}


# --- platform ---------------------------------------------------------------------------------


class LocalRegistrySpec(Strict):
    """A real OCI registry on this machine (Debian's `docker-registry`)."""

    kind: Literal["local"]  # not a target: a registry on this machine
    port: Annotated[int, int_range(1, PORT_MAX)] = 5050


class AcrRegistrySpec(Strict):
    """An Azure Container Registry."""

    kind: Literal["acr"]
    sku: Literal["Basic", "Standard", "Premium"] = "Basic"
    name: str | None = None
    admin_user_enabled: Flag = False


RegistrySpec = Annotated[LocalRegistrySpec | AcrRegistrySpec, Field(discriminator="kind")]


class AttachSpec(Strict):
    """`AksCompute.attach_configuration`: an existing cluster."""

    resource_group: str | None = None
    cluster_name: str | None = None
    resource_id: str | None = None


class ClusterSpec(Strict):
    """`AksCompute.provisioning_configuration(...)`, or `attach:` for an existing cluster."""

    agent_count: Annotated[int, int_range(1, AKS_MAX_POOL_NODES)] = 3
    vm_size: str = "Standard_D3_v2"
    # Node autoscaling (AKS's cluster autoscaler; not an Azure ML parameter). agent_count is
    # the starting size; the 12-vCPU rule counts autoscale_min_nodes when autoscaling.
    autoscale_enabled: Flag = False
    autoscale_min_nodes: Annotated[int, int_range(1, AKS_MAX_POOL_NODES)] | None = None
    autoscale_max_nodes: Annotated[int, int_range(1, AKS_MAX_POOL_NODES)] | None = None
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


class VersionPin(Strict):
    """The image of one rollout version of a promoted release, and the model versions in it."""

    image: str  # pinned by digest
    model_versions: dict[str, str] = {}


class AppInsightsSpec(Strict):
    """Application Insights for the services with `enable_app_insights`: a workspace-based component
    the stack creates (with its Log Analytics workspace), or an existing one's connection string."""

    connection_string: Secret | None = None
    retention_in_days: Annotated[int, int_range(30, 730)] = 90


class KubernetesClusterSpec(Strict):
    """A cluster the stack does not create (`target: kubernetes`): kind, k3d, minikube, Docker
    Desktop, another cloud's. It is named by a kubeconfig (the document as a Pulumi secret, or a
    file) and a context, and brings its own Gateway API implementation, named by its class."""

    kubeconfig: Secret | None = None
    kubeconfig_file: str | None = None  # relative to Pulumi.yaml's folder, or absolute; ~ expands
    context: str | None = None
    gateway_class: str | None = None  # required; a rule says so with the fix
    http_port: Annotated[int, int_range(1, PORT_MAX)] = (
        80  # the Gateway's HTTP listener (some implementations want their entry point's port)
    )
    hostname: str | None = None  # the host clients call, when the Gateway's own address is not it


class ReleasePin(Strict):
    """What a stack runs for a service when a release was promoted to it (`modelstack promote`):
    the image by digest and the model versions inside it, and the same for each rollout version
    (`versions:`, AKS). A pinned service is never rebuilt, nor are its versions."""

    image: str  # an image reference pinned by digest (components.config.references)
    model_versions: dict[str, str] = {}
    versions: dict[str, VersionPin] = {}
    source_stack: str | None = None


class PlansSpec(Strict):
    """How saved plans (`modelstack plan`, `modelstack apply`) work for a stack."""

    lifetime_hours: Annotated[int, int_range(1, 24 * 30)] = 24
    # The cost gate: a plan whose estimated monthly cost rises by more than this (in the plan
    # summary's currency, USD) needs `apply --approved-by NAME`. Unset: no gate.
    approval_above_monthly: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] | None = None


class StackConfig(Strict):
    """Everything one stack asks for, merged and validated."""

    stack: str
    project_dir: str
    location: str = DEFAULT_LOCATION
    resource_group: str | None = None
    tags: dict[str, str] = {}
    registry: RegistrySpec = LocalRegistrySpec(kind="local")  # not a target: the registry kind
    clusters: dict[str, ClusterSpec] = {}
    kubernetes_clusters: dict[str, KubernetesClusterSpec] = {}
    models: dict[str, ModelSpec] = {}
    services: dict[str, ServiceSpec] = {}
    release: dict[str, ReleasePin] = {}
    app_insights: AppInsightsSpec = AppInsightsSpec()
    plans: PlansSpec = PlansSpec()


# Config keys a stack may set under the `modelstack:` namespace.
TOP_LEVEL_KEYS = (
    "location",
    "resource_group",
    "tags",
    "registry",
    "clusters",
    "kubernetes_clusters",
    "models",
    "services",
    "release",
    "app_insights",
    "plans",
)
# Keys shared by all stacks, declared in Pulumi.yaml.
SHARED_KEYS = ("models", "services")
# Fields that hold secrets: they must come from `pulumi config set --secret`.
SECRET_FIELDS = ("password", "primary_key", "secondary_key", "connection_string", "kubeconfig")
