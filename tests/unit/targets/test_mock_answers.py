"""Each target answers for its own resource types under the mock runtime (its `mocks` module),
and the registry merges them for `modelstack check` (components.offline.evaluate)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from components.offline import evaluate
from components.resource_types import CONTAINER_APP, CONTAINER_GROUP, K8S_DEPLOYMENT, MANAGED_CLUSTER
from components.targets import registry


def answered_by(token: str) -> str:
    return evaluate.MOCK_OUTPUTS[token].__module__


def test_each_type_is_answered_by_the_package_that_declares_it():
    assert answered_by(CONTAINER_GROUP) == "components.targets.aci.mocks"
    assert answered_by(CONTAINER_APP) == "components.targets.aca.mocks"
    assert answered_by("azure-native:app:ManagedEnvironment") == "components.targets.aca.mocks"
    assert answered_by(K8S_DEPLOYMENT) == "components.targets.kubernetes.mocks"
    assert answered_by("pulumi-python:dynamic/modelstack:LocalWebservice") == "components.targets.local.mocks"
    # The cluster is the Azure platform's, shared by the aks and kubernetes targets.
    assert answered_by(MANAGED_CLUSTER) == "components.targets.azure.mocks"
    # Generated keys are every target's.
    assert answered_by("random:index/randomPassword:RandomPassword") == "components.offline.evaluate"
    assert (
        evaluate.MOCK_CALLS["azure-native:operationalinsights:getSharedKeys"].__module__
        == "components.targets.aca.mocks"
    )


def test_two_targets_answering_one_token_is_refused():
    first = SimpleNamespace(MOCK_OUTPUTS={"t:a": lambda a: {}}, MOCK_CALLS={"f:x": lambda a: {}})
    second = SimpleNamespace(MOCK_CALLS={"f:x": lambda a: {}})
    with pytest.raises(ValueError, match="components.targets.two.mocks answers f:x, which another module"):
        registry.merged_answers({"components.targets.one.mocks": first, "components.targets.two.mocks": second})


def test_answers_of_several_targets_are_merged():
    first = SimpleNamespace(MOCK_OUTPUTS={"t:a": lambda a: {"a": 1}})
    second = SimpleNamespace(MOCK_OUTPUTS={"t:b": lambda a: {"b": 2}}, MOCK_CALLS={"f:x": lambda a: {"x": 3}})
    outputs, calls = registry.merged_answers({"one": first, "two": second})
    assert {token: answer(None) for token, answer in outputs.items()} == {"t:a": {"a": 1}, "t:b": {"b": 2}}
    assert {token: answer(None) for token, answer in calls.items()} == {"f:x": {"x": 3}}
