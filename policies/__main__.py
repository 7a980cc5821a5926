"""modelstack's CrossGuard policy pack.

Each policy wraps a plain rule of components/policy_rules.py, so `pulumi preview
--policy-pack policies` and the offline `modelstack check` judge a stack by the same code.
"""

import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

# The pack runs from its own folder; the rules live in the project's package next to it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.policy_rules import POLICIES, Policy  # noqa: E402

LEVELS = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY}


def as_crossguard(policy: Policy) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        message = policy.check(args.resource_type, args.props)
        if message:
            report_violation(message)

    return ResourceValidationPolicy(name=policy.name, description=policy.description, enforcement_level=LEVELS[policy.enforcement], validate=validate)


PolicyPack(name="modelstack", policies=[as_crossguard(p) for p in POLICIES])
