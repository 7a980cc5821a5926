"""The rollout wait `up` does for each version on Kubernetes (components.targets.kubernetes.rollout):
its decisions as pure functions, and the inputs the program gives it under the mock runtime. It runs
against real objects in tests/cluster/test_aks_objects.py (done, Healthy) and
tests/cluster/test_failure_states.py (a crash loop, an unschedulable pod)."""

from __future__ import annotations

import socket
from types import SimpleNamespace as NS

import pytest

from components.offline.evaluate import evaluate_stack
from components.targets.kubernetes.rollout import gives_up, has_ready_endpoint, rollout_pending
from tests.unit.plan_helpers import SECRET, revealed_inputs

ROLLOUT = "pulumi-python:dynamic/modelstack:KubernetesRollout"


def deployment(generation=2, observed=2, replicas=2, updated=2, total=2, available=2):
    return NS(
        metadata=NS(generation=generation),
        spec=NS(replicas=replicas),
        status=NS(observed_generation=observed, updated_replicas=updated, replicas=total, available_replicas=available),
    )


def test_a_rollout_is_done_when_every_replica_is_new_and_available_and_no_old_one_is_left():
    assert rollout_pending(deployment()) is None
    assert rollout_pending(deployment(generation=3, observed=2)) == "its controller has not seen the new spec yet"
    assert rollout_pending(deployment(updated=1)) == "1 of 2 replicas updated"
    assert rollout_pending(deployment(total=3)) == "1 old replica(s) still running"
    assert rollout_pending(deployment(available=1)) == "1 of 2 updated replicas available"
    # No replica count (an HPA owns it): one, as Kubernetes defaults it.
    assert rollout_pending(deployment(replicas=None, updated=1, total=1, available=1)) is None


def test_a_crash_loop_ends_the_wait_at_once_other_problems_after_their_patience():
    assert gives_up("CrashLoopBackOff", 0, 120)
    for reason in ("ImagePullBackOff", "ErrImagePull", "Unschedulable"):
        assert not gives_up(reason, 119.9, 120) and gives_up(reason, 120, 120), reason


def test_a_service_needs_a_ready_endpoint():
    ready = NS(endpoints=[NS(conditions=NS(ready=False)), NS(conditions=NS(ready=True))])
    assert has_ready_endpoint([ready])
    assert not has_ready_endpoint([NS(endpoints=[NS(conditions=NS(ready=False))]), NS(endpoints=None)])
    assert not has_ready_endpoint([])


def test_each_version_gets_a_wait_that_reads_the_cluster_with_a_secret_kubeconfig(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    _, plan = evaluate_stack("prod", project.root)
    waits = sorted(r.name for r in plan.by_type(ROLLOUT))
    assert waits == ["diabetes-multi-rollout", "diabetes-rollout"]
    inputs = seen["diabetes-rollout"]
    assert set(inputs["kubeconfig"]) == {SECRET}, "the kubeconfig is a secret"
    # (context and state are None, which the engine is not sent: AKS's kubeconfig has one context)
    assert {k: v for k, v in inputs.items() if k not in ("kubeconfig", "revision")} == {
        "applied": "None/None",  # the Deployment's generation and the Service's uid: the mocks have neither
        "deployment": "diabetes",
        "k8s_service": "diabetes",
        "namespace": "modelstack-prod",
        "patience_seconds": 600,  # prod's nodes autoscale: a new node takes minutes
        "service": "diabetes",
        "timeout_seconds": 600,
        "workload_selector": "app.kubernetes.io/name=diabetes,modelstack.io/workload=diabetes",
    }
    # It waits for its Deployment and Service; the route waits for it.
    urn = {r.name: r.urn for r in plan.resources}
    assert {urn["diabetes-deployment"], urn["diabetes-service"]} <= set(
        plan.named("diabetes-rollout").options["dependencies"]
    )
    assert urn["diabetes-rollout"] in plan.named("diabetes-route").options["dependencies"]


def test_a_fixed_size_cluster_waits_less_for_a_pod_it_cannot_place(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    evaluate_stack("staging", project.root)
    assert seen["diabetes-rollout"]["patience_seconds"] == 180


def props(kubeconfig: str) -> dict:
    return {
        "kubeconfig": kubeconfig,
        "namespace": "modelstack-dev",
        "deployment": "diabetes",
        "service": "diabetes",
        "k8s_service": "diabetes",
        "workload_selector": "app.kubernetes.io/name=diabetes",
        "timeout_seconds": 5,
        "patience_seconds": 1,
    }


def test_a_cluster_that_does_not_answer_is_told_without_the_kubeconfig():
    """A real connection to a closed port on 127.0.0.1: the error names the service and the
    kind of failure, and never the kubeconfig (its token) or the client's own text."""
    from components.errors import DeploymentError, ModelstackError
    from components.targets.kubernetes.rollout import KubernetesRolloutProvider

    token = "very-secret-token-0123456789"
    # A port this test holds without listening: connections to it are refused, and no one else can take it.
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    kubeconfig = (
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:{held.getsockname()[1]}\n    insecure-skip-tls-verify: true\n"
        f"contexts:\n- name: c\n  context:\n    cluster: k\n    user: u\nusers:\n- name: u\n  user:\n    token: {token}\n"
    )
    try:
        with pytest.raises(DeploymentError) as refused:
            KubernetesRolloutProvider().create(props(kubeconfig))
    finally:
        held.close()
    message = str(refused.value)
    assert (
        message.startswith("service diabetes: the cluster did not answer the rollout wait (")
        and "kubectl get deployment,pods -n modelstack-dev" in message
    )
    assert token not in message and "127.0.0.1" not in message
    with pytest.raises(ModelstackError) as unusable:
        KubernetesRolloutProvider().read("modelstack-dev/diabetes", props(f"not: [a kubeconfig {token}"))
    assert "the kubeconfig cannot be used" in str(unusable.value) and token not in str(unusable.value)
