"""KubernetesRollout: `up` waits for each version's Deployment to roll out and its Service to
have ready endpoints, and when they cannot, fails at once, naming the pod, the reason and its last
log lines (as the local target does for its container).

pulumi-kubernetes' own wait for a Deployment and a Service (its await logic) only gives up after
ten minutes, and then says that pods are not ready, not why. So those two objects carry
`pulumi.com/skipAwait` and this resource, which depends on both, does the waiting instead, through
the `kubernetes` client with the cluster's kubeconfig (a secret input, never printed):
- done: the Deployment's controller has seen its latest spec, every replica is updated and
  available and no old one is left (`kubectl rollout status`), and the Service has a ready
  endpoint;
- failed: a pod of this version cannot serve (components.targets.kubernetes.diagnosis): a crash
  loop, at once, with its log tail (waiting does not mend an init() that raises); an image that
  cannot be pulled or a pod the scheduler cannot place (with its reason), when it still cannot
  `patience_seconds` after the first such sighting (a cluster autoscaler adding a node, or an
  AcrPull grant still propagating, clears up within it);
- or `timeout_seconds` (600, the provider's own default) passes.
Its inputs change whenever the Deployment's do (the image, the model versions, the manifest), so
every rollout is waited for. Its output `state` is the service version's Azure ML state: Healthy
after `up`, and what the cluster says after a refresh (`pulumi refresh`, `up --refresh`): the
Deployment's state, or a pod's diagnosis when one cannot serve.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, Resource, ResourceProvider, UpdateResult

from components.dynamic_imports import imports_first
from components.errors import DeploymentError

SKIP_AWAIT = {"pulumi.com/skipAwait": "true"}
DEFAULT_TIMEOUT_SECONDS = 600
DEFAULT_PATIENCE_SECONDS = 180
POLL_SECONDS = 2.0
PROGRESS_SECONDS = 15.0


# --- pure decisions ---------------------------------------------------------------------------


def rollout_pending(deployment: Any) -> str | None:
    """What the Deployment's rollout still waits for, or None when it is complete."""
    metadata, spec, status = deployment.metadata, deployment.spec, deployment.status
    wanted = spec.replicas if spec.replicas is not None else 1
    if (status.observed_generation or 0) < (metadata.generation or 0):
        return "its controller has not seen the new spec yet"
    updated = status.updated_replicas or 0
    if updated < wanted:
        return f"{updated} of {wanted} replicas updated"
    if (status.replicas or 0) > updated:
        return f"{status.replicas - updated} old replica(s) still running"
    available = status.available_replicas or 0
    if available < updated:
        return f"{available} of {updated} updated replicas available"
    return None


def gives_up(reason: str, seen_for: float, patience: float) -> bool:
    """Whether a pod's problem (its reason) ends the wait: a crash loop at once, others once they
    have lasted `patience`."""
    return reason == "CrashLoopBackOff" or seen_for >= patience


def has_ready_endpoint(slices: list[Any]) -> bool:
    """Whether any EndpointSlice of a Service has an endpoint that is ready."""
    for piece in slices:
        for endpoint in piece.endpoints or []:
            if endpoint.conditions is not None and endpoint.conditions.ready:
                return True
    return False


def revision(*parts: Any) -> str:
    """A digest of what the Deployment and Service were given: it changes when they do."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def revision_with(service_manifest: dict[str, Any]) -> Callable[[Any], str]:
    """revision(deployment, service_manifest) once the Deployment's manifest resolves; the Service's
    is bound now, as a loop over rollout versions moves on before the manifest resolves."""
    return lambda deployment: revision(deployment, service_manifest)


@dataclass
class Clients:
    apps: Any
    core: Any
    discovery: Any


def clients_for(kubeconfig: str, context: str | None) -> Clients:
    from kubernetes import client

    from components.targets.kubernetes.access import api_client

    api = api_client(kubeconfig, context or None)  # its errors never quote the kubeconfig
    return Clients(apps=client.AppsV1Api(api), core=client.CoreV1Api(api), discovery=client.DiscoveryV1Api(api))


def _unreachable(service: str, namespace: str, failed: Exception) -> DeploymentError:
    """The cluster did not answer or refused: said by status or kind only (never its text)."""
    status = getattr(failed, "status", None)
    return DeploymentError(
        f"service {service}: the cluster {'refused the rollout wait (HTTP ' + str(status) + ')' if status else 'did not answer the rollout wait (' + type(failed).__name__ + ')'}",
        rule="`up` reads each version's Deployment, Service and pods to know the rollout is done",
        fix=f"check the cluster with the stack's kubeconfig: kubectl get deployment,pods -n {namespace}",
    )


WAIT_RULE = (
    f"`up` waits for each version's pods to serve, at most {DEFAULT_TIMEOUT_SECONDS}s by default: a crash loop ends the wait at once, "
    "an image that cannot be pulled or a pod that cannot be placed once it has lasted the wait's patience"
)


def _fix(service: str, namespace: str) -> str:
    return f"see why with `modelstack logs {service} --stack <stack>` or `kubectl describe pods -n {namespace}`, mend it, then run `pulumi up` again"


def wait_for_rollout(
    clients: Clients,
    *,
    namespace: str,
    deployment: str,
    service: str,
    k8s_service: str,
    workload_selector: str,
    timeout: float,
    patience: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = lambda message: None,
) -> str:
    """ "Healthy" once the rollout is done; raises DeploymentError saying why it cannot be."""
    from kubernetes.client.exceptions import ApiException

    from components.targets.kubernetes.diagnosis import diagnose

    started = clock()
    last_told = started
    first_problem: float | None = None
    pending: str | None = "the Deployment does not exist yet"
    while True:
        try:
            live = clients.apps.read_namespaced_deployment(deployment, namespace)
            pending = rollout_pending(live)
            if pending is None:
                slices = clients.discovery.list_namespaced_endpoint_slice(
                    namespace, label_selector=f"kubernetes.io/service-name={k8s_service}"
                ).items
                pending = None if has_ready_endpoint(slices) else f"Service {k8s_service} has no ready endpoint yet"
        except ApiException as exc:
            if exc.status != 404:
                raise
        if pending is None:
            log(f"{namespace}/{deployment}: rolled out")
            return "Healthy"
        found = diagnose(clients.core, namespace, service, selector=workload_selector)
        now = clock()
        if found is not None:
            first_problem = first_problem if first_problem is not None else now
            if gives_up(found.reason, now - first_problem, patience):
                raise DeploymentError(
                    f"{found.message}\n(Deployment {namespace}/{deployment} is {found.state}; nothing of it was rolled back)",
                    rule=WAIT_RULE,
                    fix=_fix(service, namespace),
                )
        if now - last_told >= PROGRESS_SECONDS:  # long waits show they are alive, and on what
            log(
                f"{namespace}/{deployment}: waiting {now - started:.0f}s: {pending}"
                + (f"; {found.message.splitlines()[0]}" if found is not None else "")
            )
            last_told = now
        if now - started >= timeout:
            detail = f"; last seen: {found.message}" if found is not None else ""
            raise DeploymentError(
                f"service {service}: Deployment {namespace}/{deployment} did not roll out within {timeout:.0f}s ({pending}){detail}",
                rule=WAIT_RULE,
                fix=_fix(service, namespace),
            )
        sleep(POLL_SECONDS)


def live_state(clients: Clients, *, namespace: str, deployment: str, service: str, workload_selector: str) -> str:
    """The version's state now: a pod's diagnosis (Failed, Unschedulable) when one cannot serve,
    else the Deployment's (components.targets.states); Failed when it is gone."""
    from kubernetes.client.exceptions import ApiException

    from components.targets.kubernetes.diagnosis import diagnose
    from components.targets.states import deployment_state

    try:
        live = clients.apps.read_namespaced_deployment(deployment, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return "Failed"
        raise
    found = diagnose(clients.core, namespace, service, selector=workload_selector)
    return found.state if found is not None else deployment_state(live.status)


# --- the resource ----------------------------------------------------------------------------


def _talking_to_the_cluster(props: dict[str, Any], work: Callable[[Clients], Any]) -> Any:
    """`work` with clients for the cluster; its API and network failures told without their text."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        return work(clients_for(props["kubeconfig"], props.get("context")))
    except (ApiException, HTTPError, OSError) as failed:
        raise _unreachable(props["service"], props["namespace"], failed) from None


def _wait(props: dict[str, Any]) -> str:
    from components.image.builder import stderr_log

    return _talking_to_the_cluster(
        props,
        lambda clients: wait_for_rollout(
            clients,
            namespace=props["namespace"],
            deployment=props["deployment"],
            service=props["service"],
            k8s_service=props["k8s_service"],
            workload_selector=props["workload_selector"],
            timeout=float(props["timeout_seconds"]),
            patience=float(props["patience_seconds"]),
            log=stderr_log,
        ),
    )


@imports_first(
    "urllib3.exceptions",
    "kubernetes.client",
    "kubernetes.client.exceptions",
    "components.targets.kubernetes.access",
    "components.targets.kubernetes.diagnosis",
    "components.targets.states",
    "components.image.builder",
)
class KubernetesRolloutProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=f"{props['namespace']}/{props['deployment']}", outs={**props, "state": _wait(props)})

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs={**news, "state": _wait(news)})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        state = _talking_to_the_cluster(
            props,
            lambda clients: live_state(
                clients,
                namespace=props["namespace"],
                deployment=props["deployment"],
                service=props["service"],
                workload_selector=props["workload_selector"],
            ),
        )
        return ReadResult(id_=id_, outs={**props, "state": state})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        return None  # it owns nothing: the Deployment and Service are deleted by the provider


class KubernetesRollout(Resource, module="modelstack", name="KubernetesRollout"):
    state: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        kubeconfig: pulumi.Input[str],
        context: str | None,
        namespace: str,
        deployment: str,
        service: str,
        k8s_service: str,
        workload_selector: str,
        revision: pulumi.Input[str],
        applied: pulumi.Input[str] | None = None,
        timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
        patience_seconds: int = DEFAULT_PATIENCE_SECONDS,
        opts: pulumi.ResourceOptions | None = None,
    ):
        props = {
            "kubeconfig": pulumi.Output.secret(kubeconfig),
            "context": context,
            "namespace": namespace,
            "deployment": deployment,
            "service": service,
            "k8s_service": k8s_service,
            "workload_selector": workload_selector,
            "revision": revision,
            # What the cluster made of the last apply (the Deployment's generation, the Service's
            # uid): it changes when `up` puts back what kubectl changed, or recreates a deleted
            # Service, so the wait runs again and the recorded state is the repaired one.
            "applied": applied,
            "timeout_seconds": timeout_seconds,
            "patience_seconds": patience_seconds,
            "state": None,
        }
        super().__init__(KubernetesRolloutProvider(), name, props, opts)
