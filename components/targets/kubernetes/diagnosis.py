"""Why a service's pods are not serving, in Azure ML's states, with the words a user acts on.

A Deployment's status says that pods are missing, not why (`components.targets.states` maps it);
the pods say why: one the scheduler cannot place (Unschedulable, with the scheduler's reason), one
whose container keeps failing or whose image cannot be pulled (Failed, with the reason and the
last lines its scoring server printed). `diagnose` reads them through the `kubernetes` client;
`pod_problem` is the decision, a pure function over a pod as the API returns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

FAILING_REASONS = (
    "CrashLoopBackOff",
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
)
LOG_TAIL_LINES = 20


@dataclass(frozen=True)
class PodProblem:
    pod: str
    state: str  # Unschedulable or Failed
    reason: str
    detail: str
    restarts: int = 0
    crashed: bool = False  # its container exited: its previous instance's log tells why


def _get(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


def _camel(value: Any, snake: str, camel: str) -> Any:
    return value.get(camel, value.get(snake)) if isinstance(value, dict) else getattr(value, snake, None)


def pod_problem(pod: Any) -> PodProblem | None:
    """What keeps this pod from serving, or None when nothing does (yet)."""
    name = _get(_get(pod, "metadata"), "name")
    status = _get(pod, "status") or {}
    for condition in _get(status, "conditions") or []:
        if (
            _get(condition, "type") == "PodScheduled"
            and _get(condition, "status") == "False"
            and _get(condition, "reason") == "Unschedulable"
        ):
            return PodProblem(
                name, "Unschedulable", "Unschedulable", _get(condition, "message") or "no node can run it"
            )
    for container in _camel(status, "container_statuses", "containerStatuses") or []:
        state = _get(container, "state") or {}
        waiting = _get(state, "waiting")
        restarts = _camel(container, "restart_count", "restartCount") or 0
        last = _get(_camel(container, "last_state", "lastState") or {}, "terminated")
        if waiting is not None and _get(waiting, "reason") in FAILING_REASONS:
            detail = _get(waiting, "message") or ""
            if last is not None:
                detail = f"exited with code {_camel(last, 'exit_code', 'exitCode')}" + (f"; {detail}" if detail else "")
            return PodProblem(name, "Failed", _get(waiting, "reason"), detail, restarts, crashed=last is not None)
    return None


def describe(problem: PodProblem, log_tail: str | None) -> str:
    restarts = f", restarted {problem.restarts} time{'s' if problem.restarts != 1 else ''}" if problem.restarts else ""
    text = f"pod {problem.pod} is {problem.reason}{restarts}" + (f": {problem.detail}" if problem.detail else "")
    if log_tail:
        text += f". Last log lines:\n{log_tail.rstrip()}"
    return text


class Diagnosis(NamedTuple):
    state: str  # Failed or Unschedulable
    message: str  # for the user: the pod, the reason, the detail and the log tail
    reason: str  # the pod's (CrashLoopBackOff, ImagePullBackOff, Unschedulable...)


def diagnose(
    core, namespace: str, service: str, *, selector: str | None = None, tail: int = LOG_TAIL_LINES
) -> Diagnosis | None:
    """What keeps the first pod of `service` (or of those `selector` picks: one version's) from
    serving, its log tail included; None when every pod can. `core` is a kubernetes.client.CoreV1Api."""
    from kubernetes.client.exceptions import ApiException

    from components.targets.states import K8S_SERVICE_LABEL

    pods = sorted(
        core.list_namespaced_pod(namespace, label_selector=selector or f"{K8S_SERVICE_LABEL}={service}").items,
        key=lambda p: p.metadata.name,
    )
    for pod in pods:
        problem = pod_problem(pod)
        if problem is None:
            continue
        log_tail = None
        if problem.state == "Failed":
            try:
                log_tail = core.read_namespaced_pod_log(
                    problem.pod, namespace, container="scoring", tail_lines=tail, previous=problem.crashed
                )
            except ApiException:
                log_tail = None  # no container has run yet (an image that cannot be pulled)
        return Diagnosis(
            problem.state, f"service {service} is {problem.state}: {describe(problem, log_tail)}", problem.reason
        )
    return None
