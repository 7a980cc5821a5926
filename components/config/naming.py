"""Names and tags of Azure resources: derived, checked, merged. Pure functions, no Pulumi.

Derived names contain the project and the stack, so two stacks (or two projects) sharing a
subscription or a resource group never collide. Where Azure wants a globally unique name
(a container registry), a short hash of the subscription joins them, which keeps the name
stable for a stack and different for anyone else running the same example.

`check_names` checks the names a user writes (registry, resource group, DNS labels) and the
stack's tags against Azure's rules before anything exists; `components.config.cluster_rules` runs it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from components.config.schema import AciDeploy, AcrRegistrySpec, StackConfig, config_key
from components.errors import ConfigError
from components.targets import registry

# Tags modelstack puts on every resource: who manages it, and for which project and stack.
MANAGED_BY_TAG = "managed-by"
PROJECT_TAG = "modelstack-project"
STACK_TAG = "modelstack-stack"
RESERVED_TAGS = (MANAGED_BY_TAG, PROJECT_TAG, STACK_TAG)

# Azure's limits: https://learn.microsoft.com/azure/azure-resource-manager/management/tag-resources
MAX_TAGS = 50
MAX_TAG_NAME = 512
MAX_TAG_VALUE = 256
TAG_NAME_FORBIDDEN = set("<>%&\\?/")

# Container registry names: 5-50 letters and digits, unique across Azure.
REGISTRY_NAME = re.compile(r"^[A-Za-z0-9]{5,50}$")
# Resource groups: 1-90 of letters, digits, '_', '-', '.', '(' and ')', not ending with '.'.
RESOURCE_GROUP_NAME = re.compile(r"^[-\w.()]{0,89}[-\w()]$")
# DNS labels of public IPs and container groups (<label>.<region>.cloudapp.azure.com /
# .azurecontainer.io): 3-63 lowercase letters, digits and '-', starting with a letter.
DNS_LABEL = re.compile(r"^[a-z][a-z0-9-]{1,61}[a-z0-9]$")


def _slug(text: str) -> str:
    """Lowercase letters, digits and single dashes."""
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")


def _short_hash(*parts: str, length: int = 8) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def _bounded(name: str, limit: int) -> str:
    """`name` if it fits, else its head and a hash of the whole (still unique, still readable)."""
    if len(name) <= limit:
        return name
    digest = _short_hash(name, length=6)
    return f"{name[: limit - len(digest) - 1].rstrip('-')}-{digest}"


# --- derived names ----------------------------------------------------------------------------


def resource_group_name(project: str, stack: str) -> str:
    return _bounded(f"rg-{_slug(project)}-{_slug(stack)}", 90)


def registry_name(project: str, stack: str, subscription_id: str) -> str:
    """An ACR name: project and stack in letters and digits, plus 8 hex of the subscription."""
    readable = re.sub(r"[^a-z0-9]", "", f"{project}{stack}".lower())[:42]
    return f"{readable}{_short_hash(subscription_id, project, stack)}"


def cluster_resource_name(project: str, stack: str, cluster: str) -> str:
    """The managed cluster's name (1-63 characters) in its resource group."""
    return _bounded(f"{_slug(project)}-{_slug(stack)}-{_slug(cluster)}", 63)


def dns_prefix(project: str, stack: str, cluster: str) -> str:
    """The API server's DNS prefix (1-54 characters); AKS adds a hash, so it need not be unique."""
    return _bounded(f"{_slug(project)}-{_slug(stack)}-{_slug(cluster)}", 54)


def container_group_name(project: str, stack: str, service: str) -> str:
    return _bounded(f"{_slug(project)}-{_slug(stack)}-{_slug(service)}", 63)


def aci_dns_label(stack: str, service: str) -> str:
    """The default dns_name_label of an ACI service (Azure ML generated one)."""
    return _bounded(f"{_slug(service)}-{_slug(stack)}", 63)


def log_workspace_name(project: str, stack: str) -> str:
    """A Log Analytics workspace: 4-63 letters, digits and dashes, starting and ending alphanumeric."""
    return _bounded(f"{_slug(project)}-{_slug(stack)}-logs", 63)


def app_insights_name(project: str, stack: str) -> str:
    return _bounded(f"{_slug(project)}-{_slug(stack)}-insights", 255)


def identity_name(project: str, stack: str, purpose: str) -> str:
    return _bounded(f"{_slug(project)}-{_slug(stack)}-{_slug(purpose)}", 128)


# --- tags -------------------------------------------------------------------------------------


def merge_tags(*layers: Mapping[str, str] | None) -> dict[str, str]:
    """Later layers win; empty layers are skipped. Keys come out sorted (stable plans)."""
    merged: dict[str, str] = {}
    for layer in layers:
        merged.update(layer or {})
    return dict(sorted(merged.items()))


def stack_tags(project: str, stack: str, user_tags: Mapping[str, str] | None = None) -> dict[str, str]:
    """What every resource of a stack carries: the user's `modelstack:tags` and ours.

    Ours win: tools (drift, cost reports) find a stack's resources by them.
    """
    return merge_tags(user_tags, {MANAGED_BY_TAG: "modelstack", PROJECT_TAG: project, STACK_TAG: stack})


# --- checks -----------------------------------------------------------------------------------


def suggested_registry_name(name: str) -> str:
    letters = re.sub(r"[^A-Za-z0-9]", "", name)[:50]
    return letters if len(letters) >= 5 else (letters + "registry")[:50]


def check_registry_name(spec: AcrRegistrySpec) -> list[ConfigError]:
    if spec.name is None or REGISTRY_NAME.match(spec.name):
        return []
    return [
        ConfigError(
            f"registry name '{spec.name}' is not allowed",
            key=config_key("registry", "name"),
            rule="container registry names are 5-50 letters and digits (no '-', '_' or '.') and unique across all of Azure",
            fix=f"use e.g. '{suggested_registry_name(spec.name)}', or remove name to let modelstack derive a unique one from project, stack and subscription",
        )
    ]


def check_resource_group_name(name: str | None) -> list[ConfigError]:
    if name is None or RESOURCE_GROUP_NAME.match(name):
        return []
    return [
        ConfigError(
            f"resource group name '{name}' is not allowed",
            key=config_key("resource_group"),
            rule="resource group names are 1-90 letters, digits, '_', '-', '.', '(' and ')', not ending with '.'",
            fix="rename it, or remove resource_group to use the derived name rg-<project>-<stack>",
        )
    ]


def dns_label_error(label: str, key: str, what: str) -> ConfigError | None:
    if DNS_LABEL.match(label):
        return None
    suggestion = _slug(label)[:63].rstrip("-")
    fix = (
        f"use e.g. '{suggestion}'"
        if DNS_LABEL.match(suggestion)
        else "use lowercase letters, digits and '-', starting with a letter"
    )
    return ConfigError(
        f"{what} '{label}' is not a valid DNS label",
        key=key,
        rule="a DNS label is 3-63 lowercase letters, digits and '-', starting with a letter and not ending with '-'",
        fix=fix,
    )


def check_tags(tags: Mapping[str, str]) -> list[ConfigError]:
    errors = []
    for name, value in tags.items():
        key = config_key("tags", name)
        bad = sorted(TAG_NAME_FORBIDDEN & set(name))
        if bad:
            errors.append(
                ConfigError(
                    f"tag name '{name}' contains {' '.join(bad)}",
                    key=key,
                    rule="Azure tag names cannot contain < > % & \\ ? /",
                    fix="rename the tag",
                )
            )
        if len(name) > MAX_TAG_NAME:
            errors.append(
                ConfigError(
                    f"tag name is {len(name)} characters long",
                    key=key,
                    rule=f"Azure tag names are at most {MAX_TAG_NAME} characters",
                    fix="shorten the tag name",
                )
            )
        if len(str(value)) > MAX_TAG_VALUE:
            errors.append(
                ConfigError(
                    f"tag value is {len(str(value))} characters long",
                    key=key,
                    rule=f"Azure tag values are at most {MAX_TAG_VALUE} characters",
                    fix="shorten the value",
                )
            )
        if name in RESERVED_TAGS:
            errors.append(
                ConfigError(
                    f"tag '{name}' is set by modelstack",
                    key=key,
                    rule=f"{', '.join(RESERVED_TAGS)} identify the project and stack of every resource",
                    fix="use another tag name",
                )
            )
    room = MAX_TAGS - len(RESERVED_TAGS)
    if len(tags) > room:
        errors.append(
            ConfigError(
                f"{len(tags)} tags are set",
                key=config_key("tags"),
                rule=f"an Azure resource has at most {MAX_TAGS} tags, and modelstack adds {len(RESERVED_TAGS)} of its own",
                fix=f"keep at most {room} tags",
            )
        )
    return errors


def aci_name_errors(name: str, deploy: AciDeploy) -> list[ConfigError]:
    """The DNS label of one ACI service's container group (components.targets.aci asks)."""
    errors = []
    key = config_key("services", name, "deploy", "dns_name_label")
    if deploy.dns_name_label:
        error = dns_label_error(deploy.dns_name_label, key, "dns_name_label")
        if error:
            errors.append(error)
        if deploy.vnet_name or deploy.subnet_name:
            errors.append(
                ConfigError(
                    "dns_name_label is set for a container group in a virtual network",
                    key=key,
                    rule="an ACI container group in a vnet (vnet_name + subnet_name) has only a private IP, and a DNS label needs a public one",
                    fix="remove dns_name_label, or remove vnet_name and subnet_name",
                )
            )
    return errors


def check_names(config: StackConfig) -> list[ConfigError]:
    """Every name and tag rule of the Azure platform, in one pass."""
    errors: list[ConfigError] = []
    if isinstance(config.registry, AcrRegistrySpec):
        errors += check_registry_name(config.registry)
    errors += check_resource_group_name(config.resource_group)
    errors += check_tags(config.tags)
    for name, cluster in config.clusters.items():
        if cluster.leaf_domain_label:
            error = dns_label_error(
                cluster.leaf_domain_label, config_key("clusters", name, "leaf_domain_label"), "leaf_domain_label"
            )
            if error:
                errors.append(error)
    for target in registry.all_targets():
        errors += target.stack_errors(config)
    return errors
