"""What a local container would report once started, for `check` and the unit tests (the program
under Pulumi's mock runtime): its id, its state, and where it listens when that is known."""

from __future__ import annotations

from typing import Any

from components import pulumi_internals
from components.targets.local.webservice import endpoint_uris
from components.targets.registry import MockAnswer


def _endpoint(port: float | None) -> dict[str, Any]:
    """A fixed port is known at plan time; a free one is only picked when the container starts."""
    if port is None:
        unknown = pulumi_internals.UNKNOWN_WIRE_VALUE
        return {"port": unknown, "scoring_uri": unknown, "swagger_uri": unknown}
    return {"port": int(port), **endpoint_uris(int(port))}


def _container(args) -> dict[str, Any]:
    return {
        "container_id": f"mock-{args.name}",  # opaque to everything that reads it; stable across runs
        "state": "Healthy",
        **_endpoint(args.inputs.get("port")),
    }


MOCK_OUTPUTS: dict[str, MockAnswer] = {"pulumi-python:dynamic/modelstack:LocalWebservice": _container}
