"""Every use of the Pulumi SDK's internals, in one module.

The program, the components and the commands use Pulumi's public API only. Three jobs have
no public API, and are done here so that an SDK upgrade that changes them breaks one module
and its test (tests/unit/test_pulumi_internals.py), not the product:
- listing every config key the engine hands a program (the public `pulumi.Config` reads one
  key by name; modelstack must also see the keys it does not know, to name a misspelt one);
- recognising the wire format's markers for secrets, output values and unknowns (plans,
  drift and policies read raw property maps);
- driving the mock runtime for the offline evaluator (`modelstack check`): resetting the root
  stack resource between evaluations, recording each registration's parent and raw inputs,
  and reading the root stack's outputs back.

`TESTED_WITH` is the SDK release these were checked against; the test fails loudly, naming this
module, when the installed SDK differs, so an upgrade is a deliberate step.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi
from pulumi.output import Unknown
from pulumi.runtime import config as _runtime_config, mocks as _mocks, rpc as _rpc, settings as _settings
from pulumi.runtime.sync_await import _sync_await

TESTED_WITH = "3.259.0"

# --- engine config --------------------------------------------------------------------------


def engine_config(namespace: str) -> dict[str, Any]:
    """Every `<namespace>:<key>` value the engine (or the mock runtime) hands the program, by
    key, JSON values decoded; secrets arrive decrypted, as the engine sends them."""
    keys = set(_runtime_config.CONFIG.get()) | set(_runtime_config.get_config_env())
    values: dict[str, Any] = {}
    for full_key in keys:
        prefix, _, name = full_key.partition(":")
        if prefix != namespace or not name:
            continue
        raw = _runtime_config.get_config(full_key)
        try:
            values[name] = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError:
            values[name] = raw
    return values


# --- the wire format ------------------------------------------------------------------------

# What the engine sends for a value it does not know yet (a preview before the value exists).
UNKNOWN_WIRE_VALUE: str = _rpc.UNKNOWN


def wire_signature(value: Any) -> str | None:
    """The special-value signature of a wire-format map (secret, output value, resource
    reference, ...), or None for plain values."""
    if isinstance(value, dict):
        signature = value.get(_rpc._special_sig_key)
        return signature if isinstance(signature, str) else None
    return None


def is_secret_wire(value: Any) -> bool:
    """A wire-format secret, or an output value marked secret."""
    signature = wire_signature(value)
    if signature == _rpc._special_secret_sig:
        return True
    return signature == _rpc._special_output_value_sig and bool(value.get("secret"))


def is_output_value_wire(value: Any) -> bool:
    return wire_signature(value) == _rpc._special_output_value_sig


def is_unknown(value: Any) -> bool:
    """A value the engine or the SDK does not know yet."""
    return isinstance(value, Unknown) or (isinstance(value, str) and value == _rpc.UNKNOWN)


def deserialize(struct: Any) -> dict[str, Any]:
    """A protobuf property map as plain Python, keeping unknowns and secret markers."""
    return _rpc.deserialize_properties(struct, keep_unknowns=True)


# --- the mock runtime (offline evaluation) ----------------------------------------------------


def reset_root_resource() -> None:
    """Forget the root stack resource of an earlier mock run.

    set_mocks keeps it; each evaluation needs its own, or a second stack evaluated in the same
    process is parented (and exported) under the first."""
    _settings.ROOT.set(None)


def root_stack_outputs() -> dict[str, Any]:
    """The program's `pulumi.export`s after a mock run, resolved, secrets still marked.

    Under the mock runtime the root stack registers its outputs before the program runs, so
    they are read from the root resource and sent through the wire format instead."""
    root = _settings.get_root_resource()
    struct = _sync_await(_rpc.serialize_properties(dict(getattr(root, "outputs", {}) or {}), {}))
    return deserialize(struct)


Registration = Callable[[str, str, str, str | None, bool, dict[str, Any], dict[str, Any]], None]


class RecordingMonitor(_mocks.MockMonitor):
    """The mock runtime's monitor, also telling `on_register` each registration's URN, type,
    name, parent, whether it is a custom resource, its raw (secret-aware) inputs and the
    resource options a plan's JSON does not show (ignore_changes, replace_on_changes,
    delete_before_replace, and the URNs it waits for: depends_on and the resources its inputs
    come from)."""

    def __init__(self, mocks: pulumi.runtime.Mocks, *, project: str, stack: str, on_register: Registration):
        super().__init__(mocks)
        self._project = project
        self._stack = stack
        self._on_register = on_register

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # The SDK's version reads the stack from settings, which its RPC threads may not see.
        if parent:
            type_ = parent.split("::")[2].split("$")[-1] + "$" + type_
        return "urn:pulumi:" + "::".join([self._stack, self._project, type_, name])

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            options = {
                "ignore_changes": list(request.ignoreChanges),
                "replace_on_changes": list(request.replaceOnChanges),
                "delete_before_replace": bool(request.deleteBeforeReplace),
                "dependencies": sorted(request.dependencies),
            }
            self._on_register(
                response.urn,
                request.type,
                request.name,
                request.parent or None,
                bool(request.custom),
                deserialize(request.object),
                options,
            )
        return response
