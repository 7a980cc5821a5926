"""Pushing to ACR with the user's Azure identity: the Azure AD token is exchanged for an ACR
refresh token at <registry>/oauth2/exchange, against a stand-in registry on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from pydantic import SecretStr

from components.image import registry_auth as acr_auth
from components.image.registry_auth import (
    AadToken,
    RegistryAuthError,
    acr_login,
    azure_cli_access_token,
    exchange_for_refresh_token,
)

LOGIN_SERVER = "modelstackprod66885afe.azurecr.io"
AAD_TOKEN = "aad-access-token-value"
REFRESH_TOKEN = "acr-refresh-token-value"


class StandInRegistry:
    """A loopback HTTP server answering /oauth2/exchange as ACR does (or as told to fail)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.status = 200
        self.body: bytes = json.dumps({"refresh_token": REFRESH_TOKEN}).encode()
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                registry.requests.append(
                    {
                        "path": self.path,
                        "content_type": self.headers.get("Content-Type"),
                        "form": {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()},
                    }
                )
                self.send_response(registry.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(registry.body)))
                self.end_headers()
                self.wfile.write(registry.body)

            def log_message(self, *args):  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def registry(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # a configured proxy must not swallow loopback calls
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    with StandInRegistry() as stand_in:
        yield stand_in


def test_exchange_posts_the_form_az_acr_login_posts(registry):
    token = exchange_for_refresh_token(
        LOGIN_SERVER, AadToken(SecretStr(AAD_TOKEN), tenant="tenant-guid"), base_url=registry.url
    )
    assert token.get_secret_value() == REFRESH_TOKEN
    assert registry.requests == [
        {
            "path": "/oauth2/exchange",
            "content_type": "application/x-www-form-urlencoded",
            "form": {
                "grant_type": "access_token",
                "service": LOGIN_SERVER,
                "access_token": AAD_TOKEN,
                "tenant": "tenant-guid",
            },
        }
    ]


def test_tenant_is_left_out_when_unknown(registry):
    exchange_for_refresh_token(LOGIN_SERVER, AadToken(SecretStr(AAD_TOKEN)), base_url=registry.url)
    assert "tenant" not in registry.requests[0]["form"]


def test_login_uses_the_null_guid_user_and_keeps_the_token_secret(registry):
    login = acr_login(LOGIN_SERVER, token_source=lambda: AadToken(SecretStr(AAD_TOKEN), "t"), base_url=registry.url)
    assert login.username == "00000000-0000-0000-0000-000000000000"
    assert login.server == LOGIN_SERVER
    assert REFRESH_TOKEN not in repr(login) and REFRESH_TOKEN not in str(login)
    assert login.docker_auth_config() == {
        "username": "00000000-0000-0000-0000-000000000000",
        "password": REFRESH_TOKEN,
        "serveraddress": LOGIN_SERVER,
    }


def test_a_refused_token_says_which_role_is_missing_and_never_shows_the_token(registry):
    registry.status, registry.body = 401, b'{"errors":[{"code":"UNAUTHORIZED","message":"bad token"}]}'
    with pytest.raises(RegistryAuthError) as caught:
        exchange_for_refresh_token(LOGIN_SERVER, AadToken(SecretStr(AAD_TOKEN)), base_url=registry.url)
    assert str(caught.value) == (
        f"registry {LOGIN_SERVER} refused your Azure AD token (HTTP 401)\n"
        "  Rule: your Azure identity needs AcrPush (or Owner/Contributor) on the registry, in the registry's tenant\n"
        "  Fix: ask for `az role assignment create --role AcrPush --assignee <your user or service principal> --scope <the registry's id>`, "
        "or `az login --tenant <the registry's tenant>`"
    )
    assert AAD_TOKEN not in str(caught.value)


def test_an_answer_without_a_refresh_token(registry):
    registry.body = b'{"access_token": "x"}'
    with pytest.raises(RegistryAuthError, match="answered the token exchange without a refresh_token"):
        exchange_for_refresh_token(LOGIN_SERVER, AadToken(SecretStr(AAD_TOKEN)), base_url=registry.url)


def test_a_server_error(registry):
    registry.status = 503
    with pytest.raises(RegistryAuthError, match=r"answered the token exchange with HTTP 503"):
        exchange_for_refresh_token(LOGIN_SERVER, AadToken(SecretStr(AAD_TOKEN)), base_url=registry.url)


def test_an_unreachable_registry(free_port, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    with pytest.raises(RegistryAuthError) as caught:
        exchange_for_refresh_token(
            LOGIN_SERVER, AadToken(SecretStr(AAD_TOKEN)), base_url=f"http://127.0.0.1:{free_port}", timeout=2
        )
    assert str(caught.value).startswith(f"cannot reach registry {LOGIN_SERVER} (ConnectionError)")
    assert AAD_TOKEN not in str(caught.value)


def test_the_token_comes_from_the_azure_cli():
    seen = []

    def run(command, **kwargs):
        seen.append(command)
        return subprocess.CompletedProcess(
            command,
            0,
            stdout=json.dumps({"accessToken": AAD_TOKEN, "tenant": "tenant-guid", "tokenType": "Bearer"}),
            stderr="",
        )

    token = azure_cli_access_token(run=run, which=lambda _: "/usr/bin/az")
    assert seen == [["az", "account", "get-access-token", "--output", "json"]]
    assert (token.token.get_secret_value(), token.tenant) == (AAD_TOKEN, "tenant-guid")


def test_without_the_azure_cli_or_a_login_the_fix_is_named():
    with pytest.raises(RegistryAuthError) as missing:
        azure_cli_access_token(which=lambda _: None)
    assert str(missing.value).endswith("Fix: install the Azure CLI (https://aka.ms/installazurecli) and run `az login`")

    def not_logged_in(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, stdout="", stderr="Please run 'az login'")

    with pytest.raises(RegistryAuthError) as logged_out:
        azure_cli_access_token(run=not_logged_in, which=lambda _: "/usr/bin/az")
    assert str(logged_out.value).endswith(
        "Fix: run `az login` (and `az account set --subscription <id>` for the stack's subscription)"
    )


def test_docker_auth_config_carries_the_token_with_the_token_user_name():
    """What pushes and pulls hand to docker-py (service_image, promote)."""
    login = acr_auth.RegistryLogin(LOGIN_SERVER, acr_auth.TOKEN_USERNAME, SecretStr(REFRESH_TOKEN))
    assert login.docker_auth_config() == {
        "username": "00000000-0000-0000-0000-000000000000",
        "password": REFRESH_TOKEN,
        "serveraddress": LOGIN_SERVER,
    }
    assert REFRESH_TOKEN not in repr(login)
