"""What a Kubernetes cluster would report on the objects the program declares, for `check` and
the unit tests (the program under Pulumi's mock runtime): a Deployment whose rollout finished, a
Gateway its implementation programmed, and the rollout wait that follows them."""

from __future__ import annotations

from typing import Any

from components.resource_types import K8S_DEPLOYMENT
from components.targets.registry import MockAnswer

MOCK_GATEWAY_ADDRESS = "20.50.60.70"


def _deployment(args) -> dict[str, Any]:
    """A Deployment whose rollout finished: every replica updated, ready and available."""
    replicas = int((args.inputs.get("spec") or {}).get("replicas", 1))
    return {
        "status": {
            "replicas": replicas,
            "readyReplicas": replicas,
            "updatedReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
            ],
        }
    }


def _gateway(args) -> dict[str, Any]:
    """A Gateway the implementation programmed, with its load balancer's address."""
    return {
        "status": {
            "addresses": [{"type": "IPAddress", "value": MOCK_GATEWAY_ADDRESS}],
            "conditions": [{"type": "Accepted", "status": "True"}, {"type": "Programmed", "status": "True"}],
        }
    }


MOCK_OUTPUTS: dict[str, MockAnswer] = {
    K8S_DEPLOYMENT: _deployment,
    "kubernetes:gateway.networking.k8s.io/v1:Gateway": _gateway,
    # What a rollout wait gives when the rollout succeeds (a plan assumes it will).
    "pulumi-python:dynamic/modelstack:KubernetesRollout": lambda a: {"state": "Healthy"},
}
