"""The HorizontalPodAutoscaler the program registers, on the real test cluster with metrics-server:
the example service scales from 1 replica to at least 2 under load, and back to 1 after it.

The stack is staging with the example service autoscaled (`autoscale_min_replicas` 1,
`autoscale_max_replicas` 3, `autoscale_target_utilization` 50, `cpu_cores` 0.1), its objects
taken from the program and applied as tests/cluster/program_objects.py describes. Load: four
clients scoring through the Gateway on 127.0.0.1, for at most three minutes. Scaling back waits
out the HPA's default five-minute scale-down window (the program sets no scale-down behaviour).
"""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests
import yaml

from components.targets.kubernetes.frontend import service_path
from tests.cluster import program_objects as po
from tests.cluster.test_gateway import wait
from tests.workspace import copy_project

STACK = "autoscale"
SERVICE = "diabetes"
SAMPLE = json.loads((po.REPO / "examples" / "diabetes" / "sample-requests.jsonl").read_text().splitlines()[0])
CLIENTS = 4
SCALE_UP_TIMEOUT_S = 180
SCALE_DOWN_TIMEOUT_S = 480


@pytest.fixture(scope="module")
def autoscaled(cluster, kube, docker_client, trained_example, tmp_path_factory):
    if not cluster.metrics_server:
        pytest.fail("the cluster runs without metrics-server: the HPA has no CPU metrics")
    root = copy_project(tmp_path_factory.mktemp("autoscale") / "project")
    staging = yaml.safe_load((root / "stacks" / "Pulumi.staging.yaml").read_text())
    config = staging["config"]
    config["modelstack:services"] = {
        SERVICE: {
            **config["modelstack:services"][SERVICE],
            "deploy": {
                "autoscale_min_replicas": 1,
                "autoscale_max_replicas": 3,
                "autoscale_target_utilization": 50,
                "cpu_cores": 0.1,
            },
        },
        "diabetes-multi": None,
    }
    (root / "stacks" / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(staging, sort_keys=False))
    images = po.build_service_images(docker_client, STACK, root, [SERVICE])
    (reference,) = images.values()
    po.load_image(reference)
    try:
        objects = po.adapt_to_cluster(
            po.program_objects(STACK, root, images), cluster.gateway_class, cluster.gateway_port
        )
        assert [o["metadata"]["name"] for o in objects if o["kind"] == "HorizontalPodAutoscaler"] == [SERVICE]
        with po.applied(kube, objects):
            namespace = next(o for o in objects if o["kind"] == "Deployment")["metadata"]["namespace"]
            wait(
                "one ready replica",
                lambda: (kube.apps.read_namespaced_deployment(SERVICE, namespace).status.ready_replicas or 0) >= 1,
                timeout=240,
            )
            key = next(o for o in objects if o["kind"] == "Secret")["stringData"]["primary_key"]
            base = f"http://127.0.0.1:{cluster.gateway_port}{service_path(SERVICE)}"
            wait(
                "the service answering through the Gateway",
                lambda: requests.get(f"{base}/", timeout=5).status_code == 200,
                timeout=60,
                every=0.5,
            )
            yield {"namespace": namespace, "base": base, "key": key}
    finally:
        po.unload_images(cluster, docker_client, [reference])


def test_the_hpa_scales_out_under_load_and_back(autoscaled, kube):
    namespace = autoscaled["namespace"]

    def replicas() -> int:
        return kube.apps.read_namespaced_deployment(SERVICE, namespace).status.replicas or 0

    assert replicas() == 1
    stop = threading.Event()
    answered: list[int] = []

    def client():
        with requests.Session() as session:
            headers = {"Authorization": f"Bearer {autoscaled['key']}"}
            while not stop.is_set():
                try:
                    answered.append(
                        session.post(
                            f"{autoscaled['base']}/score", json=SAMPLE, headers=headers, timeout=30
                        ).status_code
                    )
                except requests.RequestException:
                    answered.append(0)

    clients = [threading.Thread(target=client, daemon=True) for _ in range(CLIENTS)]
    began = time.monotonic()
    for thread in clients:
        thread.start()
    try:
        wait("at least 2 replicas under load", lambda: replicas() >= 2, timeout=SCALE_UP_TIMEOUT_S, every=2)
        scaled_out = time.monotonic() - began
        peak = replicas()
    finally:
        stop.set()
        for thread in clients:
            thread.join(timeout=60)
    quiet = time.monotonic()
    wait("back to 1 replica after the load", lambda: replicas() == 1, timeout=SCALE_DOWN_TIMEOUT_S, every=5)
    print(
        f"\nscaled out to {peak} replicas {scaled_out:.0f} s into the load ({len(answered)} requests, {answered.count(200)} answered 200); back to 1 after {time.monotonic() - quiet:.0f} s"
    )
    assert answered.count(200) > 0
