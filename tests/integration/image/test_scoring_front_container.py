"""The auth layer of the image, for real: the diabetes image built from the rendered context,
run in Docker with keys, origins and a body limit in its environment (as ACI and AKS set
them), and called over HTTP. Also: keys from a mounted folder rotate without a restart, the
container runs as the Deployment runs it (non-root, no capabilities, read-only root), HTTPS
with a certificate from the environment, and a clear refusal to start without keys.

Every test runs against both servers an image can carry (services.<name>.scoring_server):
modelstack's own (the default) and azmlinfsrv behind modelstack's front. One image is built per
server (the dependency layers come from the cache); each test runs its own container and
removes it.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import docker.errors
import pytest
import requests

from components.image.build_context import build_context
from components.image.builder import build
from tests.workspace import REPO as REPO_ROOT, copy_project, free_port

REPO = REPO_ROOT
SAMPLE = json.loads((REPO / "examples" / "diabetes" / "sample-requests.jsonl").read_text().splitlines()[0])
PRIMARY, SECONDARY = "pk-" + uuid.uuid4().hex, "sk-" + uuid.uuid4().hex
ORIGIN = "https://app.example.com"
LIMIT = 4096
RUN = uuid.uuid4().hex[:6]


# The name each server gives itself when it refuses its settings.
REFUSAL_PREFIX = {"modelstack": "modelstack server: ", "azmlinfsrv": "modelstack front: "}


@pytest.fixture(scope="module", params=["modelstack", "azmlinfsrv"])
def server(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def image(server, tmp_path_factory, trained_example, docker_client):
    root = copy_project(tmp_path_factory.mktemp(f"front-{server}") / "project")
    from components.config.load import load_from_files

    config = load_from_files("local", root)
    service = config.services["diabetes"].model_copy(update={"scoring_server": server})
    context = build_context(root, "diabetes", service, config.models)
    repository = f"modelstack-test/front-{server}-{RUN}"
    build(docker_client, context, repository, REPO / ".modelstack")
    reference = f"{repository}:{context.tag}"
    # the image runs the server that was asked for
    command = docker_client.images.get(reference).attrs["Config"]["Cmd"]
    assert command[:3] == [
        "python",
        "-m",
        "modelstack_server" if server == "modelstack" else "modelstack_server.azmlinfsrv_front",
    ]
    image_id = docker_client.images.get(reference).id
    yield reference
    docker_client.images.remove(reference)  # our tag; then the image by ID, unless another tag still holds it
    try:
        docker_client.images.remove(image_id)
    except docker.errors.APIError:
        pass


@pytest.fixture
def run(image, docker_client):
    """run(environment, **docker options) -> base URL of a started, healthy container."""
    started = []

    def start(environment: dict[str, str], scheme: str = "http", verify: str | bool = True, **options):
        port = free_port()
        container = docker_client.containers.run(
            image,
            detach=True,
            environment=environment,
            ports={"5001/tcp": ("127.0.0.1", port)},
            labels={"modelstack.test": RUN},
            **options,
        )
        started.append(container)
        base = f"{scheme}://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            container.reload()
            if container.status == "exited":
                return base, container
            try:
                if requests.get(f"{base}/", timeout=1, verify=verify).status_code == 200:
                    return base, container
            except requests.RequestException:
                pass
            time.sleep(0.25)
        raise AssertionError(
            f"the container did not become healthy:\n{container.logs(tail=30).decode(errors='replace')}"
        )

    yield start
    for container in started:
        container.remove(force=True)


def keyed(**extra) -> dict[str, str]:
    return {
        "MODELSTACK_AUTH_ENABLED": "true",
        "MODELSTACK_PRIMARY_KEY": PRIMARY,
        "MODELSTACK_SECONDARY_KEY": SECONDARY,
        "MODELSTACK_CORS_ORIGINS": ORIGIN,
        "MODELSTACK_MAX_REQUEST_BYTES": str(LIMIT),
        **extra,
    }


def score(base: str, key: str | None = None, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return requests.post(f"{base}/score", json=SAMPLE, headers=headers, timeout=10, **kwargs)


def test_keys_health_cors_and_body_limit(run):
    base, _ = run(keyed())
    # no key, a wrong key: 401, with the challenge
    missing = score(base)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == 'Bearer realm="modelstack"'
    assert score(base, "not-the-key").status_code == 401
    # the primary and the secondary key both work, and the model answers
    for key in (PRIMARY, SECONDARY):
        answer = score(base, key)
        assert answer.status_code == 200, answer.text
        assert len(answer.json()) == 1 and isinstance(answer.json()[0], float)
    # the health probe is open; the swagger document is not
    assert requests.get(f"{base}/", timeout=5).text.strip() == "Healthy"
    assert requests.get(f"{base}/swagger.json", timeout=5).status_code == 401
    assert (
        requests.get(f"{base}/swagger.json", headers={"Authorization": f"Bearer {PRIMARY}"}, timeout=5).status_code
        == 200
    )
    # CORS preflight: answered for the configured origin, refused for another
    allowed = requests.options(
        f"{base}/score",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
        timeout=5,
    )
    assert allowed.status_code == 204
    assert (
        allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
        and allowed.headers["Access-Control-Allow-Headers"] == "authorization, content-type"
    )
    refused = requests.options(
        f"{base}/score",
        headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"},
        timeout=5,
    )
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused.headers
    from_browser = requests.post(
        f"{base}/score", json=SAMPLE, headers={"Origin": ORIGIN, "Authorization": f"Bearer {PRIMARY}"}, timeout=10
    )
    assert from_browser.status_code == 200 and from_browser.headers["Access-Control-Allow-Origin"] == ORIGIN
    # bodies over the limit are refused, whether their length is given or they are chunked
    oversized = b'{"data": [' + b"0.0, " * LIMIT + b"0.0]}"
    too_big = requests.post(
        f"{base}/score",
        data=oversized,
        headers={"Authorization": f"Bearer {PRIMARY}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert too_big.status_code == 413 and too_big.json() == {
        "message": f"the request body is larger than {LIMIT} bytes"
    }
    chunked = requests.post(
        f"{base}/score",
        data=iter([oversized[:3000], oversized[3000:]]),
        headers={"Authorization": f"Bearer {PRIMARY}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert chunked.status_code == 413
    small = requests.post(
        f"{base}/score",
        data=iter([json.dumps(SAMPLE).encode()]),
        headers={"Authorization": f"Bearer {PRIMARY}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert small.status_code == 200, "a chunked body under the limit reaches the entry script whole"


def test_without_auth_settings_it_serves_as_azure_ml_local_does(run):
    base, _ = run({})
    assert score(base).status_code == 200


def test_keys_from_a_mounted_folder_rotate_without_a_restart_in_a_locked_down_container(run, tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "primary_key").write_text(PRIMARY)
    (keys / "secondary_key").write_text(SECONDARY)
    keys.chmod(0o755)
    for file in keys.iterdir():
        file.chmod(0o644)
    # As the Deployment runs it: uid 1000, no capabilities, no privilege escalation; here also a read-only root.
    base, container = run(
        {"MODELSTACK_AUTH_ENABLED": "true", "MODELSTACK_KEYS_DIR": "/var/run/modelstack/keys"},
        volumes={str(keys): {"bind": "/var/run/modelstack/keys", "mode": "ro"}},
        user="1000:1000",
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        read_only=True,
        tmpfs={"/tmp": ""},
    )
    assert container.status == "running"
    assert score(base, PRIMARY).status_code == 200 and score(base, SECONDARY).status_code == 200
    rotated = "pk-rotated-" + uuid.uuid4().hex
    (keys / "primary_key").write_text(rotated)
    # The front looks at the folder again about once a second: wait (bounded, a hang stop) until
    # the rotated key is accepted; from then on the old one must be refused.
    deadline = time.monotonic() + 60
    while score(base, rotated).status_code != 200:
        assert time.monotonic() < deadline, "the rotated key was not accepted within 60 s"
        time.sleep(0.1)
    assert score(base, PRIMARY).status_code == 401
    assert score(base, rotated).status_code == 200 and score(base, SECONDARY).status_code == 200
    assert (
        container.attrs["Id"] == container.client.containers.get(container.id).attrs["Id"]
        and container.client.containers.get(container.id).attrs["RestartCount"] == 0
    )


def test_https_with_a_certificate_from_the_environment(run, tmp_path):
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(tmp_path / "key.pem"),
            "-out",
            str(tmp_path / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    certificate = str(tmp_path / "cert.pem")
    base, _ = run(
        keyed(
            MODELSTACK_TLS_CERT=(tmp_path / "cert.pem").read_text(),
            MODELSTACK_TLS_KEY=(tmp_path / "key.pem").read_text(),
        ),
        scheme="https",
        verify=certificate,
    )
    answer = score(base, PRIMARY, verify=certificate)
    assert answer.status_code == 200, answer.text
    assert score(base, verify=certificate).status_code == 401


def test_auth_on_without_keys_refuses_to_start(run, server):
    _, container = run({"MODELSTACK_AUTH_ENABLED": "true"})
    container.wait(timeout=30)
    container.reload()
    assert container.attrs["State"]["ExitCode"] == 2
    assert (
        REFUSAL_PREFIX[server]
        + "MODELSTACK_AUTH_ENABLED is true but neither MODELSTACK_PRIMARY_KEY, MODELSTACK_SECONDARY_KEY nor MODELSTACK_KEYS_DIR is set"
        in container.logs().decode()
    )


TOKEN_KEY = "tk" + uuid.uuid4().hex * 2


def test_token_auth(run, server, tmp_path):
    """modelstack's server verifies the tokens `modelstack token` issues, from a mounted signing key
    (as the AKS pods have it); the front of azmlinfsrv refuses to start rather than serve without
    the auth that was asked for."""
    from components.commands.token import issue

    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "token_signing_key").write_text(TOKEN_KEY)
    keys.chmod(0o755)
    (keys / "token_signing_key").chmod(0o644)
    environment = {
        "MODELSTACK_TOKEN_AUTH_ENABLED": "true",
        "MODELSTACK_AUTH_ENABLED": "false",
        "MODELSTACK_KEYS_DIR": "/var/run/modelstack/keys",
        "MODELSTACK_TOKEN_AUDIENCE": "diabetes",
        "MODELSTACK_PRIMARY_KEY": PRIMARY,
    }  # a key left in the environment does not open the service
    base, container = run(
        environment, volumes={str(keys): {"bind": "/var/run/modelstack/keys", "mode": "ro"}}, user="1000:1000"
    )
    if server == "azmlinfsrv":
        container.wait(timeout=30)
        container.reload()
        assert container.attrs["State"]["ExitCode"] == 2
        assert (
            "modelstack front: MODELSTACK_TOKEN_AUTH_ENABLED is true, but token auth is verified by modelstack's scoring server only"
            in container.logs().decode()
        )
        return
    valid = issue(TOKEN_KEY, "diabetes").token
    answer = score(base, valid)
    assert answer.status_code == 200, answer.text
    assert isinstance(answer.json()[0], float)
    assert (
        requests.get(f"{base}/swagger.json", headers={"Authorization": f"Bearer {valid}"}, timeout=5).status_code == 200
    )
    expired = issue(TOKEN_KEY, "diabetes", now=time.time() - 7200).token
    refused = score(base, expired)
    assert refused.status_code == 401 and refused.json() == {"message": "the token has expired: get a new one"}
    forged = issue("another-key-" + uuid.uuid4().hex, "diabetes").token
    assert score(base, forged).status_code == 401
    assert score(base, issue(TOKEN_KEY, "diabetes-multi").token).status_code == 401, "a token of another service"
    assert score(base, TOKEN_KEY).status_code == 401, "the signing key is not a key"
    assert score(base, PRIMARY).status_code == 401, "keys are refused when token auth is on"
    assert score(base).status_code == 401
    assert requests.get(f"{base}/", timeout=5).status_code == 200, "the health probe stays open"
