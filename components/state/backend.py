"""Reading and writing the objects of a stack's state backend, where the engine keeps them.

One interface, `StateBackend`, over the two kinds of backend modelstack supports: the local file
backend (`file://DIR`) and Azure Blob Storage (`azblob://CONTAINER[/PREFIX]?...`, a team's storage
account or Azurite, `scripts/azurite.sh`). Keys are the engine's own layout, relative to the
backend's root:

    .pulumi/meta.yaml
    .pulumi/stacks/<project>/<stack>.json                       the stack's checkpoint
    .pulumi/history/<project>/<stack>/<stack>-<n>.history.json  one per update (and .checkpoint.json)
    .pulumi/locks/<org>/<project>/<stack>/<id>.json             a lock (locks.py)

and modelstack's own beside them (`.modelstack/...`: audit lines, plans).

An azblob URL is read as the engine reads it (go-cloud's azureblob opener): the container is the
URL's host, a path is a prefix inside it, and the query may set `localemu`, `domain`, `protocol` and
`storage_account`. The account is `storage_account` or AZURE_STORAGE_ACCOUNT; the credential is the
shared key AZURE_STORAGE_KEY, or else the SAS token AZURE_STORAGE_SAS_TOKEN. Neither is ever
printed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from components.errors import ModelstackError

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

# A read is bounded: a checkpoint of thousands of resources is a few MB; 256 MiB is far beyond any
# real one, and far below what would exhaust the machine.
MAX_OBJECT_BYTES = 256 * 1024 * 1024

SUPPORTED = "file:// (the local file backend) and azblob:// (Azure Blob Storage)"
AZBLOB_QUERY = ("localemu", "domain", "protocol", "storage_account", "cdn")


class StateBackend(Protocol):
    url: str

    def list(self, prefix: str) -> list[str]:
        """The keys under `prefix` (a key prefix, e.g. '.pulumi/locks/'), sorted."""
        ...

    def read(self, key: str) -> bytes:
        """The object's bytes; ModelstackError when it is missing or larger than the bound."""
        ...

    def write(self, key: str, data: bytes) -> None:
        """Create or replace the object, whole."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; one already gone is not an error."""
        ...


def check_key(key: str) -> str:
    """A key is a relative slash path inside the backend, without '.' or '..' parts."""
    parts = key.split("/")
    if not key or key.startswith("/") or "\\" in key or any(part in ("", ".", "..") for part in parts):
        raise ModelstackError(
            f"'{key}' is not an object key of a state backend",
            rule="a key is a relative slash path inside the backend (e.g. .pulumi/stacks/<project>/<stack>.json), without '.' or '..'",
            fix="name the object by its path from the backend's root",
        )
    return key


def too_big(url: str, key: str, size: int, limit: int) -> ModelstackError:
    return ModelstackError(
        f"object {key} in {url} is {size} bytes, above the {limit}-byte bound",
        rule="modelstack reads a state object whole, up to a bound",
        fix="check what wrote this object; the engine's checkpoints are far smaller",
    )


class MissingObject(ModelstackError):
    """The object asked for is not in the backend."""


def missing(url: str, key: str) -> MissingObject:
    return MissingObject(
        f"object {key} is not in {url}",
        rule="only an object the backend holds can be read",
        fix="check the stack name and the backend (PULUMI_BACKEND_URL or `pulumi login`); `modelstack lock status --stack NAME` lists what a stack holds",
    )


# --- the local file backend ---------------------------------------------------------------------


class FileBackend:
    """`file://DIR`: the objects are files under DIR. go-cloud's fileblob keeps each object's
    attributes in a `<key>.attrs` file beside it; those are not objects and are never listed."""

    def __init__(self, url: str, root: Path, *, limit: int = MAX_OBJECT_BYTES):
        self.url = url
        self.root = root
        self.limit = limit

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def list(self, prefix: str) -> list[str]:
        if not self.root.is_dir():
            return []
        # Walk only below the prefix's folder part (the locks of one stack, not the whole state).
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root / folder if folder else self.root
        if not start.is_dir():
            return []
        keys = []
        for directory, _subdirs, files in os.walk(start):
            for name in files:
                if name.endswith(".attrs") or name.startswith(".tmp-"):
                    continue
                key = (Path(directory) / name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def read(self, key: str) -> bytes:
        path = self._path(key)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise missing(self.url, key) from None
        if size > self.limit or not path.is_file():
            raise too_big(self.url, key, size, self.limit)
        with path.open("rb") as handle:
            data = handle.read(self.limit + 1)
        if len(data) > self.limit:
            raise too_big(self.url, key, len(data), self.limit)
        return data

    def write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Whole or not at all: a reader never sees half an object.
        handle, scratch = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(scratch, path)
        except BaseException:
            Path(scratch).unlink(missing_ok=True)
            raise

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


# --- Azure Blob Storage ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AzblobLocation:
    """Where an azblob URL points, as go-cloud's azureblob opener reads it."""

    container: str
    prefix: str  # "" or "sub/dir/"
    account: str
    service_url: str  # e.g. https://ACCOUNT.blob.core.windows.net or http://127.0.0.1:PORT/ACCOUNT


def parse_azblob_url(url: str, environ: Mapping[str, str]) -> AzblobLocation:
    parts = urlsplit(url)
    if not parts.hostname and not parts.netloc:
        raise ModelstackError(
            f"backend URL {redact(url)} names no container",
            key="PULUMI_BACKEND_URL",
            rule="an azblob backend is azblob://CONTAINER[/PREFIX][?domain=...&protocol=...&localemu=true]",
            fix="name the storage container after azblob:// (scripts/azurite.sh env prints a working URL for Azurite)",
        )
    query: dict[str, str] = {}
    for name, values in parse_qs(parts.query, keep_blank_values=True).items():
        if name not in AZBLOB_QUERY:
            raise ModelstackError(
                f"backend URL {redact(url)} has the query parameter '{name}', which the engine does not know",
                key="PULUMI_BACKEND_URL",
                rule=f"an azblob URL's query may set {', '.join(AZBLOB_QUERY)} (go-cloud's azureblob options)",
                fix=f"remove '{name}' from the URL",
            )
        if len(values) > 1:
            raise ModelstackError(
                f"backend URL {redact(url)} sets '{name}' {len(values)} times",
                key="PULUMI_BACKEND_URL",
                rule="each query parameter of an azblob URL is given once",
                fix=f"keep one '{name}='",
            )
        query[name] = values[0]
    account = query.get("storage_account") or environ.get("AZURE_STORAGE_ACCOUNT", "")
    if not account:
        raise ModelstackError(
            f"no storage account for {redact(url)}",
            key="AZURE_STORAGE_ACCOUNT",
            rule="an azblob backend names its storage account in AZURE_STORAGE_ACCOUNT (or the URL's storage_account=)",
            fix='export AZURE_STORAGE_ACCOUNT=<your account> (for Azurite: eval "$(scripts/azurite.sh env)")',
        )
    domain = query.get("domain") or environ.get("AZURE_STORAGE_DOMAIN") or "blob.core.windows.net"
    protocol = query.get("protocol") or environ.get("AZURE_STORAGE_PROTOCOL") or "https"
    if protocol not in ("http", "https"):
        raise ModelstackError(
            f"backend URL {redact(url)} sets protocol={protocol}",
            key="PULUMI_BACKEND_URL",
            rule="the protocol of an azblob backend is http or https",
            fix="use protocol=https (protocol=http only for Azurite on 127.0.0.1)",
        )
    emulator = truthy(query.get("localemu") or environ.get("AZURE_STORAGE_IS_LOCAL_EMULATOR", ""))
    cdn = truthy(query.get("cdn") or environ.get("AZURE_STORAGE_IS_CDN", ""))
    if emulator or domain.startswith(("127.0.0.1", "localhost")):
        service = f"{protocol}://{domain}/{account}"  # path-style, as an emulator serves it
    elif cdn:
        service = f"{protocol}://{domain}"
    else:
        service = f"{protocol}://{account}.{domain}"
    prefix = unquote(parts.path).strip("/")
    return AzblobLocation(
        container=unquote(parts.netloc), prefix=f"{prefix}/" if prefix else "", account=account, service_url=service
    )


def truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "t", "true", "yes")


def redact(url: str) -> str:
    """The URL without a user or password, as the engine shows it."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        netloc = f"****:****@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
        return parts._replace(netloc=netloc).geturl()
    return url


def credential_for(location: AzblobLocation, url: str, environ: Mapping[str, str]):
    """The shared key (AZURE_STORAGE_KEY) or, without it, the SAS token (AZURE_STORAGE_SAS_TOKEN)."""
    key = environ.get("AZURE_STORAGE_KEY", "")
    if key:
        return {"account_name": location.account, "account_key": key}
    sas = environ.get("AZURE_STORAGE_SAS_TOKEN", "")
    if sas:
        return sas.lstrip("?")
    raise ModelstackError(
        f"no credential for {redact(url)}",
        key="AZURE_STORAGE_KEY",
        rule="modelstack reaches an azblob backend with the account's shared key (AZURE_STORAGE_KEY) or a SAS token (AZURE_STORAGE_SAS_TOKEN), as the engine does",
        fix='export AZURE_STORAGE_KEY=<the account key> or AZURE_STORAGE_SAS_TOKEN=<a SAS with read, write, list and delete> (for Azurite: eval "$(scripts/azurite.sh env)")',
    )


def unreachable(url: str, error: Exception) -> ModelstackError:
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

    if isinstance(error, ClientAuthenticationError) or (
        isinstance(error, HttpResponseError) and error.status_code in (401, 403)
    ):
        return ModelstackError(
            f"the storage account refused the credential for {redact(url)} ({type(error).__name__})",
            key="AZURE_STORAGE_KEY",
            rule="the shared key or SAS token must be the account's own and allow read, write, list and delete",
            fix="check AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY (or AZURE_STORAGE_SAS_TOKEN); for Azurite use what `scripts/azurite.sh env` prints",
        )
    code = getattr(error, "error_code", None) or getattr(error, "status_code", None) or type(error).__name__
    if str(code) == "ContainerNotFound":
        return ModelstackError(
            f"the container of {redact(url)} does not exist",
            key="PULUMI_BACKEND_URL",
            rule="the state container exists before the engine or modelstack use it",
            fix="create it (az storage container create --name CONTAINER; scripts/azurite.sh start creates Azurite's)",
        )
    return ModelstackError(
        f"the state backend {redact(url)} did not answer as expected ({code})",
        key="PULUMI_BACKEND_URL",
        rule="modelstack reads and writes the stack's state objects where the engine keeps them",
        fix="check that the storage account answers (for Azurite: scripts/azurite.sh status) and that PULUMI_BACKEND_URL names it",
    )


class AzblobBackend:
    def __init__(self, url: str, location: AzblobLocation, client: ContainerClient, *, limit: int = MAX_OBJECT_BYTES):
        self.url = url
        self.location = location
        self.client = client
        self.limit = limit

    def _name(self, key: str) -> str:
        return self.location.prefix + check_key(key)

    def list(self, prefix: str) -> list[str]:
        from azure.core.exceptions import AzureError

        base = self.location.prefix
        try:
            names = [blob.name for blob in self.client.list_blobs(name_starts_with=base + prefix)]
        except AzureError as error:
            raise unreachable(self.url, error) from None
        return sorted(name[len(base) :] for name in names)

    def read(self, key: str) -> bytes:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        name = self._name(key)
        try:
            download = self.client.download_blob(name)
            if download.size > self.limit:
                raise too_big(self.url, key, download.size, self.limit)
            return download.readall()
        except ResourceNotFoundError as error:
            if getattr(error, "error_code", None) == "ContainerNotFound":
                raise unreachable(self.url, error) from None
            raise missing(self.url, key) from None
        except AzureError as error:
            raise unreachable(self.url, error) from None

    def write(self, key: str, data: bytes) -> None:
        from azure.core.exceptions import AzureError

        try:
            self.client.upload_blob(self._name(key), data, overwrite=True)
        except AzureError as error:
            raise unreachable(self.url, error) from None

    def delete(self, key: str) -> None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            self.client.delete_blob(self._name(key))
        except ResourceNotFoundError as error:
            if getattr(error, "error_code", None) == "ContainerNotFound":
                raise unreachable(self.url, error) from None
        except AzureError as error:
            raise unreachable(self.url, error) from None


def container_client(url: str, environ: Mapping[str, str]) -> tuple[AzblobLocation, ContainerClient]:
    from azure.storage.blob import ContainerClient

    location = parse_azblob_url(url, environ)
    credential = credential_for(location, url, environ)
    # Few, short retries: a backend that does not answer is reported in seconds, not minutes.
    client = ContainerClient(
        location.service_url,
        location.container,
        credential=credential,
        retry_total=2,
        retry_backoff_factor=0.5,
        connection_timeout=10,
        read_timeout=60,
    )
    return location, client


def create_container(url: str, environ: Mapping[str, str]) -> str:
    """Create an azblob backend's container when it does not exist (scripts/azurite.sh start)."""
    from azure.core.exceptions import AzureError, ResourceExistsError

    location, client = container_client(url, environ)
    try:
        client.create_container()
    except ResourceExistsError:
        return f"container {location.container} exists"
    except AzureError as error:
        raise unreachable(url, error) from None
    return f"created container {location.container}"


def open_backend(url: str, environ: Mapping[str, str]) -> StateBackend:
    """The backend PULUMI_BACKEND_URL (or a `pulumi login`) names: file:// or azblob://."""
    scheme = urlsplit(url).scheme if "://" in url else ""
    if scheme == "file":
        path = unquote(url[len("file://") :]).split("?", 1)[0]
        if path.startswith("~"):
            path = str(Path(environ.get("HOME") or "~").expanduser()) + path[1:]
        if not path.startswith("/"):
            raise ModelstackError(
                f"backend URL {url} is not an absolute path",
                key="PULUMI_BACKEND_URL",
                rule="a file backend is file:///absolute/path (or file://~/path)",
                fix="name the state folder by its absolute path",
            )
        return FileBackend(url, Path(path))
    if scheme == "azblob":
        location, client = container_client(url, environ)
        return AzblobBackend(url, location, client)
    shown = scheme or "no scheme"
    extra = (
        " Pulumi Cloud keeps its own locks and history: use `pulumi cancel` and the Pulumi Cloud console there."
        if scheme in ("http", "https")
        else ""
    )
    raise ModelstackError(
        f"backend URL {redact(url)} has {shown}",
        key="PULUMI_BACKEND_URL",
        rule=f"modelstack reads and writes a stack's state objects in {SUPPORTED}.{extra}",
        fix="point PULUMI_BACKEND_URL (or `pulumi login`) at file:///path or azblob://CONTAINER (docs/team.md#backends)",
    )
