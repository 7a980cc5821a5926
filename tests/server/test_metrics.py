"""The scoring server's Prometheus metrics and the version it names, in process: the ASGI app
driven directly with known traffic, /metrics read back with prometheus_client's own parser.
Counts are exact; durations are only placed in buckets a sleep cannot miss (a sleep is never
shorter than asked). The same against a real container: tests/integration/image/test_metrics_container.py."""

from __future__ import annotations

import asyncio
import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelstack_server import log_capture
from modelstack_server.app import ScoringApp
from modelstack_server.entry_script import load
from modelstack_server.metrics import Metrics, model_versions
from modelstack_server.peers import FORWARDED_SCOPE_KEY
from modelstack_server.settings import Settings, SettingsError

PRIMARY, SECONDARY = "primary-key-0123", "secondary-key-4567"
WAIT_SECONDS = 20  # only stops a hang
SCRIPT = """
import json, threading, time
release = threading.Event()
def init():
    pass
def run(data):
    if data == '"fail"':
        raise ValueError("asked to fail")
    if data == '"slow"':
        time.sleep(0.03)
    if data == '"block"':
        release.wait(20)
    return data
"""


@pytest.fixture
def script_file(tmp_path):
    path = tmp_path / "score.py"
    path.write_text(SCRIPT)
    return path


def make_app(script_file, **environ) -> ScoringApp:
    settings = Settings.from_environ({"AZUREML_ENTRY_SCRIPT": str(script_file), **environ})
    return ScoringApp(settings, load(settings.entry_script, settings.app_root))


def drive(app: ScoringApp, scenario):
    """scenario(app) on a loop of its own; the app's scoring thread stopped before the loop closes."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(scenario(app))
    finally:
        try:
            assert loop.run_until_complete(app.scorer.aclose(timeout_seconds=10))
        finally:
            loop.close()


async def call(app, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None, scope_extra=None):
    scope = {
        "type": "http",
        "http_version": "1.1",
        "scheme": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()],
        **(scope_extra or {}),
    }
    delivered = False

    async def receive():
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(WAIT_SECONDS)
        return {"type": "http.disconnect"}

    answer: dict = {"body": b""}

    async def send(event):
        if event["type"] == "http.response.start":
            answer["status"] = event["status"]
            answer["headers"] = [(n.decode().lower(), v.decode()) for n, v in event["headers"]]
        else:
            answer["body"] += event.get("body", b"")

    await app(scope, receive, send)
    return answer


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """{(sample name, labels): value} of an exposition."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(parsed, name: str, **labels) -> float | None:
    return parsed.get((name, frozenset(labels.items())))


async def scrape(app, **headers) -> dict:
    answer = await call(app, "GET", "/metrics", headers=headers)
    assert answer["status"] == 200, answer
    return samples(answer["body"].decode())


# --- counts per route, status class and version ----------------------------------------------


def test_requests_are_counted_per_route_status_class_and_version(script_file):
    app = make_app(script_file, SERVICE_NAME="diabetes", MODELSTACK_VERSION="green")

    async def scenario(app):
        for _ in range(3):
            assert (await call(app, "POST", "/score", b'"x"'))["status"] == 200
        assert (await call(app, "POST", "/score", b'"fail"'))["status"] == 500
        assert (await call(app, "POST", "/score", b"\xff"))["status"] == 400  # not UTF-8
        assert (await call(app, "GET", "/"))["status"] == 200
        assert (await call(app, "GET", "/"))["status"] == 200
        assert (await call(app, "GET", "/nowhere"))["status"] == 404
        assert (await call(app, "GET", "//score"))["status"] == 200  # /score, as azmlinfsrv routes it
        return await scrape(app)

    parsed = drive(app, scenario)
    counted = {
        (dict(labels)["route"], dict(labels)["status_class"], dict(labels)["version"]): count
        for (name, labels), count in parsed.items()
        if name == "modelstack_requests_total"
    }
    # the scrape that reads them is answered after they are collected: not counted in its own answer
    assert counted == {
        ("/score", "2xx", "green"): 4,
        ("/score", "5xx", "green"): 1,
        ("/score", "4xx", "green"): 1,
        ("/", "2xx", "green"): 2,
        ("other", "4xx", "green"): 1,
    }
    assert value(parsed, "modelstack_request_duration_seconds_count", route="/score", version="green") == 6
    assert value(parsed, "modelstack_request_duration_seconds_count", route="/", version="green") == 2
    # run() is timed for the calls that returned: 4 (the one that raised and the 400 are not)
    assert value(parsed, "modelstack_run_duration_seconds_count", version="green") == 4


def test_a_scrape_is_counted_by_the_next_one(script_file):
    app = make_app(script_file)

    async def scenario(app):
        await scrape(app)
        await scrape(app)
        return await scrape(app)

    parsed = drive(app, scenario)
    assert value(parsed, "modelstack_requests_total", route="/metrics", status_class="2xx", version="default") == 2


def test_histogram_buckets_place_each_duration(script_file):
    app = make_app(script_file, MODELSTACK_VERSION="v1")

    async def scenario(app):
        assert (await call(app, "POST", "/score", b'"slow"'))["status"] == 200  # run() sleeps 30 ms
        return await scrape(app)

    parsed = drive(app, scenario)
    run_bucket = {
        dict(labels)["le"]: count
        for (name, labels), count in parsed.items()
        if name == "modelstack_run_duration_seconds_bucket"
    }
    assert run_bucket["0.025"] == 0 and run_bucket["0.05"] <= 1 and run_bucket["+Inf"] == 1
    assert value(parsed, "modelstack_request_duration_seconds_bucket", route="/score", version="v1", le="0.025") == 0, (
        "the whole request took at least its run()"
    )
    assert value(parsed, "modelstack_request_duration_seconds_bucket", route="/score", version="v1", le="+Inf") == 1
    assert (value(parsed, "modelstack_run_duration_seconds_sum", version="v1") or 0) >= 0.03


def test_the_buckets_of_known_durations_are_exact():
    metrics = Metrics("v1", {})
    for seconds in (0.0001, 0.003, 0.003, 0.2, 7.0, 100.0):
        metrics.observe("/score", 200, seconds)
    metrics.observe_run(0.0007)
    parsed = samples(metrics.exposition()[0].decode())
    buckets = {
        dict(labels)["le"]: count
        for (name, labels), count in parsed.items()
        if name == "modelstack_request_duration_seconds_bucket"
    }
    cumulative = {"0.0005": 1, "0.001": 1, "0.0025": 1, "0.005": 3, "0.1": 3, "0.25": 4, "5.0": 4, "10.0": 5}
    assert {le: buckets[le] for le in cumulative} == cumulative
    assert (buckets["60.0"], buckets["+Inf"]) == (5, 6)
    assert value(parsed, "modelstack_run_duration_seconds_bucket", version="v1", le="0.0005") == 0
    assert value(parsed, "modelstack_run_duration_seconds_bucket", version="v1", le="0.001") == 1


# --- in flight and queued ----------------------------------------------------------------------


def test_requests_in_flight_and_queued(script_file):
    app = make_app(script_file, MODELSTACK_VERSION="v2")
    release: threading.Event = app.script.module.release  # type: ignore[union-attr]

    async def scenario(app):
        first = asyncio.ensure_future(call(app, "POST", "/score", b'"block"'))
        others = [asyncio.ensure_future(call(app, "POST", "/score", b'"x"')) for _ in range(2)]
        for _ in range(WAIT_SECONDS * 100):  # until both others wait for run()
            await asyncio.sleep(0.01)
            if app.metrics is not None and app.metrics._waiting == 3:
                break
        busy = await scrape(app)
        release.set()
        answers = [await first] + [await other for other in others]
        idle = await scrape(app)
        return busy, idle, answers

    busy, idle, answers = drive(app, scenario)
    assert [a["status"] for a in answers] == [200, 200, 200]
    # in flight: the three scoring requests and the scrape itself
    assert value(busy, "modelstack_requests_in_flight", version="v2") == 4
    assert value(busy, "modelstack_requests_queued", version="v2") == 2
    assert value(idle, "modelstack_requests_in_flight", version="v2") == 1
    assert value(idle, "modelstack_requests_queued", version="v2") == 0


# --- the models and the version ----------------------------------------------------------------


def test_the_model_versions_come_from_azure_mls_layout(tmp_path):
    root = tmp_path / "var" / "azureml-app" / "azureml-models"
    for name, version in (("diabetes-ridge", "3f2a"), ("diabetes-lasso", "9c1d")):
        (root / name / version).mkdir(parents=True)
    assert model_versions(str(root / "diabetes-ridge" / "3f2a")) == {"diabetes-ridge": "3f2a"}
    assert model_versions(str(root)) == {"diabetes-lasso": "9c1d", "diabetes-ridge": "3f2a"}
    assert model_versions(str(tmp_path)) == {}
    assert model_versions(None) == {}


def test_the_loaded_models_are_a_metric(script_file, tmp_path):
    one = tmp_path / "azureml-models" / "diabetes-ridge" / "3f2a"
    one.mkdir(parents=True)
    app = make_app(script_file, AZUREML_MODEL_DIR=str(one), MODELSTACK_VERSION="blue")
    parsed = drive(app, scrape)
    assert value(parsed, "modelstack_model_info", model="diabetes-ridge", model_version="3f2a", version="blue") == 1


@pytest.mark.parametrize(
    "environ, version",
    [
        ({"MODELSTACK_VERSION": "green", "SERVICE_NAME": "diabetes"}, "green"),
        ({"SERVICE_NAME": "diabetes"}, "diabetes"),
        ({"SERVICE_NAME": "ML service"}, "ML-service"),
        ({}, "default"),
    ],
)
def test_every_response_names_the_version(script_file, environ, version):
    app = make_app(script_file, MODELSTACK_AUTH_ENABLED="true", MODELSTACK_PRIMARY_KEY=PRIMARY, **environ)

    async def scenario(app):
        return [
            await call(app, "POST", "/score", b'"x"', {"Authorization": f"Bearer {PRIMARY}"}),
            await call(app, "POST", "/score", b'"x"'),  # refused: 401
            await call(app, "GET", "/"),
            await call(app, "GET", "/nowhere", headers={"Authorization": f"Bearer {PRIMARY}"}),
            await call(app, "GET", "/metrics", headers={"Authorization": f"Bearer {PRIMARY}"}),
        ]

    answers = drive(app, scenario)
    assert [a["status"] for a in answers] == [200, 401, 200, 404, 200]
    for answer in answers:
        assert [v for n, v in answer["headers"] if n == "x-modelstack-version"] == [version]


def test_a_version_a_header_cannot_carry_is_refused(script_file):
    with pytest.raises(SettingsError, match="MODELSTACK_VERSION is 'a b'"):
        Settings.from_environ({"AZUREML_ENTRY_SCRIPT": str(script_file), "MODELSTACK_VERSION": "a b"})


def test_the_access_line_and_telemetry_name_the_version(script_file, monkeypatch):
    lines: list[str] = []
    monkeypatch.setattr(log_capture, "access_line", lines.append)
    records: list[dict] = []

    class Telemetry:
        def record(self, **fields):
            records.append(fields)

    app = make_app(script_file, MODELSTACK_VERSION="green")
    app.telemetry = Telemetry()

    async def scenario(app):
        await call(app, "POST", "/score", b'"x"')

    drive(app, scenario)
    assert len(lines) == 1 and lines[0].startswith("POST /score 200 ") and lines[0].endswith(" 7 green")
    assert [(r["path"], r["status"], r["version"]) for r in records] == [("/score", 200, "green")]


def test_a_request_a_sibling_passed_on_is_counted_where_it_arrived(script_file):
    app = make_app(script_file, MODELSTACK_VERSION="v1")

    async def scenario(app):
        passed = await call(app, "POST", "/score", b'"x"', scope_extra={FORWARDED_SCOPE_KEY: True})
        return passed, await scrape(app)

    passed, parsed = drive(app, scenario)
    assert passed["status"] == 200
    assert not [n for n, _ in passed["headers"] if n == "x-modelstack-version"], "the relaying worker adds it"
    assert value(parsed, "modelstack_requests_total", route="/score", status_class="2xx", version="v1") is None
    assert value(parsed, "modelstack_run_duration_seconds_count", version="v1") == 1, "its run() ran here"


# --- who may read /metrics -----------------------------------------------------------------------


KEY_AUTH = {"MODELSTACK_AUTH_ENABLED": "true", "MODELSTACK_PRIMARY_KEY": PRIMARY, "MODELSTACK_SECONDARY_KEY": SECONDARY}


def test_metrics_need_the_key_scoring_needs(script_file):
    app = make_app(script_file, **KEY_AUTH)

    async def scenario(app):
        return [
            (await call(app, "GET", "/metrics"))["status"],
            (await call(app, "GET", "/metrics", headers={"Authorization": "Bearer wrong"}))["status"],
            (await call(app, "GET", "/metrics", headers={"Authorization": f"Bearer {SECONDARY}"}))["status"],
        ]

    assert drive(app, scenario) == [401, 401, 200]


def test_metrics_need_a_token_where_scoring_does(script_file):
    app = make_app(
        script_file,
        MODELSTACK_TOKEN_AUTH_ENABLED="true",
        MODELSTACK_TOKEN_SIGNING_KEY="k" * 64,
        MODELSTACK_TOKEN_AUDIENCE="diabetes",
    )

    async def scenario(app):
        return (await call(app, "GET", "/metrics"))["status"]

    assert drive(app, scenario) == 401


def test_metrics_auth_false_opens_metrics_and_only_metrics(script_file):
    app = make_app(script_file, MODELSTACK_METRICS_AUTH="false", **KEY_AUTH)

    async def scenario(app):
        return [
            (await call(app, "GET", "/metrics"))["status"],
            (await call(app, "POST", "/score", b'"x"'))["status"],
            (await call(app, "GET", "/swagger.json"))["status"],
        ]

    assert drive(app, scenario) == [200, 401, 401]


def test_metrics_are_open_where_scoring_is(script_file):
    app = make_app(script_file)
    answer = drive(app, lambda app: call(app, "GET", "/metrics"))
    assert answer["status"] == 200
    assert dict(answer["headers"])["content-type"].startswith("text/plain; version=")


def test_metrics_turned_off_are_not_served(script_file):
    app = make_app(script_file, MODELSTACK_METRICS_ENABLED="false")
    assert app.metrics is None
    assert drive(app, lambda app: call(app, "GET", "/metrics"))["status"] == 404


def test_only_get_and_head_read_metrics(script_file):
    app = make_app(script_file)

    async def scenario(app):
        return await call(app, "POST", "/metrics"), await call(app, "HEAD", "/metrics")

    post, head = drive(app, scenario)
    assert (post["status"], head["status"], head["body"]) == (405, 200, b"")


# --- several workers: one replica's values, whichever worker is scraped ----------------------------

WORKERS_SCRIPT = """
import os, sys
from modelstack_server.metrics import Metrics, prepare_multiprocess, worker_exited

folder = prepare_multiprocess(os.environ)  # as the server does before forking its workers
pids = []
for scored, in_flight in ((3, 1), (5, 1)):
    pid = os.fork()
    if pid == 0:
        metrics = Metrics("v1", {"diabetes-ridge": "3f2a"}, multiprocess_dir=folder)
        for _ in range(scored):
            metrics.observe("/score", 200, 0.002)
            metrics.observe_run(0.001)
        metrics.observe("/score", 401, 0.0001)
        for _ in range(in_flight):
            metrics.in_flight.inc()  # still in flight when the worker exits
        os._exit(0)
    os.waitpid(pid, 0)
    pids.append(pid)
worker_exited(pids[1])  # the second worker died: its requests in flight are gone, its counts stay
scraper = Metrics("v1", {"diabetes-ridge": "3f2a"}, multiprocess_dir=folder)
sys.stdout.write(scraper.exposition()[0].decode())
"""


def test_the_workers_values_are_gathered_into_one_replicas(tmp_path):
    import os
    import subprocess
    import sys

    from tests.workspace import REPO

    environ = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    environ.update(PYTHONPATH=str(REPO), TMPDIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", WORKERS_SCRIPT], env=environ, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    parsed = samples(done.stdout)
    assert value(parsed, "modelstack_requests_total", route="/score", status_class="2xx", version="v1") == 8
    assert value(parsed, "modelstack_requests_total", route="/score", status_class="4xx", version="v1") == 2
    assert value(parsed, "modelstack_run_duration_seconds_count", version="v1") == 8
    assert value(parsed, "modelstack_requests_in_flight", version="v1") == 1
    assert value(parsed, "modelstack_model_info", model="diabetes-ridge", model_version="3f2a", version="v1") == 1
