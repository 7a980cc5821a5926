"""States from real objects when a service cannot serve, on the real test cluster.

The stack's two services, from the program's own objects (tests/cluster/program_objects.py):
- `diabetes` runs an entry script whose init() raises: its pod crashes and restarts; the service
  is Failed, and the message names the pod, CrashLoopBackOff and the last lines its server printed;
- `diabetes-multi` asks for 4 CPUs, which its cluster's VM size has (so the capacity check lets it
  through) but this single 2-core node does not: the scheduler cannot place it, and the service is
  Unschedulable with the scheduler's reason. Its image is never pulled, so none is built.
The Deployments' own status maps to Unhealthy for both (components.targets.states): the pods tell
why. The wait `up` does for each version (KubernetesRollout, with the inputs the program registers)
fails with those words, and a refresh reads those states. Deleting what the program registers
leaves nothing in the namespace (program_objects.applied).
"""

from __future__ import annotations

import time

import pytest
import yaml

from components.errors import DeploymentError
from components.targets.kubernetes.diagnosis import diagnose
from components.targets.kubernetes.rollout import KubernetesRolloutProvider
from components.targets.states import deployment_state
from tests.cluster import program_objects as po
from tests.cluster.test_gateway import wait
from tests.provider_results import outputs_of
from tests.workspace import copy_project

STACK = "states"
FAILURE = "the model store is unreachable"
CRASHING_SCRIPT = f'''def init():
    raise RuntimeError("{FAILURE}")


def run(data):
    return data
'''


@pytest.fixture(scope="module")
def failing(cluster, kube, docker_client, trained_example, tmp_path_factory):
    root = copy_project(tmp_path_factory.mktemp("states") / "project")
    (root / "examples" / "diabetes" / "src" / "score.py").write_text(CRASHING_SCRIPT)
    staging = yaml.safe_load((root / "stacks" / "Pulumi.staging.yaml").read_text())
    config = staging["config"]
    config["modelstack:clusters"] = {
        "aks-staging": {"cluster_purpose": "DevTest", "agent_count": 1, "vm_size": "Standard_D8s_v5"}
    }
    config["modelstack:services"]["diabetes"]["deploy"] = {"num_replicas": 1}
    config["modelstack:services"]["diabetes-multi"]["deploy"] = {"num_replicas": 1, "cpu_cores": 4}
    (root / "stacks" / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(staging, sort_keys=False))
    tags = po.service_image_tags(STACK, root)
    images = po.build_service_images(docker_client, STACK, root, ["diabetes"])
    images[tags["diabetes-multi"]] = f"{po.TEST_REPOSITORY}/never-pulled:{tags['diabetes-multi']}"
    reference = images[tags["diabetes"]]
    po.load_image(reference)
    try:
        objects = po.adapt_to_cluster(
            po.program_objects(STACK, root, images), cluster.gateway_class, cluster.gateway_port
        )
        with po.applied(kube, objects):
            namespace = next(o for o in objects if o["kind"] == "Deployment")["metadata"]["namespace"]
            yield {"namespace": namespace, "rollouts": po.registered_rollouts(STACK, root, cluster.kubeconfig)}
    finally:
        po.unload_images(cluster, docker_client, [reference])


def test_an_init_that_raises_is_failed_with_the_pods_log_tail(failing, kube):
    found = {}

    def failed():
        found["diagnosis"] = diagnose(kube.core, failing["namespace"], "diabetes")
        return found["diagnosis"] is not None and found["diagnosis"].state == "Failed"

    wait("diabetes Failed", failed, timeout=240, every=2)
    diagnosis = found["diagnosis"]
    assert diagnosis is not None
    state, message, reason = diagnosis
    print(f"\n{message}")
    assert reason == "CrashLoopBackOff"
    assert (
        message.startswith("service diabetes is Failed: pod diabetes-")
        and " is CrashLoopBackOff, restarted " in message
    )
    assert "Last log lines:" in message and f"RuntimeError: {FAILURE}" in message
    status = kube.apps.read_namespaced_deployment("diabetes", failing["namespace"]).status
    assert deployment_state(status) == "Unhealthy"


def test_more_cpu_than_the_node_has_is_unschedulable(failing, kube):
    found = {}

    def unschedulable():
        found["diagnosis"] = diagnose(kube.core, failing["namespace"], "diabetes-multi")
        return found["diagnosis"] is not None

    wait("diabetes-multi diagnosed", unschedulable, timeout=120, every=2)
    diagnosis = found["diagnosis"]
    assert diagnosis is not None
    state, message, reason = diagnosis
    print(f"\n{message}")
    assert state == reason == "Unschedulable"
    assert (
        message.startswith("service diabetes-multi is Unschedulable: pod diabetes-multi-")
        and "Insufficient cpu" in message
    )
    status = kube.apps.read_namespaced_deployment("diabetes-multi", failing["namespace"]).status
    assert deployment_state(status) == "Unhealthy"


def test_a_failed_up_names_the_pod_its_reason_and_its_log_tail(failing):
    """The rollout wait of a crashing version gives up at once with the pod's words; one that
    cannot be placed once it has stayed so for its patience (shortened here to 5 s)."""
    provider = KubernetesRolloutProvider()
    began = time.monotonic()
    with pytest.raises(DeploymentError) as crashed:
        provider.create(failing["rollouts"]["diabetes-rollout"])
    print(f"\n(after {time.monotonic() - began:.1f} s) {crashed.value}")
    message = str(crashed.value)
    assert message.startswith("service diabetes is Failed: pod diabetes-") and " is CrashLoopBackOff" in message
    assert "Last log lines:" in message and f"RuntimeError: {FAILURE}" in message
    assert f"Deployment {failing['namespace']}/diabetes is Failed" in message
    assert "kubeconfig" not in message and "certificate-authority-data" not in message

    # The given patience (5 s), not the default (180 s), ends the wait: shown by order against the
    # wait's own timeout, set between the two (120 s). Ended by the timeout, the error would say
    # "did not roll out within 120s"; ended by the patience, it is the pod's diagnosis.
    inputs = {**failing["rollouts"]["diabetes-multi-rollout"], "patience_seconds": 5, "timeout_seconds": 120}
    began = time.monotonic()
    with pytest.raises(DeploymentError) as unplaced:
        provider.create(inputs)
    waited = time.monotonic() - began
    print(f"\n(after {waited:.1f} s) {unplaced.value}")
    assert str(unplaced.value).startswith(
        "service diabetes-multi is Unschedulable: pod diabetes-multi-"
    ) and "Insufficient cpu" in str(unplaced.value)
    assert "did not roll out within" not in str(unplaced.value)
    assert waited >= 5, "gave up before its patience had passed"  # a lower bound: a busy machine only waits longer


def test_a_refresh_reads_the_failed_states(failing):
    provider = KubernetesRolloutProvider()
    for name, state in (("diabetes-rollout", "Failed"), ("diabetes-multi-rollout", "Unschedulable")):
        inputs = failing["rollouts"][name]
        assert outputs_of(provider.read(f"{inputs['namespace']}/{inputs['deployment']}", inputs))["state"] == state
