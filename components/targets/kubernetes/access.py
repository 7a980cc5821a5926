"""Reaching a cluster with a kubeconfig document (and, optionally, one of its contexts), for the
code that talks to it directly: the prerequisite checks and the rollout wait. A kubeconfig holds
credentials, so when it cannot be used only the kind of failure is told, never its text.
"""

from __future__ import annotations

from components.errors import ModelstackError


def api_client(kubeconfig: str, context: str | None, key: str | None = None):
    import yaml
    from kubernetes import config

    try:
        return config.new_client_from_config_dict(yaml.safe_load(kubeconfig), context=context)
    except Exception as failed:  # the text may hold credentials: only the kind of failure is told
        wrong_context = context and "context" in str(failed).lower()
        raise ModelstackError(
            f"the kubeconfig has no context '{context}'"
            if wrong_context
            else f"the kubeconfig cannot be used ({type(failed).__name__})",
            key=f"{key}.context" if key and wrong_context else key,
            rule="a kubernetes cluster is reached with its kubeconfig and, optionally, one of its contexts",
            fix="check the context with `kubectl config get-contexts`"
            if wrong_context
            else "check the file with `kubectl --kubeconfig FILE get nodes`",
        ) from None
