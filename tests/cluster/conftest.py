"""Fixtures of the tests that run against a real single-node Kubernetes cluster.

The cluster is modelstack's own (`scripts/cluster.sh`: Kubernetes, etcd, containerd, CNI, Traefik
for Gateway API and metrics-server, all host processes built from Go modules and Debian packages).

- `cluster` (session): the running cluster. When `scripts/cluster.sh status` says it is not
  running, the fixture starts it (`scripts/cluster.sh start`: a cold build of its binaries takes
  about half an hour on 2 cores, a warm start seconds) and stops it at the end of the session; a
  cluster that was already running is left running. Under CI=true a failure to start fails the
  tests; elsewhere they are skipped with the reason (not root, no Go, the start's own error).
- `kube` (session): API clients of the official `kubernetes` package for that cluster.
- `namespace` (session): a namespace of this test run, deleted (and waited for) at the end.
- `server_image` (session): an image of the HTTP test server (tools/kube/testserver) loaded into
  the cluster's containerd with `scripts/cluster.sh load-image`; removed from it at the end.

Every test here is marked `cluster`: `pytest -m "not cluster"` leaves them out.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "cluster.sh"
DATA_DIR = Path(os.environ.get("MODELSTACK_CLUSTER_DIR", REPO / ".modelstack" / "cluster"))
STATE_FILE = DATA_DIR / "state.env"
START_LOG = REPO / ".modelstack" / "cluster-start.log"
# a cold start builds Kubernetes, Traefik and metrics-server from Go modules first
START_TIMEOUT_S = int(os.environ.get("MODELSTACK_CLUSTER_TEST_START_TIMEOUT", "5400"))


def pytest_configure(config):
    config.addinivalue_line("markers", "cluster: needs the real Kubernetes cluster of scripts/cluster.sh")
    config.addinivalue_line(
        "markers", "engine: runs the real Pulumi engine from .tools/bin (scripts/bootstrap-pulumi.sh)"
    )


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.cluster)


def read_state(path: Path = STATE_FILE) -> dict[str, str]:
    """KEY=value lines of the state file that `scripts/cluster.sh start` writes."""
    state = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            state[key] = value
    return state


def cluster_running() -> bool:
    if not STATE_FILE.exists():
        return False
    result = subprocess.run([str(SCRIPT), "status"], capture_output=True, text=True, timeout=60)
    return result.returncode == 0


def _unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"the Kubernetes test cluster is needed under CI and could not be started: {reason}", pytrace=False)
    pytest.skip(f"no Kubernetes test cluster: {reason}")


@dataclass
class Cluster:
    state: dict[str, str]

    @property
    def kubeconfig(self) -> str:
        return self.state["KUBECONFIG"]

    @property
    def gateway_port(self) -> int:
        return int(self.state["GATEWAY_PORT"])

    @property
    def gateway_class(self) -> str:
        return self.state["GATEWAY_CLASS"]

    @property
    def metrics_server(self) -> bool:
        return self.state.get("METRICS_SERVER") == "yes"

    def ctr(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        sock = str(Path(self.state["DATA_DIR"]) / "run" / "containerd.sock")
        return subprocess.run(["ctr", "--address", sock, "-n", "k8s.io", *args], **kwargs)


@pytest.fixture(scope="session")
def cluster():
    started_here = False
    if not cluster_running():
        if os.geteuid() != 0:
            _unavailable("scripts/cluster.sh must run as root (network, mounts, cgroups); it is not running")
        START_LOG.parent.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        with START_LOG.open("w") as log:
            try:
                result = subprocess.run(
                    [str(SCRIPT), "start"],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    timeout=START_TIMEOUT_S,
                )
                code = result.returncode
            except subprocess.TimeoutExpired:
                code = None
        started_here = True
        if code != 0:
            tail = "\n".join(START_LOG.read_text(errors="replace").splitlines()[-30:])
            # what did start must not stay half up
            subprocess.run([str(SCRIPT), "stop"], capture_output=True, timeout=300)
            what = "timed out" if code is None else f"exited {code}"
            _unavailable(
                f"`scripts/cluster.sh start` {what} after {time.monotonic() - began:.0f} s "
                f"(full output: {START_LOG}):\n{tail}"
            )
    yield Cluster(read_state())
    if started_here:
        stopped = subprocess.run([str(SCRIPT), "stop"], capture_output=True, text=True, timeout=600)
        assert stopped.returncode == 0, f"scripts/cluster.sh stop failed:\n{stopped.stdout}\n{stopped.stderr}"


@dataclass
class Kube:
    api: object
    core: object
    apps: object
    custom: object
    autoscaling: object


@pytest.fixture(scope="session")
def kube(cluster) -> Iterator[Kube]:
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=cluster.kubeconfig)
    yield Kube(
        api=api,
        core=client.CoreV1Api(api),
        apps=client.AppsV1Api(api),
        custom=client.CustomObjectsApi(api),
        autoscaling=client.AutoscalingV2Api(api),
    )
    api.close()


@pytest.fixture(scope="session")
def namespace(kube) -> Iterator[str]:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    name = f"modelstack-test-{uuid.uuid4().hex[:8]}"
    kube.core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={"modelstack.test": "cluster"}))
    )
    yield name
    kube.core.delete_namespace(name)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            kube.core.read_namespace(name)
        except ApiException as exc:
            if exc.status == 404:
                return
            raise
        time.sleep(1)
    raise AssertionError(f"namespace {name} was not deleted within 120 s")


def image_archive(binary: Path, tag: str) -> bytes:
    """A docker-archive tarball (what `docker save` writes) with `binary` as /testserver."""
    import hashlib

    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        info = tar.gettarinfo(str(binary), arcname="testserver")
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mode = 0o755
        with binary.open("rb") as f:
            tar.addfile(info, f)
    layer_bytes = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64" if os.uname().machine == "x86_64" else "arm64",
            "os": "linux",
            "config": {"Entrypoint": ["/testserver"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_name = diff_id[7:] + "/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": [layer_name]}]).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in ((config_name, config), (layer_name, layer_bytes), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.fixture(scope="session")
def server_image(cluster, tmp_path_factory) -> Iterator[str]:
    """The HTTP test server as a one-file image in the cluster's containerd.

    With Docker: `docker import` of the binary, then `scripts/cluster.sh load-image` (docker save |
    ctr import), the path a developer's own images take. Without Docker: the same image as an
    archive, imported with `load-image --tar`."""
    binary = Path(cluster.state["TEST_SERVER_BIN"])
    assert binary.exists(), f"{binary} is missing: scripts/cluster.sh build makes it"
    tag = f"modelstack-test/testserver:{uuid.uuid4().hex[:8]}"
    archive = image_archive(binary, tag)
    docker = None
    try:
        import docker as docker_sdk

        docker = docker_sdk.from_env(timeout=30)
        docker.ping()
    except Exception:  # any failure to reach Docker means: use the archive path
        docker = None
    if docker is not None:
        layer = io.BytesIO()
        with tarfile.open(fileobj=layer, mode="w") as tar:
            info = tarfile.TarInfo("testserver")
            data = binary.read_bytes()
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
        repository, version = tag.split(":")
        docker.api.import_image_from_data(
            layer.getvalue(), repository=repository, tag=version, changes=['ENTRYPOINT ["/testserver"]']
        )
        command = [str(SCRIPT), "load-image", tag]
    else:
        path = tmp_path_factory.mktemp("image") / "testserver.tar"
        path.write_bytes(archive)
        command = [str(SCRIPT), "load-image", "--tar", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stderr}"
    reference = f"docker.io/{tag}"
    listed = cluster.ctr("images", "ls", "-q", capture_output=True, text=True, check=True).stdout.split()
    assert reference in listed, f"{reference} is not in the cluster's containerd after load-image: {listed}"
    yield tag
    cluster.ctr("images", "rm", reference, capture_output=True)
    if docker is not None:
        try:
            docker.images.remove(tag, force=True)
        finally:
            docker.close()
