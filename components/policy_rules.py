"""Guardrails as plain functions: the same code runs in the CrossGuard pack (`policies/`)
and in `modelstack check` (offline, no engine), and the tests call it directly.

A rule takes a resource's type and inputs and returns a violation message, or None. Values
the engine does not know yet (a preview before the image exists) are not judged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

from .offline import UNKNOWN_PLACEHOLDER

Enforcement = Literal["mandatory", "advisory"]
LOCAL_WEBSERVICE = "pulumi-python:dynamic/modelstack:LocalWebservice"
UNKNOWN_MARKERS = (UNKNOWN_PLACEHOLDER, "04da6b54-80e4-46f7-96ec-b56ff0331ba9")


@dataclass(frozen=True)
class Policy:
    name: str  # kebab-case, as CrossGuard names policies
    description: str  # one sentence
    enforcement: Enforcement
    check: Callable[[str, dict[str, Any]], str | None]


def _known(value: Any) -> bool:
    return isinstance(value, str) and value not in UNKNOWN_MARKERS


def image_pinned_by_digest(resource_type: str, inputs: dict[str, Any]) -> str | None:
    """A deployment runs an image by digest, so what runs is exactly what was built and tested."""
    if resource_type != LOCAL_WEBSERVICE:
        return None
    image = inputs.get("image")
    if _known(image) and "@sha256:" not in image:
        return (
            f"service {inputs.get('service')} runs image '{image}', which is not pinned by digest. "
            "Deployments must run an image by digest (repository@sha256:...): use the `image` output of the service's ServiceImage."
        )
    return None


POLICIES: tuple[Policy, ...] = (
    Policy(
        "images-pinned-by-digest",
        "Every webservice runs its image by digest, never by a movable tag.",
        "mandatory",
        image_pinned_by_digest,
    ),
)


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement: Enforcement
    resource: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"policy": self.policy, "enforcement": self.enforcement, "resource": self.resource, "message": self.message}


def evaluate_policies(resources: list[tuple[str, str, dict[str, Any]]], policies: tuple[Policy, ...] = POLICIES) -> list[Violation]:
    """Run every policy over (urn, type, inputs) triples; violations in a stable order."""
    violations = []
    for urn, resource_type, inputs in sorted(resources):
        for policy in policies:
            message = policy.check(resource_type, inputs)
            if message:
                violations.append(Violation(policy.name, policy.enforcement, urn, message))
    return violations
