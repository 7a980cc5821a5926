"""`modelstack token SERVICE --stack NAME`: a token for a service with `token_auth_enabled`
(Azure ML's `Webservice.get_token()`), and the time to get the next one by.

The token is a JWT signed (HS256) with the service's signing key, a Pulumi secret the stack
generated (stack output `service_keys`, read through the engine); the scoring server in the
service's image verifies it (modelstack_server/tokens.py: the same issuer and algorithm,
modelstack_server/contract.py's). It is valid for an hour; get a new one after 45 minutes
(Azure ML's refresh_by). The signing key itself is never printed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from components.errors import ModelstackError
from modelstack_server.contract import TOKEN_ALGORITHM, TOKEN_ISSUER, TOKEN_KEY_FILE

ALGORITHM = TOKEN_ALGORITHM
ISSUER = TOKEN_ISSUER
LIFETIME_SECONDS = 3600
REFRESH_AFTER_SECONDS = 2700
SIGNING_KEY_OUTPUT = TOKEN_KEY_FILE  # the stack output service_keys.<service> names it as the Secret does


@dataclass(frozen=True)
class IssuedToken:
    token: str
    issued_at: int
    refresh_by: int
    expires_at: int

    def as_json(self) -> dict[str, str]:
        return {"token": self.token, "refresh_by": iso(self.refresh_by), "expires_at": iso(self.expires_at)}


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def issue(signing_key: str, service: str, *, now: float | None = None) -> IssuedToken:
    import jwt

    issued = int(time.time() if now is None else now)
    claims = {"aud": service, "iss": ISSUER, "iat": issued, "exp": issued + LIFETIME_SECONDS}
    return IssuedToken(
        jwt.encode(claims, signing_key, algorithm=ALGORITHM),
        issued,
        issued + REFRESH_AFTER_SECONDS,
        issued + LIFETIME_SECONDS,
    )


def check_token_auth(project_dir: Path, stack: str, service: str) -> None:
    """The service exists in the stack's config and authenticates with tokens."""
    from components.config.deploy_rules import token_auth_enabled
    from components.config.load import load_service
    from components.config.schema import config_key
    from components.targets import registry

    _, spec = load_service(stack, project_dir, service, purpose="a token is issued for")
    if not token_auth_enabled(spec.deploy) or not registry.target(spec.target).token_auth:
        raise ModelstackError(
            f"service {service} in stack {stack} does not authenticate with tokens",
            key=config_key("services", service, "deploy", "token_auth_enabled"),
            rule=f"tokens are issued for {' and '.join(registry.names_where(lambda t: t.token_auth))} services with token_auth_enabled: true (key auth services use their keys: stack output service_keys)",
            fix=f"set token_auth_enabled: true and auth_enabled: false under {config_key('services', service, 'deploy')}, run `pulumi up --stack {stack}`, then ask again",
        )


def signing_key(project_dir: Path, stack: str, service: str) -> str:
    """The service's signing key from the deployed stack's secret output, its shape checked."""
    from components.commands.engine import stack_outputs
    from components.program import SERVICE_KEYS_OUTPUT

    keys = stack_outputs(project_dir, stack, command="token").get(SERVICE_KEYS_OUTPUT)
    where = f"{SERVICE_KEYS_OUTPUT}.{service}.{SIGNING_KEY_OUTPUT}"
    wrong = None
    if keys is not None and not isinstance(keys, dict):
        wrong = f"output {SERVICE_KEYS_OUTPUT} is {_a(keys)}, not a mapping of services"
    elif isinstance(keys, dict) and keys.get(service) is not None and not isinstance(keys[service], dict):
        wrong = f"output {SERVICE_KEYS_OUTPUT}.{service} is {_a(keys[service])}, not a mapping of keys"
    key = (
        keys[service].get(SIGNING_KEY_OUTPUT)
        if isinstance(keys, dict) and isinstance(keys.get(service), dict)
        else None
    )
    if wrong is None and key is not None and (not isinstance(key, str) or not key.strip()):
        wrong = f"output {where} is {'an empty string' if isinstance(key, str) else _a(key)}, not a signing key"
    if wrong is not None:
        raise ModelstackError(
            f"stack {stack}'s state is not what modelstack wrote: {wrong}",
            key=where,
            rule=f"the stack output {SERVICE_KEYS_OUTPUT} maps each service to its keys, the signing key a non-empty secret string",
            fix=f"pulumi up --stack {stack} to write the outputs again (or restore the stack's state), then ask again",
        )
    if not key:
        raise ModelstackError(
            f"stack {stack} has no signing key for {service} yet",
            rule="the signing key is made by the stack: it exists once token auth has been deployed",
            fix=f"pulumi up --stack {stack}, then ask again",
        )
    return key


def _a(value: object) -> str:
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def token_for(project_dir: Path, stack: str, service: str) -> IssuedToken:
    check_token_auth(project_dir, stack, service)
    return issue(signing_key(project_dir, stack, service), service)
