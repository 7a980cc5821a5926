"""What a guardrail is and what it judges: a resource (type, name, inputs), a policy (a rule
with its default enforcement and parameters) and a violation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Enforcement = Literal["mandatory", "advisory", "disabled"]


@dataclass(frozen=True)
class Resource:
    urn: str
    type: str
    name: str
    inputs: dict[str, Any]


@dataclass(frozen=True)
class Policy:
    name: str  # kebab-case, as CrossGuard names policies
    description: str  # one sentence
    enforcement: Enforcement  # the default; a stack's policy config may change it
    check: Callable[[Resource, dict[str, Any]], str | None]
    parameters: dict[str, Any] = field(default_factory=dict)  # defaults, overridable per stack

    def config_schema(self) -> dict[str, Any]:
        """JSON-schema properties of the parameters, for CrossGuard's policy config."""
        return {
            key: {"type": _json_type(value), "default": value}
            | ({"items": {"type": "string"}} if isinstance(value, list) else {})
            for key, value in self.parameters.items()
        }


def _json_type(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}[type(value)]


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement: Enforcement
    resource: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {
            "policy": self.policy,
            "enforcement": self.enforcement,
            "resource": self.resource,
            "message": self.message,
        }
