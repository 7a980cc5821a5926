"""components/state/backend.py without a storage account: azblob URLs read as the engine reads
them, the file backend's operations, and the refusals a user sees."""

from __future__ import annotations

import pytest

from components.errors import ModelstackError
from components.state.backend import FileBackend, MissingObject, open_backend, parse_azblob_url

KEYED = {"AZURE_STORAGE_ACCOUNT": "devstoreaccount1", "AZURE_STORAGE_KEY": "a2V5"}


@pytest.mark.parametrize(
    ("url", "environ", "container", "prefix", "service"),
    [
        (
            "azblob://modelstack-state?localemu=true&domain=127.0.0.1:41234&protocol=http",
            KEYED,
            "modelstack-state",
            "",
            "http://127.0.0.1:41234/devstoreaccount1",
        ),
        (
            "azblob://state",
            {"AZURE_STORAGE_ACCOUNT": "teamacct"},
            "state",
            "",
            "https://teamacct.blob.core.windows.net",
        ),
        (
            "azblob://state/team/a?storage_account=other",
            {"AZURE_STORAGE_ACCOUNT": "teamacct"},
            "state",
            "team/a/",
            "https://other.blob.core.windows.net",
        ),
        (
            "azblob://state?domain=blob.core.chinacloudapi.cn",
            {"AZURE_STORAGE_ACCOUNT": "acct"},
            "state",
            "",
            "https://acct.blob.core.chinacloudapi.cn",
        ),
        # a domain on localhost is path-style without localemu, as go-cloud does it
        ("azblob://c?domain=localhost:10000&protocol=http", KEYED, "c", "", "http://localhost:10000/devstoreaccount1"),
    ],
)
def test_azblob_urls_are_read_as_the_engine_reads_them(url, environ, container, prefix, service):
    location = parse_azblob_url(url, environ)
    assert (location.container, location.prefix, location.service_url) == (container, prefix, service)


@pytest.mark.parametrize(
    ("url", "environ", "names"),
    [
        ("azblob://state?foo=1", KEYED, ["'foo'", "localemu, domain, protocol"]),
        ("azblob://state?protocol=ftp", KEYED, ["protocol=ftp", "http or https"]),
        ("azblob://state", {}, ["AZURE_STORAGE_ACCOUNT", "scripts/azurite.sh env"]),
        ("azblob://state", {"AZURE_STORAGE_ACCOUNT": "a"}, ["AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN"]),
        ("s3://bucket", {}, ["s3", "file://", "azblob://", "docs/team.md"]),
        ("https://api.pulumi.com", {}, ["https", "pulumi cancel"]),
        ("gs://b", {}, ["gs", "PULUMI_BACKEND_URL"]),
        ("file://relative/path", {}, ["absolute path"]),
    ],
)
def test_a_backend_modelstack_cannot_reach_is_refused_naming_the_rule_and_the_fix(url, environ, names):
    with pytest.raises(ModelstackError) as raised:
        open_backend(url, environ)
    message = str(raised.value)
    assert "Rule:" in message and "Fix:" in message
    for name in names:
        assert name in message, message


def test_a_credential_is_never_in_a_message():
    with pytest.raises(ModelstackError) as raised:
        open_backend("azblob://state?bogus=1", {**KEYED, "AZURE_STORAGE_KEY": "c2VjcmV0LWtleQ=="})
    assert "c2VjcmV0LWtleQ==" not in str(raised.value)


def test_the_file_backend_lists_reads_writes_and_deletes_by_key(tmp_path):
    backend = open_backend(f"file://{tmp_path}", {})
    assert isinstance(backend, FileBackend) and backend.list("") == []
    backend.write(".pulumi/stacks/modelstack/dev.json", b"{}")
    backend.write(".pulumi/locks/organization/modelstack/dev/b.json", b"2")
    backend.write(".pulumi/locks/organization/modelstack/dev/a.json", b"1")
    backend.write(".pulumi/locks/organization/modelstack/dev-2/c.json", b"3")
    (tmp_path / ".pulumi/stacks/modelstack/dev.json.attrs").write_text("{}")  # go-cloud's sidecar: not an object
    assert backend.list(".pulumi/locks/organization/modelstack/dev/") == [
        ".pulumi/locks/organization/modelstack/dev/a.json",
        ".pulumi/locks/organization/modelstack/dev/b.json",
    ]
    assert backend.list(".pulumi/stacks/") == [".pulumi/stacks/modelstack/dev.json"]
    assert backend.read(".pulumi/locks/organization/modelstack/dev/a.json") == b"1"
    backend.write(".pulumi/locks/organization/modelstack/dev/a.json", b"replaced")
    assert backend.read(".pulumi/locks/organization/modelstack/dev/a.json") == b"replaced"
    backend.delete(".pulumi/locks/organization/modelstack/dev/a.json")
    backend.delete(".pulumi/locks/organization/modelstack/dev/a.json")  # gone already: not an error
    with pytest.raises(MissingObject, match="is not in"):
        backend.read(".pulumi/locks/organization/modelstack/dev/a.json")
    assert [p.name for p in (tmp_path / ".pulumi/locks/organization/modelstack/dev").iterdir()] == ["b.json"]


def test_a_read_is_bounded(tmp_path):
    backend = FileBackend(f"file://{tmp_path}", tmp_path, limit=10)
    backend.write("big.json", b"x" * 11)
    with pytest.raises(ModelstackError, match="above the 10-byte bound"):
        backend.read("big.json")


@pytest.mark.parametrize("key", ["../outside", "/etc/passwd", "a/../../b", "", "dir/", "a\\b", "./a"])
def test_a_key_stays_inside_the_backend(tmp_path, key):
    backend = open_backend(f"file://{tmp_path / 'state'}", {})
    with pytest.raises(ModelstackError, match="is not an object key"):
        backend.write(key, b"x")
    assert not (tmp_path / "outside").exists()
