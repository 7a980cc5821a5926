"""The exact inputs of every webservice resource of the example stacks (ContainerGroups on dev,
every Kubernetes object on staging and prod), as golden files: a change to any of them shows
as a diff to review (`pytest --update-golden`).

Secrets are shown as the mocks generate them, marked {"[secret]": ...}; what depends on the
model files' bytes (image digests, model versions) is replaced by a placeholder by the `golden`
fixture, so the files do not change when the example models are retrained elsewhere.
"""

from __future__ import annotations

import json

import pytest

from components.offline.evaluate import evaluate_stack
from tests.unit.plan_helpers import images_by_digest, revealed_inputs

WEBSERVICE_TYPES = (
    "azure-native:containerinstance:ContainerGroup",
    "modelstack:aci:",
    "modelstack:kubernetes:Frontend",
    "modelstack:kubernetes:Webservice",
    "kubernetes:",
    "random:",
)


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_webservice_resources_of_the_example_stacks(project, monkeypatch, golden, stack):
    seen = revealed_inputs(monkeypatch)
    images_by_digest(monkeypatch)
    _, plan = evaluate_stack(stack, project.root)
    resources = {
        r.name: {"type": r.type, "parent": r.parent.rsplit("::", 1)[-1] if r.parent else None, "inputs": seen[r.name]}
        for r in sorted(plan.resources, key=lambda r: r.name)
        if r.type.startswith(WEBSERVICE_TYPES) and r.type != "pulumi:providers:kubernetes"
    }
    golden(f"webservices-{stack}.json", json.dumps(resources, indent=2, sort_keys=True) + "\n")
