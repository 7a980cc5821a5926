"""`modelstack logs SERVICE --stack NAME [--version V] [--tail N] [--follow]`: what a service's
scoring server printed, wherever it runs.

- local: the service's container (found by its labels modelstack.stack and modelstack.service);
- aks and kubernetes: the pods of the service (or of one rollout version) in its namespace, read
  with the cluster's kubeconfig (AKS: the secret stack output `kubeconfigs`; kubernetes: the
  stack's `kubeconfig_file` or secret `kubeconfig`); each pod's lines
  under a header naming it, or, with --follow, every line prefixed with its pod;
- aci: the container group's log, from Azure's REST API with your Azure identity (the Azure CLI's
  token, as image pushes use).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from components.errors import ModelstackError

SCORING_CONTAINER = "scoring"  # the container of a webservice's pods (targets.kubernetes.webservice)
ARM = "https://management.azure.com"
ACI_API_VERSION = "2023-05-01"


def show_logs(project_dir: Path, stack: str, service: str, *, version: str | None = None, tail: int = 100, follow: bool = False, write: Callable[[str], None] = print) -> None:
    from components.config.load import load_service

    config, spec = load_service(stack, project_dir, service, purpose="logs are read for")
    if version is not None and version not in {v.version_name for v in spec.versions}:
        raise ModelstackError(
            f"service {service} has no version '{version}'",
            key="--version",
            rule="--version names one of the service's rollout versions (versions: under the service)",
            fix=f"use one of: {', '.join(v.version_name for v in spec.versions) or '(none: leave --version out)'}",
        )
    if spec.target == "local":
        local_logs(stack, service, tail=tail, follow=follow, write=write)
    elif spec.target in ("aks", "kubernetes"):
        from components.targets.kubernetes.frontend import default_namespace

        if spec.target == "aks":
            kubeconfig, context = stack_kubeconfig(project_dir, stack, spec.compute), None
        else:
            kubeconfig, context = cluster_kubeconfig(project_dir, stack, spec.compute, config.kubernetes_clusters[spec.compute])
        pod_logs(kubeconfig, spec.deploy.namespace or default_namespace(stack), service, version=version, tail=tail, follow=follow, write=write, context=context)
    else:
        from components.config import naming

        group = naming.container_group_name(project_dir_project(project_dir), stack, service)
        resource_group = config.resource_group or naming.resource_group_name(project_dir_project(project_dir), stack)
        write(aci_logs(resource_group, group, service, tail=tail))


def project_dir_project(project_dir: Path) -> str:
    import yaml

    return yaml.safe_load((Path(project_dir) / "Pulumi.yaml").read_text())["name"]


# --- local ---------------------------------------------------------------------------------------


def local_logs(stack: str, service: str, *, tail: int, follow: bool, write: Callable[[str], None]) -> None:
    from components.image.docker_client import docker_client

    client = docker_client()
    found = client.containers.list(all=True, filters={"label": [f"modelstack.stack={stack}", f"modelstack.service={service}"]})
    if not found:
        raise ModelstackError(
            f"service {service} of stack {stack} has no container",
            rule="a local service runs in a container that `pulumi up` starts",
            fix=f"pulumi up --stack {stack}",
        )
    container = found[0]
    if not follow:
        text = container.logs(tail=tail).decode(errors="replace").rstrip("\n")
        if text:
            write(text)
        return
    pending = ""
    for chunk in container.logs(tail=tail, stream=True, follow=True):
        pending += chunk.decode(errors="replace")
        *lines, pending = pending.split("\n")
        for line in lines:
            write(line)


# --- Kubernetes ----------------------------------------------------------------------------------


def stack_kubeconfig(project_dir: Path, stack: str, cluster: str | None) -> str:
    """The kubeconfig of a stack's cluster (the secret output `kubeconfigs`), read through the engine."""
    from components.commands.engine import select_stack
    from components.targets.azure.platform import KUBECONFIGS_OUTPUT

    outputs = select_stack(project_dir, stack).outputs()
    kubeconfigs = outputs.get(KUBECONFIGS_OUTPUT)
    kubeconfig = ((kubeconfigs.value if kubeconfigs is not None else None) or {}).get(cluster)
    if not kubeconfig:
        raise ModelstackError(
            f"stack {stack} has no kubeconfig for cluster {cluster} yet",
            rule="pod logs are read with the cluster's kubeconfig, which the stack exports once the cluster exists",
            fix=f"pulumi up --stack {stack}, then ask again",
        )
    return kubeconfig


def cluster_kubeconfig(project_dir: Path, stack: str, name: str, spec) -> tuple[str, str | None]:
    """A kubernetes target's kubeconfig and context: its file, or its secret from the stack's config."""
    if spec.kubeconfig_file:
        from components.config.kubernetes_rules import kubeconfig_path

        return kubeconfig_path(project_dir, spec).read_text(), spec.context
    import yaml

    from components.commands.engine import select_stack

    value = select_stack(project_dir, stack).get_config("modelstack:kubernetes_clusters", path=False).value
    return yaml.safe_load(value)[name]["kubeconfig"], spec.context


def _core_api(kubeconfig: str, context: str | None = None):
    import yaml
    from kubernetes import client, config

    try:
        api_client = config.new_client_from_config_dict(yaml.safe_load(kubeconfig), context=context)
    except Exception:  # its text may hold a token: never shown
        raise ModelstackError("the stack's kubeconfig cannot be used", rule="the kubeconfig output is a kubeconfig document", fix="run `pulumi up` for the stack again to refresh it") from None
    return client.CoreV1Api(api_client)


def pod_logs(kubeconfig: str, namespace: str, service: str, *, version: str | None, tail: int, follow: bool, write: Callable[[str], None], context: str | None = None) -> None:
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    from components.targets.states import K8S_SERVICE_LABEL

    core = _core_api(kubeconfig, context)
    selector = f"{K8S_SERVICE_LABEL}={service}" + (f",modelstack.io/version={version}" if version else "")
    try:
        pods = sorted(core.list_namespaced_pod(namespace, label_selector=selector).items, key=lambda p: p.metadata.name)
    except (ApiException, HTTPError, OSError) as failed:
        raise ModelstackError(f"the cluster did not list the pods of {service}: {_reason(failed)}", rule="logs are read from the cluster's API server", fix="check that the cluster is reachable (kubectl get pods -n " + namespace + ")") from None
    if not pods:
        raise ModelstackError(
            f"no pods of {service}{f' version {version}' if version else ''} in namespace {namespace}",
            rule="a service on Kubernetes runs as the pods of its Deployments",
            fix="check `pulumi up` deployed it, and the service's namespace",
        )
    if not follow:
        for pod in pods:
            write(f"==> pod {pod.metadata.name} <==")
            try:
                text = core.read_namespaced_pod_log(pod.metadata.name, namespace, container=SCORING_CONTAINER, tail_lines=tail)
            except ApiException as failed:
                text = f"(no log: {_reason(failed)})"
            if text:
                write(text.rstrip("\n"))
        return
    lock = threading.Lock()

    def follow_pod(name: str) -> None:
        stream = core.read_namespaced_pod_log(name, namespace, container=SCORING_CONTAINER, tail_lines=tail, follow=True, _preload_content=False)
        pending = ""
        for chunk in stream.stream():
            pending += chunk.decode(errors="replace")
            *lines, pending = pending.split("\n")
            with lock:
                for line in lines:
                    write(f"[{name}] {line}")

    threads = [threading.Thread(target=follow_pod, args=(pod.metadata.name,), daemon=True) for pod in pods]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _reason(failed: Exception) -> str:
    return f"{getattr(failed, 'status', '')} {getattr(failed, 'reason', '') or type(failed).__name__}".strip()


# --- ACI -------------------------------------------------------------------------------------------


def aci_logs(resource_group: str, group: str, container: str, *, tail: int, base_url: str = ARM, token_source: Callable[[], Any] | None = None) -> str:
    """A container group's container log, from Azure's REST API with the user's Azure identity."""
    import requests

    from components.image.registry_auth import azure_cli_access_token

    token = (token_source or azure_cli_access_token)()
    subscription = getattr(token, "subscription", None)
    if not subscription:
        raise ModelstackError("the Azure CLI names no subscription", rule="the container group is found in your current subscription", fix="az account set --subscription <id of the stack's subscription>")
    url = (f"{base_url}/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.ContainerInstance"
           f"/containerGroups/{group}/containers/{container}/logs")
    try:
        answer = requests.get(url, params={"api-version": ACI_API_VERSION, "tail": tail}, headers={"Authorization": f"Bearer {token.token.get_secret_value()}"}, timeout=60)
    except requests.RequestException as failed:
        raise ModelstackError(f"Azure did not answer: {type(failed).__name__}", rule="ACI logs are read from Azure's management API", fix="check your network, then try again") from None
    if answer.status_code == 404:
        raise ModelstackError(f"container group {group} was not found in resource group {resource_group}", rule="an ACI service runs as the container group its stack creates", fix="pulumi up for the stack (or `az account set` to the stack's subscription)")
    if answer.status_code != 200:
        raise ModelstackError(f"Azure refused the log of {group}: HTTP {answer.status_code}", rule="reading a container's log needs Microsoft.ContainerInstance/containerGroups/containers/logs/read", fix="ask for Reader on the stack's resource group, or check `az login`")
    return (answer.json().get("content") or "").rstrip("\n")
