"""`modelstack token` round trip: the signing key is read through the real engine from a stack's
secret output, the token issued with it is sent to a real container of the service's image,
which serves it; the key itself is never printed.

The stack is an AKS one, which cannot be deployed here: its state (the `service_keys` output,
a secret, as `pulumi up` writes it) is imported with `pulumi stack import`, which encrypts it
with the stack's passphrase as `up` would.
"""

from __future__ import annotations

import calendar
import json
import math
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
import yaml

from components.image.build_context import build_context
from components.image.builder import build
from tests.e2e.engine import aks_token_stack
from tests.workspace import copy_project, free_port

REPO = Path(__file__).resolve().parents[2]
ENGINE = REPO / ".tools" / "bin" / "pulumi"
STACK = "e2e-tokens"
SIGNING_KEY = "sk" + uuid.uuid4().hex * 2
SAMPLE = json.loads((REPO / "examples" / "diabetes" / "sample-requests.jsonl").read_text().splitlines()[0])
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's marker of a secret value in a deployment

pytestmark = [pytest.mark.engine]


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_example):
    home = tmp_path_factory.mktemp("tokens")
    root = copy_project(home / "project", runnable=True)
    (root / ".tools").symlink_to(REPO / ".tools")
    stack_file = aks_token_stack()
    (root / "stacks" / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(stack_file, sort_keys=False))
    # An e2e stack: local mode (the project's file backend and home, the empty passphrase).
    env = {"PATH": f"{ENGINE.parent}:/usr/bin:/bin", "HOME": str(home), "MODELSTACK_PROJECT_DIR": str(root)}
    engine_env = {
        **env,
        "PULUMI_BACKEND_URL": f"file://{root / '.modelstack' / 'state'}",
        "PULUMI_HOME": str(root / ".modelstack" / "pulumi-home"),
        "PULUMI_CONFIG_PASSPHRASE": "",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }
    (root / ".modelstack" / "state").mkdir(parents=True)

    def pulumi(*args: str) -> subprocess.CompletedProcess:
        result = subprocess.run(
            ["pulumi", *args, "--non-interactive"],
            cwd=root,
            env=engine_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, f"pulumi {' '.join(args)}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
        return result

    pulumi("stack", "init", STACK)
    exported = json.loads(pulumi("stack", "export", "--stack", STACK).stdout)
    keys = {
        "diabetes": {"token_signing_key": SIGNING_KEY},
        "diabetes-multi": {"primary_key": "p" * 32, "secondary_key": "s" * 32},
    }
    exported["deployment"]["resources"] = [
        {
            "urn": f"urn:pulumi:{STACK}::modelstack::pulumi:pulumi:Stack::modelstack-{STACK}",
            "custom": False,
            "type": "pulumi:pulumi:Stack",
            "outputs": {
                "service_keys": {SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "plaintext": json.dumps(keys)}
            },
        }
    ]
    (home / "state.json").write_text(json.dumps(exported))
    pulumi("stack", "import", "--stack", STACK, "--file", str(home / "state.json"))
    assert (
        SIGNING_KEY
        not in (root / ".modelstack" / "state").joinpath(".pulumi", "stacks", "modelstack", f"{STACK}.json").read_text()
    ), "the state holds the key encrypted"
    return {"root": root, "env": env}


def modelstack(context, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "components.commands.cli", *args],
        cwd=context["root"],
        env={**context["env"], "COLUMNS": "400"},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def container(project, docker_client):
    """The service's image, run as its pods run it with token auth, signing key from the stack."""
    from components.config.load import load_from_files

    config = load_from_files(STACK, project["root"])
    context = build_context(project["root"], "diabetes", config.services["diabetes"], config.models)
    repository = f"modelstack-test/tokens-{uuid.uuid4().hex[:6]}"
    build(docker_client, context, repository, REPO / ".modelstack")
    port = free_port()
    running = docker_client.containers.run(
        f"{repository}:{context.tag}",
        detach=True,
        ports={"5001/tcp": ("127.0.0.1", port)},
        environment={
            "MODELSTACK_AUTH_ENABLED": "false",
            "MODELSTACK_TOKEN_AUTH_ENABLED": "true",
            "MODELSTACK_TOKEN_SIGNING_KEY": SIGNING_KEY,
            "MODELSTACK_TOKEN_AUDIENCE": "diabetes",
        },
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.25)
        else:
            raise AssertionError(running.logs(tail=30).decode(errors="replace"))
        yield base
    finally:
        running.remove(force=True)
        docker_client.images.remove(f"{repository}:{context.tag}")


def test_a_token_from_the_stack_is_served(project, container):
    issued = modelstack(project, "token", "diabetes", "--stack", STACK)
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    assert SIGNING_KEY not in issued.stdout + issued.stderr
    said = issued.stderr.splitlines()
    # First which state backend the stack uses and where that came from, then when to refresh.
    assert said[0].startswith(f"modelstack: stack {STACK}: state backend file://") and "(from " in said[0], said
    assert said[-1].startswith("refresh by ") and "Authorization: Bearer <token>" in said[-1]
    answer = requests.post(f"{container}/score", json=SAMPLE, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert (
        requests.post(
            f"{container}/score", json=SAMPLE, headers={"Authorization": f"Bearer {token[:-2]}xx"}, timeout=10
        ).status_code
        == 401
    )


def test_the_json_form_says_when_to_refresh(project):
    before = time.time()
    issued = modelstack(project, "token", "diabetes", "--stack", STACK, "--json")
    after = time.time()
    assert issued.returncode == 0, issued.stderr
    document = json.loads(issued.stdout)
    assert sorted(document) == ["expires_at", "refresh_by", "token"]

    def parse(text: str) -> int:
        return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))

    assert parse(document["expires_at"]) - parse(document["refresh_by"]) == 900
    # an hour after the token was issued, which happened while the command ran: bracketed by
    # the clock read before and after it, however long the command took
    assert math.floor(before) + 3600 <= parse(document["expires_at"]) <= math.ceil(after) + 3600, (
        before,
        document,
        after,
    )


@pytest.mark.parametrize(
    "service, said",
    [
        ("diabetes-multi", "service diabetes-multi in stack e2e-tokens does not authenticate with tokens"),
        ("nope", "stack e2e-tokens has no service 'nope'"),
    ],
)
def test_services_without_tokens_are_told(project, service, said):
    issued = modelstack(project, "token", service, "--stack", STACK)
    assert issued.returncode == 1
    assert said in " ".join(issued.stderr.split()) and "Traceback" not in issued.stderr
