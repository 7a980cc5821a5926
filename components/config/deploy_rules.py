"""Rules of a service's `deploy:` (AciWebservice / AksWebservice.deploy_configuration) and of
its `versions:` (controlled rollout): pure functions over the parsed config, run with every
other rule before anything exists. `check_deploy` is what `components.config.rules` calls.

Which target a parameter belongs to is checked while parsing
(`components.config.pydantic_errors._deploy_hint`: an AKS-only parameter under an ACI service is
named as such); what is here needs two fields. Defaults are those of Azure ML's
`AciWebservice`/`AksWebservice.deploy_configuration` (docs/configuration.md lists them).
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Protocol, runtime_checkable

from pydantic import SecretStr

from components.config.config_files import file_errors
from components.config.rollout import MAX_VERSIONS, VERSION_HEADER, WEIGHT_PER_PERCENT
from components.config.schema import (
    NAMESPACE,
    AciDeploy,
    AcrRegistrySpec,
    AksDeploy,
    ServiceSpec,
    StackConfig,
    config_key,
)
from components.errors import ConfigError, number_text
from components.targets import registry

AUTOSCALE_FIELDS = (
    "autoscale_min_replicas",
    "autoscale_max_replicas",
    "autoscale_refresh_seconds",
    "autoscale_target_utilization",
)
DEFAULT_MIN_REPLICAS = 1
DEFAULT_MAX_REPLICAS = 10
DEFAULT_TARGET_UTILIZATION = 70  # percent, Azure ML's autoscale_target_utilization
# Kubernetes namespaces (RFC 1123 labels), as Azure ML documents `namespace`.
K8S_NAMESPACE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# The cluster's own namespaces: the stack declares the namespace its services run in as a
# resource it owns, so its `destroy` would delete the namespace (and everything in it).
RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# CORS origins reach the scoring server as one environment variable; Linux refuses to start a
# process with a variable over 128 KiB (MAX_ARG_STRLEN), and the whole environment shares the
# argument space: a quarter of that is far more than any list of browser origins.
MAX_CORS_CHARS = 32_768
# Kubernetes refuses an object whose annotations total more than 256 KiB; the service's
# metadata (tags, properties, description) is one annotation, beside a few of modelstack's own.
MAX_ANNOTATIONS_BYTES = 256 * 1024
OWN_ANNOTATIONS_BYTES = 4 * 1024
# Each of a replica's WORKER_COUNT workers is a Python process with its own init() (the model
# loaded): give each at least this much of the replica's memory.
WORKER_MEMORY_MIB = 64
# A version names Kubernetes objects <service>-<version> (at most 63 characters, a DNS label).
VERSION_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$")
NOT_SUPPORTED_YET = {
    "collect_model_data": "model data collection writes to an Azure ML workspace's storage, which modelstack does not create",
}
ACI_SSL_FIELDS = ("ssl_cert_pem_file", "ssl_key_pem_file", "ssl_cname")


def _key(service: str, *parts: str) -> str:
    return config_key("services", service, *parts)


def autoscale_enabled(deploy: AksDeploy) -> bool:
    """Azure ML: autoscaling is on unless turned off, or num_replicas is given."""
    return deploy.autoscale_enabled if deploy.autoscale_enabled is not None else deploy.num_replicas is None


def replica_bounds(deploy: AksDeploy) -> tuple[int, int]:
    return (
        deploy.autoscale_min_replicas or DEFAULT_MIN_REPLICAS,
        deploy.autoscale_max_replicas or DEFAULT_MAX_REPLICAS,
    )


def target_utilization(deploy: AksDeploy) -> int:
    return deploy.autoscale_target_utilization or DEFAULT_TARGET_UTILIZATION


# --- AKS ----------------------------------------------------------------------------------------


def check_aks_scaling(name: str, deploy: AksDeploy) -> list[ConfigError]:
    errors = []
    if deploy.autoscale_enabled is True and deploy.num_replicas is not None:
        errors.append(
            ConfigError(
                "num_replicas is set while autoscale_enabled is true",
                key=_key(name, "deploy", "num_replicas"),
                rule="a service autoscales (autoscale_enabled, the default when num_replicas is unset) or runs a fixed num_replicas, not both",
                fix="remove num_replicas to autoscale, or set autoscale_enabled: false to run num_replicas replicas",
            )
        )
        return errors
    if not autoscale_enabled(deploy):
        why = (
            "autoscale_enabled is false"
            if deploy.autoscale_enabled is False
            else "num_replicas is set, which turns it off"
        )
        for field in AUTOSCALE_FIELDS:
            if getattr(deploy, field) is not None:
                errors.append(
                    ConfigError(
                        f"{field} is set while autoscaling is off ({why})",
                        key=_key(name, "deploy", field),
                        rule="autoscale_* parameters apply only when the service autoscales (autoscale_enabled, the default when num_replicas is unset)",
                        fix=f"remove {field}, or remove num_replicas and autoscale_enabled: false to autoscale",
                    )
                )
        return errors
    low, high = replica_bounds(deploy)
    if low > high:
        given = "" if deploy.autoscale_max_replicas is not None else ", the default"
        errors.append(
            ConfigError(
                f"autoscale_min_replicas ({low}) is greater than autoscale_max_replicas ({high}{given})",
                key=_key(name, "deploy", "autoscale_min_replicas"),
                rule="autoscale_min_replicas <= autoscale_max_replicas (defaults 1 and 10)",
                fix=f"lower autoscale_min_replicas to at most {high}, or raise autoscale_max_replicas to at least {low}",
            )
        )
    return errors


@runtime_checkable
class KeyAuthParameters(Protocol):
    """The deploy parameters of a target whose callers authenticate with keys (Azure ML's
    auth_enabled, primary_key and secondary_key), whichever target's model they are."""

    @property
    def auth_enabled(self) -> bool: ...

    @property
    def primary_key(self) -> SecretStr | None: ...

    @property
    def secondary_key(self) -> SecretStr | None: ...


def key_auth_enabled(deploy: KeyAuthParameters) -> bool:
    """Keys authenticate requests: auth_enabled, unless the service authenticates with tokens (an
    AKS service's auth_enabled left at its default gives way to token_auth_enabled)."""
    return deploy.auth_enabled and not token_auth_enabled(deploy)


def token_auth_enabled(deploy: object) -> bool:
    """Signed tokens authenticate requests (AKS only, as in Azure ML)."""
    return isinstance(deploy, AksDeploy) and deploy.token_auth_enabled


def check_aks_auth(name: str, deploy: AksDeploy, scoring_server: str = "modelstack") -> list[ConfigError]:
    if not deploy.token_auth_enabled:
        return []
    if deploy.auth_enabled and "auth_enabled" in deploy.model_fields_set:
        return [
            ConfigError(
                "auth_enabled and token_auth_enabled are both true",
                key=_key(name, "deploy", "token_auth_enabled"),
                rule="an AKS service authenticates with keys (auth_enabled) or with tokens (token_auth_enabled), not both",
                fix="keep one: remove token_auth_enabled for keys, or auth_enabled for tokens",
            )
        ]
    error = modelstack_server_only(
        name,
        "token_auth_enabled",
        scoring_server,
        why="tokens are verified by modelstack's scoring server; the front that runs azmlinfsrv checks keys only",
        instead="use key auth (auth_enabled: true)",
    )
    return [error] if error else []


def modelstack_server_only(name: str, field: str, scoring_server: str, *, why: str, instead: str) -> ConfigError | None:
    """A deploy feature only modelstack's scoring server has, asked of a service that runs another."""
    if scoring_server == "modelstack":
        return None
    return ConfigError(
        f"{field} with scoring_server: {scoring_server}",
        key=_key(name, "deploy", field),
        rule=why,
        fix=f"remove scoring_server: {scoring_server} (modelstack's server is the default), or {instead}",
    )


def metadata_bytes(deploy: AciDeploy | AksDeploy) -> int:
    """The size of the service's metadata annotation (tags, properties, description), as the
    Kubernetes target writes it (JSON, keys sorted)."""
    metadata = {
        k: v
        for k, v in (
            ("description", deploy.description),
            ("properties", dict(deploy.properties)),
            ("tags", dict(deploy.tags)),
        )
        if v
    }
    return len(json.dumps(metadata, sort_keys=True).encode()) if metadata else 0


def check_aks_sizes(name: str, deploy: AksDeploy) -> list[ConfigError]:
    """What a Kubernetes object or a container cannot hold: too many workers for the replica's
    memory, an annotation over Kubernetes' limit."""
    errors = []
    memory_gb = deploy.memory_gb_limit or deploy.memory_gb
    most_workers = max(1, int(memory_gb * 1024 // WORKER_MEMORY_MIB))
    if deploy.replica_max_concurrent_requests > most_workers:
        errors.append(
            ConfigError(
                f"replica_max_concurrent_requests is {deploy.replica_max_concurrent_requests:,}: that many worker processes in {number_text(memory_gb)} GB",
                key=_key(name, "deploy", "replica_max_concurrent_requests"),
                rule=f"replica_max_concurrent_requests is the replica's WORKER_COUNT, worker processes each holding the model; each gets at least {WORKER_MEMORY_MIB} MiB of the replica's memory (memory_gb_limit, else memory_gb)",
                fix=f"lower it to at most {most_workers}, or raise memory_gb (add replicas for more requests at once)",
            )
        )
    size = metadata_bytes(deploy)
    if size > MAX_ANNOTATIONS_BYTES - OWN_ANNOTATIONS_BYTES:
        errors.append(
            ConfigError(
                f"tags, properties and description take {size:,} bytes",
                key=_key(name, "deploy"),
                rule=f"they become an annotation of the service's Kubernetes objects; Kubernetes allows {MAX_ANNOTATIONS_BYTES:,} bytes of annotations per object, {OWN_ANNOTATIONS_BYTES:,} of them kept for modelstack's own",
                fix="shorten the tags, properties or description (keep large documents elsewhere and link them)",
            )
        )
    return errors


def check_aks_limits(name: str, deploy: AksDeploy) -> list[ConfigError]:
    errors = []
    for limit_field, request_field, unit in (
        ("cpu_cores_limit", "cpu_cores", ""),
        ("memory_gb_limit", "memory_gb", " GB"),
    ):
        limit, request = getattr(deploy, limit_field), getattr(deploy, request_field)
        if limit is not None and limit < request:
            default = "" if request_field in deploy.model_fields_set else ", the default"
            errors.append(
                ConfigError(
                    f"{limit_field} ({number_text(limit)}{unit}) is below {request_field} ({number_text(request)}{unit}{default})",
                    key=_key(name, "deploy", limit_field),
                    rule="a limit is at least its request: cpu_cores_limit >= cpu_cores and memory_gb_limit >= memory_gb",
                    fix=f"raise {limit_field} to at least {number_text(request)}, or lower {request_field}",
                )
            )
    return errors


def namespace_error(name: str, namespace: str) -> ConfigError | None:
    key = _key(name, "deploy", "namespace")
    if namespace in RESERVED_NAMESPACES:
        return ConfigError(
            f"namespace '{namespace}' belongs to Kubernetes itself",
            key=key,
            rule=f"webservices do not run in {', '.join(RESERVED_NAMESPACES)}: the stack owns its namespaces, and deleting the stack would delete them",
            fix="pick a namespace of your own, or remove namespace to use modelstack-<stack>",
        )
    if K8S_NAMESPACE.match(namespace):
        return None
    suggestion = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", namespace.lower())).strip("-")[:63].rstrip("-")
    fix = (
        f"use e.g. '{suggestion}', or remove namespace to use modelstack-<stack>"
        if suggestion and K8S_NAMESPACE.match(suggestion)
        else "remove namespace to use modelstack-<stack>"
    )
    return ConfigError(
        f"namespace '{namespace}' is not a valid Kubernetes namespace",
        key=key,
        rule="a namespace is 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit (^[a-z0-9]([a-z0-9-]{,61}[a-z0-9])?$)",
        fix=fix,
    )


# --- ACI ----------------------------------------------------------------------------------------


def check_aci(config: StackConfig, name: str, deploy: AciDeploy) -> list[ConfigError]:
    errors = []
    given = [f for f in ACI_SSL_FIELDS if getattr(deploy, f)]
    if deploy.ssl_enabled and len(given) < len(ACI_SSL_FIELDS):
        missing = [f for f in ACI_SSL_FIELDS if f not in given]
        errors.append(
            ConfigError(
                f"ssl_enabled is true but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set",
                key=_key(name, "deploy", "ssl_enabled"),
                rule="an ACI service with ssl_enabled needs ssl_cert_pem_file, ssl_key_pem_file and ssl_cname",
                fix=f"set {', '.join(missing)}, or set ssl_enabled: false",
            )
        )
    elif not deploy.ssl_enabled and given:
        errors.append(
            ConfigError(
                f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} set while ssl_enabled is false",
                key=_key(name, "deploy", given[0]),
                rule="the certificate, key and cname are used only with ssl_enabled: true",
                fix=f"set ssl_enabled: true, or remove {', '.join(given)}",
            )
        )
    for field in ("ssl_cert_pem_file", "ssl_key_pem_file"):
        errors += file_errors(config.project_dir, getattr(deploy, field), _key(name, "deploy", field), field)
    if bool(deploy.vnet_name) != bool(deploy.subnet_name):
        present, absent = ("vnet_name", "subnet_name") if deploy.vnet_name else ("subnet_name", "vnet_name")
        errors.append(
            ConfigError(
                f"{present} is set without {absent}",
                key=_key(name, "deploy", present),
                rule="vnet_name and subnet_name are set together (the group joins that subnet) or not at all",
                fix=f"set {absent}, or remove {present}",
            )
        )
    return errors


# --- both targets -------------------------------------------------------------------------------


def check_app_insights(name: str, deploy: AciDeploy | AksDeploy, scoring_server: str) -> list[ConfigError]:
    if not deploy.enable_app_insights:
        return []
    error = modelstack_server_only(
        name,
        "enable_app_insights",
        scoring_server,
        why="request telemetry is sent by modelstack's scoring server to the stack's Application Insights (connection string); azmlinfsrv takes an instrumentation key only and sends to Azure's global endpoint",
        instead="remove enable_app_insights",
    )
    return [error] if error else []


def check_keys_and_features(name: str, deploy: AciDeploy | AksDeploy) -> list[ConfigError]:
    errors = []
    if not key_auth_enabled(deploy):
        tokens = token_auth_enabled(deploy)
        for field in ("primary_key", "secondary_key"):
            if getattr(deploy, field) is not None:
                errors.append(
                    ConfigError(
                        f"{field} is set while the service authenticates with tokens"
                        if tokens
                        else f"{field} is set while auth_enabled is false",
                        key=_key(name, "deploy", field),
                        rule="keys are not used with token_auth_enabled: tokens from `modelstack token` authenticate requests"
                        if tokens
                        else "keys authenticate requests only when auth_enabled is true",
                        fix=f"remove {field}" if tokens else f"set auth_enabled: true, or remove {field}",
                    )
                )
    for field, why in NOT_SUPPORTED_YET.items():
        if getattr(deploy, field):
            errors.append(
                ConfigError(
                    f"{field} is not supported yet", key=_key(name, "deploy", field), rule=why, fix=f"remove {field}"
                )
            )
    origins = ",".join(deploy.access_control_allow_origins)
    if len(origins) > MAX_CORS_CHARS:
        errors.append(
            ConfigError(
                f"the {len(deploy.access_control_allow_origins):,} origins take {len(origins):,} characters",
                key=_key(name, "deploy", "access_control_allow_origins"),
                rule=f"the origins reach the scoring server as one environment variable of at most {MAX_CORS_CHARS:,} characters (a container does not start with a variable too large)",
                fix="list only the origins of your own front ends, or '*' for any origin",
            )
        )
        return errors
    for index, origin in enumerate(deploy.access_control_allow_origins):
        if origin != "*" and not re.match(r"^https?://[^/\s,]+$", origin):
            errors.append(
                ConfigError(
                    f"'{origin}' is not an origin",
                    key=f"{_key(name, 'deploy', 'access_control_allow_origins')}[{index}]",
                    rule="an origin is a scheme and a host (and port), as browsers send it: https://app.example.com; or '*' for any",
                    fix=f"write it as e.g. 'https://{origin.split('://')[-1].split('/')[0] or 'app.example.com'}'",
                )
            )
    return errors


# --- controlled rollout -------------------------------------------------------------------------


def check_versions(config: StackConfig, name: str, service: ServiceSpec) -> list[ConfigError]:
    versions = service.versions
    if not versions:
        return []
    key = _key(name, "versions")
    if not registry.target(service.target).rollout_versions:
        taking = registry.names_where(lambda t: t.rollout_versions)
        return [
            ConfigError(
                f"versions are declared for target '{service.target}'",
                key=key,
                rule=f"controlled rollout (versions) is for services on a Kubernetes cluster ({', '.join(taking)}): the versions share one endpoint on the cluster's front end",
                fix=f"remove versions, or set target: {' or '.join(taking)}",
            )
        ]
    errors = []
    if len(versions) > MAX_VERSIONS:
        errors.append(
            ConfigError(
                f"{len(versions)} versions are declared",
                key=key,
                rule=f"an endpoint has at most {MAX_VERSIONS} versions (Azure ML's AksEndpoint)",
                fix="remove versions that no longer take traffic",
            )
        )
    for index, version in enumerate(versions):
        hundredths = version.traffic_percentile * WEIGHT_PER_PERCENT
        if abs(hundredths - round(hundredths)) > 1e-6:
            errors.append(
                ConfigError(
                    f"traffic_percentile {number_text(version.traffic_percentile)} of version '{version.version_name}' is finer than a hundredth of a percent",
                    key=f"{key}[{index}].traffic_percentile",
                    rule="traffic shares are whole hundredths of a percent (0.01 to 100, or 0): the route's weights cannot split finer, so the rest would be rounded away silently",
                    fix=f"write it with at most two decimals, e.g. {max(0.01, round(version.traffic_percentile, 2)):g}, or 0 to send it only requests with the {VERSION_HEADER} header",
                )
            )
    total = sum(v.traffic_percentile for v in versions)
    if total > 100:
        shares = ", ".join(f"{v.version_name} {number_text(v.traffic_percentile)}" for v in versions)
        errors.append(
            ConfigError(
                f"traffic_percentile adds up to {number_text(total)} ({shares})",
                key=key,
                rule="the versions' traffic_percentile add up to at most 100; what is not assigned goes to the default version",
                fix="lower some traffic_percentile so that they add up to 100 or less",
            )
        )
    controls = [v.version_name for v in versions if v.is_control_version_type]
    if len(controls) > 1:
        errors.append(
            ConfigError(
                f"{len(controls)} versions are control versions ({', '.join(controls)})",
                key=key,
                rule="a controlled rollout has exactly one control version (is_control_version_type: true) and any number of treatments",
                fix="keep is_control_version_type: true on one version only",
            )
        )
    elif not controls:
        errors.append(
            ConfigError(
                "no version is the control version",
                key=key,
                rule="a controlled rollout has exactly one control version (is_control_version_type: true) and any number of treatments",
                fix="set is_control_version_type: true on the version that serves today's traffic",
            )
        )
    defaults = [v.version_name for v in versions if v.is_default]
    if len(defaults) > 1:
        errors.append(
            ConfigError(
                f"{len(defaults)} versions are the default ({', '.join(defaults)})",
                key=key,
                rule="one version is the default: it takes the traffic no version is assigned (the first version when none is marked)",
                fix="keep is_default: true on one version only",
            )
        )
    seen: set[str] = set()
    for index, version in enumerate(versions):
        version_key = f"{key}[{index}]"
        if not VERSION_NAME.match(version.version_name):
            errors.append(
                ConfigError(
                    f"version_name '{version.version_name}' is not allowed",
                    key=f"{version_key}.version_name",
                    rule="a version name is 1-30 lowercase letters, digits and '-', starting with a letter and not ending with '-' (it names the version's Kubernetes objects)",
                    fix="rename the version",
                )
            )
        elif version.version_name in seen:
            errors.append(
                ConfigError(
                    f"version_name '{version.version_name}' is used twice",
                    key=f"{version_key}.version_name",
                    rule="version names are unique within a service",
                    fix="rename one of them",
                )
            )
        seen.add(version.version_name)
        for model_index, model in enumerate(version.models or []):
            if model not in config.models:
                close = difflib.get_close_matches(model, list(config.models), n=1)
                errors.append(
                    ConfigError(
                        f"names model '{model}', which is not declared",
                        key=f"{version_key}.models[{model_index}]",
                        rule="a version serves models declared under modelstack:models",
                        fix=f"did you mean '{close[0]}'?" if close else f"declare it under {NAMESPACE}:models",
                    )
                )
    return errors


def check_deploy(config: StackConfig, name: str, service: ServiceSpec) -> list[ConfigError]:
    """Every rule of one service's deploy configuration and versions: the registry its target
    pulls from, the target's own rules (components.targets.<name>.target), the versions."""
    target = registry.target(service.target)
    errors: list[ConfigError] = []
    if target.pulls_from_acr and not isinstance(config.registry, AcrRegistrySpec):
        pulling = [t.title for t in registry.all_targets() if t.pulls_from_acr]
        errors.append(
            ConfigError(
                f"target is {service.target} but the stack's registry is kind: {config.registry.kind}",
                key=f"{NAMESPACE}:services.{name}.target",
                rule=f"{', '.join(pulling[:-1])} and {pulling[-1]} pull images from the stack's Azure Container Registry"
                if len(pulling) > 1
                else f"{pulling[0]} pulls images from the stack's Azure Container Registry",
                fix=f"set modelstack:registry to kind: acr in this stack, or set target: {registry.DEFAULT_TARGET}",
            )
        )
    errors += target.deploy_errors(config, name, service)
    errors += check_versions(config, name, service)
    return errors
