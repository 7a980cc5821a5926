"""Whether a stack file's secrets were encrypted with the EMPTY passphrase, told from its salt.

Pulumi's passphrase secrets provider keeps `encryptionsalt: v1:<salt>:v1:<nonce>:<ciphertext>` in
stacks/Pulumi.<stack>.yaml: an 8-byte salt, then the word `pulumi` encrypted with AES-256-GCM
under a key derived from the passphrase and that salt (PBKDF2-HMAC-SHA256, 1,000,000 iterations,
32 bytes), nonce and ciphertext in standard base64. If the empty passphrase's key opens it, every
`secure:` value of the file (and the stack's state) is readable by anyone who has the file.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from components.errors import ConfigError
from components.state import environment

ITERATIONS = 1_000_000
KEY_BYTES = 32
CHECK_WORD = b"pulumi"  # what the salt's ciphertext decrypts to under the right passphrase


def _key(passphrase: str, salt: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    return PBKDF2HMAC(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, iterations=ITERATIONS).derive(
        passphrase.encode()
    )


def opens(encryption_salt: str, passphrase: str) -> bool:
    """True when `passphrase` is the one `encryption_salt` (the stack file's value) was made with.
    A value that is not a v1 passphrase salt opens with nothing."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    parts = encryption_salt.strip().split(":")
    if len(parts) != 5 or parts[0] != "v1" or parts[2] != "v1":
        return False
    try:
        salt, nonce, ciphertext = (base64.b64decode(part, validate=True) for part in (parts[1], parts[3], parts[4]))
    except (binascii.Error, ValueError):
        return False
    if len(nonce) != 12 or len(ciphertext) < 16:
        return False
    try:
        return AESGCM(_key(passphrase, salt)).decrypt(nonce, ciphertext, None) == CHECK_WORD
    except InvalidTag:
        return False


def reencrypt_command(stack: str) -> str:
    """The command that re-encrypts a stack's config and state under the passphrase of
    PULUMI_CONFIG_PASSPHRASE_FILE: the engine reads the old (empty) passphrase from
    PULUMI_CONFIG_PASSPHRASE and, not on a terminal, the new one from stdin."""
    return f'PULUMI_CONFIG_PASSPHRASE= pulumi stack change-secrets-provider passphrase --stack {stack} < "$PULUMI_CONFIG_PASSPHRASE_FILE"'


def empty_passphrase_error(project_dir: Path, stack: str) -> ConfigError | None:
    """The stack file of a stack that is not throwaway, whose encryptionsalt the empty passphrase
    opens; None otherwise (throwaway stacks use the empty passphrase by design)."""
    if environment.is_throwaway(stack):
        return None
    if environment.stack_file_setting(project_dir, stack, "secretsprovider") not in ("", "passphrase"):
        return None
    salt = environment.stack_file_setting(project_dir, stack, "encryptionsalt")
    if not salt or not opens(salt, ""):
        return None
    return ConfigError(
        f"stacks/Pulumi.{stack}.yaml: its secrets are encrypted with the EMPTY passphrase, so anyone with the file can read them",
        key="encryptionsalt",
        rule="only the throwaway stacks (local, e2e, e2e-*, e2e_*) use the empty passphrase; every other stack's "
        "secrets are encrypted with a real passphrase or a key vault",
        fix="put the stack's new passphrase in a file outside the repository (from your team's secret store, "
        "docs/security.md), export PULUMI_CONFIG_PASSPHRASE_FILE=<that file> and . scripts/pulumi-env.sh "
        f"{stack}, then re-encrypt the stack's config and state: {reencrypt_command(stack)} "
        f"(or move it to a key vault: {environment.KEY_VAULT_FIX.format(stack=stack)}); "
        "then rotate the secrets the file held, which anyone who had it could read",
    )
