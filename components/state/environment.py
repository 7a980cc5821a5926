"""Which state backend and which secrets a stack's engine run gets, and where that choice came from.

The one rule, shared by `scripts/pulumi-env.sh` (sourced into a user's shell) and by every
`modelstack` command that reaches state (components/commands/engine.py); tests/unit/test_scripts.py
runs both on one table of cases.

- Mode. The throwaway stacks (`local`, `e2e`, `e2e-*`, `e2e_*`) always keep their state in the
  project's file backend (.modelstack/state). Any other stack uses the user's backend when there is
  one (PULUMI_BACKEND_URL, else the `current` backend of a `pulumi login` in the credentials.json of
  $PULUMI_HOME or ~/.pulumi), else the project's file backend.
- Where the backend came from is said on stderr by every command that reaches state
  (`backend_line`).
- An azblob:// backend needs a storage account's name (AZURE_STORAGE_ACCOUNT, `storage_account=` in
  the URL, or AccountName in a connection string); without one the engine only says go-cloud's
  "Options.AccountName is required", so it is refused first.
- The empty passphrase is for the throwaway stacks alone. Any other stack whose secrets a passphrase
  protects (its stack file's `secretsprovider:` is `passphrase` or unset, on a self-managed backend or
  with an `encryptionsalt:`) needs a real one: a non-empty PULUMI_CONFIG_PASSPHRASE, or
  PULUMI_CONFIG_PASSPHRASE_FILE naming a non-empty file. PULUMI_CONFIG_PASSPHRASE set to the empty
  string is refused even with a file, since the engine reads that variable first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from components.config.schema import STATE_DIR
from components.errors import ModelstackError

THROWAWAY_STACKS = ("local", "e2e")  # not a target: the stacks whose state and secrets are the project's own
# The two modes of pulumi_mode: the project's own backend and settings, or the user's.
LOCAL_MODE = "local"  # not a target: a mode
USER_MODE = "user"
THROWAWAY_PREFIXES = ("e2e-", "e2e_")
FROM_URL = "PULUMI_BACKEND_URL"
FROM_THROWAWAY = "the local default: the local and e2e stacks keep their state in the project"
FROM_NOTHING = "the local default: no PULUMI_BACKEND_URL and no pulumi login"
KEY_VAULT_FIX = "pulumi stack change-secrets-provider --stack {stack} 'azurekeyvault://VAULT.vault.azure.net/keys/KEY'"


def is_throwaway(stack: str) -> bool:
    return stack in THROWAWAY_STACKS or stack.startswith(THROWAWAY_PREFIXES)


def credentials_file(environ: Mapping[str, str]) -> Path:
    home = environ.get("PULUMI_HOME") or str(Path(environ.get("HOME") or "~").expanduser() / ".pulumi")
    return Path(home) / "credentials.json"


def user_backend(environ: Mapping[str, str]) -> tuple[str, str]:
    """The user's own backend and where it was set: (PULUMI_BACKEND_URL, its name), else `current` of
    `pulumi login`'s credentials.json, else ("", "")."""
    if environ.get("PULUMI_BACKEND_URL"):
        return environ["PULUMI_BACKEND_URL"], FROM_URL
    path = credentials_file(environ)
    try:
        current = json.loads(path.read_text()).get("current")
    except (OSError, ValueError, AttributeError):
        return "", ""
    return (current, f"pulumi login in {path}") if isinstance(current, str) and current else ("", "")


def project_backend(project_dir: Path) -> str:
    """The project's own file backend (.modelstack/state)."""
    return f"file://{Path(project_dir) / STATE_DIR / 'state'}"


def pulumi_mode(project_dir: Path, stack: str, environ: Mapping[str, str]) -> str:
    """`local` (the project's backend and settings) or `user` (the user's backend, left as it is).
    The project's own file backend, which sourcing the script puts in PULUMI_BACKEND_URL, is not a
    backend of the user's."""
    if is_throwaway(stack):
        return LOCAL_MODE
    backend, _ = user_backend(environ)
    return USER_MODE if backend and backend != project_backend(project_dir) else LOCAL_MODE


@dataclass(frozen=True)
class Backend:
    url: str
    source: str  # PULUMI_BACKEND_URL, "pulumi login in <file>", or one of the local defaults


def backend_for(project_dir: Path, stack: str, environ: Mapping[str, str]) -> Backend:
    """The backend the engine will use for `stack` in this environment, and why. A command keeps a
    PULUMI_BACKEND_URL its shell has (the script replaces a user's URL for the throwaway stacks)."""
    own = project_backend(project_dir)
    reason = FROM_THROWAWAY if is_throwaway(stack) else FROM_NOTHING
    if pulumi_mode(project_dir, stack, environ) == LOCAL_MODE:
        url = environ.get("PULUMI_BACKEND_URL") or own
        return Backend(url, reason if url == own else FROM_URL)
    return Backend(*user_backend(environ))


def shown_url(url: str) -> str:
    """A backend URL as it may be printed: a password in it is masked."""
    return re.sub(r"^([a-z0-9+.-]+://[^/@:]*):[^/@]*@", r"\1:***@", url, flags=re.IGNORECASE)


def backend_line(stack: str, backend: Backend) -> str:
    """What a command that reaches state says first, on stderr."""
    return f"stack {stack}: state backend {shown_url(backend.url)} (from {backend.source})"


def azblob_refusal(backend: Backend, environ: Mapping[str, str]) -> ModelstackError | None:
    """An azblob:// backend with no storage account's name anywhere the engine looks for one."""
    if not backend.url.lower().startswith("azblob://"):
        return None
    query = parse_qs(urlsplit(backend.url).query)
    connection = (
        environ.get("AZURE_STORAGE_CONNECTION_STRING") or environ.get("AZURE_STORAGEBLOB_CONNECTIONSTRING") or ""
    )
    if (
        environ.get("AZURE_STORAGE_ACCOUNT")
        or any(query.get("storage_account", []))
        or re.search(r"(^|;)AccountName=[^;]", connection)
    ):
        return None
    return ModelstackError(
        f"the state backend {shown_url(backend.url)} (from {backend.source}) names no storage account",
        key="AZURE_STORAGE_ACCOUNT",
        rule="the engine's azblob:// backend needs the storage account's name (AZURE_STORAGE_ACCOUNT, "
        "storage_account= in the URL, or AccountName in AZURE_STORAGE_CONNECTION_STRING); without it the "
        "engine stops with 'Options.AccountName is required'",
        fix="export AZURE_STORAGE_ACCOUNT=<account> with its credential (AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN "
        "or az login); if that backend is not this project's (a login left by another project), set "
        "PULUMI_BACKEND_URL to this project's backend or run `pulumi logout`",
    )


def stack_file_setting(project_dir: Path, stack: str, name: str) -> str:
    """A top-level `name:` of stacks/Pulumi.<stack>.yaml as a line of text says it (quotes and a
    trailing comment removed), "" without one; read line by line exactly as the shell does."""
    if "/" in stack or stack in ("", ".", ".."):
        return ""
    path = Path(project_dir) / "stacks" / f"Pulumi.{stack}.yaml"
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    for line in text.splitlines():
        if line.startswith(f"{name}:"):
            value = re.sub(r"\s+#.*$", "", line[len(name) + 1 :]).strip()
            return value.strip("'\"")
    return ""


def passphrase_protected(project_dir: Path, stack: str, backend: Backend) -> bool:
    """Whether a passphrase protects the stack's secrets: its `secretsprovider:` is `passphrase`, or
    none is set on a self-managed backend (file, azblob, s3, gs...) or beside an encryptionsalt."""
    provider = stack_file_setting(project_dir, stack, "secretsprovider")
    if provider:
        return provider == "passphrase"
    managed = backend.url.lower().startswith(("https://", "http://"))
    return not managed or bool(stack_file_setting(project_dir, stack, "encryptionsalt"))


def passphrase_file_usable(value: str) -> bool:
    try:
        return bool(Path(value).read_text(errors="replace").strip())
    except OSError:
        return False


def passphrase_refusal(
    project_dir: Path, stack: str, backend: Backend, environ: Mapping[str, str]
) -> ModelstackError | None:
    """The empty passphrase on a stack that is not throwaway (see the module's docstring)."""
    if is_throwaway(stack) or not passphrase_protected(project_dir, stack, backend):
        return None
    rule = (
        "only the throwaway stacks (local, e2e, e2e-*, e2e_*) use the empty passphrase; any other stack whose "
        "secrets a passphrase protects needs a real one, or they are readable by anyone with its stack file or state"
    )
    fix = (
        "export PULUMI_CONFIG_PASSPHRASE_FILE=<a file outside the repository holding the stack's passphrase, "
        "from your team's secret store> (docs/security.md), or move the stack's secrets to a key vault: "
        + KEY_VAULT_FIX.format(stack=stack)
    )
    passphrase = environ.get("PULUMI_CONFIG_PASSPHRASE")
    if passphrase is not None and passphrase == "":
        return ModelstackError(
            f"is set to the empty passphrase for stack {stack} (the engine reads it before PULUMI_CONFIG_PASSPHRASE_FILE)",
            key="PULUMI_CONFIG_PASSPHRASE",
            rule=rule,
            fix="unset PULUMI_CONFIG_PASSPHRASE, then " + fix,
        )
    if passphrase:
        return None
    passphrase_file = environ.get("PULUMI_CONFIG_PASSPHRASE_FILE") or ""
    if passphrase_file and passphrase_file_usable(passphrase_file):
        return None
    if passphrase_file:
        return ModelstackError(
            f"names {passphrase_file}, which is missing, unreadable or empty, so stack {stack} would have no passphrase",
            key="PULUMI_CONFIG_PASSPHRASE_FILE",
            rule=rule,
            fix=fix,
        )
    return ModelstackError(
        f"neither PULUMI_CONFIG_PASSPHRASE nor PULUMI_CONFIG_PASSPHRASE_FILE is set, so stack {stack}'s secrets "
        "would be encrypted with the empty passphrase",
        key="PULUMI_CONFIG_PASSPHRASE",
        rule=rule,
        fix=fix,
    )


@dataclass(frozen=True)
class Decision:
    mode: str  # local or user
    backend: Backend
    refusal: ModelstackError | None
    empty_passphrase: bool  # a throwaway stack in local mode with no passphrase of its own gets ""


def decide(project_dir: Path, stack: str, environ: Mapping[str, str]) -> Decision:
    mode = pulumi_mode(project_dir, stack, environ)
    backend = backend_for(project_dir, stack, environ)
    refusal = azblob_refusal(backend, environ) or passphrase_refusal(project_dir, stack, backend, environ)
    empty = (
        mode == LOCAL_MODE
        and is_throwaway(stack)
        and "PULUMI_CONFIG_PASSPHRASE" not in environ
        and not environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    )
    return Decision(mode, backend, refusal, empty)
