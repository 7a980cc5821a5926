"""LocalWebservice's pure decisions: Azure ML states and what a change of inputs or live state needs."""

import pytest

from components.targets.local.webservice import azureml_state, container_diff, endpoint_uris

OLD = {
    "image": "r/s@sha256:1",
    "port": 6789,
    "environment": {},
    "container_name": "modelstack-local-s",
    "state": "Healthy",
}


@pytest.mark.parametrize(
    "status, healthy, state",
    [
        ("created", None, "Transitioning"),
        ("restarting", None, "Transitioning"),
        ("running", None, "Transitioning"),
        ("running", True, "Healthy"),
        ("running", False, "Unhealthy"),
        ("exited", None, "Failed"),
        ("dead", None, "Failed"),
        (None, None, "Failed"),
    ],
)
def test_docker_status_maps_to_azureml_states(status, healthy, state):
    assert azureml_state(status, healthy) == state


def test_nothing_changed_and_healthy_is_no_change():
    assert container_diff(OLD, {**OLD}, "Healthy") == ([], [])


def test_new_image_replaces():
    assert container_diff(OLD, {**OLD, "image": "r/s@sha256:2"}, "Healthy") == (["image"], ["image"])


def test_unset_port_keeps_the_port_picked_before():
    assert container_diff(OLD, {**OLD, "port": None}, "Healthy") == ([], [])


def test_new_fixed_port_replaces():
    assert container_diff(OLD, {**OLD, "port": 7000}, "Healthy") == (["port"], ["port"])


def test_stopped_container_is_updated_in_place():
    assert container_diff(OLD, {**OLD}, "Failed") == (["state"], [])


def test_removed_container_is_replaced():
    assert container_diff(OLD, {**OLD}, None) == (["container_id"], ["container_id"])


def test_endpoint_uris():
    assert endpoint_uris(6789) == {
        "scoring_uri": "http://localhost:6789/score",
        "swagger_uri": "http://localhost:6789/swagger.json",
    }


def test_loopback_registries_are_local_everything_else_signs_in():
    from components.image.builder import is_local_registry

    assert is_local_registry("localhost:5050/diabetes")
    assert is_local_registry("127.0.0.1:5050/diabetes")
    assert not is_local_registry("modelstackprod1a2b.azurecr.io/diabetes")


def test_an_adopted_container_tells_its_port_from_its_bindings():
    """After a killed `up`, recovery adopts a container the engine never recorded: its port (and so
    its URIs) is read from Docker's bindings, which exist from the container's creation on."""
    from components.targets.local.webservice import published_port

    bindings = {"HostConfig": {"PortBindings": {"5001/tcp": [{"HostIp": "127.0.0.1", "HostPort": "41234"}]}}}
    assert published_port(bindings) == 41234
    assert published_port({"HostConfig": {"PortBindings": {}}}) is None
    assert published_port({}) is None
