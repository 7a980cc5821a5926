"""What Container Apps reports, in Azure ML's service states: the pure mapping, and a live
container app as promote and drift read it (the outputs the engine records)."""

from __future__ import annotations

import pytest

from components.targets import states
from components.targets.aca.states import aca_state


@pytest.mark.parametrize(
    "provisioning, running, state",
    [
        ("Succeeded", "Running", "Healthy"),  # scaled to zero or not: the next request is served
        ("Succeeded", "Ready", "Healthy"),
        ("InProgress", None, "Transitioning"),
        ("InProgress", "Running", "Transitioning"),  # a new revision on its way
        ("Succeeded", "Progressing", "Transitioning"),
        ("Deleting", "Running", "Transitioning"),
        (None, None, "Transitioning"),
        ("Succeeded", "Stopped", "Unhealthy"),
        ("Succeeded", "Suspended", "Unhealthy"),
        ("Failed", "Running", "Failed"),
        ("Canceled", None, "Failed"),
        ("succeeded", "running", "Healthy"),  # Azure's casing varies between API versions
    ],
)
def test_container_apps_states_in_azure_mls_names(provisioning, running, state):
    assert aca_state(provisioning, running) == state


def test_a_live_container_app_names_its_service_and_state():
    outputs = {
        "tags": {"modelstack-service": "diabetes", "environment": "dev"},
        "provisioningState": "Succeeded",
        "runningStatus": "Running",
    }
    assert states.live_state("azure-native:app:ContainerApp", outputs) == ("diabetes", "Healthy")
    assert states.live_state("azure-native:app:ContainerApp", {**outputs, "runningStatus": "Stopped"}) == (
        "diabetes",
        "Unhealthy",
    )


def test_resources_that_run_no_service_are_not_read():
    assert (
        states.live_state(
            "azure-native:app:ContainerApp", {"provisioningState": "Succeeded", "runningStatus": "Running"}
        )
        is None
    )
    assert (
        states.live_state(
            "azure-native:app:ManagedEnvironment",
            {"tags": {"modelstack-service": "diabetes"}, "provisioningState": "Succeeded"},
        )
        is None
    )
