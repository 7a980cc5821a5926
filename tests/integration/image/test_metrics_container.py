"""/metrics of a real container: the diabetes image built from its rendered context, run in
Docker with keys, two workers (so the workers' values are gathered from every process) and a
rollout version in its environment, as a Kubernetes version's pods get them. After known traffic
the counts scraped equal the requests sent, per status class and version; /metrics without a key
is refused; every response names the version. The same in process: tests/server/test_metrics.py."""

from __future__ import annotations

import json
import time
import uuid

import docker.errors
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from components.image.build_context import build_context
from components.image.builder import build
from tests.workspace import REPO, copy_project

SAMPLE = json.loads((REPO / "examples" / "diabetes" / "sample-requests.jsonl").read_text().splitlines()[0])
PRIMARY, SECONDARY = "pk-" + uuid.uuid4().hex, "sk-" + uuid.uuid4().hex
RUN = uuid.uuid4().hex[:6]
VERSION = "green"
SCORED, BAD_INPUT, NO_KEY, WRONG_KEY = 9, 4, 3, 2
SCRAPES = 4


@pytest.fixture(scope="module")
def built(tmp_path_factory, trained_example, docker_client):
    root = copy_project(tmp_path_factory.mktemp("metrics") / "project")
    from components.config.load import load_from_files

    config = load_from_files("local", root)
    context = build_context(root, "diabetes", config.services["diabetes"], config.models)
    repository = f"modelstack-test/metrics-{RUN}"
    build(docker_client, context, repository, REPO / ".modelstack")
    reference = f"{repository}:{context.tag}"
    image_id = docker_client.images.get(reference).id
    yield reference, context.model_versions
    docker_client.images.remove(reference)
    try:
        docker_client.images.remove(image_id)
    except docker.errors.APIError:
        pass


@pytest.fixture
def base(built, docker_client):
    """The base URL of a started, healthy container (port chosen by Docker), removed afterwards."""
    container = docker_client.containers.run(
        built[0],
        detach=True,
        environment={
            "MODELSTACK_AUTH_ENABLED": "true",
            "MODELSTACK_PRIMARY_KEY": PRIMARY,
            "MODELSTACK_SECONDARY_KEY": SECONDARY,
            "MODELSTACK_VERSION": VERSION,
            "WORKER_COUNT": "2",
        },
        ports={"5001/tcp": ("127.0.0.1", None)},
        labels={"modelstack.test": RUN},
    )
    try:
        deadline = time.monotonic() + 90
        url = None
        while time.monotonic() < deadline:
            container.reload()
            assert container.status != "exited", container.logs(tail=30).decode(errors="replace")
            bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get("5001/tcp") or []
            if bindings:
                url = f"http://127.0.0.1:{bindings[0]['HostPort']}"
                try:
                    if requests.get(f"{url}/", timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    pass
            time.sleep(0.25)
        else:
            raise AssertionError(f"not healthy:\n{container.logs(tail=30).decode(errors='replace')}")
        yield url
    finally:
        container.remove(force=True)


def counts(text: str) -> dict[tuple[str, str, str], float]:
    return {
        (s.labels["route"], s.labels["status_class"], s.labels["version"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "modelstack_requests_total"
    }


def test_scraped_counts_equal_the_requests_sent(base, built):
    # Each request on a connection of its own, so the kernel hands them to either worker, and so
    # do the scrapes: whichever worker answers a scrape reports the whole replica.
    session = requests.Session()
    session.headers["Connection"] = "close"
    key = {"Authorization": f"Bearer {PRIMARY}"}
    statuses: list[int] = []
    for _ in range(SCORED):
        statuses.append(session.post(f"{base}/score", json=SAMPLE, headers=key, timeout=30).status_code)
    for _ in range(BAD_INPUT):  # not a JSON dictionary: the schema script's 400
        statuses.append(session.post(f"{base}/score", json=[1, 2], headers=key, timeout=30).status_code)
    for _ in range(NO_KEY):
        statuses.append(session.post(f"{base}/score", json=SAMPLE, timeout=30).status_code)
    for _ in range(WRONG_KEY):
        statuses.append(
            session.post(f"{base}/score", json=SAMPLE, headers={"Authorization": "Bearer no"}, timeout=30).status_code
        )
    assert statuses == [200] * SCORED + [400] * BAD_INPUT + [401] * (NO_KEY + WRONG_KEY)

    refused = session.get(f"{base}/metrics", timeout=30)
    assert refused.status_code == 401, "a request without a key is refused where scoring needs one"
    assert refused.headers["x-modelstack-version"] == VERSION

    for scrape in range(SCRAPES):
        scraped = session.get(f"{base}/metrics", headers={"Authorization": f"Bearer {SECONDARY}"}, timeout=30)
        assert scraped.status_code == 200 and scraped.headers["x-modelstack-version"] == VERSION
        found = counts(scraped.text)
        health = found.pop(("/", "2xx", VERSION), 0)
        assert health >= 1, "the readiness polls were counted"
        expected = {
            ("/score", "2xx", VERSION): SCORED,
            ("/score", "4xx", VERSION): BAD_INPUT + NO_KEY + WRONG_KEY,
            ("/metrics", "4xx", VERSION): 1,
        }
        if scrape:  # the scrapes before this one
            expected[("/metrics", "2xx", VERSION)] = scrape
        assert found == expected, f"scrape {scrape + 1}"
    families = {family.name: family for family in text_string_to_metric_families(scraped.text)}
    runs = {s.name: s.value for s in families["modelstack_run_duration_seconds"].samples if s.name.endswith("_count")}
    assert runs == {"modelstack_run_duration_seconds_count": SCORED}
    (model,) = [(s.labels["model"], s.labels["model_version"]) for s in families["modelstack_model_info"].samples]
    assert model == next(iter(built[1].items()))
    in_flight = [s.value for s in families["modelstack_requests_in_flight"].samples]
    assert in_flight == [1.0], "only the scrape itself"
