"""Token auth in process: tokens issued by `modelstack token` (components/commands/token.py) as
modelstack's scoring server verifies them (modelstack_server/tokens.py), and the
settings that turn it on. The container tests run the same on a real container."""

from __future__ import annotations

import time

import jwt
import pytest

from components.commands import token as cli_token
from modelstack_server import server, settings as server_settings, tokens
from modelstack_server.keys import KeySource
from modelstack_server.settings import Settings, SettingsError

SIGNING_KEY = "k" * 64
OTHER_KEY = "o" * 64


def bearer(value: str) -> bytes:
    return f"Bearer {value}".encode()


def source(signing_key: str) -> KeySource:
    return KeySource(signing_key, files=tokens.TOKEN_KEY_FILES)


def test_a_token_modelstack_issues_is_accepted():
    issued = cli_token.issue(SIGNING_KEY, "diabetes")
    assert tokens.token_refusal(bearer(issued.token), source(SIGNING_KEY), "diabetes") is None
    assert (issued.refresh_by - issued.issued_at, issued.expires_at - issued.issued_at) == (2700, 3600)


def test_an_expired_token_is_refused_as_expired():
    two_hours_ago = time.time() - 7200
    issued = cli_token.issue(SIGNING_KEY, "diabetes", now=two_hours_ago)
    assert tokens.token_refusal(bearer(issued.token), source(SIGNING_KEY), "diabetes") == (
        "the token has expired: get a new one",
        'Bearer realm="modelstack", error="invalid_token"',
    )


def test_a_token_within_a_minute_of_expiry_on_another_clock_still_passes():
    issued = cli_token.issue(SIGNING_KEY, "diabetes", now=time.time() - 3600 + 5 - 30)  # expired 25 s ago
    assert tokens.token_refusal(bearer(issued.token), source(SIGNING_KEY), "diabetes") is None


def claims(**overrides: object) -> dict:
    """A token's claims as `modelstack token` would write them for diabetes, valid for ten minutes from now.
    Called inside each test: tokens made when the module is collected expire before a long run reaches them."""
    now = int(time.time())
    return {"aud": "diabetes", "iss": "modelstack", "iat": now, "exp": now + 600, **overrides}


FORGERIES = {
    "other key": lambda: jwt.encode(claims(), OTHER_KEY, algorithm="HS256"),
    "alg none": lambda: jwt.encode(claims(), "", algorithm="none"),  # the none algorithm takes no key
    "other service": lambda: jwt.encode(claims(aud="diabetes-multi"), SIGNING_KEY, algorithm="HS256"),
    "other issuer": lambda: jwt.encode(claims(iss="someone"), SIGNING_KEY, algorithm="HS256"),
    "no expiry": lambda: jwt.encode(
        {"aud": "diabetes", "iss": "modelstack", "iat": int(time.time())}, SIGNING_KEY, algorithm="HS256"
    ),
    "the key itself": lambda: SIGNING_KEY,
    "garbage": lambda: "not.a.token",
}


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
def test_forged_or_foreign_tokens_are_refused(forge):
    assert tokens.token_refusal(bearer(forge()), source(SIGNING_KEY), "diabetes") == (
        "the token is not valid",
        'Bearer realm="modelstack", error="invalid_token"',
    )


def test_no_token_is_asked_for():
    assert tokens.token_refusal(None, source(SIGNING_KEY), "diabetes") == (
        "a valid token is required: send Authorization: Bearer <token from `modelstack token`>",
        'Bearer realm="modelstack"',
    )
    refused = tokens.token_refusal(b"Basic dXNlcjpwYXNz", source(SIGNING_KEY), "diabetes")
    assert refused is not None and refused[0] == "the token is not valid"


def test_a_rotated_signing_key_in_the_folder_is_used_without_a_restart(tmp_path):
    now = [0.0]
    (tmp_path / "token_signing_key").write_text(SIGNING_KEY + "\n")
    keys = KeySource(folder=str(tmp_path), clock=lambda: now[0], files=tokens.TOKEN_KEY_FILES)
    old = cli_token.issue(SIGNING_KEY, "diabetes").token
    assert tokens.token_refusal(bearer(old), keys, "diabetes") is None
    (tmp_path / "token_signing_key").write_text(OTHER_KEY)
    now[0] += 1.0
    refused = tokens.token_refusal(bearer(old), keys, "diabetes")
    assert refused is not None and refused[0] == "the token is not valid"
    assert tokens.token_refusal(bearer(cli_token.issue(OTHER_KEY, "diabetes").token), keys, "diabetes") is None


@pytest.fixture
def script_file(tmp_path):
    path = tmp_path / "score.py"
    path.write_text("def init(): pass\ndef run(data): return data\n")
    return path


def test_settings_turn_token_auth_on(script_file):
    s = Settings.from_environ(
        {
            "AZUREML_ENTRY_SCRIPT": str(script_file),
            "MODELSTACK_TOKEN_AUTH_ENABLED": "true",
            "MODELSTACK_TOKEN_SIGNING_KEY": SIGNING_KEY,
            "MODELSTACK_TOKEN_AUDIENCE": "diabetes",
        }
    )
    assert (s.token_auth_enabled, s.auth_enabled, s.token_audience, s.token_keys.keys()) == (
        True,
        False,
        "diabetes",
        (SIGNING_KEY.encode(),),
    )


@pytest.mark.parametrize(
    "environ, error",
    [
        (
            {"MODELSTACK_TOKEN_AUTH_ENABLED": "true", "MODELSTACK_TOKEN_AUDIENCE": "diabetes"},
            "MODELSTACK_TOKEN_AUTH_ENABLED is true but neither MODELSTACK_TOKEN_SIGNING_KEY nor MODELSTACK_KEYS_DIR is set",
        ),
        (
            {"MODELSTACK_TOKEN_AUTH_ENABLED": "true", "MODELSTACK_TOKEN_SIGNING_KEY": SIGNING_KEY},
            "MODELSTACK_TOKEN_AUTH_ENABLED is true but MODELSTACK_TOKEN_AUDIENCE (the service's name, which tokens are issued for) is not set",
        ),
        (
            {
                "MODELSTACK_TOKEN_AUTH_ENABLED": "true",
                "MODELSTACK_TOKEN_SIGNING_KEY": SIGNING_KEY,
                "MODELSTACK_TOKEN_AUDIENCE": "d",
                "MODELSTACK_AUTH_ENABLED": "true",
                "MODELSTACK_PRIMARY_KEY": "p",
            },
            "MODELSTACK_AUTH_ENABLED and MODELSTACK_TOKEN_AUTH_ENABLED are both true; a service authenticates with keys or with tokens",
        ),
    ],
    ids=["no key", "no audience", "both"],
)
def test_token_settings_that_cannot_work_are_refused(script_file, environ, error):
    with pytest.raises(SettingsError) as caught:
        Settings.from_environ({"AZUREML_ENTRY_SCRIPT": str(script_file), **environ})
    assert str(caught.value) == error


def test_the_issuer_and_the_server_agree_on_names_and_claims():
    expected = ("HS256", "modelstack", "token_signing_key")
    assert (cli_token.ALGORITHM, cli_token.ISSUER, cli_token.SIGNING_KEY_OUTPUT) == expected
    assert (tokens.ALGORITHM, tokens.ISSUER, *tokens.TOKEN_KEY_FILES) == expected
    assert (
        server_settings.TOKEN_AUTH_ENABLED_ENV,
        server_settings.TOKEN_SIGNING_KEY_ENV,
        server_settings.TOKEN_AUDIENCE_ENV,
    ) == ("MODELSTACK_TOKEN_AUTH_ENABLED", "MODELSTACK_TOKEN_SIGNING_KEY", "MODELSTACK_TOKEN_AUDIENCE")
    assert server_settings.TOKEN_SIGNING_KEY_ENV in server.SECRET_ENVS, (
        "the server removes the key from its environment"
    )
