"""A stack file whose secrets the EMPTY passphrase opens is found from its `encryptionsalt:` alone,
and `modelstack check` names it with the command that re-encrypts it.

The salts below were written by the Pulumi engine (3.259.0) itself: the local stack's, made with the
empty passphrase, and one made by `pulumi stack change-secrets-provider passphrase` with the
passphrase `real-pass-123`."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from components.state.environment import is_throwaway
from components.state.passphrase import empty_passphrase_error, opens
from tests.workspace import REPO

EMPTY_SALT = "v1:rfGrfNDhtBY=:v1:D12S5mHs0NHrie5+:E18FGbyVyKMwPQpB65CB9esuNYlCvg=="  # stacks/Pulumi.local.yaml
REAL_SALT = "v1:Re2D1nCsUIU=:v1:Olcs6wbL6CpD3kvv:XACwwf8kDUu+P8rUVuc0cdH3RWZREw=="
REAL_PASSPHRASE = "real-pass-123"


def test_the_engines_salts_open_with_their_own_passphrase_only():
    assert opens(EMPTY_SALT, "")
    assert not opens(EMPTY_SALT, REAL_PASSPHRASE)
    assert opens(REAL_SALT, REAL_PASSPHRASE)
    assert not opens(REAL_SALT, "")


@pytest.mark.parametrize(
    "salt",
    [
        "",
        "v1:",
        "v2:rfGrfNDhtBY=:v1:D12S5mHs0NHrie5+:E18FGbyVyKMwPQpB65CB9esuNYlCvg==",
        "v1:!!:v1:x:y",
        EMPTY_SALT[:-8],
    ],
)
def test_what_is_not_a_salt_opens_with_nothing(salt):
    assert not opens(salt, "")


def stack_file(project, name: str, **top) -> None:
    local = yaml.safe_load((project.root / "stacks" / "Pulumi.local.yaml").read_text())
    local.pop("encryptionsalt", None)
    (project.root / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({**top, **local}, sort_keys=False))


def test_only_a_stack_that_is_not_throwaway_is_named(project):
    stack_file(project, "team", encryptionsalt=EMPTY_SALT)
    stack_file(project, "team-real", encryptionsalt=REAL_SALT)
    stack_file(
        project, "team-vault", encryptionsalt=EMPTY_SALT, secretsprovider="azurekeyvault://v.vault.azure.net/keys/k"
    )
    stack_file(project, "e2e-team", encryptionsalt=EMPTY_SALT)
    error = empty_passphrase_error(project.root, "team")
    assert error is not None and error.key == "encryptionsalt"
    for stack in ("team-real", "team-vault", "e2e-team", "local", "dev", "no-such-stack"):
        assert empty_passphrase_error(project.root, stack) is None, stack


def modelstack(project, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "components.commands.cli", *args],
        capture_output=True,
        text=True,
        cwd=project.root,
        env={"MODELSTACK_PROJECT_DIR": str(project.root), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )


def test_check_names_the_stack_file_and_the_command_that_re_encrypts_it(project):
    stack_file(project, "team", encryptionsalt=EMPTY_SALT)
    result = modelstack(project, "check", "--stack", "team")
    assert result.returncode == 1, result.stdout + result.stderr
    said = " ".join(result.stderr.split())
    assert "encryptionsalt: stacks/Pulumi.team.yaml: its secrets are encrypted with the EMPTY passphrase" in said
    assert (
        'PULUMI_CONFIG_PASSPHRASE= pulumi stack change-secrets-provider passphrase --stack team < "$PULUMI_CONFIG_PASSPHRASE_FILE"'
        in said
    )
    assert "Traceback" not in result.stderr + result.stdout
    as_json = modelstack(project, "check", "--stack", "team", "--json")
    assert as_json.returncode == 1
    assert any("EMPTY passphrase" in error for error in yaml.safe_load(as_json.stdout)["errors"])


def test_check_passes_a_stack_under_a_real_passphrase(project):
    stack_file(project, "team", encryptionsalt=REAL_SALT)
    result = modelstack(project, "check", "--stack", "team")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", sorted(REPO.glob("stacks/Pulumi.*.yaml")), ids=lambda path: path.name)
def test_no_example_stack_holds_secrets_readable_by_anyone(path):
    """The tracked stack files: none that is not throwaway is under the empty passphrase, and a
    throwaway one (local) holds no secret at all."""
    stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    assert empty_passphrase_error(REPO, stack) is None
    if is_throwaway(stack):
        assert "secure:" not in path.read_text()
