"""How a plan spells the values it must not or cannot show, shared by `check`, the policies
and `drift`: `[secret]` for a secret, `[computed]` for a value that exists only once the
resource does. Light on purpose: the policy pack imports it without the mock runtime."""

from __future__ import annotations

from typing import Any, TypeGuard, TypeVar

from components import pulumi_internals

SECRET_PLACEHOLDER = "[secret]"
UNKNOWN_PLACEHOLDER = "[computed]"
# A dynamic resource's serialized provider: code, not configuration; never shown.
DYNAMIC_PROVIDER_INPUT = "__provider"


T = TypeVar("T")


def is_known(value: T | None) -> TypeGuard[T]:
    """Neither missing nor unknown (as `check` prints it, or as the engine sends it)."""
    return value is not None and value != UNKNOWN_PLACEHOLDER and not pulumi_internals.is_unknown(value)


def is_secret(value: Any) -> bool:
    """A masked secret, or a secret still in the wire format."""
    return value == SECRET_PLACEHOLDER or pulumi_internals.is_secret_wire(value)


def sanitize(value: Any, *, reveal: bool = False) -> Any:
    """Plain JSON for a plan: secrets masked, unknowns marked, dynamic providers' code dropped.

    With `reveal`, a secret is shown marked instead of masked, as {"[secret]": value}: for tests
    that assert the exact inputs a resource receives, secrets included."""
    if isinstance(value, dict):
        if pulumi_internals.wire_signature(value) is not None:
            if pulumi_internals.is_output_value_wire(value):
                inner = sanitize(value.get("value", UNKNOWN_PLACEHOLDER), reveal=reveal)
            else:
                inner = sanitize(value.get("value"), reveal=reveal)
            if pulumi_internals.is_secret_wire(value):
                return {SECRET_PLACEHOLDER: inner} if reveal else SECRET_PLACEHOLDER
            if pulumi_internals.is_output_value_wire(value):
                return inner
            return f"[{value.get('urn') or value.get('id') or 'reference'}]"
        return {str(k): sanitize(v, reveal=reveal) for k, v in sorted(value.items()) if k != DYNAMIC_PROVIDER_INPUT}
    if isinstance(value, (list, tuple)):
        return [sanitize(v, reveal=reveal) for v in value]
    if pulumi_internals.is_unknown(value):
        return UNKNOWN_PLACEHOLDER
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire carries every number as a double
    return value


def policy_view(value: Any) -> Any:
    """Inputs as a policy judges them: secrets in plain text, as the engine hands them to a
    CrossGuard pack, so `check` and a preview judge the same values (a container app's ingress
    sits in a configuration made secret as a whole by the keys beside it). Never printed."""
    revealed = sanitize(value, reveal=True)

    def unwrap(item: Any) -> Any:
        if isinstance(item, dict):
            if len(item) == 1 and SECRET_PLACEHOLDER in item:
                return unwrap(item[SECRET_PLACEHOLDER])
            return {k: unwrap(v) for k, v in item.items()}
        if isinstance(item, list):
            return [unwrap(v) for v in item]
        return item

    return unwrap(revealed)
