"""The rules of `target: aca` deploy parameters: pure functions over the parsed config, run with
every other rule before anything exists. Each error names the key, the rule and the fix."""

from __future__ import annotations

from pathlib import Path

from components.config import naming, reading
from components.config.schema import ServiceSpec, StackConfig, config_key
from components.errors import ConfigError, ModelstackError, number_text
from components.targets.aca import names
from components.targets.aca.schema import ACA_MAX_CPU_CORES, AcaDeploy
from components.targets.aca.states import SERVICE_TAG

# "Containers in Azure Container Apps", vCPU and memory allocation requirements: on the
# consumption workload profile a replica's CPU is 0.25-4 vCPUs in steps of 0.25, and its memory
# the GiB of the same row, twice the vCPUs (0.25 / 0.5Gi ... 4.0 / 8.0Gi).
CPU_STEP = 0.25
GB_PER_CORE = 2
PROJECT_RULE = "Pulumi.yaml is a YAML mapping"
PAIRS_RULE = "on Azure Container Apps' consumption profile a replica's size is one of Azure's pairs: cpu_cores 0.25 to 4 in steps of 0.25, with memory_gb twice cpu_cores (0.25/0.5, 0.5/1, ... 4/8)"


def _key(service: str, *parts: str) -> str:
    return config_key("services", service, "deploy", *parts)


def allowed_cpu(cpu_cores: float) -> bool:
    steps = cpu_cores / CPU_STEP
    return abs(steps - round(steps)) < 1e-9 and CPU_STEP <= cpu_cores <= ACA_MAX_CPU_CORES


def memory_for(cpu_cores: float) -> float:
    return cpu_cores * GB_PER_CORE


def nearest_cpu(cpu_cores: float) -> float:
    """The allowed vCPUs closest above (or at) cpu_cores, within Azure's range."""
    steps = -(-cpu_cores // CPU_STEP)  # ceiling
    return min(max(steps * CPU_STEP, CPU_STEP), ACA_MAX_CPU_CORES)


def size_errors(name: str, deploy: AcaDeploy) -> list[ConfigError]:
    cpu, memory = deploy.cpu_cores, deploy.memory_gb
    if not allowed_cpu(cpu):
        near = nearest_cpu(cpu)
        return [
            ConfigError(
                f"cpu_cores {number_text(cpu)} is not a size Azure Container Apps offers",
                key=_key(name, "cpu_cores"),
                rule=PAIRS_RULE,
                fix=f"set cpu_cores: {number_text(near)} with memory_gb: {number_text(memory_for(near))}",
            )
        ]
    if abs(memory - memory_for(cpu)) > 1e-9:
        default = "" if "memory_gb" in deploy.model_fields_set else " (the default)"
        fix = f"set memory_gb: {number_text(memory_for(cpu))} for cpu_cores {number_text(cpu)}"
        if allowed_cpu(memory / GB_PER_CORE):
            fix += f", or cpu_cores: {number_text(memory / GB_PER_CORE)} for memory_gb {number_text(memory)}"
        return [
            ConfigError(
                f"memory_gb {number_text(memory)}{default} does not go with cpu_cores {number_text(cpu)}",
                key=_key(name, "memory_gb"),
                rule=PAIRS_RULE,
                fix=fix,
            )
        ]
    return []


def replica_errors(name: str, deploy: AcaDeploy) -> list[ConfigError]:
    if deploy.min_replicas <= deploy.max_replicas:
        return []
    default = "" if "max_replicas" in deploy.model_fields_set else ", the default"  # inside the parentheses
    return [
        ConfigError(
            f"min_replicas ({deploy.min_replicas}) is greater than max_replicas ({deploy.max_replicas}{default})",
            key=_key(name, "min_replicas"),
            rule="0 <= min_replicas <= max_replicas <= 1000 (Azure Container Apps' scale limits; 0 scales to zero)",
            fix=f"lower min_replicas to at most {deploy.max_replicas}, or raise max_replicas to at least {deploy.min_replicas}",
        )
    ]


def app_name_errors(name: str, deploy: AcaDeploy) -> list[ConfigError]:
    if deploy.app_name is None or names.valid_app_name(deploy.app_name):
        return []
    suggestion = names.suggested_app_name(deploy.app_name)
    return [
        ConfigError(
            f"app_name '{deploy.app_name}' is not a valid container app name",
            key=_key(name, "app_name"),
            rule=names.APP_NAME_RULE,
            fix=f"use e.g. '{suggestion}', or remove app_name to use <project>-<stack>-<service>"
            if suggestion
            else "remove app_name to use <project>-<stack>-<service>",
        )
    ]


def key_errors(name: str, deploy: AcaDeploy) -> list[ConfigError]:
    if deploy.auth_enabled:
        return []
    return [
        ConfigError(
            f"{field} is set while auth_enabled is false",
            key=_key(name, field),
            rule="keys authenticate requests only when auth_enabled is true",
            fix=f"set auth_enabled: true, or remove {field}",
        )
        for field in ("primary_key", "secondary_key")
        if getattr(deploy, field) is not None
    ]


def deploy_errors(config: StackConfig, name: str, service: ServiceSpec) -> list[ConfigError]:
    deploy = service.deploy
    if not isinstance(deploy, AcaDeploy):
        return []
    return (
        size_errors(name, deploy)
        + replica_errors(name, deploy)
        + app_name_errors(name, deploy)
        + key_errors(name, deploy)
    )


def project_name(project_dir: str) -> str | None:
    """Pulumi.yaml's `name:` (the engine's project, the first part of derived names), read within
    the bounds of every config file; None when there is none to read (loading names that error)."""
    try:
        path = Path(project_dir) / "Pulumi.yaml"
        document = reading.parse_yaml(reading.read_text(path, rule=PROJECT_RULE), "Pulumi.yaml", rule=PROJECT_RULE)
    except (OSError, ModelstackError):
        return None
    name = document.get("name") if isinstance(document, dict) else None
    return name if isinstance(name, str) and name else None


def stack_errors(config: StackConfig) -> list[ConfigError]:
    """Two services of the stack cannot be the same container app (one resource group): configured
    names are compared with each other and with the names the other services get by default; and
    each app's tags, with the stack's and modelstack's, fit Azure's limit."""
    apps = {
        name: service.deploy
        for name, service in config.services.items()
        if service.target == "aca" and isinstance(service.deploy, AcaDeploy)
    }
    project = project_name(config.project_dir)
    return (
        _configured_name_errors(apps)
        + (_default_name_errors(apps, project, config.stack) if project else [])
        + _tag_count_errors(apps, project or "", config)
    )


def _default_name_errors(apps: dict[str, AcaDeploy], project: str, stack: str) -> list[ConfigError]:
    defaults = {names.app_name(project, stack, name): name for name, deploy in apps.items() if deploy.app_name is None}
    errors = []
    for name, deploy in apps.items():
        other = defaults.get(deploy.app_name or "")
        if other is not None:
            errors.append(
                ConfigError(
                    f"app_name '{deploy.app_name}' is the container app service {other} gets by default (<project>-<stack>-<service>)",
                    key=_key(name, "app_name"),
                    rule="each service is a container app of its own, and names are unique in the stack's resource group",
                    fix=f"give {name} another app_name, or give {other} an app_name of its own",
                )
            )
    return errors


def _tag_count_errors(apps: dict[str, AcaDeploy], project: str, config: StackConfig) -> list[ConfigError]:
    """A container app carries its service's tags, the stack's and modelstack's (container_app.py)."""
    others = set(naming.stack_tags(project, config.stack, config.tags)) | {SERVICE_TAG}
    errors = []
    for name, deploy in apps.items():
        count = len(set(deploy.tags) | others)
        if count > naming.MAX_TAGS:
            errors.append(
                ConfigError(
                    f"the container app would carry {count} tags: {len(deploy.tags)} of the service's, with the stack's and modelstack's",
                    key=_key(name, "tags"),
                    rule=f"an Azure resource has at most {naming.MAX_TAGS} tags; the stack's tags and modelstack's take {len(others)} of them here",
                    fix=f"keep at most {naming.MAX_TAGS - len(others)} tags under {_key(name, 'tags')}, or fewer stack tags",
                )
            )
    return errors


def _configured_name_errors(apps: dict[str, AcaDeploy]) -> list[ConfigError]:
    errors: list[ConfigError] = []
    owners: dict[str, str] = {}
    for name, deploy in apps.items():
        if deploy.app_name is None:
            continue
        app = deploy.app_name
        if app in owners:
            errors.append(
                ConfigError(
                    f"services {owners[app]} and {name} are both the container app '{app}'",
                    key=_key(name, "app_name"),
                    rule="each service is a container app of its own, and names are unique in the stack's resource group",
                    fix=f"give {name} another app_name",
                )
            )
        owners.setdefault(app, name)
    return errors
