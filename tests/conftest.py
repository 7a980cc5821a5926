"""Shared pytest fixtures for modelstack's tests.

- `tests/unit/`: pure and fast; no Docker, no network, no processes.
- `tests/server/`: the scoring server (modelstack_server/) and the front of azmlinfsrv in
  process, and the image contract both sides read; no Docker, no network.
- `tests/compat/`: both servers as real processes in the serving environment an image has,
  side by side on the same entry scripts (tests/compat/requirements-serving.txt).
- `tests/integration/`: real Docker and real processes (a local registry, containers).
  They skip, with the reason, only when no Docker daemon answers; CI always starts one
  (`sudo scripts/dockerd.sh start`). Anything a test starts, it stops by PID.

Fixtures here:
- `docker_client` (session): a connected `docker.DockerClient`, or skip when Docker is unreachable.
- `free_port`: a TCP port on 127.0.0.1 that nothing listens on.
- `tiny_image`: a one-file image made with `docker import` (no base image needed), per test.

Helpers here:
- `require(condition, reason)`: a missing prerequisite (Docker, the engine, Go, the venv) skips
  the test on a developer's machine and FAILS it under `CI=true`, where everything must be there.
- `remove_image_references(client, prefix)`: remove the images a test made under a reference
  prefix of its own (`localhost:<its registry port>/`), by ID once no other reference holds them.

At the end of the session, the untagged build-stage images this session's builds left are removed
(the classic builder keeps each stage's last image as cache); then anything else the run created
and left behind (containers, images tagged for a registry on localhost or untagged on modelstack's
base image, registry processes started from the session's temporary folders) is listed; under
`CI=true` that fails the run.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path
from typing import Literal, NoReturn, overload

import docker.errors
import pytest
import yaml


def in_ci() -> bool:
    """True on CI (`CI=true`, as `.ci/run` is run), where every prerequisite must be there."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@overload
def require(condition: Literal[False], reason: str) -> NoReturn: ...
@overload
def require(condition: object, reason: str) -> None: ...
def require(condition: object, reason: str) -> None:
    """Skip the calling test when `condition` is false, or fail it under CI=true.

    On a developer's machine a layer whose prerequisite is missing (Docker, the engine, Go, the
    venv) is skipped with the reason; on CI a skip would hide a broken setup, so it fails.
    """
    if condition:
        return
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a missing prerequisite fails the run instead of skipping)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice)."""
    from tests.workspace import free_port as pick

    return pick()


@pytest.fixture(scope="session")
def docker_client():
    """A connected `docker.DockerClient`; skips the test when no Docker daemon answers."""
    from components.errors import DockerUnavailableError
    from components.image.docker_client import docker_client as connect

    try:
        client = connect()
    except DockerUnavailableError as exc:
        require(False, f"Docker is not reachable: {exc.detail}. Start it with: sudo scripts/dockerd.sh start")
    yield client
    client.close()


@pytest.fixture
def tiny_image(docker_client):
    """A tiny image of its own for each test (`docker import` of a one-file tarball), removed after it."""
    data = b"modelstack test image\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    repository, tag = f"modelstack-test/tiny-{uuid.uuid4().hex[:8]}", "v1"
    docker_client.api.import_image_from_data(buf.getvalue(), repository=repository, tag=tag)
    image = docker_client.images.get(f"{repository}:{tag}")
    yield image
    try:
        docker_client.images.remove(image.id, force=True)
    except docker.errors.NotFound:  # the test removed it
        pass


# --- the project and its example -------------------------------------------------------------

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_MODELS = REPO / "examples" / "diabetes" / "model"
GOLDEN = Path(__file__).resolve().parent / "golden"


CLUSTER_TESTS = Path(__file__).parent / "cluster"
CLUSTER_ENGINE_TESTS = CLUSTER_TESTS / "engine"


def pytest_collection_modifyitems(config, items):
    """The cluster tests run last: scripts/test.sh builds the cluster's binaries in the background
    meanwhile (42 minutes on a new machine, the provider plugin included), and their fixture waits for that build. Last of all, on
    the same cluster, the stacks driven by the real engine (tests/cluster/engine), which also
    wait for the kubernetes provider plugin built after the cluster's binaries."""

    def layer(item) -> int:
        parents = Path(str(item.fspath)).parents
        return 2 if CLUSTER_ENGINE_TESTS in parents else 1 if CLUSTER_TESTS in parents else 0

    items[:] = sorted(items, key=layer)  # stable: each layer keeps its order


def pytest_addoption(parser):
    parser.addoption(
        "--update-golden", action="store_true", help="rewrite tests/golden/ from what the code renders now"
    )


@pytest.fixture(scope="session")
def trained_example() -> Path:
    """The example models, trained on the fly (nothing binary is committed)."""
    if not (EXAMPLE_MODELS / "ridge.joblib").exists() or not (EXAMPLE_MODELS / "lasso.joblib").exists():
        subprocess.run(
            [sys.executable, str(REPO / "examples" / "diabetes" / "train.py")], check=True, capture_output=True
        )
    return EXAMPLE_MODELS


# What depends on the bytes of the example models, which are trained on the machine that runs
# the tests (another CPU, other bytes): their versions, and image digests (the tags they come
# from hash the models too). Golden files hold placeholders instead.
MODEL_DEPENDENT = (
    (re.compile(r"@sha256:[0-9a-f]{64}"), "@sha256:<digest of the image>"),
    (re.compile(r"\b(diabetes-(?:ridge|lasso))([=/])[0-9a-f]{12}\b"), r"\1\2<model version>"),
)


def model_independent(text: str) -> str:
    for pattern, placeholder in MODEL_DEPENDENT:
        text = pattern.sub(placeholder, text)
    return text


@pytest.fixture
def golden(request):
    """golden(name, text): compare with tests/golden/<name> (model-dependent values replaced by
    placeholders), or rewrite it with --update-golden."""

    def compare(name: str, text: str) -> None:
        text = model_independent(text)
        path = GOLDEN / name
        if request.config.getoption("--update-golden"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        assert path.exists(), f"no golden file {path}; run pytest --update-golden once and review it"
        assert text == path.read_text(), (
            f"{name} differs from its golden file; review the change, then run pytest --update-golden"
        )

    return compare


class Project:
    """A throwaway modelstack project: the example's files plus stack files a test writes."""

    def __init__(self, root: Path):
        self.root = root

    def write_stack(self, stack: str, config: dict) -> Path:
        path = self.root / "stacks" / f"Pulumi.{stack}.yaml"
        path.write_text(yaml.safe_dump({"config": {f"modelstack:{k}": v for k, v in config.items()}}, sort_keys=False))
        return path

    def write_shared(self, config: dict) -> None:
        document = yaml.safe_load((self.root / "Pulumi.yaml").read_text())
        document["config"] = {f"modelstack:{k}": {"value": v} for k, v in config.items()}
        (self.root / "Pulumi.yaml").write_text(yaml.safe_dump(document, sort_keys=False))

    def load(self, stack: str = "local"):
        from components.config.load import load_from_files

        return load_from_files(stack, self.root)


@pytest.fixture
def project(tmp_path, trained_example) -> Project:
    """A copy of this project's Pulumi.yaml, stacks and example in tmp_path."""
    from tests.workspace import copy_project

    return Project(copy_project(tmp_path / "project"))


# --- what a test made in Docker, and what the session leaves behind ----------------------------


def _references(image_attrs: dict) -> list[str]:
    # Docker 20.10 lists an untagged image with the placeholders "<none>:<none>" and "<none>@<none>"
    refs = list(image_attrs.get("RepoTags") or []) + list(image_attrs.get("RepoDigests") or [])
    return [ref for ref in refs if not ref.startswith("<none>")]


def image_references(client, prefix: str) -> dict[str, list[str]]:
    """{image id: its references that start with `prefix`} for every local image that has one."""
    found: dict[str, list[str]] = {}
    for attrs in client.api.images(all=False):
        refs = [ref for ref in _references(attrs) if ref.startswith(prefix)]
        if refs:
            found[attrs["Id"]] = refs
    return found


def remove_image_references(client, prefix: str, *, keep: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """Remove the local images a test made under `prefix` (a registry of its own: `localhost:<port>/`).

    Each reference starting with `prefix` (tags and `repo@sha256:` digests, except those in `keep`,
    which existed before the test) is removed; then the image itself by ID, unless a reference of
    someone else still holds it (an identical build by another stack, a base image). Returns the
    IDs that are gone.
    """
    gone = []
    for image_id, refs in image_references(client, prefix).items():
        for ref in refs:
            if ref in keep:
                continue
            try:
                client.images.remove(ref, noprune=False)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError:  # still used by a container: removed below when it can be
                pass
        try:
            attrs = client.api.inspect_image(image_id)
        except docker.errors.NotFound:
            gone.append(image_id)
            continue
        if not _references(attrs):
            try:
                client.images.remove(image_id)
                gone.append(image_id)
            except docker.errors.APIError:
                pass
    return gone


def _registry_processes() -> dict[int, str]:
    """{pid: command line} of the docker-registry processes on this machine."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if args and Path(args[0].decode(errors="replace")).name == "docker-registry":
            found[int(entry.name)] = " ".join(a.decode(errors="replace") for a in args if a)
    return found


# Every image built on modelstack's base images inherits this label, build stages included.
BASE_IMAGE_TITLE = ("org.opencontainers.image.title", "modelstack-python-base")


# Every webservice image carries its build context's digest.
CONTEXT_DIGEST_LABEL = "modelstack.context-digest"


def _is_our_stage(attrs: dict) -> bool:
    """An untagged image of a modelstack build: the `environment` stage of a webservice build (the
    classic builder keeps each stage's last image, untagged, as build cache; it carries the base
    image's title), or a webservice image whose tags are gone."""
    labels = attrs.get("Labels") or {}
    ours = labels.get(BASE_IMAGE_TITLE[0]) == BASE_IMAGE_TITLE[1] or CONTEXT_DIGEST_LABEL in labels
    return not _references(attrs) and ours


def remove_new_build_stages(start_images: dict[str, list[str]]) -> None:
    """Remove the untagged build-stage images this session's builds left (not those there before)."""
    from components.errors import DockerUnavailableError
    from components.image.docker_client import docker_client as connect

    try:
        client = connect()
    except DockerUnavailableError:
        return
    try:
        for attrs in client.api.images(filters={"dangling": True}):
            if attrs["Id"] not in start_images and _is_our_stage(attrs):
                try:
                    client.api.remove_image(attrs["Id"])
                except docker.errors.APIError:  # in use by a build of another run: reported below
                    pass
    finally:
        client.close()


def _docker_snapshot():
    """(containers {id: name}, images {id: references}) of the daemon, or None without Docker."""
    from components.errors import DockerUnavailableError
    from components.image.docker_client import docker_client as connect

    try:
        client = connect()
    except DockerUnavailableError:
        return None
    try:
        containers = {
            c["Id"]: (",".join(n.lstrip("/") for n in c.get("Names") or []), c.get("Image") or "")
            for c in client.api.containers(all=True)
        }
        images = {
            i["Id"]: _references(i) or (["<build stage>"] if _is_our_stage(i) else [])
            for i in client.api.images(all=False)
        }
        return containers, images
    finally:
        client.close()


_SESSION_START: dict = {}


def pytest_sessionstart(session):
    if getattr(session.config, "workerinput", None) is not None:  # an xdist worker: the controller checks
        return
    _SESSION_START["docker"] = _docker_snapshot()
    _SESSION_START["registries"] = set(_registry_processes())


_REGISTRY_ADDR = re.compile(r"addr:\s*[\"']?(?:127\.0\.0\.1|localhost):(\d+)")


def session_registry_ports(basetemp: str | None) -> set[int]:
    """Ports of the registries this session configured: their config.yml files under its basetemp."""
    ports: set[int] = set()
    if not basetemp or not Path(basetemp).is_dir():
        return ports
    for folder, dirs, files in os.walk(basetemp):
        dirs[:] = [d for d in dirs if d not in ("venv", ".tools", "site-packages", "node_modules")]
        if "config.yml" in files:
            try:
                text = Path(folder, "config.yml").read_text(errors="replace")[:20000]
            except OSError:
                continue
            if "modelstack-local-registry" in text:  # the service field of render_config's registry config
                ports.update(int(p) for p in _REGISTRY_ADDR.findall(text))
    return ports


def leftovers(
    start: dict, docker_now, registries_now: dict[int, str], basetemp: str | None, ports: set[int] | None = None
) -> list[str]:
    """What this session created and left behind, as lines for a person to read.

    Only what can be told apart from another run on the same machine at the same time:
    - images: new references for a registry this session configured (`localhost:<port>/`, ports
      from `ports`), and new `modelstack...` references (test images, what `profile` builds);
    - containers: new ones running an image of those registries, or named `modelstack-test-...`;
    - registry processes: new docker-registry processes whose config lies under the basetemp.
    With `ports` None (not known), every new localhost/127.0.0.1 reference and container counts.
    """

    def ours(ref: str) -> bool:
        if ref.startswith("modelstack") or ref == "<build stage>":
            return True
        if ports is None:
            return ref.startswith(("localhost:", "127.0.0.1:"))
        return any(ref.startswith((f"localhost:{p}/", f"127.0.0.1:{p}/")) for p in ports)

    lines = []
    if start.get("docker") is not None and docker_now is not None:
        (containers0, images0), (containers1, images1) = start["docker"], docker_now
        for cid, (name, image) in containers1.items():
            if cid not in containers0 and (ours(image) or name.startswith("modelstack-test-") or ports is None):
                lines.append(f"container {cid[:12]} ({name})")
        for iid, refs in images1.items():
            old = set(images0.get(iid, []))
            new = [r for r in refs if r not in old and ours(r)]
            if new:
                lines.append(f"image {iid.removeprefix('sha256:')[:12]} ({', '.join(sorted(new))})")
    for pid, args in sorted(registries_now.items()):
        if pid not in start.get("registries", set()) and (basetemp is None or basetemp in args):
            lines.append(f"registry process {pid}: {args}")
    return lines


def pytest_sessionfinish(session, exitstatus):
    if getattr(session.config, "workerinput", None) is not None or "docker" not in _SESSION_START:
        return
    if os.environ.get("MODELSTACK_SKIP_LEFTOVER_CHECK") == "1":
        return
    basetemp = None
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is not None:
        try:
            basetemp = str(factory.getbasetemp())
        except Exception:  # no test asked for a temporary folder
            basetemp = None
    ports = session_registry_ports(basetemp) if basetemp else None
    if _SESSION_START["docker"] is not None:
        remove_new_build_stages(_SESSION_START["docker"][1])
    lines = leftovers(_SESSION_START, _docker_snapshot(), _registry_processes(), basetemp, ports)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    write = reporter.write_line if reporter is not None else print
    if not lines:
        return
    write("")
    write(f"leftovers: the run created {len(lines)} thing(s) it did not remove:")
    for line in lines:
        write(f"  - {line}")
    if in_ci():
        write("leftovers: CI=true, so the run fails (every test removes what it creates, by ID, in its teardown)")
        if session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    else:
        write("leftovers: (not CI: only reported)")
