"""`modelstack logs` for an aca service: the app's console lines, queried from the stack's Log
Analytics workspace through a stand-in of Azure Resource Manager on 127.0.0.1 that checks the
path, the API version, the bearer token and the query, as Azure does; Azure's refusals and
malformed answers become errors that name the workspace, the rule and the fix."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from pydantic import SecretStr

from components.errors import ModelstackError
from components.image.registry_auth import AadToken
from components.targets.aca.logs import aca_logs
from components.targets.base import LogsRequest
from components.targets.registry import target

SUBSCRIPTION = "00000000-0000-0000-0000-00000000aaaa"
TOKEN = "aad-token-for-tests"
PATH = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-modelstack-dev/providers/Microsoft.OperationalInsights/workspaces/modelstack-dev-aca-logs/api/query"
QUERY = "ContainerAppConsoleLogs_CL | where ContainerAppName_s == 'modelstack-dev-diabetes' | top 50 by TimeGenerated desc | sort by TimeGenerated asc | project TimeGenerated, Log_s"
RESULT = {
    "tables": [
        {
            "name": "PrimaryResult",
            "columns": [{"name": "TimeGenerated", "type": "datetime"}, {"name": "Log_s", "type": "string"}],
            "rows": [
                ["2026-12-06T08:00:00Z", "init() loaded diabetes-ridge\n"],
                ["2026-12-06T08:00:01Z", "POST /score 200"],
            ],
        }
    ]
}


@pytest.fixture
def arm():
    """A stand-in of ARM's workspace query: answers RESULT to the right request, else what
    `answers` holds for the status (404 by default)."""
    asked: list[dict] = []
    answers: dict = {"status": 404, "body": {"error": {"code": "ResourceNotFound"}}}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            url = urlparse(self.path)
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            asked.append(
                {
                    "path": url.path,
                    "query": parse_qs(url.query),
                    "authorization": self.headers.get("Authorization"),
                    "body": body,
                }
            )
            if answers["status"] is None:  # hang up without an answer
                self.close_connection = True
                return
            found = (
                url.path == PATH
                and self.headers.get("Authorization") == f"Bearer {TOKEN}"
                and body.get("query") == QUERY
            )
            status, document = (
                (200, RESULT) if found and answers["status"] == 404 else (answers["status"], answers["body"])
            )
            payload = document if isinstance(document, bytes) else json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", asked, answers
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def token():
    return AadToken(token=SecretStr(TOKEN), tenant="t", subscription=SUBSCRIPTION)


def read(base: str, workspace: str = "modelstack-dev-aca-logs") -> str:
    return aca_logs(
        "rg-modelstack-dev", workspace, "modelstack-dev-diabetes", tail=50, base_url=base, token_source=token
    )


def test_the_apps_console_lines_are_read_with_the_users_identity(arm):
    base, asked, _ = arm
    assert read(base) == "init() loaded diabetes-ridge\nPOST /score 200"
    assert asked == [
        {
            "path": PATH,
            "query": {"api-version": ["2020-08-01"]},
            "authorization": f"Bearer {TOKEN}",
            "body": {"query": QUERY, "timespan": "P30D"},
        }
    ]


def test_a_missing_workspace_is_named(arm):
    base, _, _ = arm
    with pytest.raises(ModelstackError) as caught:
        read(base, workspace="modelstack-dev-gone")
    assert (
        caught.value.detail
        == "Log Analytics workspace modelstack-dev-gone was not found in resource group rg-modelstack-dev"
    )
    assert caught.value.fix == "pulumi up for the stack (or `az account set` to the stack's subscription)"
    assert TOKEN not in str(caught.value)


def test_a_refusal_names_the_permission(arm):
    base, _, answers = arm
    answers.update(status=403, body={"error": {"code": "AuthorizationFailed"}})
    with pytest.raises(ModelstackError) as caught:
        read(base)
    assert caught.value.detail == "Azure refused to query workspace modelstack-dev-aca-logs: HTTP 403"
    assert "Log Analytics Reader" in (caught.value.fix or "")


def test_an_answer_that_is_no_query_result_is_named(arm):
    base, _, answers = arm
    answers.update(status=200, body=b"<html>proxy error</html>")
    with pytest.raises(ModelstackError) as caught:
        read(base)
    assert caught.value.detail == "the answer of workspace modelstack-dev-aca-logs is not a query result"


def test_a_connection_closed_without_an_answer(arm):
    base, _, answers = arm
    answers.update(status=None)
    with pytest.raises(ModelstackError) as caught:
        read(base)
    assert caught.value.detail == "Azure did not answer: ConnectionError"


def test_the_target_reads_the_stacks_workspace_and_refuses_follow(project, monkeypatch):
    config = project.load("dev")
    spec = config.services["diabetes"].model_copy(update={"target": "aca"})
    calls: list[tuple] = []

    def answer(*args, **kwargs) -> str:
        calls.append((args, kwargs))
        return "a line"

    monkeypatch.setattr("components.targets.aca.logs.aca_logs", answer)
    written: list[str] = []

    def request(follow: bool) -> LogsRequest:
        return LogsRequest(
            project_dir=Path(project.root),
            project=lambda: "modelstack",
            config=config,
            name="diabetes",
            service=spec,
            version=None,
            tail=20,
            follow=follow,
            write=written.append,
            stack_outputs=dict,
            stack_config=str,
        )

    target("aca").show_logs(request(False))
    assert calls == [
        (("rg-modelstack-dev", "modelstack-dev-aca-logs", "modelstack-dev-diabetes"), {"tail": 20})
    ] and written == ["a line"]
    with pytest.raises(ModelstackError) as caught:
        target("aca").show_logs(request(True))
    assert caught.value.key == "--follow" and "az containerapp logs show --follow" in (caught.value.fix or "")
