"""All of modelstack's configuration, read in one place into typed models.

Where values come from:
- `Pulumi.yaml` declares what every stack shares (`modelstack:models`, `modelstack:services`)
  under `config: <key>: value:`.
- `stacks/Pulumi.<stack>.yaml` holds what differs per environment. Its values are deep-merged
  over the shared ones: mappings merge key by key, anything else (lists, scalars) replaces,
  and `null` removes an inherited key.

Key names are Azure ML v1's parameter names (see the README), so that a user who knows
`AksWebservice.deploy_configuration(...)` can write a stack without a manual.

Validation runs in two tiers before any resource exists: per-field types and ranges
(pydantic), then the cross-field rules of `components.rules`. Every error names the full key
path, the rule and the fix.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from .errors import ConfigError, ConfigErrors

NAMESPACE = "modelstack"
STACKS = ("local", "dev", "staging", "prod")
DEFAULT_BASE_IMAGE = "modelstack/python-base:bookworm"
DEFAULT_LOCATION = "westeurope"
# Stands in for a `secure:` value when the stack's passphrase is not at hand (offline check).
UNDECRYPTED_SECRET = "[secret]"


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
    password: SecretStr | None = None


class EnvironmentSpec(_Strict):
    pip_requirements: str | None = None
    conda_file: str | None = None
    base_image: str | None = None
    base_image_registry: RegistryCredentials | None = None
    extra_docker_file_steps: str | None = None
    enable_gpu: bool = False
    cuda_version: str | None = None


# --- deploy configurations, one per target --------------------------------------------------


class LocalDeploy(_Strict):
    """`LocalWebservice.deploy_configuration(port)`; a free port is picked when unset."""

    port: Annotated[int, Field(ge=1, le=65535)] | None = None


class AciDeploy(_Strict):
    """`AciWebservice.deploy_configuration(...)`."""

    cpu_cores: Annotated[float, Field(gt=0)] = 0.1
    memory_gb: Annotated[float, Field(gt=0)] = 0.5
    auth_enabled: bool = False
    ssl_enabled: bool = False
    ssl_cert_pem_file: str | None = None
    ssl_key_pem_file: str | None = None
    ssl_cname: str | None = None
    dns_name_label: str | None = None
    primary_key: SecretStr | None = None
    secondary_key: SecretStr | None = None
    enable_app_insights: bool = False
    collect_model_data: bool = False
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
    apart from "left at the default"; `components.rules` resolves the effective values.
    """

    autoscale_enabled: bool | None = None
    autoscale_min_replicas: Annotated[int, Field(gt=0)] | None = None
    autoscale_max_replicas: Annotated[int, Field(gt=0)] | None = None
    autoscale_refresh_seconds: Annotated[int, Field(gt=0)] | None = None
    autoscale_target_utilization: Annotated[int, Field(gt=0, le=100)] | None = None
    num_replicas: Annotated[int, Field(gt=0)] | None = None
    cpu_cores: Annotated[float, Field(gt=0)] = 0.1
    memory_gb: Annotated[float, Field(gt=0)] = 0.5
    cpu_cores_limit: Annotated[float, Field(gt=0)] | None = None
    memory_gb_limit: Annotated[float, Field(gt=0)] | None = None
    gpu_cores: Annotated[int, Field(ge=0)] = 0
    scoring_timeout_ms: Annotated[int, Field(gt=0)] = 60000
    replica_max_concurrent_requests: Annotated[int, Field(gt=0)] = 1
    max_request_wait_time: Annotated[int, Field(gt=0)] = 500
    period_seconds: Annotated[int, Field(gt=0)] = 10
    initial_delay_seconds: Annotated[int, Field(gt=0)] = 310
    timeout_seconds: Annotated[int, Field(gt=0)] = 1
    success_threshold: Annotated[int, Field(gt=0)] = 1
    failure_threshold: Annotated[int, Field(gt=0)] = 3
    auth_enabled: bool = True
    token_auth_enabled: bool = False
    primary_key: SecretStr | None = None
    secondary_key: SecretStr | None = None
    enable_app_insights: bool = False
    collect_model_data: bool = False
    namespace: str | None = None
    # azmlinfsrv's --access_control_allow_origins: browser origins allowed to call the service.
    access_control_allow_origins: list[str] = []
    tags: dict[str, str] = {}
    properties: dict[str, str] = {}
    description: str | None = None


DEPLOY_MODELS: dict[str, type[_Strict]] = {"local": LocalDeploy, "aci": AciDeploy, "aks": AksDeploy}
Target = Literal["local", "aci", "aks"]


class VersionSpec(_Strict):
    """One version of a controlled rollout (AksEndpoint): its own Deployment, serving `models`
    (default: the service's), with `traffic_percentile` of the requests."""

    version_name: str
    traffic_percentile: Annotated[float, Field(ge=0, le=100)] = 0
    is_default: bool = False
    is_control_version_type: bool = False
    models: list[str] | None = None


class ServiceSpec(_Strict):
    """A webservice: InferenceConfig + target + deploy_configuration."""

    models: Annotated[list[str], Field(min_length=1)]
    entry_script: str
    source_directory: str | None = None
    environment: EnvironmentSpec = EnvironmentSpec()
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
    port: Annotated[int, Field(ge=1, le=65535)] = 5050


class AcrRegistrySpec(_Strict):
    """An Azure Container Registry."""

    kind: Literal["acr"]
    sku: Literal["Basic", "Standard", "Premium"] = "Basic"
    name: str | None = None
    admin_user_enabled: bool = False


RegistrySpec = Annotated[Union[LocalRegistrySpec, AcrRegistrySpec], Field(discriminator="kind")]


class AttachSpec(_Strict):
    """`AksCompute.attach_configuration`: an existing cluster."""

    resource_group: str | None = None
    cluster_name: str | None = None
    resource_id: str | None = None


class ClusterSpec(_Strict):
    """`AksCompute.provisioning_configuration(...)`, or `attach:` for an existing cluster."""

    agent_count: Annotated[int, Field(gt=0)] = 3
    vm_size: str = "Standard_D3_v2"
    # Node autoscaling (AKS's cluster autoscaler; not an Azure ML parameter). agent_count is
    # the starting size; the 12-vCPU rule counts autoscale_min_nodes when autoscaling.
    autoscale_enabled: bool = False
    autoscale_min_nodes: Annotated[int, Field(gt=0)] | None = None
    autoscale_max_nodes: Annotated[int, Field(gt=0)] | None = None
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


class ReleasePin(_Strict):
    """What a stack runs for a service when a release was promoted to it (`modelstack promote`):
    the image by digest and the model versions inside it. A pinned service is never rebuilt."""

    image: Annotated[str, Field(pattern=r"^[^@\s]+@sha256:[0-9a-f]{64}$")]
    model_versions: dict[str, str] = {}
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
    models: dict[str, ModelSpec] = {}
    services: dict[str, ServiceSpec] = {}
    release: dict[str, ReleasePin] = {}


# Config keys a stack may set under the `modelstack:` namespace.
TOP_LEVEL_KEYS = ("location", "resource_group", "tags", "registry", "clusters", "models", "services", "release")
# Keys shared by all stacks, declared in Pulumi.yaml.
SHARED_KEYS = ("models", "services")
# Fields that hold secrets: they must come from `pulumi config set --secret`.
SECRET_FIELDS = ("password", "primary_key", "secondary_key")


# --- reading --------------------------------------------------------------------------------


def find_project_dir(start: str | os.PathLike | None = None) -> Path:
    """The folder holding Pulumi.yaml: $MODELSTACK_PROJECT_DIR, or the nearest parent of cwd."""
    if os.environ.get("MODELSTACK_PROJECT_DIR"):
        return Path(os.environ["MODELSTACK_PROJECT_DIR"]).resolve()
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").is_file():
            return folder
    raise ConfigError(
        f"no Pulumi.yaml in {here} or any folder above it",
        rule="modelstack runs inside a modelstack project",
        fix="cd into the project folder, or set MODELSTACK_PROJECT_DIR",
    )


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from a file, or a ConfigError that points at the line."""
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(
            f"{path} does not exist",
            rule="every stack has its own file stacks/Pulumi.<stack>.yaml",
            fix=f"create {path.name} (copy stacks/Pulumi.local.yaml), or pick one of: {', '.join(STACKS)}",
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            f"{path.name} is not valid YAML{where}: {problem}",
            rule="stack and project files are YAML mappings",
            fix="fix the indentation or quoting at that line",
        ) from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path.name} holds a {type(loaded).__name__}, not a mapping", rule="the file is a YAML mapping", fix="start the file with `config:`")
    return loaded


def _strip_namespace(config: dict[str, Any], where: str) -> dict[str, Any]:
    """`modelstack:services` -> `services`; keys of other namespaces (aws:region) are not ours."""
    ours = {}
    for key, value in (config or {}).items():
        namespace, _, name = str(key).partition(":")
        if name and namespace == NAMESPACE:
            ours[name] = value
        elif not name:
            raise ConfigError(
                f"config key '{key}' in {where} has no namespace",
                rule="modelstack's config keys live under the `modelstack:` namespace",
                fix=f"rename it to 'modelstack:{key}'",
            )
    return ours


def shared_config(project_dir: Path) -> dict[str, Any]:
    """What Pulumi.yaml declares for every stack (`config: modelstack:<key>: value: ...`)."""
    project = read_yaml(project_dir / "Pulumi.yaml")
    declared = _strip_namespace(project.get("config") or {}, "Pulumi.yaml")
    shared = {}
    for key, declaration in declared.items():
        shared[key] = declaration.get("value") if isinstance(declaration, dict) and "value" in declaration else declaration
    return shared


def _replace_secure_leaves(value: Any, path: str, secure_paths: set[str]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            secure_paths.add(path)
            return UNDECRYPTED_SECRET
        return {k: _replace_secure_leaves(v, f"{path}.{k}", secure_paths) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_secure_leaves(v, f"{path}[{i}]", secure_paths) for i, v in enumerate(value)]
    return value


def stack_file_config(project_dir: Path, stack: str) -> tuple[dict[str, Any], set[str]]:
    """A stack file's own `modelstack:` values (secrets left encrypted) and its secret paths."""
    path = project_dir / "stacks" / f"Pulumi.{stack}.yaml"
    document = read_yaml(path)
    unknown = set(document) - {"config", "secretsprovider", "encryptionsalt", "encryptedkey", "environment"}
    if unknown:
        raise ConfigError(f"{path.name} has top-level key(s) {sorted(unknown)}", rule="a stack file holds `config:` (and the engine's encryption settings)", fix="move them under `config:` with the `modelstack:` prefix")
    values = _strip_namespace(document.get("config") or {}, path.name)
    secure_paths: set[str] = set()
    values = {k: _replace_secure_leaves(v, f"{NAMESPACE}:{k}", secure_paths) for k, v in values.items()}
    return values, secure_paths


def engine_config_values() -> dict[str, Any]:
    """The stack's `modelstack:` values as the engine (or the mock runtime) hands them over."""
    from pulumi.runtime import config as runtime_config

    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    values = {}
    for full_key in keys:
        namespace, _, name = full_key.partition(":")
        if namespace != NAMESPACE:
            continue
        raw = runtime_config.get_config(full_key)
        try:
            values[name] = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError:
            values[name] = raw
    return values


def deep_merge(base: Any, override: Any) -> Any:
    """Mappings merge key by key; anything else replaces; `None` in the override removes."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = deep_merge(merged[key], value)
            else:
                merged[key] = value
        return merged
    return override


def merged_values(shared: dict[str, Any], stack_values: dict[str, Any]) -> dict[str, Any]:
    """Shared declarations with one stack's overrides merged over them."""
    merged = dict(shared)
    for key, value in stack_values.items():
        merged[key] = deep_merge(shared.get(key), value) if key in SHARED_KEYS else value
    return merged


# --- validation -----------------------------------------------------------------------------


_UNION_MEMBER_NAMES = {"LocalDeploy", "AciDeploy", "AksDeploy", "local", "acr"}


def _known_fields(model: type[BaseModel] | None) -> list[str]:
    return list(model.model_fields) if model else []


def _unwrap(annotation: Any, node: Any) -> Any:
    from typing import get_args, get_origin

    origin = get_origin(annotation)
    if origin in (dict,):
        return _DictOf(get_args(annotation)[1])
    if origin in (list,):
        return _DictOf(get_args(annotation)[0])
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0], node)
    if origin is Union or str(origin) == "types.UnionType":
        for arg in get_args(annotation):
            if arg is type(None):
                continue
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                kind = node.get("kind") if isinstance(node, dict) else None
                if kind is None or arg.model_fields.get("kind") is None or kind in str(arg.model_fields["kind"].annotation):
                    return arg
            else:
                unwrapped = _unwrap(arg, node)
                if unwrapped is not None:
                    return unwrapped
        return None
    return annotation


class _DictOf:
    """Marks 'a mapping (or list) of X' while walking an error location."""

    def __init__(self, item: Any):
        self.item = item


def _walk_model(loc: tuple) -> Any:
    """Follow an error location through the schema; returns the model owning the last part."""
    current: Any = StackConfig
    for part in loc[:-1]:
        if isinstance(current, _DictOf):
            current = current.item
            continue
        if isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = _unwrap(current.model_fields[part].annotation, None)
        else:
            return None
    if isinstance(current, _DictOf):
        return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def config_key(loc: tuple) -> str:
    """('services', 'diabetes', 'deploy', 'port') -> 'modelstack:services.diabetes.deploy.port'."""
    head, *rest = [str(p) for p in loc] or ["?"]
    key = f"{NAMESPACE}:{head}"
    for part in rest:
        key += f"[{part}]" if part.isdigit() else f".{part}"
    return key


def _deploy_hint(field: str, loc: tuple, values: dict[str, Any]) -> str | None:
    """'cpu_cores_limit' under an ACI service: say which target it belongs to."""
    if "deploy" not in loc:
        return None
    owners = [target for target, model in DEPLOY_MODELS.items() if field in model.model_fields]
    if not owners:
        return None
    service = values.get("services", {}).get(loc[1], {}) if len(loc) > 1 and loc[0] == "services" else {}
    target = service.get("target", "local") if isinstance(service, dict) else "local"
    return f"'{field}' is a deploy parameter of target {' and '.join(owners)}, not of target '{target}'"


def _error_from_pydantic(error: dict[str, Any], values: dict[str, Any]) -> ConfigError:
    # pydantic puts a union member's name (or a discriminator tag) into the location; drop it
    loc = tuple(p for p in error["loc"] if p not in _UNION_MEMBER_NAMES)
    key = config_key(loc)
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        field = str(loc[-1])
        hint = _deploy_hint(field, loc, values)
        if hint:
            return ConfigError("unknown key", key=key, rule=hint, fix=f"remove '{field}', or change the service's target")
        known = _known_fields(_walk_model(loc))
        close = difflib.get_close_matches(field, known, n=1, cutoff=0.6)
        fix = f"did you mean '{close[0]}'? Rename it" if close else f"remove it; known keys here: {', '.join(known)}"
        return ConfigError("unknown key", key=key, rule="only documented keys are accepted (README: Configuration reference)", fix=fix)
    if kind == "missing":
        return ConfigError("is required", key=key, rule=f"'{loc[-1]}' has no default", fix=f"set {key}")
    if kind == "literal_error":
        return ConfigError(f"is {error.get('input')!r}", key=key, rule=f"must be one of {ctx.get('expected')}", fix=f"set it to one of {ctx.get('expected')}")
    if kind == "union_tag_invalid":
        return ConfigError(f"kind is {ctx.get('tag')!r}", key=key, rule=f"kind must be one of {ctx.get('expected_tags')}", fix="set kind: local (a registry on this machine) or kind: acr (Azure Container Registry)")
    if kind == "union_tag_not_found":
        return ConfigError("has no 'kind'", key=key, rule="a registry names its kind", fix="add kind: local or kind: acr")
    bound = {name: _number(ctx.get(name)) for name in ("gt", "ge", "le", "lt")}
    bounds = {"greater_than": f"must be greater than {bound['gt']}", "greater_than_equal": f"must be at least {bound['ge']}", "less_than_equal": f"must be at most {bound['le']}", "less_than": f"must be less than {bound['lt']}", "too_short": f"needs at least {ctx.get('min_length')} item(s)"}
    if kind in bounds:
        return ConfigError(f"is {error.get('input')!r}", key=key, rule=bounds[kind], fix=f"set {key} to a value that {bounds[kind].replace('must be', 'is').replace('needs', 'has')}")
    return ConfigError(f"is {error.get('input')!r}", key=key, rule=error["msg"].lower().replace("input should", "must"), fix=f"correct {key}")


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def check_top_level_keys(values: dict[str, Any]) -> list[ConfigError]:
    errors = []
    for key in values:
        if key not in TOP_LEVEL_KEYS:
            close = difflib.get_close_matches(key, TOP_LEVEL_KEYS, n=1, cutoff=0.6)
            fix = f"did you mean 'modelstack:{close[0]}'? Rename it" if close else f"remove it; known keys: {', '.join('modelstack:' + k for k in TOP_LEVEL_KEYS)}"
            errors.append(ConfigError("unknown key", key=f"{NAMESPACE}:{key}", rule="only documented keys are accepted (README: Configuration reference)", fix=fix))
    return errors


def parse(values: dict[str, Any], *, stack: str, project_dir: Path, secure_paths: set[str] = frozenset(), deferred: list[ConfigError] | None = None) -> StackConfig:
    """Merged raw values -> StackConfig, or ConfigErrors listing every problem at once.

    With `deferred`, errors of the cross-field rules are appended to it instead of raised, so
    that `check` can still evaluate a well-typed stack and report its policy violations too.
    """
    from . import rules

    errors = check_top_level_keys(values)
    known = {k: v for k, v in values.items() if k in TOP_LEVEL_KEYS}
    known, deploy_errors = _validate_deploy_sections(known)
    errors += deploy_errors
    try:
        config = StackConfig.model_validate({**known, "stack": stack, "project_dir": str(project_dir)})
    except ValidationError as exc:
        errors += [_error_from_pydantic(e, known) for e in exc.errors()]
        raise ConfigErrors(_dedupe(errors)) from None
    if errors:
        raise ConfigErrors(_dedupe(errors))
    errors += rules.check_stack(config, secure_paths=secure_paths)
    if errors and deferred is not None:
        deferred.extend(_dedupe(errors))
    elif errors:
        raise ConfigErrors(_dedupe(errors))
    return config


def _validate_deploy_sections(values: dict[str, Any]) -> tuple[dict[str, Any], list[ConfigError]]:
    """Validate each service's `deploy:` against the parameters of its own target.

    Done ahead of the rest so that an AKS-only parameter under an ACI service is named as
    such, instead of pydantic guessing which union member was meant.
    """
    services = values.get("services")
    if not isinstance(services, dict):
        return values, []
    errors, checked = [], {}
    for name, service in services.items():
        if isinstance(service, dict):
            deploy_model = DEPLOY_MODELS.get(service.get("target", "local"))
            deploy = service.get("deploy") if service.get("deploy") is not None else {}
            if deploy_model is not None and isinstance(deploy, dict):
                try:
                    service = {**service, "deploy": deploy_model.model_validate(deploy)}
                except ValidationError as exc:
                    for error in exc.errors():
                        located = {**error, "loc": ("services", name, "deploy", *error["loc"])}
                        errors.append(_error_from_pydantic(located, values))
                    service = {k: v for k, v in service.items() if k != "deploy"}
        checked[name] = service
    return {**values, "services": checked}, errors


def _dedupe(errors: list[ConfigError]) -> list[ConfigError]:
    seen, unique = set(), []
    for error in errors:
        if str(error) not in seen:
            seen.add(str(error))
            unique.append(error)
    return unique


def load_from_files(stack: str, project_dir: Path | None = None) -> StackConfig:
    """For the offline `modelstack check`/`package`: read the project and stack files directly."""
    project_dir = project_dir or find_project_dir()
    stack_values, secure_paths = stack_file_config(project_dir, stack)
    return parse(merged_values(shared_config(project_dir), stack_values), stack=stack, project_dir=project_dir, secure_paths=secure_paths)


def load_from_engine(stack: str, project_dir: Path | None = None, deferred: list[ConfigError] | None = None) -> StackConfig:
    """Inside a Pulumi program: the engine's (decrypted) values over the shared declarations."""
    project_dir = project_dir or find_project_dir()
    stack_file = project_dir / "stacks" / f"Pulumi.{stack}.yaml"
    secure_paths = stack_file_config(project_dir, stack)[1] if stack_file.exists() else set()
    return parse(merged_values(shared_config(project_dir), engine_config_values()), stack=stack, project_dir=project_dir, secure_paths=secure_paths, deferred=deferred)


def engine_values_from_files(stack: str, project_dir: Path) -> tuple[dict[str, str], list[str]]:
    """What the engine would hand a program for this stack, from the files: for the mock runtime.

    As the engine does, a stack's value for a key replaces the project's; our own deep merge
    of shared declarations happens afterwards in `load_from_engine`, for both paths alike.
    """
    shared = shared_config(project_dir)
    stack_values, secure_paths = stack_file_config(project_dir, stack)
    values = {**shared, **stack_values}
    secret_keys = sorted({p.split(".")[0].split("[")[0] for p in secure_paths})
    return {f"{NAMESPACE}:{k}": json.dumps(v) for k, v in values.items()}, secret_keys
