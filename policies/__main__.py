"""modelstack's CrossGuard policy pack.

Each policy wraps a plain rule of components/policy/rules.py, so `pulumi preview
--policy-pack policies` and the offline `modelstack check` judge a stack by the same code.
Per-stack levels and parameters: `--policy-pack-config policies/config/<stack>.json`.
"""

import sys
from pathlib import Path

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

# The pack runs from its own folder; the rules live in the project's package next to it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.policy.rules import POLICIES
from components.policy.types import Policy, Resource

LEVELS = {
    "mandatory": EnforcementLevel.MANDATORY,
    "advisory": EnforcementLevel.ADVISORY,
    "disabled": EnforcementLevel.DISABLED,
}


def as_crossguard(policy: Policy) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        params = {**policy.parameters, **(args.get_config() or {})}
        message = policy.check(Resource(args.urn, args.resource_type, args.name, dict(args.props)), params)
        if message:
            report_violation(message, None)  # no URN: the resource under validation

    schema = PolicyConfigSchema(properties=policy.config_schema()) if policy.parameters else None
    return ResourceValidationPolicy(
        name=policy.name,
        description=policy.description,
        enforcement_level=LEVELS[policy.enforcement],
        validate=validate,
        config_schema=schema,
    )


PolicyPack(name="modelstack", policies=[as_crossguard(p) for p in POLICIES])
