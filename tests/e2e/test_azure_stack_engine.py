"""drift and promote on an Azure stack, with the real engine, where the Azure provider plugin is
not installed (as on every machine the project is developed on): the engine refuses to read the
stack, and the commands say which plugin, the version the project pins and how to install it.

The dev stack's state is imported with `pulumi stack import`: a deployed ACI service as the
engine records it (the azure-native provider, a resource group, a container group) and the
`services` output `up` writes. Nothing talks to Azure: the engine stops at the missing plugin.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.workspace import copy_project

REPO = Path(__file__).resolve().parents[2]
ENGINE = REPO / ".tools" / "bin" / "pulumi"
DIGEST = "sha256:" + "5e" * 32

pytestmark = [pytest.mark.engine]


def recorded_dev_state(stack_urn: str) -> list[dict]:
    provider = "urn:pulumi:dev::modelstack::pulumi:providers:azure-native::default_3_29_0"
    provider_ref = f"{provider}::7f3c2a91-5d4e-4b8a-9c61-2e0f8d1b6a35"
    group_urn = "urn:pulumi:dev::modelstack::pulumi:pulumi:Stack$azure-native:resources:ResourceGroup::resource-group"
    service_urn = "urn:pulumi:dev::modelstack::modelstack:webservice:Webservice::diabetes"
    aci_urn = "urn:pulumi:dev::modelstack::modelstack:webservice:Webservice$modelstack:aci:AciWebservice::diabetes-aci"
    aci_group_urn = "urn:pulumi:dev::modelstack::modelstack:webservice:Webservice$modelstack:aci:AciWebservice$modelstack:aci:AciGroup::diabetes"
    container_group_urn = "urn:pulumi:dev::modelstack::modelstack:webservice:Webservice$modelstack:aci:AciWebservice$modelstack:aci:AciGroup$azure-native:containerinstance:ContainerGroup::diabetes-group"
    group_id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/modelstack-dev"
    return [
        {
            "urn": stack_urn,
            "custom": False,
            "type": "pulumi:pulumi:Stack",
            "outputs": {
                "services": {
                    "diabetes": {
                        "image": f"modelstackdev.azurecr.io/diabetes@{DIGEST}",
                        "model_versions": {"diabetes-ridge": "b1bab1d88dad"},
                        "scoring_uri": "http://diabetes-dev.westeurope.azurecontainer.io:5001/score",
                        "swagger_uri": "http://diabetes-dev.westeurope.azurecontainer.io:5001/swagger.json",
                        "state": "Healthy",
                    }
                }
            },
        },
        {
            "urn": provider,
            "custom": True,
            "id": provider_ref.rsplit("::", 1)[1],
            "type": "pulumi:providers:azure-native",
            "inputs": {"location": "westeurope", "version": "3.29.0"},
            "outputs": {"location": "westeurope", "version": "3.29.0"},
            "parent": stack_urn,
        },
        {
            "urn": group_urn,
            "custom": True,
            "id": group_id,
            "type": "azure-native:resources:ResourceGroup",
            "inputs": {"location": "westeurope"},
            "outputs": {"location": "westeurope", "name": "modelstack-dev", "provisioningState": "Succeeded"},
            "parent": stack_urn,
            "provider": provider_ref,
        },
        {"urn": service_urn, "custom": False, "type": "modelstack:webservice:Webservice", "parent": stack_urn},
        {"urn": aci_urn, "custom": False, "type": "modelstack:aci:AciWebservice", "parent": service_urn},
        {"urn": aci_group_urn, "custom": False, "type": "modelstack:aci:AciGroup", "parent": aci_urn},
        {
            "urn": container_group_urn,
            "custom": True,
            "id": f"{group_id}/providers/Microsoft.ContainerInstance/containerGroups/modelstack-dev-diabetes",
            "type": "azure-native:containerinstance:ContainerGroup",
            "parent": aci_group_urn,
            "provider": provider_ref,
            "dependencies": [group_urn],
            "inputs": {
                "containerGroupName": "modelstack-dev-diabetes",
                "resourceGroupName": "modelstack-dev",
                "osType": "Linux",
            },
            "outputs": {
                "name": "modelstack-dev-diabetes",
                "provisioningState": "Succeeded",
                "instanceView": {"state": "Running"},
                "tags": {"modelstack-service": "diabetes"},
            },
        },
    ]


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_example):
    home = tmp_path_factory.mktemp("azure-stack")
    root = copy_project(home / "project", runnable=True)
    (root / ".tools").symlink_to(REPO / ".tools")
    shutil.copy(REPO / "requirements.txt", root / "requirements.txt")  # where a project pins its provider SDKs
    # `dev` is not a throwaway stack: its secrets need a real passphrase (components/state/environment.py),
    # kept outside the project as a team's secret store would.
    (home / "passphrase").write_text(f"{uuid.uuid4().hex}\n")
    env = {
        "PATH": f"{ENGINE.parent}:/usr/bin:/bin",
        "HOME": str(home),
        "MODELSTACK_PROJECT_DIR": str(root),
        "PULUMI_CONFIG_PASSPHRASE_FILE": str(home / "passphrase"),
        # Local mode (no backend of the user's): the project's file backend and PULUMI_HOME, automatic
        # plugin downloads off, as scripts/pulumi-env.sh sets them; nothing leaves the machine.
    }
    engine_env = {
        **env,
        "PULUMI_BACKEND_URL": f"file://{root / '.modelstack' / 'state'}",
        "PULUMI_HOME": str(root / ".modelstack" / "pulumi-home"),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }
    (root / ".modelstack" / "state").mkdir(parents=True)

    def pulumi(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run(
            ["pulumi", *args, "--non-interactive"],
            cwd=root,
            env=engine_env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, f"pulumi {' '.join(args)}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
        return result

    pulumi("stack", "init", "dev")
    exported = json.loads(pulumi("stack", "export", "--stack", "dev").stdout)
    stack_urn = "urn:pulumi:dev::modelstack::pulumi:pulumi:Stack::modelstack-dev"
    exported["deployment"]["resources"] = recorded_dev_state(stack_urn)
    (home / "dev.json").write_text(json.dumps(exported))
    pulumi("stack", "import", "--stack", "dev", "--file", str(home / "dev.json"))
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


@pytest.mark.parametrize(
    "command", [("drift", "--stack", "dev"), ("promote", "--from", "dev", "--to", "staging")], ids=["drift", "promote"]
)
def test_a_missing_azure_plugin_is_a_clear_error(project, command):
    result = modelstack(project, *command)
    assert result.returncode == 1, result.stdout + result.stderr
    said = " ".join(result.stderr.split())
    assert (
        "the Pulumi provider plugin azure-native v3.29.0 is not installed, so stack dev's live resources cannot be read"
        in said
    )
    assert "the project pins pulumi-azure-native==3.29.0 (requirements.txt)" in said
    assert f"pulumi plugin install resource azure-native 3.29.0, then run `modelstack {command[0]} ...` again" in said
    assert "Traceback" not in result.stderr + result.stdout


def test_the_stack_file_is_untouched_by_a_refused_promotion(project):
    staging = project["root"] / "stacks" / "Pulumi.staging.yaml"
    before = staging.read_text()
    assert modelstack(project, "promote", "--from", "dev", "--to", "staging").returncode == 1
    assert staging.read_text() == before
