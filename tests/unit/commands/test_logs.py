"""`modelstack logs` for an ACI service: the container group's log from Azure's REST API, asked of a
stand-in of Azure Resource Manager on 127.0.0.1 that checks the path, the API version and the
bearer token, as Azure does. (The local and Kubernetes targets are shown for real: the e2e local
stack and the cluster tests.)"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from pydantic import SecretStr

from components.errors import ModelstackError
from components.image.registry_auth import AadToken
from components.targets.aci.logs import aci_logs

SUBSCRIPTION = "00000000-0000-0000-0000-00000000aaaa"
TOKEN = "aad-token-for-tests"
PATH = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-modelstack-dev/providers/Microsoft.ContainerInstance/containerGroups/modelstack-dev-diabetes/containers/diabetes/logs"


@pytest.fixture
def arm():
    asked: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # the name http.server dispatches GET requests to
            url = urlparse(self.path)
            asked.append(
                {"path": url.path, "query": parse_qs(url.query), "authorization": self.headers.get("Authorization")}
            )
            found = url.path == PATH and self.headers.get("Authorization") == f"Bearer {TOKEN}"
            body = json.dumps(
                {"content": "line 1\nline 2\n"} if found else {"error": {"code": "ResourceNotFound"}}
            ).encode()
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", asked
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def token():
    return AadToken(token=SecretStr(TOKEN), tenant="t", subscription=SUBSCRIPTION)


def test_the_container_groups_log_is_read_with_the_users_identity(arm):
    base, asked = arm
    assert (
        aci_logs("rg-modelstack-dev", "modelstack-dev-diabetes", "diabetes", tail=50, base_url=base, token_source=token)
        == "line 1\nline 2"
    )
    assert asked == [
        {"path": PATH, "query": {"api-version": ["2023-05-01"], "tail": ["50"]}, "authorization": f"Bearer {TOKEN}"}
    ]


def test_a_missing_group_is_named(arm):
    base, _ = arm
    with pytest.raises(ModelstackError) as caught:
        aci_logs("rg-modelstack-dev", "modelstack-dev-gone", "gone", tail=50, base_url=base, token_source=token)
    assert (
        caught.value.detail == "container group modelstack-dev-gone was not found in resource group rg-modelstack-dev"
    )
    assert TOKEN not in str(caught.value)
