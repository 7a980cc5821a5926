"""Token auth (Azure ML's `token_auth_enabled` on AKS): `Authorization: Bearer <token>`, where the
token is a short-lived JWT signed with the service's signing key (HS256), issued by
`modelstack token SERVICE --stack NAME` from the stack's secret. The key comes from the
environment or from the mounted keys folder (looked at again at most once a second, so a rotated
key is used without a restart). A token is accepted while it has not expired, its audience is
this service and its signature is the key's; anything else is a 401.

The issuer and the algorithm are contract.py's, which `modelstack token` issues tokens with.
"""

from __future__ import annotations

from .contract import TOKEN_ALGORITHM, TOKEN_ISSUER, TOKEN_KEY_FILE
from .keys import CHALLENGE, KeySource, bearer_token

TOKEN_KEY_FILES = (TOKEN_KEY_FILE,)
ALGORITHM = TOKEN_ALGORITHM
ISSUER = TOKEN_ISSUER
# Clocks differ between the machine that issued a token and the replica: a minute of grace.
LEEWAY_SECONDS = 60
MISSING_TOKEN_MESSAGE = "a valid token is required: send Authorization: Bearer <token from `modelstack token`>"
INVALID_TOKEN_MESSAGE = "the token is not valid"
EXPIRED_TOKEN_MESSAGE = "the token has expired: get a new one"


def token_refusal(authorization: bytes | None, keys: KeySource, audience: str) -> tuple[str, str] | None:
    """(message, WWW-Authenticate) when the request may not pass; None when its token is good."""
    import jwt  # here, not at start: a server without token auth never loads it

    token = bearer_token(authorization)
    if token is None:
        return MISSING_TOKEN_MESSAGE, CHALLENGE
    invalid = CHALLENGE + ', error="invalid_token"'
    if not token:
        return INVALID_TOKEN_MESSAGE, invalid
    expired = False
    for key in keys.keys():
        try:
            jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=ISSUER,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "aud", "iss"]},
            )
            return None
        except jwt.ExpiredSignatureError:
            expired = True
        except jwt.PyJWTError:
            continue
    return (EXPIRED_TOKEN_MESSAGE if expired else INVALID_TOKEN_MESSAGE), invalid
