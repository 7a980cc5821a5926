"""Helpers for tests of the webservices under the mock runtime.

`offline.evaluate_stack` records what `check --json` shows: secrets masked as "[secret]". To
assert the exact inputs a resource receives, including what is secret, `revealed_inputs`
records them unmasked, with each secret marked: {"[secret]": <value>}.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pulumi.output import Unknown
from pulumi.runtime import rpc

from components import offline

SECRET = offline.SECRET_PLACEHOLDER
SERVICE_IMAGE = "pulumi-python:dynamic/modelstack:ServiceImage"


def reveal(value: Any) -> Any:
    if isinstance(value, dict):
        if rpc._special_sig_key in value:
            signature = value[rpc._special_sig_key]
            if signature == rpc._special_secret_sig:
                return {SECRET: reveal(value.get("value"))}
            if signature == rpc._special_output_value_sig:
                inner = reveal(value.get("value", offline.UNKNOWN_PLACEHOLDER))
                return {SECRET: inner} if value.get("secret") else inner
            return f"[{value.get('urn') or value.get('id') or 'reference'}]"
        return {str(k): reveal(v) for k, v in sorted(value.items()) if k != offline.DYNAMIC_PROVIDER_INPUT}
    if isinstance(value, (list, tuple)):
        return [reveal(v) for v in value]
    if value == rpc.UNKNOWN or isinstance(value, Unknown):
        return offline.UNKNOWN_PLACEHOLDER
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def revealed_inputs(monkeypatch) -> dict[str, dict[str, Any]]:
    """Resource name -> its inputs with secrets shown (and marked), filled in as evaluations run."""
    seen: dict[str, dict[str, Any]] = {}
    original = offline.RecordingMonitor.RegisterResource

    def register(self, request):
        seen[request.name] = reveal(rpc.deserialize_properties(request.object, keep_unknowns=True))
        return original(self, request)

    monkeypatch.setattr(offline.RecordingMonitor, "RegisterResource", register)
    return seen


def fake_digest(tag: str) -> str:
    return "sha256:" + hashlib.sha256(tag.encode()).hexdigest()


def images_by_digest(monkeypatch) -> None:
    """ServiceImages resolve to <repository>@<digest of their tag>, as after a push: so a plan
    shows which image each Deployment runs, and a new model shows as a new digest."""
    monkeypatch.setitem(offline.MOCK_OUTPUTS, SERVICE_IMAGE, lambda args: {"digest": fake_digest(args.inputs["tag"]), "image": f"{args.inputs['repository']}@{fake_digest(args.inputs['tag'])}"})


def by_type(plan, type_: str) -> dict[str, Any]:
    return {r.name: r for r in plan.resources if r.type == type_}
