"""Per-stack policy settings and the evaluation of every policy over a plan's resources.

Enforcement levels and parameters are set per stack in `policies/config/<stack>.json`, in
the format of `pulumi preview --policy-pack-config`:
`{"all": "advisory", "allowed-locations": {"enforcementLevel": "mandatory", "allowed_locations": ["westeurope"]}}`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from components.config import reading
from components.errors import ConfigError
from components.policy.rules import POLICIES
from components.policy.types import Enforcement, Policy, Resource, Violation


def stack_policy_config_path(project_dir: str | Path, stack: str) -> Path:
    return Path(project_dir) / "policies" / "config" / f"{stack}.json"


def load_stack_policy_config(project_dir: str | Path, stack: str) -> dict[str, Any]:
    """The stack's policy config (CrossGuard's --policy-pack-config format), or {}."""
    path = stack_policy_config_path(project_dir, stack)
    if not path.exists():
        return {}
    key = f"policies/config/{path.name}"
    rule = "a stack's policy config is JSON in the format of `pulumi preview --policy-pack-config`"
    text = reading.read_text(path, rule=rule, key=key)  # within bounds: a regular file of at most 1 MiB
    document = reading.parse_json(text, path.name, rule=rule, fix="fix the JSON", error=ConfigError, key=key)
    if not isinstance(document, dict):
        raise ConfigError(f"{path.name} holds a {type(document).__name__}, not an object", key=key, rule=rule, fix='write it as {"all": "advisory", "<policy>": {"enforcementLevel": "mandatory"}}')
    return document


def effective(policy: Policy, config: dict[str, Any]) -> tuple[Enforcement, dict[str, Any]]:
    """A policy's enforcement level and parameters under a stack's policy config."""
    level: Enforcement = config.get("all", policy.enforcement) if isinstance(config.get("all"), str) else policy.enforcement
    params = dict(policy.parameters)
    own = config.get(policy.name)
    if isinstance(own, str):
        level = own  # type: ignore[assignment]
    elif isinstance(own, dict):
        level = own.get("enforcementLevel", level)
        params.update({k: v for k, v in own.items() if k != "enforcementLevel"})
    return level, params


def evaluate_policies(resources: list[Resource], config: dict[str, Any] | None = None, policies: tuple[Policy, ...] = POLICIES) -> list[Violation]:
    """Run every enabled policy over the resources; violations in a stable order."""
    violations = []
    settings = [(policy, *effective(policy, config or {})) for policy in policies]
    for resource in sorted(resources, key=lambda r: r.urn):
        for policy, level, params in settings:
            if level == "disabled":
                continue
            message = policy.check(resource, params)
            if message:
                violations.append(Violation(policy.name, level, resource.urn, message))
    return violations
