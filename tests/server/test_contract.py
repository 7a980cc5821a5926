"""The image contract (modelstack_server/contract.py): what the program and the server in the
image agree on. Its values are written out here, so a change to one is a change on purpose, and
the module stays importable by the program at plan time: it imports nothing."""

from __future__ import annotations

import ast
from pathlib import Path

from modelstack_server import contract, server, settings

CONTRACT = Path(contract.__file__)


def test_the_contract_imports_nothing():
    imports = [
        node.lineno
        for node in ast.walk(ast.parse(CONTRACT.read_text()))
        if isinstance(node, (ast.Import, ast.ImportFrom))
    ]
    assert imports == []


def test_the_port_and_the_routes_are_azure_mls():
    assert (contract.PORT, contract.HEALTH_ROUTE, contract.SCORE_ROUTE, contract.SWAGGER_ROUTE) == (
        5001,
        "/",
        "/score",
        "/swagger.json",
    )


def test_the_server_reads_the_variables_the_platform_sets():
    """The server's settings are the contract's names, and it takes every secret out of its environment."""
    names = (
        "AUTH_ENABLED_ENV",
        "PRIMARY_KEY_ENV",
        "SECONDARY_KEY_ENV",
        "KEYS_DIR_ENV",
        "TOKEN_AUTH_ENABLED_ENV",
        "TOKEN_SIGNING_KEY_ENV",
        "TOKEN_AUDIENCE_ENV",
        "CORS_ORIGINS_ENV",
        "MAX_REQUEST_BYTES_ENV",
        "TLS_CERT_ENV",
        "TLS_KEY_ENV",
        "APP_INSIGHTS_CONNECTION_STRING_ENV",
    )
    assert [getattr(settings, name) for name in names] == [
        "MODELSTACK_AUTH_ENABLED",
        "MODELSTACK_PRIMARY_KEY",
        "MODELSTACK_SECONDARY_KEY",
        "MODELSTACK_KEYS_DIR",
        "MODELSTACK_TOKEN_AUTH_ENABLED",
        "MODELSTACK_TOKEN_SIGNING_KEY",
        "MODELSTACK_TOKEN_AUDIENCE",
        "MODELSTACK_CORS_ORIGINS",
        "MODELSTACK_MAX_REQUEST_BYTES",
        "MODELSTACK_TLS_CERT",
        "MODELSTACK_TLS_KEY",
        "MODELSTACK_APP_INSIGHTS_CONNECTION_STRING",
    ]
    assert set(server.SECRET_ENVS) == {
        "MODELSTACK_PRIMARY_KEY",
        "MODELSTACK_SECONDARY_KEY",
        "MODELSTACK_TOKEN_SIGNING_KEY",
        "MODELSTACK_APP_INSIGHTS_CONNECTION_STRING",
        "MODELSTACK_TLS_CERT",
        "MODELSTACK_TLS_KEY",
    }


def test_the_keys_folder_holds_the_files_the_server_reads(tmp_path):
    """A folder laid out as the contract names its files is what the server's key source reads."""
    from modelstack_server.keys import KeySource
    from modelstack_server.tokens import TOKEN_KEY_FILES

    assert (contract.KEYS_MOUNT, contract.KEY_FILES, contract.TOKEN_KEY_FILE) == (
        "/var/run/modelstack/keys",
        ("primary_key", "secondary_key"),
        "token_signing_key",
    )
    (tmp_path / "primary_key").write_text("one")
    (tmp_path / "secondary_key").write_text("two")
    (tmp_path / "token_signing_key").write_text("three")
    assert KeySource(folder=str(tmp_path)).keys() == (b"one", b"two")
    assert KeySource(folder=str(tmp_path), files=TOKEN_KEY_FILES).keys() == (b"three",)
