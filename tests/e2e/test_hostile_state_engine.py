"""`promote`, `drift` and `token` over a stack whose state file is hostile, with the real engine
and the local file backend: a checkpoint that is corrupt, empty, binary, deeply nested, of the
wrong shape or a future version, 2 GiB, a fifo, a link to /dev/zero or to a file outside the
backend, and outputs of the wrong types. Each ends in exit 1 with an error naming the file or the
output, the rule and the fix, no traceback, within the subprocess's timeout, and nothing written
anywhere (the whole temporary tree is hashed before and after)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.e2e.engine import aks_token_stack
from tests.workspace import REPO, copy_project

ENGINE = REPO / ".tools" / "bin" / "pulumi"
STACK = "e2e-hostile"
TIMEOUT = 120  # a hang fails the test here instead of holding the suite

pytestmark = [pytest.mark.engine]


def tree(root: Path) -> dict[str, str]:
    """Every entry under root by kind and content (a sparse 2 GiB file by size and first bytes)."""
    found = {}
    for folder, folders, files in os.walk(root):
        for name in folders + files:
            path = Path(folder) / name
            info = os.lstat(path)
            key = path.relative_to(root).as_posix()
            if stat.S_ISLNK(info.st_mode):
                found[key] = f"link {os.readlink(path)}"
            elif stat.S_ISREG(info.st_mode):
                with open(path, "rb") as handle:
                    head = handle.read(1024 * 1024)
                found[key] = f"file {info.st_size} {hashlib.sha256(head).hexdigest()}"
            elif stat.S_ISDIR(info.st_mode):
                found[key] = "folder"
            else:
                found[key] = f"special {stat.S_IFMT(info.st_mode)}"
    return found


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_example):
    home = tmp_path_factory.mktemp("hostile-state")
    root = copy_project(home / "project", runnable=True)
    (root / ".tools").symlink_to(REPO / ".tools")
    stack_file = aks_token_stack()
    for name in (STACK, "e2e-hostile-dst"):
        (root / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(stack_file, sort_keys=False))
    env = {"PATH": f"{ENGINE.parent}:/usr/bin:/bin", "HOME": str(home), "MODELSTACK_PROJECT_DIR": str(root)}
    state = root / ".modelstack" / "state"
    state.mkdir(parents=True)
    subprocess.run(
        ["pulumi", "stack", "init", STACK, "--non-interactive"],
        cwd=root,
        env={
            **env,
            "PULUMI_BACKEND_URL": f"file://{state}",
            "PULUMI_HOME": str(root / ".modelstack" / "pulumi-home"),
            "PULUMI_CONFIG_PASSPHRASE": "",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
        },
        check=True,
        capture_output=True,
        timeout=TIMEOUT,
    )
    checkpoint = state / ".pulumi" / "stacks" / "modelstack" / f"{STACK}.json"
    return {"home": home, "root": root, "env": env, "checkpoint": checkpoint, "sound": checkpoint.read_bytes()}


def modelstack(project, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "components.commands.cli", *args],
        cwd=project["root"],
        env={**project["env"], "COLUMNS": "400", "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def _nested(depth: int) -> bytes:
    return b'{"version": 3, "checkpoint": {"latest": ' + b"[" * depth + b"]" * depth + b"}}"


def _sparse(path: Path) -> None:
    with open(path, "wb") as handle:
        handle.truncate(2 * 1024**3)  # 2 GiB that take no disk


HOSTILE = {
    "corrupt": (lambda p, o: p.write_bytes(b'{"version": 3, "checkpoint": {'), "is not JSON"),
    "empty": (lambda p, o: p.write_bytes(b""), "is not JSON"),
    "binary": (lambda p, o: p.write_bytes(bytes(range(256)) * 64), "is not UTF-8 text"),
    "deeply nested": (lambda p, o: p.write_bytes(_nested(100_000)), "nests deeper than 256 levels"),
    "a list": (lambda p, o: p.write_bytes(b"[1, 2]"), "holds a JSON list, not a checkpoint object"),
    "resources of the wrong shape": (
        lambda p, o: p.write_bytes(b'{"version": 3, "checkpoint": {"latest": {"resources": "all"}}}'),
        '"checkpoint.latest.resources" in e2e-hostile.json is not a list of objects',
    ),
    "a future version": (
        lambda p, o: p.write_bytes(b'{"version": 99, "checkpoint": {}}'),
        "is checkpoint version 99 (written by a newer Pulumi",
    ),
    "2 GiB": (lambda p, o: _sparse(p), "is 2,147,483,648 bytes"),
    "a fifo": (lambda p, o: os.mkfifo(p), "is a fifo"),
    "a link to /dev/zero": (lambda p, o: p.symlink_to("/dev/zero"), "links to /dev/zero, outside the backend's folder"),
    "a link to a file outside": (
        lambda p, o: p.symlink_to(o),
        "links to {outside}, outside the backend's folder",
    ),
}


@pytest.fixture
def hostile_state(project):
    """Put a hostile checkpoint in place; the sound one comes back afterwards."""
    checkpoint: Path = project["checkpoint"]
    outside = project["home"] / "outside" / "state.json"
    outside.parent.mkdir(exist_ok=True)
    outside.write_bytes(project["sound"])

    def make(case: str) -> str:
        checkpoint.unlink()
        HOSTILE[case][0](checkpoint, outside)
        return HOSTILE[case][1].format(outside=outside)

    yield make
    checkpoint.unlink()
    checkpoint.write_bytes(project["sound"])


@pytest.mark.parametrize("command", ["promote", "drift", "token"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_state_file_is_refused_before_the_engine_reads_it(project, hostile_state, case, command):
    said = hostile_state(case)
    before = tree(project["home"])
    args = {
        "promote": ("promote", "--from", STACK, "--to", "e2e-hostile-dst"),
        "drift": ("drift", "--stack", STACK),
        "token": ("token", "diabetes", "--stack", STACK),
    }[command]
    result = modelstack(project, *args)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"the state of stack {STACK} cannot be read" in output and said in output, output
    assert f"- {project['checkpoint']}: " in output  # the key: the file
    assert "Rule: a stack's state in a file backend is its checkpoint" in output and "Fix: " in output
    assert "Traceback" not in output
    assert tree(project["home"]) == before


# --- outputs of the wrong types --------------------------------------------------------------------


def _with_outputs(project, outputs: dict) -> None:
    document = json.loads(project["sound"])
    document["checkpoint"]["latest"]["resources"] = [
        {
            "urn": f"urn:pulumi:{STACK}::modelstack::pulumi:pulumi:Stack::modelstack-{STACK}",
            "custom": False,
            "type": "pulumi:pulumi:Stack",
            "outputs": outputs,
        }
    ]
    project["checkpoint"].write_text(json.dumps(document))


@pytest.fixture
def outputs(project):
    yield lambda values: _with_outputs(project, values)
    project["checkpoint"].write_bytes(project["sound"])


@pytest.mark.parametrize(
    "service_keys, said",
    [
        (
            {"diabetes": {"token_signing_key": 42}},
            "service_keys.diabetes.token_signing_key is an int, not a signing key",
        ),
        ({"diabetes": {"token_signing_key": ["a", "b"]}}, "token_signing_key is a list, not a signing key"),
        ({"diabetes": {"token_signing_key": ""}}, "token_signing_key is an empty string, not a signing key"),
        ("all the keys", "output service_keys is a str, not a mapping of services"),
        ({"diabetes": "key"}, "output service_keys.diabetes is a str, not a mapping of keys"),
    ],
)
def test_token_over_signing_keys_of_the_wrong_type_names_the_output(project, outputs, service_keys, said):
    outputs({"service_keys": service_keys})
    result = modelstack(project, "token", "diabetes", "--stack", STACK)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert said in output and "service_keys.diabetes.token_signing_key: " in output, output
    assert "Fix: pulumi up --stack e2e-hostile" in output and "Traceback" not in output


@pytest.mark.parametrize("services", ["all", ["diabetes"], {"diabetes": "Healthy"}])
def test_promote_over_a_services_output_of_the_wrong_type_names_it(project, outputs, services):
    outputs({"services": services})
    result = modelstack(project, "promote", "--from", STACK, "--to", "e2e-hostile-dst")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"output services of stack {STACK}: stack {STACK}'s services output is not what modelstack wrote" in output
    assert "Traceback" not in output


def test_a_sound_state_still_reaches_the_engine(project, outputs):
    outputs({"service_keys": {"diabetes": {"token_signing_key": "sk" + "0" * 62}}})
    result = modelstack(project, "token", "diabetes", "--stack", STACK, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(json.loads(result.stdout)) == {"token", "refresh_by", "expires_at"}
