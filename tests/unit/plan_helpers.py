"""Helpers for tests of the webservices under the mock runtime.

`components.offline.evaluate.evaluate_stack` records what `check --json` shows: secrets masked as "[secret]". To
assert the exact inputs a resource receives, including what is secret, `revealed_inputs`
records them unmasked, with each secret marked: {"[secret]": <value>}.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from components.offline import evaluate as offline
from components.offline.evaluate import Plan, PlannedResource
from components.plan_values import SECRET_PLACEHOLDER, sanitize

SECRET = SECRET_PLACEHOLDER
SERVICE_IMAGE = "pulumi-python:dynamic/modelstack:ServiceImage"


def revealed_inputs(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """Resource name -> its inputs with secrets shown (and marked), filled in as evaluations run."""
    seen: dict[str, dict[str, Any]] = {}
    original = offline.evaluate

    def evaluate(*args, **kwargs):
        plan = original(*args, **kwargs)
        seen.update({r.name: sanitize(r.raw_inputs, reveal=True) for r in plan.resources})
        return plan

    monkeypatch.setattr(offline, "evaluate", evaluate)
    return seen


def mock_key(resource_name: str, length: int = 32) -> str:
    """What the mock runtime's RandomPassword generates for a key resource
    (components/offline/evaluate.py): the prefix, then the name's SHA-256."""
    return (offline.MOCK_KEY_PREFIX + hashlib.sha256(resource_name.encode()).hexdigest())[:length]


def fake_digest(tag: str) -> str:
    return "sha256:" + hashlib.sha256(tag.encode()).hexdigest()


def images_by_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    """ServiceImages resolve to <repository>@<digest of their tag>, as after a push: so a plan
    shows which image each Deployment runs, and a new model shows as a new digest."""
    monkeypatch.setitem(
        offline.MOCK_OUTPUTS,
        SERVICE_IMAGE,
        lambda args: {
            "digest": fake_digest(args.inputs["tag"]),
            "image": f"{args.inputs['repository']}@{fake_digest(args.inputs['tag'])}",
        },
    )


def by_type(plan: Plan, type_: str) -> dict[str, PlannedResource]:
    return {r.name: r for r in plan.resources if r.type == type_}


def parent_of(plan: Plan, name: str) -> str:
    """The URN of the parent of the resource called `name` (the stack's, for a top-level one)."""
    parent = plan.named(name).parent
    assert parent is not None, f"{name} has no parent, not even the stack"
    return parent
