"""Where an AKS service's pod logs are read from: the kubeconfig of the stack's cluster."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from components.errors import ModelstackError
from components.targets.kubernetes.logs import KubeconfigSource


def stack_kubeconfig(stack: str, cluster: str | None, stack_outputs: Callable[[], dict[str, Any]]) -> KubeconfigSource:
    """The kubeconfig of a stack's cluster (the secret output `kubeconfigs`); `stack_outputs()`
    reads the stack's outputs through the engine."""
    from components.targets.azure.platform import KUBECONFIGS_OUTPUT

    outputs = stack_outputs()
    value = outputs.get(KUBECONFIGS_OUTPUT)
    kubeconfig = value.get(cluster) if isinstance(value, dict) else None
    if not kubeconfig or not isinstance(kubeconfig, str):
        raise ModelstackError(
            f"stack {stack} has no kubeconfig for cluster {cluster} yet",
            rule="pod logs are read with the cluster's kubeconfig, which the stack exports once the cluster exists",
            fix=f"pulumi up --stack {stack}, then ask again",
        )
    return KubeconfigSource(
        kubeconfig,
        None,
        f"stack output {KUBECONFIGS_OUTPUT}.{cluster}",
        f"run `pulumi up --stack {stack}` to refresh the cluster's kubeconfig",
    )
