"""Push to an Azure Container Registry with the user's own Azure identity, as `az acr login` does.

No admin password: an Azure AD (Entra ID) access token of the signed-in user (from the Azure
CLI, `az account get-access-token`) is exchanged at the registry's
`POST https://<login server>/oauth2/exchange` (form fields grant_type=access_token, service,
tenant, access_token) for an ACR refresh token. Docker logs in with that refresh token as
password and the fixed user name 00000000-0000-0000-0000-000000000000, which tells the
registry the password is a token. The identity needs AcrPush (or Owner/Contributor) on the
registry.

Tokens are secrets: they are held as `SecretStr`, never logged, and never part of an error.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from pydantic import SecretStr

from components.errors import ModelstackError

# The user name docker uses with an ACR refresh token as password.
TOKEN_USERNAME = "00000000-0000-0000-0000-000000000000"
EXCHANGE_PATH = "/oauth2/exchange"


class RegistryAuthError(ModelstackError):
    """Signing in to a container registry failed."""


@dataclass(frozen=True)
class AadToken:
    """An Azure AD access token (for Azure Resource Manager) and the tenant it was issued in."""

    token: SecretStr
    tenant: str | None = None
    subscription: str | None = None  # the Azure CLI's current subscription


@dataclass(frozen=True)
class RegistryLogin:
    """What `docker login` needs; the password is a secret and stays out of repr()."""

    server: str
    username: str
    password: SecretStr

    def docker_auth_config(self) -> dict[str, str]:
        """docker-py's auth_config for push/pull (the only place the token is revealed)."""
        return {"username": self.username, "password": self.password.get_secret_value(), "serveraddress": self.server}


def azure_cli_access_token(
    *, run: Callable[..., Any] = subprocess.run, which: Callable[[str], str | None] = shutil.which
) -> AadToken:
    """The signed-in Azure CLI user's access token (`az account get-access-token`)."""
    if which("az") is None:
        raise RegistryAuthError(
            "the Azure CLI (az) is not installed",
            rule="images are pushed to ACR with your Azure identity, which modelstack takes from the Azure CLI",
            fix="install the Azure CLI (https://aka.ms/installazurecli) and run `az login`",
        )
    result = run(["az", "account", "get-access-token", "--output", "json"], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RegistryAuthError(
            "the Azure CLI has no access token for you",
            rule="images are pushed to ACR with your Azure identity, which modelstack takes from the Azure CLI",
            fix="run `az login` (and `az account set --subscription <id>` for the stack's subscription)",
        )
    try:
        document = json.loads(result.stdout)
        return AadToken(
            token=SecretStr(document["accessToken"]),
            tenant=document.get("tenant"),
            subscription=document.get("subscription"),
        )
    except (ValueError, KeyError, TypeError):
        raise RegistryAuthError(
            "`az account get-access-token` printed something that is not a token",
            rule="modelstack reads accessToken and tenant from the Azure CLI's JSON output",
            fix="update the Azure CLI (`az upgrade`) and run `az login` again",
        ) from None


def exchange_for_refresh_token(
    login_server: str, aad_token: AadToken, *, base_url: str | None = None, timeout: float = 30.0
) -> SecretStr:
    """Exchange an Azure AD access token for an ACR refresh token at the registry.

    `base_url` replaces https://<login_server> (tests point it at a local stand-in).
    """
    url = (base_url or f"https://{login_server}").rstrip("/") + EXCHANGE_PATH
    form = {"grant_type": "access_token", "service": login_server, "access_token": aad_token.token.get_secret_value()}
    if aad_token.tenant:
        form["tenant"] = aad_token.tenant
    try:
        response = requests.post(url, data=form, timeout=timeout)
    except requests.RequestException as exc:
        raise RegistryAuthError(
            f"cannot reach registry {login_server} ({type(exc).__name__})",
            rule="pushing an image signs in at the registry's /oauth2/exchange endpoint over HTTPS",
            fix="check the registry's login server name and your network (proxy, firewall, the registry's public network access)",
        ) from None
    if response.status_code in (401, 403):
        raise RegistryAuthError(
            f"registry {login_server} refused your Azure AD token (HTTP {response.status_code})",
            rule="your Azure identity needs AcrPush (or Owner/Contributor) on the registry, in the registry's tenant",
            fix="ask for `az role assignment create --role AcrPush --assignee <your user or service principal> --scope <the registry's id>`, or `az login --tenant <the registry's tenant>`",
        )
    if response.status_code != 200:
        raise RegistryAuthError(
            f"registry {login_server} answered the token exchange with HTTP {response.status_code}",
            rule="the registry's /oauth2/exchange endpoint answers 200 with a refresh_token",
            fix="try again; if it persists, check the registry's health in the Azure portal",
        )
    try:
        refresh_token = response.json()["refresh_token"]
    except (ValueError, KeyError, TypeError):
        refresh_token = None
    if not isinstance(refresh_token, str) or not refresh_token:
        raise RegistryAuthError(
            f"registry {login_server} answered the token exchange without a refresh_token",
            rule="the registry's /oauth2/exchange endpoint answers 200 with a refresh_token",
            fix="check that the login server is an Azure Container Registry",
        )
    return SecretStr(refresh_token)


def acr_login(
    login_server: str, *, token_source: Callable[[], AadToken] = azure_cli_access_token, base_url: str | None = None
) -> RegistryLogin:
    """Docker credentials for `login_server` from the user's Azure identity."""
    refresh_token = exchange_for_refresh_token(login_server, token_source(), base_url=base_url)
    return RegistryLogin(server=login_server, username=TOKEN_USERNAME, password=refresh_token)
