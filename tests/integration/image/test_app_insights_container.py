"""enable_app_insights for real: a container of a service image sends request telemetry to the
ingestion endpoint its connection string names, here a stand-in listening on 127.0.0.1 that
answers as Application Insights' ingestion does and keeps what it receives. With no connection
string the server imports neither OpenTelemetry nor the exporter, and sends nothing.

The service's entry script reports which telemetry modules its process has loaded, so the test
reads that from the server itself. The container shares the host's network namespace, so both
it and the stand-in are reached on 127.0.0.1 only.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from components.image.build_context import build_context
from components.image.builder import build
from tests.workspace import REPO, copy_project, free_port

PROBE = """import sys


def init():
    pass


def run(data):
    return sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry" or m.startswith("azure.monitor"))
"""
INSTRUMENTATION_KEY = str(uuid.uuid4())


class Ingestion:
    """A stand-in for Application Insights' ingestion endpoint (POST /v2.1/track, JSON envelopes)."""

    def __init__(self):
        self.envelopes: list[dict] = []
        received = self.envelopes

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # http.server's name for the handler
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                items = json.loads(body) if self.path.endswith("/track") else []
                received.extend(items)
                answer = json.dumps({"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def requests(self) -> list[dict]:
        return [e for e in self.envelopes if e.get("name", "").endswith(".Request")]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def image(tmp_path_factory, trained_example, docker_client):
    root = copy_project(tmp_path_factory.mktemp("insights") / "project")
    (root / "examples" / "diabetes" / "src" / "telemetry_probe.py").write_text(PROBE)
    from components.config.load import load_from_files

    config = load_from_files("local", root)
    service = config.services["diabetes"].model_copy(update={"entry_script": "telemetry_probe.py"})
    context = build_context(root, "diabetes", service, config.models)
    repository = f"modelstack-test/insights-{uuid.uuid4().hex[:6]}"
    build(docker_client, context, repository, REPO / ".modelstack")
    yield f"{repository}:{context.tag}"
    docker_client.images.remove(f"{repository}:{context.tag}")


@pytest.fixture
def ingestion():
    stand_in = Ingestion()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def serve(image, docker_client):
    started = []

    def start(environment: dict[str, str]) -> tuple[str, object]:
        port = free_port()
        command = [
            "python",
            "-m",
            "modelstack_server",
            "--entry_script",
            "/var/azureml-app/src/telemetry_probe.py",
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
        ]
        container = docker_client.containers.run(
            image, command=command, detach=True, environment=environment, network_mode="host"
        )
        started.append(container)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/", timeout=1).status_code == 200:
                    return base, container
            except requests.RequestException:
                time.sleep(0.25)
        raise AssertionError(container.logs(tail=30).decode(errors="replace"))

    yield start
    for container in started:
        container.stop(timeout=10)  # the server flushes what is waiting when it stops
        container.remove(force=True)


def test_request_telemetry_reaches_the_ingestion_endpoint(serve, ingestion):
    connection_string = f"InstrumentationKey={INSTRUMENTATION_KEY};IngestionEndpoint=http://127.0.0.1:{ingestion.port}/"
    base, container = serve({"MODELSTACK_APP_INSIGHTS_CONNECTION_STRING": connection_string})
    for _ in range(3):
        answer = requests.post(f"{base}/score", json={"data": []}, timeout=10)
        assert answer.status_code == 200
    assert "azure.monitor.opentelemetry.exporter" in answer.json()
    assert requests.post(f"{base}/nowhere", json={}, timeout=10).status_code == 404
    deadline = time.monotonic() + 30
    while len(ingestion.requests()) < 4 and time.monotonic() < deadline:
        time.sleep(0.5)
    items = ingestion.requests()
    assert len(items) == 4, f"{len(ingestion.envelopes)} envelopes: {[e.get('name') for e in ingestion.envelopes]}"
    assert {item["iKey"] for item in items} == {INSTRUMENTATION_KEY}
    scored = [item["data"]["baseData"] for item in items if item["data"]["baseData"]["url"].endswith("/score")]
    assert [(d["name"], d["responseCode"], d["success"]) for d in scored] == [("POST /score", "200", True)] * 3
    missing = [item["data"]["baseData"] for item in items if item["data"]["baseData"]["url"].endswith("/nowhere")]
    assert [(d["responseCode"], d["success"]) for d in missing] == [("404", False)]
    assert all(d["properties"].get("request.id") for d in scored), "each item carries the request id the client got"
    # the version that answered: without declared versions, the service's name
    assert [d["properties"].get("modelstack.version") for d in scored] == [answer.headers["x-modelstack-version"]] * 3
    assert answer.headers["x-modelstack-version"] == "diabetes"
    assert connection_string not in container.logs().decode(errors="replace")


def test_nothing_is_imported_or_sent_without_a_connection_string(serve, ingestion):
    base, _ = serve({})
    for _ in range(3):
        answer = requests.post(f"{base}/score", json={"data": []}, timeout=10)
        assert answer.status_code == 200
        assert answer.json() == [], "the server loaded telemetry modules"
    time.sleep(5)  # more than twice the exporter's batch delay
    assert ingestion.envelopes == []
