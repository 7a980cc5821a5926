"""The `cluster` stack through the real engine with its state in Azure Blob Storage (Azurite,
started by scripts/azurite.sh for the session): `up` from nothing to Healthy and serving, `preview
--expect-no-changes`, `destroy`; the blob listing shows the stack's checkpoint, its history and no
lock afterwards. The stack is made as tests/cluster/engine/test_cluster_stack.py makes its own (the
example stack file with a free registry port, the kubeconfig and the keys as Pulumi secrets), in a
namespace of its own, so the two never meet."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from components.state.backend import open_backend
from tests.azurite import azurite  # noqa: F401  (the session's Azurite)
from tests.cluster.engine.test_cluster_stack import KEYS, PROVIDER_SCRIPT, init_stack, provider_version, served
from tests.conftest import remove_image_references, require
from tests.e2e.engine import Engine
from tests.workspace import copy_project, free_port

REPO = Path(__file__).resolve().parents[3]
STACK = "e2e-cluster-azblob"
NAMESPACE = f"modelstack-{STACK}"

pytestmark = [pytest.mark.engine]


@pytest.fixture(scope="module")
def stack(cluster, kube, trained_example, docker_client, tmp_path_factory, azurite):  # noqa: F811
    require(
        (REPO / ".tools" / "bin" / "pulumi").exists(),
        "no Pulumi engine in .tools/bin: run scripts/bootstrap-pulumi.sh (or scripts/setup.sh)",
    )
    built = subprocess.run([str(PROVIDER_SCRIPT), "build"], capture_output=True, text=True, timeout=5400)
    require(built.returncode == 0, f"the kubernetes provider plugin could not be built:\n{built.stderr[-3000:]}")
    home = tmp_path_factory.mktemp("cluster-azblob")
    root = copy_project(home / "project", runnable=True)
    (root / ".tools").symlink_to(REPO / ".tools")
    url, env = azurite.container("e2e-cluster")
    engine = Engine(root, home, STACK, backend=url, backend_env=env)
    binary = REPO / ".tools" / "pulumi-kubernetes" / provider_version() / "pulumi-resource-kubernetes"
    installed = subprocess.run(
        ["pulumi", "plugin", "install", "resource", "kubernetes", provider_version(), "--file", str(binary)],
        env=engine.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    port = free_port()
    init_stack(engine, Path(cluster.kubeconfig).read_text(), port)
    yield engine
    engine.run("destroy", "--yes", "--skip-preview", check=False)
    remove_image_references(docker_client, f"localhost:{port}/")
    for reference in cluster.ctr("images", "ls", "-q", capture_output=True, text=True).stdout.split():
        if reference.startswith(f"localhost:{port}/"):
            cluster.ctr("images", "rm", reference, capture_output=True)


def test_cluster_stack_up_preview_destroy_with_its_state_in_azurite(stack, kube):
    engine = stack
    engine.run("up", "--yes", "--skip-preview")
    services = engine.outputs()
    assert {name: s["state"] for name, s in services.items()} == {"diabetes": "Healthy", "diabetes-multi": "Healthy"}
    served(services["diabetes"]["scoring_uri"], KEYS["diabetes"]["primary_key"], version="ridge")
    engine.run("preview", "--expect-no-changes")
    engine.run("destroy", "--yes", "--skip-preview")
    keys = open_backend(engine.env["PULUMI_BACKEND_URL"], engine.env).list("")
    print("blob listing after up, preview and destroy:\n  " + "\n  ".join(keys))
    assert f".pulumi/stacks/modelstack/{STACK}.json" in keys
    history = [k for k in keys if re.fullmatch(rf"\.pulumi/history/modelstack/{STACK}/{STACK}-\d+\.history\.json", k)]
    assert len(history) == 2, keys  # the up and the destroy
    assert [k for k in keys if k.startswith(".pulumi/locks/")] == []
    assert json.loads(engine.run("stack", "export").stdout)["deployment"].get("resources") in (None, [])
    assert kube.apps.list_namespaced_deployment(NAMESPACE).items == []
