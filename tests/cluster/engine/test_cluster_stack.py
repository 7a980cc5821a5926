"""The `cluster` stack through the real Pulumi engine on the real test cluster: what a user runs.

`pulumi up`, `preview`, `refresh` and `destroy` of the example `cluster` stack
(stacks/Pulumi.cluster.yaml), with the pulumi-kubernetes provider plugin the project's setup
builds (scripts/build-kubernetes-provider.sh), in a scratch copy of the project with a home and a
file state backend of its own. The images are the program's own builds, pushed to the local
registry the stack declares and pulled from it by the cluster's containerd (nothing is loaded by
hand). The only changes to the example stack file: a free port for its registry, the cluster's
kubeconfig as a Pulumi secret (`pulumi config set --secret --path`, a documented user path), the
services' keys as Pulumi secrets (the `random` provider plugin that generates keys cannot be had
here: generated keys are covered under mocks only), and a rollout of `diabetes` in two versions.
Every request goes to the URIs the stack outputs. The rollout's move from 90/10 to 50/50 goes
through a saved plan (`modelstack plan`, test_4a) that a model change by someone else overtakes
(test_5): its `modelstack apply` is refused as stale, and the new plan changes the route alone
(test_5b).

The module's tests run in order, each on the state the one before left.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import joblib
import numpy as np
import pytest
import requests
import yaml

from components.config.rollout import VERSION_HEADER
from tests.cluster.test_gateway import wait
from tests.conftest import remove_image_references, require
from tests.e2e.engine import Engine
from tests.workspace import copy_project, free_port

REPO = Path(__file__).resolve().parents[3]
STACK = "e2e-cluster"
PROD = "e2e-cluster-prod"  # the promotion's destination: the same cluster, another namespace
NAMESPACE, PROD_NAMESPACE = f"modelstack-{STACK}", f"modelstack-{PROD}"
PROVIDER_SCRIPT = REPO / "scripts" / "build-kubernetes-provider.sh"
SAMPLE = json.loads((REPO / "examples" / "diabetes" / "sample-requests.jsonl").read_text().splitlines()[0])
KEYS = {
    service: {"primary_key": uuid.uuid4().hex, "secondary_key": uuid.uuid4().hex}
    for service in ("diabetes", "diabetes-multi")
}
SPLIT_REQUESTS = 1000
SERVE_TIMEOUT_S = 120  # Traefik serves a route shortly after the engine has applied it

pytestmark = [pytest.mark.engine]


def provider_version() -> str:
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if line.startswith("pulumi-kubernetes=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError("requirements.txt pins no pulumi-kubernetes")


def versions(ridge: int, lasso: int) -> list[dict]:
    return [
        {"version_name": "ridge", "is_default": True, "is_control_version_type": True, "traffic_percentile": ridge},
        {"version_name": "lasso", "models": ["diabetes-lasso"], "traffic_percentile": lasso},
    ]


def write_stack(root: Path, name: str, registry_port: int, ridge: int = 90, lasso: int = 10) -> None:
    """The example stack's file with the test's changes (see the module's docstring). Secrets set
    with `pulumi config set --secret` stay: they are merged back from the file as it is."""
    path = root / "stacks" / f"Pulumi.{name}.yaml"
    stack = yaml.safe_load((REPO / "stacks" / "Pulumi.cluster.yaml").read_text())
    config = stack["config"]
    config["modelstack:registry"]["port"] = registry_port
    cluster_spec = config["modelstack:kubernetes_clusters"]["testcluster"]
    del cluster_spec["kubeconfig_file"]  # a secret of the stack instead
    config["modelstack:services"]["diabetes"]["versions"] = versions(ridge, lasso)
    if path.exists():  # keep the secrets `pulumi config set` wrote
        written = yaml.safe_load(path.read_text())
        stack["encryptionsalt"] = written["encryptionsalt"]
        for key, value in written["config"].items():
            if key == "modelstack:kubernetes_clusters":
                cluster_spec["kubeconfig"] = value["testcluster"]["kubeconfig"]
            if key == "modelstack:services":
                for service, declared in value.items():
                    if declared and "deploy" in declared:
                        config[key][service]["deploy"].update(
                            {k: v for k, v in declared["deploy"].items() if k.endswith("_key")}
                        )
    path.write_text(yaml.safe_dump(stack, sort_keys=False))


def init_stack(engine: Engine, kubeconfig: str, registry_port: int) -> None:
    write_stack(engine.root, engine.stack, registry_port)
    engine.run("stack", "init")
    engine.run(
        "config", "set", "--secret", "--path", "modelstack:kubernetes_clusters.testcluster.kubeconfig", kubeconfig
    )
    for service, keys in KEYS.items():
        for key, value in keys.items():
            engine.run("config", "set", "--secret", "--path", f"modelstack:services.{service}.deploy.{key}", value)
    written = (engine.root / "stacks" / f"Pulumi.{engine.stack}.yaml").read_text()
    assert (
        "secure:" in written
        and "certificate-authority-data" not in written
        and KEYS["diabetes"]["primary_key"] not in written
    )


@pytest.fixture(scope="module")
def stack(cluster, kube, trained_example, docker_client, tmp_path_factory):
    require(
        (REPO / ".tools" / "bin" / "pulumi").exists(),
        "no Pulumi engine in .tools/bin: run scripts/bootstrap-pulumi.sh (or scripts/setup.sh)",
    )
    # Waits for the background build scripts/test.sh started (its lock), or builds; then cached.
    built = subprocess.run([str(PROVIDER_SCRIPT), "build"], capture_output=True, text=True, timeout=5400)
    require(built.returncode == 0, f"the kubernetes provider plugin could not be built:\n{built.stderr[-3000:]}")
    home = tmp_path_factory.mktemp("cluster-engine")
    root = copy_project(home / "project", runnable=True)
    (root / ".tools").symlink_to(REPO / ".tools")
    engines = {name: Engine(root, home, name) for name in (STACK, PROD)}
    binary = REPO / ".tools" / "pulumi-kubernetes" / provider_version() / "pulumi-resource-kubernetes"
    installed = subprocess.run(
        ["pulumi", "plugin", "install", "resource", "kubernetes", provider_version(), "--file", str(binary)],
        env=engines[STACK].env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    ports = {STACK: free_port(), PROD: free_port()}
    kubeconfig = Path(cluster.kubeconfig).read_text()
    for name, engine in engines.items():
        init_stack(engine, kubeconfig, ports[name])
    context = {"root": root, "engines": engines, "ports": ports, "cluster": cluster}
    yield context
    for name in (PROD, STACK):
        engines[name].run("destroy", "--yes", "--skip-preview", check=False)
    for port in ports.values():
        remove_image_references(docker_client, f"localhost:{port}/")
        for reference in cluster.ctr("images", "ls", "-q", capture_output=True, text=True).stdout.split():
            if reference.startswith(f"localhost:{port}/"):
                cluster.ctr("images", "rm", reference, capture_output=True)


def engine(stack, name: str = STACK) -> Engine:
    return stack["engines"][name]


def modelstack(stack, *args: str, name: str = STACK) -> subprocess.CompletedProcess:
    env = {**engine(stack, name).env, "MODELSTACK_PROJECT_DIR": str(stack["root"]), "COLUMNS": "400"}
    return subprocess.run(
        [sys.executable, "-m", "components.commands.cli", *args],
        cwd=stack["root"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def predictions(root: Path, model: str) -> list[float]:
    return joblib.load(root / "examples" / "diabetes" / "model" / model).predict(np.array(SAMPLE["data"])).tolist()


def score(uri: str, key: str | None, version: str | None = None, session=requests) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if version:
        headers[VERSION_HEADER] = version
    return session.post(uri, json=SAMPLE, headers=headers, timeout=30)


def served(uri: str, key: str, version: str | None = None) -> requests.Response:
    """The first 200 from `uri` (the route may take a moment to reach Traefik)."""
    answers: list[requests.Response] = []

    def answered() -> bool:
        try:
            answers.append(score(uri, key, version))
        except requests.RequestException:
            return False
        return answers[-1].status_code == 200

    wait(f"{uri} answering", answered, timeout=SERVE_TIMEOUT_S)
    return answers[-1]


def kubernetes_steps(engine: Engine, *args: str) -> dict[str, str]:
    """Resource name -> operation of `pulumi preview --json`, for the resources that change. Only
    real resources: a component (the service's AksWebservice records its versions' shares) owns
    nothing of its own on the cluster."""
    preview = json.loads(engine.run("preview", "--json", *args).stdout)
    return {
        step["urn"].rsplit("::", 1)[-1]: step["op"]
        for step in preview["steps"]
        if step["op"] != "same" and (step.get("newState") or step.get("oldState") or {}).get("custom", True)
    }


def test_1_up_from_nothing_serves_with_both_keys(stack, kube):
    root, cluster = stack["root"], stack["cluster"]
    began = time.monotonic()
    result = engine(stack).run("up", "--yes", "--skip-preview")
    print(f"\nup from nothing to Healthy: {time.monotonic() - began:.1f} s")
    assert "[modelstack] building" in result.stdout + result.stderr, "progress is shown"
    services = engine(stack).outputs()
    assert {name: s["state"] for name, s in services.items()} == {"diabetes": "Healthy", "diabetes-multi": "Healthy"}
    uri = services["diabetes"]["scoring_uri"]
    assert uri == f"http://127.0.0.1:{cluster.gateway_port}/api/v1/service/diabetes/score", (
        "the URI carries the Gateway's port"
    )
    ridge, lasso = predictions(root, "ridge.joblib"), predictions(root, "lasso.joblib")
    for key in KEYS["diabetes"].values():
        assert served(uri, key, version="ridge").json() == pytest.approx(ridge)
    assert score(uri, KEYS["diabetes"]["primary_key"], version="lasso").json() == pytest.approx(lasso)
    assert score(uri, None).status_code == 401
    assert score(uri, KEYS["diabetes-multi"]["primary_key"]).status_code == 401, "a key of another service"
    multi = served(services["diabetes-multi"]["scoring_uri"], KEYS["diabetes-multi"]["secondary_key"]).json()
    assert multi["ridge"] == pytest.approx(ridge) and multi["lasso"] == pytest.approx(lasso)
    swagger = requests.get(
        services["diabetes"]["swagger_uri"],
        headers={"Authorization": f"Bearer {KEYS['diabetes']['primary_key']}"},
        timeout=30,
    )
    assert swagger.status_code == 200 and "/api/v1/service/diabetes/score" in swagger.json()["paths"], swagger.text[
        :500
    ]
    # The images came from the stack's registry, pulled by the cluster: by digest, not loaded by hand.
    registry = f"localhost:{stack['ports'][STACK]}/"
    for deployment in kube.apps.list_namespaced_deployment(NAMESPACE).items:
        container = deployment.spec.template.spec.containers[0]
        assert container.image.startswith(registry) and "@sha256:" in container.image, container.image
        assert container.image_pull_policy != "Never"
    pulled = cluster.ctr("images", "ls", "-q", capture_output=True, text=True, check=True).stdout.split()
    assert any(reference.startswith(registry) for reference in pulled), pulled


def test_2_nothing_changed_plans_no_changes(stack):
    began = time.monotonic()
    preview = engine(stack).run("preview", "--expect-no-changes")
    print(f"\nno-op preview: {time.monotonic() - began:.1f} s")
    assert "building" not in preview.stdout + preview.stderr
    engine(stack).run("refresh", "--preview-only", "--expect-no-changes")


def test_3_drift_is_reported_and_repaired(stack, kube):
    from kubernetes import client

    kubectl = [str(REPO / "scripts" / "cluster.sh"), "kubectl", "-n", NAMESPACE]
    scaled = subprocess.run(
        [*kubectl, "scale", "deployment", "diabetes-multi", "--replicas=2"], capture_output=True, text=True, timeout=60
    )
    assert scaled.returncode == 0, scaled.stderr
    kube.core.patch_namespaced_secret(
        "diabetes-keys", NAMESPACE, client.V1Secret(string_data={"primary_key": "edited-by-hand"})
    )
    kube.core.delete_namespaced_service("diabetes-lasso", NAMESPACE)

    refresh = engine(stack).run("refresh", "--preview-only", "--diff")
    for name in ("diabetes-multi-deployment", "diabetes-keys", "diabetes-lasso-service"):
        assert name in refresh.stdout, (name, refresh.stdout[-4000:])
    drift = modelstack(stack, "drift", "--stack", STACK, "--json")
    assert drift.returncode == 1, drift.stdout + drift.stderr
    found = {d["name"]: d for d in json.loads(drift.stdout)}
    assert found["diabetes-multi-deployment"]["service"] == "diabetes-multi"
    assert found["diabetes-multi-deployment"]["fields"]["spec.replicas"] == {"recorded": 1, "live": 2}
    assert found["diabetes-keys"]["service"] == "diabetes" and found["diabetes-keys"]["fields"] == {
        "data.primary_key": {"recorded": "[secret]", "live": "[secret]"}
    }
    assert "edited-by-hand" not in drift.stdout and KEYS["diabetes"]["primary_key"] not in drift.stdout, (
        "secrets are not shown"
    )
    assert (
        found["diabetes-lasso-service"]["op"] == "delete" and found["diabetes-lasso-service"]["service"] == "diabetes"
    )

    repaired = engine(stack).run("up", "--yes", "--skip-preview", "--refresh")
    assert "conflict" not in (repaired.stdout + repaired.stderr).lower()
    assert kube.apps.read_namespaced_deployment("diabetes-multi", NAMESPACE).spec.replicas == 1
    kube.core.read_namespaced_service("diabetes-lasso", NAMESPACE)
    # The edited key no longer opens the service; the stack's key does again.
    services = engine(stack).outputs()
    wait(
        "the edited key refused",
        lambda: score(services["diabetes"]["scoring_uri"], "edited-by-hand").status_code == 401,
        timeout=180,
    )
    assert (
        served(services["diabetes"]["scoring_uri"], KEYS["diabetes"]["primary_key"], version="lasso").status_code == 200
    )
    assert {name: s["state"] for name, s in services.items()} == {"diabetes": "Healthy", "diabetes-multi": "Healthy"}, (
        "the waits ran again"
    )
    engine(stack).run("preview", "--expect-no-changes")
    assert modelstack(stack, "drift", "--stack", STACK).returncode == 0


def saved_plan(stack, name: str) -> tuple[Path, dict]:
    """`modelstack plan` of the stack: the plan's file and its body."""
    path = stack["root"].parent / f"{name}.json"
    made = modelstack(stack, "plan", "--stack", STACK, "--out", str(path))
    assert made.returncode == 0, made.stdout + made.stderr
    return path, json.loads(path.read_text())["body"]


def resource_changes(body: dict) -> dict[str, str]:
    """Resource name -> operation of a plan's steps that change a resource on the cluster or an
    image: the components (modelstack:...) own nothing of their own there."""
    changes = {}
    for step in body["steps"]:
        type_ = step["urn"].split("::")[2].rsplit("$", 1)[-1]
        if step["op"] != "same" and not type_.startswith(("modelstack:", "pulumi:pulumi:")):
            changes[step["urn"].rsplit("::", 1)[-1]] = step["op"]
    return changes


def test_4_a_weights_change_is_planned_for_review(stack):
    """A pull request moves the split from 90/10 to 50/50: its saved plan changes only the route.
    It is applied in test_5b, after someone else's change reached the stack first (test_5)."""
    write_stack(stack["root"], STACK, stack["ports"][STACK], ridge=50, lasso=50)
    path, body = saved_plan(stack, "weights-50-50")
    assert resource_changes(body) == {"diabetes-route": "update"}, body["steps"]
    stack["weights_plan"] = path
    # The change that reaches the stack first is made from a checkout without this one.
    write_stack(stack["root"], STACK, stack["ports"][STACK], ridge=90, lasso=10)


def assert_split_50_50(stack, kube) -> None:

    def route_weights() -> dict[str, int]:
        route = kube.custom.get_namespaced_custom_object(
            "gateway.networking.k8s.io", "v1", NAMESPACE, "httproutes", "diabetes"
        )
        return {b["name"]: b.get("weight", 1) for b in route["spec"]["rules"][-1]["backendRefs"]}

    assert route_weights() == {"diabetes-ridge": 5000, "diabetes-lasso": 5000}
    uri, key = engine(stack).outputs()["diabetes"]["scoring_uri"], KEYS["diabetes"]["primary_key"]
    ridge, lasso = predictions(stack["root"], "ridge.joblib"), predictions(stack["root"], "lasso.joblib")
    counts = {"ridge": 0, "lasso": 0}

    def which(answer) -> str:
        return (
            "ridge"
            if answer == pytest.approx(ridge, rel=1e-9)
            else "lasso"
            if answer == pytest.approx(lasso, rel=1e-9)
            else "neither"
        )

    # Traefik takes the new weights shortly after the route's status: settle on a lasso answer
    # (10% before, 50% now), then measure.
    wait("a lasso answer", lambda: which(score(uri, key).json()) == "lasso", timeout=SERVE_TIMEOUT_S)
    with requests.Session() as session:
        for _ in range(SPLIT_REQUESTS):
            response = score(uri, key, session=session)
            assert response.status_code == 200, response.text
            counts[which(response.json())] += 1
    print(f"\n{SPLIT_REQUESTS} requests at 50/50: {counts}")
    assert set(counts) == {"ridge", "lasso"} and abs(counts["lasso"] / SPLIT_REQUESTS - 0.50) <= 0.03, counts


def test_5_a_model_only_change_rolls_with_zero_failed_requests(stack, kube):
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    root = stack["root"]
    # New bytes for the ridge model (refitted with another alpha): a new model version whose
    # answers still differ from the lasso's, so test_5b can tell the two apart in the split.
    # Someone else's change: it reaches the stack after test_4a's plan was made.
    features, target = load_diabetes(return_X_y=True)
    joblib.dump(Ridge(alpha=0.37).fit(features, target), root / "examples" / "diabetes" / "model" / "ridge.joblib")
    steps = kubernetes_steps(engine(stack), "--diff")
    assert steps == {
        "diabetes-multi-image": "replace",
        "diabetes-multi-deployment": "update",
        "diabetes-multi-rollout": "update",
        "diabetes-image": "replace",
        "diabetes-ridge-deployment": "update",
        "diabetes-ridge-rollout": "update",
    }, steps
    services = engine(stack).outputs()
    targets = [
        (services["diabetes"]["scoring_uri"], KEYS["diabetes"]["primary_key"]),
        (services["diabetes-multi"]["scoring_uri"], KEYS["diabetes-multi"]["primary_key"]),
    ]
    statuses: list[int] = []
    errors: list[str] = []
    stop = threading.Event()

    def load():
        with requests.Session() as session:
            while not stop.is_set() and len(statuses) < 50000:
                for uri, key in targets:
                    try:
                        statuses.append(score(uri, key, session=session).status_code)
                    except requests.RequestException as exc:
                        errors.append(repr(exc))

    client = threading.Thread(target=load, daemon=True)
    client.start()
    try:
        engine(stack).run("up", "--yes", "--skip-preview")
        time.sleep(3)  # requests keep going while the old pods drain
    finally:
        stop.set()
        client.join(timeout=60)
    failed = [s for s in statuses if s != 200]
    print(
        f"\nmodel-only change through the engine: {len(statuses)} requests during `up`, {len(failed)} not 200, {len(errors)} errors"
    )
    assert len(statuses) > 50 and not failed and not errors, (failed[:5], errors[:3])
    new_ridge = predictions(root, "ridge.joblib")
    services = engine(stack).outputs()
    wait(
        "the new ridge answering",
        lambda: (
            score(services["diabetes"]["scoring_uri"], KEYS["diabetes"]["primary_key"], version="ridge").json()
            == pytest.approx(new_ridge)
        ),
        timeout=60,
    )
    assert {name: s["state"] for name, s in services.items()} == {"diabetes": "Healthy", "diabetes-multi": "Healthy"}


def test_5b_the_overtaken_weights_plan_is_refused_then_replanned_to_the_route_alone(stack, kube):
    before = engine(stack).run("stack", "export").stdout
    write_stack(stack["root"], STACK, stack["ports"][STACK], ridge=50, lasso=50)
    refused = modelstack(stack, "apply", str(stack["weights_plan"]), "--stack", STACK)
    text = refused.stdout + refused.stderr
    assert refused.returncode == 1 and "is stale" in text and "the stack's state changed" in text, text
    assert "the images it would run changed" in text and "Traceback" not in text, text
    assert engine(stack).run("stack", "export").stdout == before, "a refused apply changes nothing"

    path, body = saved_plan(stack, "weights-50-50-again")
    assert resource_changes(body) == {"diabetes-route": "update"}, body["steps"]
    applied = modelstack(stack, "apply", str(path), "--stack", STACK)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    # The update the engine recorded is the plan's: its updates (the route, and the component that
    # records the versions' shares), nothing created, replaced or deleted.
    planned = sum(1 for step in body["steps"] if step["op"] == "update")
    history = json.loads(engine(stack).run("stack", "history", "--json").stdout)
    assert {op: n for op, n in history[0]["resourceChanges"].items() if op != "same"} == {"update": planned}
    assert_split_50_50(stack, kube)


def test_6_an_init_that_raises_fails_up_with_the_pod_and_a_fix_converges(stack):
    script = stack["root"] / "examples" / "diabetes" / "src" / "score_multi.py"
    original = script.read_text()
    script.write_text(
        original.replace(
            "def init():",
            "def init():\n    raise RuntimeError('the feature store is unreachable')\n\n\ndef _unused_init():",
            1,
        )
    )
    assert "the feature store is unreachable" in script.read_text()
    failed = engine(stack).run("up", "--yes", "--skip-preview", check=False)
    said = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "service diabetes-multi is Failed" in said and "CrashLoopBackOff" in said, said[-4000:]
    assert "pod diabetes-multi-" in said and "RuntimeError: the feature store is unreachable" in said, said[-4000:]
    # The old pod kept serving meanwhile (maxUnavailable 0); the fixed script converges.
    script.write_text(original)
    engine(stack).run("up", "--yes", "--skip-preview")
    services = engine(stack).outputs()
    assert services["diabetes-multi"]["state"] == "Healthy"
    assert served(services["diabetes-multi"]["scoring_uri"], KEYS["diabetes-multi"]["primary_key"]).status_code == 200
    engine(stack).run("preview", "--expect-no-changes")


def test_7_promote_to_another_namespace_builds_nothing(stack, kube):
    source = engine(stack).outputs()
    promoted = modelstack(stack, "promote", "--from", STACK, "--to", PROD, name=PROD)
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    up = engine(stack, PROD).run("up", "--yes", "--skip-preview")
    assert "building" not in up.stdout + up.stderr
    exported = json.loads(engine(stack, PROD).run("stack", "export").stdout)
    assert not [r for r in exported["deployment"]["resources"] if r["type"].endswith(":ServiceImage")], (
        "a promoted stack builds nothing"
    )
    target = engine(stack, PROD).outputs()
    for name, service in target.items():
        assert service["state"] == "Healthy"
        assert service["image"].split("@")[1] == source[name]["image"].split("@")[1], "the same digest"
        assert service["image"].startswith(f"localhost:{stack['ports'][PROD]}/"), "from the destination's own registry"
        assert service["model_versions"] == source[name]["model_versions"]
    images = {
        d.metadata.name: d.spec.template.spec.containers[0].image
        for d in kube.apps.list_namespaced_deployment(PROD_NAMESPACE).items
    }
    assert sorted(images) == ["diabetes-lasso", "diabetes-multi", "diabetes-ridge"]
    # Both stacks' routes share the Gateway's port and paths here: the source goes first, so the
    # answers below can come from the promoted stack's pods only.
    engine(stack).run("destroy", "--yes", "--skip-preview")
    ridge = predictions(stack["root"], "ridge.joblib")
    answer = served(target["diabetes"]["scoring_uri"], KEYS["diabetes"]["secondary_key"], version="ridge").json()
    assert answer == pytest.approx(ridge)


def test_8_destroy_leaves_nothing_in_the_namespaces(stack, kube):
    engine(stack, PROD).run("destroy", "--yes", "--skip-preview")
    kubectl = [str(REPO / "scripts" / "cluster.sh"), "kubectl"]
    for namespace in (NAMESPACE, PROD_NAMESPACE):
        listed = subprocess.run(
            [*kubectl, "get", "all,secrets,httproutes,gateways", "-n", namespace, "-o", "name"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.stdout.strip() == "", listed.stdout
        wait(
            f"namespace {namespace} gone",
            lambda ns=namespace: ns not in [n.metadata.name for n in kube.core.list_namespace().items],
            timeout=120,
        )
    for name in (STACK, PROD):
        exported = json.loads(engine(stack, name).run("stack", "export").stdout)
        assert exported["deployment"].get("resources") in (None, [])
