"""A stack whose secrets the real engine encrypted with the EMPTY passphrase (what sourcing
scripts/pulumi-env.sh for any stack used to do) is named by `modelstack check`; the command check
prints re-encrypts it under the passphrase of PULUMI_CONFIG_PASSPHRASE_FILE, after which the empty
passphrase opens neither the stack file nor the state, and the real one opens both."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.state.passphrase import opens, reencrypt_command
from tests.workspace import REPO, copy_project

ENGINE_BIN = REPO / ".tools" / "bin"
STACK = "team"  # not a throwaway stack: the empty passphrase is not its to use
SECRET = "s3cr3t-registry-password"

pytestmark = [pytest.mark.engine]  # needs the engine: tests/e2e/conftest.py requires it


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_example):
    home = tmp_path_factory.mktemp("passphrase")
    root = copy_project(home / "project")
    local = yaml.safe_load((root / "stacks" / "Pulumi.local.yaml").read_text())
    local.pop("encryptionsalt", None)
    (root / "stacks" / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(local, sort_keys=False))
    (home / "state").mkdir()
    store = home / "secret-store"  # outside the project, as a team's secret store is
    store.mkdir()
    (store / "passphrase").write_text("a passphrase the team keeps elsewhere\n")
    env = {
        "PATH": f"{ENGINE_BIN}:/usr/bin:/bin",
        "HOME": str(home),
        "PULUMI_HOME": str(home / "pulumi-home"),
        "PULUMI_BACKEND_URL": f"file://{home / 'state'}",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "MODELSTACK_PROJECT_DIR": str(root),
    }
    return {"root": root, "env": env, "passphrase_file": store / "passphrase"}


def run(project, args: list[str], *, extra: dict[str, str], shell: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", args[0]] if shell else args,
        cwd=project["root"],
        env={**project["env"], **extra},
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL if not shell else None,
    )


def pulumi(project, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return run(project, ["pulumi", *args, "--stack", STACK, "--non-interactive"], extra=extra)


def modelstack_check(project) -> subprocess.CompletedProcess:
    return run(project, [sys.executable, "-m", "components.commands.cli", "check", "--stack", STACK], extra={})


def salt(project) -> str:
    return yaml.safe_load((project["root"] / "stacks" / f"Pulumi.{STACK}.yaml").read_text())["encryptionsalt"]


def test_a_stack_under_the_empty_passphrase_is_named_and_the_fix_re_encrypts_it(project):
    # What `. scripts/pulumi-env.sh team` used to set up: the empty passphrase, silently.
    for args in (("stack", "init"), ("config", "set", "--secret", "--path", "team:registry.password", SECRET)):
        done = pulumi(project, *args, PULUMI_CONFIG_PASSPHRASE="")
        assert done.returncode == 0, done.stderr
    written = (project["root"] / "stacks" / f"Pulumi.{STACK}.yaml").read_text()
    assert "secure:" in written and SECRET not in written
    assert opens(salt(project), "")

    named = modelstack_check(project)
    assert named.returncode == 1, named.stdout + named.stderr
    said = " ".join(named.stderr.split())
    assert f"stacks/Pulumi.{STACK}.yaml: its secrets are encrypted with the EMPTY passphrase" in said
    assert reencrypt_command(STACK) in said

    # The fix, exactly as check prints it, with the team's passphrase file.
    passphrase_file = str(project["passphrase_file"])
    fixed = run(
        project, [reencrypt_command(STACK)], extra={"PULUMI_CONFIG_PASSPHRASE_FILE": passphrase_file}, shell=True
    )
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr

    new_salt = salt(project)
    assert not opens(new_salt, ""), "the empty passphrase no longer opens the stack file"
    assert opens(new_salt, project["passphrase_file"].read_text().strip())
    refused = pulumi(project, "config", "get", "--path", "team:registry.password", PULUMI_CONFIG_PASSPHRASE="")
    assert refused.returncode != 0 and SECRET not in refused.stdout + refused.stderr
    assert "incorrect passphrase" in refused.stderr
    read = pulumi(
        project, "config", "get", "--path", "team:registry.password", PULUMI_CONFIG_PASSPHRASE_FILE=passphrase_file
    )
    assert read.returncode == 0 and read.stdout.strip() == SECRET
    # The state carries the new salt too, so it is re-encrypted as well.
    exported = pulumi(project, "stack", "export", PULUMI_CONFIG_PASSPHRASE_FILE=passphrase_file)
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["deployment"]["secrets_providers"]["state"]["salt"] == new_salt

    clean = modelstack_check(project)
    assert clean.returncode == 0, clean.stdout + clean.stderr


def test_modelstack_refuses_the_stack_without_its_passphrase_and_takes_it_with(project):
    from components.commands.engine import engine_env
    from components.errors import ModelstackError

    base = {k: v for k, v in project["env"].items() if k != "PULUMI_CONFIG_PASSPHRASE"}
    with pytest.raises(ModelstackError) as refused:
        engine_env(Path(project["root"]), STACK, {**base, "PULUMI_CONFIG_PASSPHRASE": ""})
    assert refused.value.key == "PULUMI_CONFIG_PASSPHRASE"
    env = engine_env(
        Path(project["root"]), STACK, {**base, "PULUMI_CONFIG_PASSPHRASE_FILE": str(project["passphrase_file"])}
    )
    assert "PULUMI_CONFIG_PASSPHRASE" not in env
