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

ENFORCEMENT_LEVELS: tuple[Enforcement, ...] = ("mandatory", "advisory", "disabled")


def enforcement_level(value: object) -> Enforcement | None:
    """`value` as an enforcement level, or None when it is none (missing, or not a level's name)."""
    return next((level for level in ENFORCEMENT_LEVELS if value == level), None)


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
        raise ConfigError(
            f"{path.name} holds a {type(document).__name__}, not an object",
            key=key,
            rule=rule,
            fix='write it as {"all": "advisory", "<policy>": {"enforcementLevel": "mandatory"}}',
        )
    for name, setting in document.items():
        # A level is "all"'s value, a policy's value as a string, or its enforcementLevel.
        given = setting.get("enforcementLevel") if isinstance(setting, dict) else setting
        if (
            (name == "all" or isinstance(setting, (str, dict)))
            and given is not None
            and enforcement_level(given) is None
        ):
            raise ConfigError(
                f"{name}'s enforcement level is {str(given)[:40]!r}",
                key=f"{key}: {name[:60]}",
                rule=f"an enforcement level is one of {', '.join(ENFORCEMENT_LEVELS)}, as CrossGuard takes them",
                fix=f"set it to one of {', '.join(ENFORCEMENT_LEVELS)}",
            )
    return document


def effective(policy: Policy, config: dict[str, Any]) -> tuple[Enforcement, dict[str, Any]]:
    """A policy's enforcement level and parameters under a stack's policy config."""
    # Levels that are not a level's name are refused when the stack's file is read
    # (load_stack_policy_config); here they leave the level as it was.
    level = enforcement_level(config.get("all")) or policy.enforcement
    params = dict(policy.parameters)
    own = config.get(policy.name)
    if isinstance(own, str):
        level = enforcement_level(own) or level
    elif isinstance(own, dict):
        level = enforcement_level(own.get("enforcementLevel")) or level
        params.update({k: v for k, v in own.items() if k != "enforcementLevel"})
    return level, params


def evaluate_policies(
    resources: list[Resource], config: dict[str, Any] | None = None, policies: tuple[Policy, ...] = POLICIES
) -> list[Violation]:
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
