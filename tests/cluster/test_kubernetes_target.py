"""`target: kubernetes` on the real test cluster: the example `cluster` stack (stacks/Pulumi.cluster.yaml).

Its prerequisites are checked against the cluster itself, as the program does before it declares
anything (components.targets.kubernetes.prerequisites). Its Kubernetes objects are taken from the
program under the mock runtime and applied with server-side apply (tests/cluster/program_objects.py),
with one change only: each ServiceImage resolves to the image built here and loaded into the
cluster's containerd. The gateway class and the listener port are the stack's own configuration, so
unlike the AKS objects nothing else is adapted. The example service then answers through the Gateway,
its rollout wait (the program's KubernetesRollout) gives Healthy, and `modelstack logs` reads its pods
with a kubeconfig kept as a secret in the stack's config (decrypted by the real engine).
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from components.commands.engine import engine_env
from components.commands.logs import show_logs
from components.config.schema import ClusterSpec, KubernetesClusterSpec
from components.errors import ModelstackError
from components.targets.azure.aks_cluster import check_attached_prerequisites
from components.targets.kubernetes import prerequisites
from components.targets.kubernetes.frontend import service_path
from components.targets.kubernetes.rollout import KubernetesRolloutProvider
from tests.cluster import program_objects as po
from tests.cluster.test_gateway import wait
from tests.provider_results import outputs_of
from tests.workspace import copy_project

STACK = "cluster"
SECRET_STACK = "cluster-secret"  # the same cluster, its kubeconfig a Pulumi secret
SERVICES = ("diabetes", "diabetes-multi")
SAMPLE = json.loads((po.REPO / "examples" / "diabetes" / "sample-requests.jsonl").read_text().splitlines()[0])


def example_stack() -> dict:
    return yaml.safe_load((po.REPO / "stacks" / f"Pulumi.{STACK}.yaml").read_text())


@pytest.fixture(scope="module")
def project(cluster, tmp_path_factory, trained_example):
    """A copy of the project whose `cluster` stack is the example's, pointed at this cluster's kubeconfig."""
    root = copy_project(tmp_path_factory.mktemp("kubernetes-target") / "project")
    stack = example_stack()
    spec = stack["config"]["modelstack:kubernetes_clusters"]["testcluster"]
    assert spec["gateway_class"] == cluster.gateway_class
    assert spec["http_port"] == cluster.gateway_port, "the example stack names the test cluster's default Gateway port"
    spec["kubeconfig_file"] = cluster.kubeconfig  # the example's relative path, resolved from this copy's folder
    (root / "stacks" / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(stack, sort_keys=False))
    # The same stack with the kubeconfig as a secret, as docs/targets/kubernetes.md tells users to set it.
    del spec["kubeconfig_file"]
    service = stack["config"]["modelstack:services"]["diabetes"]
    service["deploy"] = {**(service.get("deploy") or {}), "namespace": f"modelstack-{STACK}"}  # where the pods run
    (root / "stacks" / f"Pulumi.{SECRET_STACK}.yaml").write_text(yaml.safe_dump(stack, sort_keys=False))
    (root / ".tools").symlink_to(po.REPO / ".tools")  # the engine the project's setup installed
    # Not a throwaway stack: its secrets need a real passphrase (components/state/environment.py), a
    # generated one kept beside the copy, outside it, as a team keeps its passphrase out of the repo.
    passphrase_file(root).write_text(f"{uuid.uuid4().hex}\n")
    env = engine_env(root, SECRET_STACK, with_passphrase(root, os.environ))
    for args in (
        ["stack", "init", SECRET_STACK],
        [
            "config",
            "set",
            "--secret",
            "--path",
            "modelstack:kubernetes_clusters.testcluster.kubeconfig",
            "--stack",
            SECRET_STACK,
            open(cluster.kubeconfig).read(),
        ],
    ):
        done = subprocess.run(
            ["pulumi", *args, "--non-interactive"], cwd=root, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"pulumi {args[:2]}: {done.stderr or done.stdout}"
    written = (root / "stacks" / f"Pulumi.{SECRET_STACK}.yaml").read_text()
    assert "secure:" in written and "certificate-authority-data" not in written, "the kubeconfig is stored encrypted"
    return root


def passphrase_file(root: Path) -> Path:
    return root.parent / "cluster-secret-passphrase"


def state_url(root: Path) -> str:
    """A file backend of the test's own beside the copy: the project's state is not the test's to
    write, and a stack left there by an interrupted run would refuse the next run's `stack init`."""
    state = root.parent / "cluster-secret-state"
    state.mkdir(exist_ok=True)
    return f"file://{state}"


def with_passphrase(root: Path, environ) -> dict[str, str]:
    env = {k: v for k, v in environ.items() if k != "PULUMI_CONFIG_PASSPHRASE"}
    return {**env, "PULUMI_CONFIG_PASSPHRASE_FILE": str(passphrase_file(root)), "PULUMI_BACKEND_URL": state_url(root)}


def cluster_spec(**changes) -> KubernetesClusterSpec:
    return KubernetesClusterSpec.model_validate(
        {**example_stack()["config"]["modelstack:kubernetes_clusters"]["testcluster"], **changes}
    )


def test_the_prerequisites_hold_on_the_test_cluster(cluster):
    prerequisites.check("testcluster", cluster_spec(), open(cluster.kubeconfig).read())


def test_a_gateway_class_the_cluster_lacks_is_named_with_the_ones_it_has(cluster):
    with pytest.raises(ModelstackError) as caught:
        prerequisites.check("testcluster", cluster_spec(gateway_class="istio"), open(cluster.kubeconfig).read())
    assert caught.value.key == "modelstack:kubernetes_clusters.testcluster.gateway_class"
    assert caught.value.detail == f"the cluster has no GatewayClass 'istio' (it has: {cluster.gateway_class})"


def test_a_context_the_kubeconfig_lacks_is_named(cluster):
    with pytest.raises(ModelstackError) as caught:
        prerequisites.check("testcluster", cluster_spec(context="kind-ml"), open(cluster.kubeconfig).read())
    assert (caught.value.key, caught.value.detail) == (
        "modelstack:kubernetes_clusters.testcluster.context",
        "the kubeconfig has no context 'kind-ml'",
    )


def test_the_example_service_answers_through_the_gateway(project, cluster, kube, docker_client, monkeypatch):
    images = po.build_service_images(docker_client, STACK, project, list(SERVICES))
    try:
        for reference in images.values():
            po.load_image(reference)
        objects = po.program_objects(STACK, project, images)
        gateway = next(o for o in objects if o["kind"] == "Gateway")
        assert (
            gateway["spec"]["gatewayClassName"] == cluster.gateway_class
            and gateway["spec"]["listeners"][0]["port"] == cluster.gateway_port
        )
        with po.applied(kube, objects):
            namespace = next(o for o in objects if o["kind"] == "Deployment")["metadata"]["namespace"]
            for name in SERVICES:
                wait(
                    f"deployment {name} ready",
                    lambda name=name: (
                        (kube.apps.read_namespaced_deployment(name, namespace).status.ready_replicas or 0) >= 1
                    ),
                    timeout=240,
                )
            import requests

            key = next(o for o in objects if o["kind"] == "Secret" and o["metadata"]["name"] == "diabetes-keys")[
                "stringData"
            ]["primary_key"]
            base = f"http://127.0.0.1:{cluster.gateway_port}{service_path('diabetes')}"
            with requests.Session() as session:
                wait(
                    "the service answering through the Gateway",
                    lambda: session.get(f"{base}/", timeout=5).status_code == 200,
                    timeout=60,
                    every=0.5,
                )
                answer = session.post(
                    f"{base}/score", json=SAMPLE, headers={"Authorization": f"Bearer {key}"}, timeout=30
                )
                assert answer.status_code == 200, answer.text
                assert isinstance(answer.json()[0], float)
                assert session.post(f"{base}/score", json=SAMPLE, timeout=30).status_code == 401
            # The wait `up` does, with the inputs the program registers.
            for name, inputs in po.registered_rollouts(STACK, project, cluster.kubeconfig).items():
                assert outputs_of(KubernetesRolloutProvider().create(inputs))["state"] == "Healthy", name
            # logs, the kubeconfig read from the secret config through the engine
            lines: list[str] = []
            monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
            monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", str(passphrase_file(project)))
            monkeypatch.setenv("PULUMI_BACKEND_URL", state_url(project))
            show_logs(project, SECRET_STACK, "diabetes", tail=50, write=lines.append)
            text = "\n".join(lines)
            assert (
                text.startswith("==> pod diabetes-")
                and "init has completed successfully" in text
                and "POST /score 200" in text
            ), text[-2000:]
    finally:
        po.unload_images(cluster, docker_client, images.values())


# --- an attached AKS cluster's prerequisites, asked of a real cluster ----------------------------------


def attached_stack(**cluster) -> SimpleNamespace:
    """What check_stack reads of a stack with one aks service on an attached cluster."""
    spec = ClusterSpec.model_validate({"attach": {"resource_group": "rg-ml", "cluster_name": "aks-shared"}, **cluster})
    return SimpleNamespace(
        services={"diabetes": SimpleNamespace(target="aks", compute="aks-shared")},
        clusters={"aks-shared": spec},
        kubernetes_clusters={},
        project_dir=str(po.REPO),
    )


def test_an_attached_clusters_gateway_class_and_issuer_are_asked_of_the_cluster(cluster):
    """The program asks Azure for an attached cluster's kubeconfig (here: the test cluster's) and
    checks it before declaring anything: its gateway class, and for a leaf_domain_label the
    ClusterIssuer cert-manager issues the certificate with (this cluster has no cert-manager)."""
    kubeconfig = open(cluster.kubeconfig).read()
    asked = []

    def from_azure(name, spec):
        asked.append(name)
        return kubeconfig

    check_attached_prerequisites(attached_stack(gateway_class=cluster.gateway_class), from_azure)
    assert asked == ["aks-shared"]
    with pytest.raises(ModelstackError) as no_class:
        check_attached_prerequisites(attached_stack(), from_azure)  # AKS's approuting-istio by default
    assert (no_class.value.key, no_class.value.detail) == (
        "modelstack:clusters.aks-shared.gateway_class",
        f"the cluster has no GatewayClass 'approuting-istio' (it has: {cluster.gateway_class})",
    )
    with pytest.raises(ModelstackError) as no_issuer:
        check_attached_prerequisites(
            attached_stack(gateway_class=cluster.gateway_class, leaf_domain_label="mlsvc"), from_azure
        )
    assert no_issuer.value.key == "modelstack:clusters.aks-shared.leaf_domain_label"
    assert no_issuer.value.detail.startswith("the cluster has no ClusterIssuer 'letsencrypt'")
    assert (
        no_issuer.value.fix is not None and "cert-manager" in no_issuer.value.fix and "ssl_cname" in no_issuer.value.fix
    )
