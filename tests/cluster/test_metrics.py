"""metrics-server in the real cluster: the resource metrics API serves pod CPU and memory, and a
HorizontalPodAutoscaler on CPU utilisation gets a current value (not `<unknown>`)."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.cluster.test_gateway import deployment, wait


@pytest.fixture(scope="module")
def metered(kube, namespace, server_image, cluster):
    if not cluster.metrics_server:
        pytest.skip("the cluster runs without metrics-server (MODELSTACK_CLUSTER_METRICS_SERVER=0)")
    labels = {"app": "metered"}
    kube.apps.create_namespaced_deployment(namespace, deployment("metered", server_image, 1, labels))
    hpa = client.V2HorizontalPodAutoscaler(
        metadata=client.V1ObjectMeta(name="metered"),
        spec=client.V2HorizontalPodAutoscalerSpec(
            scale_target_ref=client.V2CrossVersionObjectReference(
                api_version="apps/v1", kind="Deployment", name="metered"
            ),
            min_replicas=1,
            max_replicas=2,
            metrics=[
                client.V2MetricSpec(
                    type="Resource",
                    resource=client.V2ResourceMetricSource(
                        name="cpu", target=client.V2MetricTarget(type="Utilization", average_utilization=80)
                    ),
                )
            ],
        ),
    )
    kube.autoscaling.create_namespaced_horizontal_pod_autoscaler(namespace, hpa)
    wait(
        "deployment metered ready",
        lambda: (kube.apps.read_namespaced_deployment("metered", namespace).status.ready_replicas or 0) == 1,
    )
    yield
    kube.autoscaling.delete_namespaced_horizontal_pod_autoscaler("metered", namespace)
    kube.apps.delete_namespaced_deployment("metered", namespace)


def test_pod_metrics_are_served(metered, kube, namespace):
    def pod_metrics():
        items = kube.custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", namespace, "pods")["items"]
        return [m for m in items if m["metadata"]["name"].startswith("metered-") and m["containers"]]

    metrics = wait(
        "metrics of the metered pod (metrics-server scrapes the kubelet every 15 s)", pod_metrics, timeout=120, every=2
    )
    usage = metrics[0]["containers"][0]["usage"]
    assert set(usage) >= {"cpu", "memory"}, usage


def test_hpa_gets_cpu_utilisation(metered, kube, namespace):
    def current_cpu():
        status = kube.autoscaling.read_namespaced_horizontal_pod_autoscaler("metered", namespace).status
        for metric in status.current_metrics or []:
            if (
                metric.type == "Resource"
                and metric.resource.name == "cpu"
                and metric.resource.current.average_utilization is not None
            ):
                return metric.resource.current
        return None

    current = wait("the HPA's current CPU utilisation", current_cpu, timeout=150, every=3)
    assert current.average_utilization >= 0
