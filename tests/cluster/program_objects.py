"""The Kubernetes objects the program registers for a stack, applied to the real test cluster.

The Pulumi kubernetes provider plugin cannot be had on these machines, so the cluster tests take
the inputs every `kubernetes:*` resource receives from the real program under the mock runtime
(`components.offline.evaluate.evaluate_stack`: what pulumi-kubernetes would be handed), with
secrets revealed (the keys' Secret carries its real `stringData`), and apply them with
server-side apply through the `kubernetes` Python client's DynamicClient, in the program's
dependency order. What only the provider does (its await logic: waiting for a Deployment's
rollout, a Service's endpoints, `pulumi.com/waitFor` on the Gateway) the tests do by polling.

The only changes made to what the program registers (`adapt_to_cluster`):
- each ServiceImage resolves to the image built from the service's own build context with the
  project's builder (`components.image.builder.build`) and loaded into the cluster's containerd
  (`scripts/cluster.sh load-image`), instead of a digest in ACR: done through the mock table
  (`MOCK_OUTPUTS[ServiceImage]`), so the Deployments carry that reference as their image input;
- the Gateway's `gatewayClassName` is set to the cluster's; for an AKS stack it is already
  the same (`modelstack`: the class of the Traefik a created AKS cluster gets from the stack, and
  of the test cluster's Traefik);
- the Gateway's HTTP listener port is the cluster's GATEWAY_PORT instead of 80: Traefik maps a
  listener to its entry point of the same port, and its only entry point listens on
  127.0.0.1:GATEWAY_PORT (test traffic goes to 127.0.0.1 only). The listener keeps its name
  (`http`), so the HTTPRoutes' `sectionName` is unchanged.
Nothing else is touched. What a created AKS cluster gets for itself (the Gateway API CRDs'
release manifest, the Traefik and cert-manager Helm releases, the ClusterIssuer) is not applied:
the test cluster has its own Gateway API CRDs and Traefik, built by scripts/cluster.sh, and no
Helm or ACME here (their inputs are tested under mocks, tests/unit/targets/azure/test_aks_gateway.py).
"""

from __future__ import annotations

import copy
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from components.plan_values import SECRET_PLACEHOLDER, sanitize

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "cluster.sh"
SERVICE_IMAGE = "pulumi-python:dynamic/modelstack:ServiceImage"
TEST_REPOSITORY = "modelstack-test"
FIELD_MANAGER = "modelstack-cluster-tests"

# The program's dependency order (namespaces, secrets, deployments, services, autoscalers,
# budgets, gateway, routes): what pulumi-kubernetes would create first comes first.
APPLY_ORDER = (
    "Namespace",
    "Secret",
    "Deployment",
    "Service",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Gateway",
    "HTTPRoute",
)
# What the stack declares on a created AKS cluster for the cluster itself (see the docstring).
CLUSTER_SETUP_TYPES = (
    "kubernetes:yaml/v2:ConfigFile",
    "kubernetes:helm.sh/v3:Release",
    "kubernetes:cert-manager.io/v1:ClusterIssuer",
)


def unwrap_secrets(value: Any) -> Any:
    """{"[secret]": v} (sanitize(..., reveal=True)) -> v, recursively."""
    if isinstance(value, dict):
        if set(value) == {SECRET_PLACEHOLDER}:
            return unwrap_secrets(value[SECRET_PLACEHOLDER])
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


def service_image_tags(stack: str, project_root: Path) -> dict[str, str]:
    """Service name -> the tag its ServiceImage gets under the mock runtime (the build context's hash)."""
    from components.offline import evaluate as offline

    _, plan = offline.evaluate_stack(stack, project_root)
    return {r.raw_inputs["service"]: r.raw_inputs["tag"] for r in plan.resources if r.type == SERVICE_IMAGE}


def build_service_images(docker_client, stack: str, project_root: Path, services: list[str]) -> dict[str, str]:
    """Build each service's image with the project's builder; tag -> local reference (`modelstack-test/<service>:<tag>`)."""
    from components.config.load import load_from_files
    from components.image.build_context import build_context
    from components.image.builder import build

    config = load_from_files(stack, project_root)
    images = {}
    for service in services:
        context = build_context(project_root, service, config.services[service], config.models)
        repository = f"{TEST_REPOSITORY}/{service}"
        build(docker_client, context, repository, project_root / ".modelstack", log=lambda message: None)
        images[context.tag] = f"{repository}:{context.tag}"
    return images


def load_image(reference: str) -> str:
    """`scripts/cluster.sh load-image`; the reference containerd knows it by."""
    result = subprocess.run([str(SCRIPT), "load-image", reference], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"load-image {reference} failed:\n{result.stdout}\n{result.stderr}"
    return f"docker.io/{reference}"


def unload_images(cluster, docker_client, references) -> None:
    """Undo load_image and the build's tag: each reference leaves the cluster's containerd and
    Docker (the layers stay, for the next build's cache). A failure is printed, not raised, so
    the others are still removed; a leftover fails CI's check anyway."""
    for reference in references:
        cluster.ctr("images", "rm", f"docker.io/{reference}", capture_output=True)
        try:
            docker_client.images.remove(reference, noprune=True)
        except Exception as exc:  # reported, not hidden
            print(f"could not remove {reference}: {exc}")


def program_objects(stack: str, project_root: Path, images_by_tag: dict[str, str]) -> list[dict[str, Any]]:
    """The manifests of every `kubernetes:*` resource the program registers for the stack, with the
    real values of its secrets, and each ServiceImage resolved to images_by_tag[its tag]."""
    from components.offline import evaluate as offline

    def resolve(args):
        tag = args.inputs["tag"]
        assert tag in images_by_tag, (
            f"no image was built for {args.inputs['service']}:{tag} (built: {sorted(images_by_tag)})"
        )
        return {"digest": "sha256:" + "0" * 64, "image": images_by_tag[tag]}

    previous = offline.MOCK_OUTPUTS[SERVICE_IMAGE]
    offline.MOCK_OUTPUTS[SERVICE_IMAGE] = resolve
    try:
        _, plan = offline.evaluate_stack(stack, project_root)
    finally:
        offline.MOCK_OUTPUTS[SERVICE_IMAGE] = previous
    objects = []
    for resource in plan.resources:
        if resource.type.startswith("kubernetes:") and resource.type not in CLUSTER_SETUP_TYPES:
            manifest = unwrap_secrets(sanitize(resource.raw_inputs, reveal=True))
            manifest.pop("status", None)  # GatewayApiObject's output placeholder, not an input the cluster takes
            objects.append({k: v for k, v in manifest.items() if v is not None})
    return sorted(objects, key=lambda o: APPLY_ORDER.index(o["kind"]))


ROLLOUT = "pulumi-python:dynamic/modelstack:KubernetesRollout"


def registered_rollouts(stack: str, project_root: Path, kubeconfig_file: str) -> dict[str, dict[str, Any]]:
    """The inputs each KubernetesRollout of the stack receives (the wait `up` does for a version),
    by resource name, with the test cluster's kubeconfig in place of the mock cluster's."""
    from components.offline import evaluate as offline

    _, plan = offline.evaluate_stack(stack, project_root)
    kubeconfig = Path(kubeconfig_file).read_text()
    return {
        r.name: {**unwrap_secrets(sanitize(r.raw_inputs, reveal=True)), "kubeconfig": kubeconfig}
        for r in plan.resources
        if r.type == ROLLOUT
    }


def adapt_to_cluster(objects: list[dict[str, Any]], gateway_class: str, gateway_port: int) -> list[dict[str, Any]]:
    """The two changes the module docstring names, and nothing else."""
    adapted = copy.deepcopy(objects)
    for obj in adapted:
        if obj["kind"] == "Gateway":
            obj["spec"]["gatewayClassName"] = gateway_class
            for listener in obj["spec"]["listeners"]:
                if listener["protocol"] == "HTTP":
                    listener["port"] = gateway_port
    return adapted


def _resource(dynamic, obj: dict[str, Any]):
    return dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])


def apply_objects(dynamic, objects: list[dict[str, Any]]) -> None:
    """Server-side apply, one object at a time, in the given (dependency) order."""
    for obj in objects:
        resource = _resource(dynamic, obj)
        dynamic.server_side_apply(
            resource,
            body=obj,
            name=obj["metadata"]["name"],
            namespace=obj["metadata"].get("namespace"),
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )


def delete_objects(dynamic, objects: list[dict[str, Any]]) -> None:
    """Delete in reverse dependency order; what is already gone is fine."""
    from kubernetes.dynamic.exceptions import NotFoundError

    for obj in reversed(objects):
        if obj["kind"] == "Namespace":
            continue  # last, once the caller has seen it empty
        try:
            _resource(dynamic, obj).delete(name=obj["metadata"]["name"], namespace=obj["metadata"].get("namespace"))
        except NotFoundError:
            pass


def namespace_contents(kube, namespace: str) -> list[str]:
    """What is left in a namespace (pods, deployments, replica sets, services, secrets, HPAs,
    PDBs, Gateways, HTTPRoutes), as kind/name."""
    left = [f"Pod/{p.metadata.name}" for p in kube.core.list_namespaced_pod(namespace).items]
    left += [f"Deployment/{d.metadata.name}" for d in kube.apps.list_namespaced_deployment(namespace).items]
    left += [f"ReplicaSet/{d.metadata.name}" for d in kube.apps.list_namespaced_replica_set(namespace).items]
    left += [f"Service/{s.metadata.name}" for s in kube.core.list_namespaced_service(namespace).items]
    left += [f"Secret/{s.metadata.name}" for s in kube.core.list_namespaced_secret(namespace).items]
    left += [
        f"HPA/{h.metadata.name}" for h in kube.autoscaling.list_namespaced_horizontal_pod_autoscaler(namespace).items
    ]
    from kubernetes import client

    for budget in client.PolicyV1Api(kube.api).list_namespaced_pod_disruption_budget(namespace).items:
        assert budget.metadata is not None, "the API server lists every object with its metadata"
        left.append(f"PDB/{budget.metadata.name}")
    for plural in ("gateways", "httproutes"):
        items = kube.custom.list_namespaced_custom_object("gateway.networking.k8s.io", "v1", namespace, plural)["items"]
        left += [f"{plural}/{i['metadata']['name']}" for i in items]
    return left


@contextmanager
def applied(kube, objects: list[dict[str, Any]], empty_timeout: float = 150) -> Iterator[dict]:
    """Apply the objects, yield, then delete them, check each namespace they used is empty, and
    delete the namespaces (waited for). Yields a dict the caller may fill with findings."""
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic import DynamicClient

    dynamic = DynamicClient(kube.api)
    report: dict[str, Any] = {}
    try:
        apply_objects(dynamic, objects)
        yield report
    finally:
        delete_objects(dynamic, objects)
        namespaces = sorted({o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"})
        deadline = time.monotonic() + empty_timeout
        left: list[str] = []
        for namespace in namespaces:
            while True:
                left = namespace_contents(kube, namespace)
                if not left or time.monotonic() > deadline:
                    break
                time.sleep(1)
            report.setdefault("left", {})[namespace] = left
        for namespace in namespaces:
            try:
                kube.core.delete_namespace(namespace)
            except ApiException as exc:
                if exc.status != 404:
                    raise
        for namespace in namespaces:
            while time.monotonic() < deadline + 120:
                try:
                    kube.core.read_namespace(namespace)
                except ApiException as exc:
                    if exc.status == 404:
                        break
                    raise
                time.sleep(1)
        not_empty = {ns: left for ns, left in report.get("left", {}).items() if left}
        assert not not_empty, f"objects left after deleting what the program registers: {not_empty}"
