"""Prometheus metrics of one replica, served at /metrics (contract.METRICS_ROUTE) with
prometheus_client's text format.

  modelstack_requests_total{route, status_class, version}          counter
  modelstack_request_duration_seconds{route, version}              histogram, whole request
  modelstack_run_duration_seconds{version}                         histogram, run() alone
  modelstack_requests_in_flight{version}                           gauge: received, not yet answered
  modelstack_requests_queued{version}                              gauge: body read, waiting for run()
  modelstack_model_info{model, model_version, version}             gauge, 1 per model the image carries

`route` is one of the server's routes ("/", "/score", "/swagger.json", "/metrics") or "other",
so no client can add label values. `version` is the rollout version this container serves
(Settings.rollout_version). A request passed to a sibling worker (peers.py) is counted once, by
the worker that received it; its run() is timed by the worker that ran it.

With WORKER_COUNT > 1 every worker writes its values to files in PROMETHEUS_MULTIPROC_DIR
(prometheus_client's multiprocess mode, set up by the server before the workers are forked), and
a scrape, whichever worker answers it, reads all of them.
"""

from __future__ import annotations

import os

from .contract import HEALTH_ROUTE, METRICS_ROUTE, SCORE_ROUTE, SWAGGER_ROUTE

MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
ROUTE_LABELS = {route: route for route in (HEALTH_ROUTE, SCORE_ROUTE, SWAGGER_ROUTE, METRICS_ROUTE)}
OTHER_ROUTE = "other"
# Seconds: from a fast script's fraction of a millisecond up to a minute.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Azure ML's layout of AZUREML_MODEL_DIR: <root>/<name>/<version> for one model, the root for several.
MODELS_ROOT_NAME = "azureml-models"


def route_label(path: str) -> str:
    return ROUTE_LABELS.get(path, OTHER_ROUTE)


def status_class(status: int) -> str:
    return f"{status // 100}xx"


def model_versions(model_dir: str | None) -> dict[str, str]:
    """{model name: version} of the models under AZUREML_MODEL_DIR, read from Azure ML's layout:
    one model is <...>/azureml-models/<name>/<version>, several are <name>/<version>/ below the
    root. Another layout names no versions ({})."""
    if not model_dir:
        return {}
    folder = os.path.normpath(model_dir)
    parent = os.path.dirname(folder)
    if os.path.basename(os.path.dirname(parent)) == MODELS_ROOT_NAME:
        return {os.path.basename(parent): os.path.basename(folder)}
    if os.path.basename(folder) != MODELS_ROOT_NAME or not os.path.isdir(folder):
        return {}
    found: dict[str, str] = {}
    for name in sorted(os.listdir(folder)):
        versions = sorted(v for v in _listing(os.path.join(folder, name)) if not v.startswith("."))
        if versions and not name.startswith("."):
            found[name] = ",".join(versions)
    return found


def _listing(path: str) -> list[str]:
    try:
        return [entry for entry in os.listdir(path) if os.path.isdir(os.path.join(path, entry))]
    except OSError:
        return []


class Metrics:
    """The replica's metrics. The labelled series are made once and kept, so a request costs a few
    increments and two histogram observations."""

    def __init__(self, version: str, models: dict[str, str], *, multiprocess_dir: str | None = None):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.version = version
        self.multiprocess_dir = multiprocess_dir
        # In multiprocess mode the values live in files and a scrape collects them into a fresh
        # registry; in process they live in this registry of our own (never the global one).
        registry = None if multiprocess_dir else CollectorRegistry(auto_describe=False)
        self._registry = registry
        self.requests = Counter(
            "modelstack_requests",
            "Requests answered, by route, status class and rollout version",
            ("route", "status_class", "version"),
            registry=registry,
        )
        self.request_duration = Histogram(
            "modelstack_request_duration_seconds",
            "Time from a request's arrival to its answer being sent",
            ("route", "version"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.run_duration = Histogram(
            "modelstack_run_duration_seconds",
            "Time the entry script's run() took",
            ("version",),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "modelstack_requests_in_flight",
            "Requests received and not yet answered",
            ("version",),
            registry=registry,
            multiprocess_mode="livesum",
        ).labels(version)
        self.queued = Gauge(
            "modelstack_requests_queued",
            "Requests whose body is read, waiting for run() to be free",
            ("version",),
            registry=registry,
            multiprocess_mode="livesum",
        ).labels(version)
        model_info = Gauge(
            "modelstack_model_info",
            "The models this replica serves, with their versions (always 1)",
            ("model", "model_version", "version"),
            registry=registry,
            multiprocess_mode="max",
        )
        for name, model_version in models.items():
            model_info.labels(name, model_version, version).set(1)
        self._run = self.run_duration.labels(version)
        self._counted: dict[tuple[str, int], tuple] = {}
        self._waiting = 0  # requests at the scorer: one runs, the others are queued

    def observe(self, path: str, status: int, seconds: float) -> None:
        """One answered request."""
        key = (path, status)
        series = self._counted.get(key)
        if series is None:
            route = route_label(path)
            series = (
                self.requests.labels(route, status_class(status), self.version),
                self.request_duration.labels(route, self.version),
            )
            if len(self._counted) < 1000:  # paths are bounded by route_label; statuses by HTTP
                self._counted[key] = series
        series[0].inc()
        series[1].observe(seconds)

    def observe_run(self, seconds: float) -> None:
        self._run.observe(seconds)

    def waiting_for_run(self, change: int) -> None:
        """A request arrives at the scorer (+1) or leaves it (-1); all but the one running are queued."""
        self._waiting += change
        self.queued.set(max(0, self._waiting - 1))

    def exposition(self) -> tuple[bytes, str]:
        """The text format and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        registry = self._registry
        if registry is None:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=self.multiprocess_dir)
        return generate_latest(registry), CONTENT_TYPE_LATEST


def prepare_multiprocess(environ) -> str | None:
    """Before the workers are forked: a fresh folder for their values (PROMETHEUS_MULTIPROC_DIR),
    which prometheus_client reads when first imported, so it is set before any import of it.
    None when no folder can be made (a read-only root without a writable /tmp): then each worker
    reports its own requests only, which the server logs."""
    import logging
    import tempfile

    try:
        folder = tempfile.mkdtemp(prefix="modelstack-metrics-")
    except OSError as error:
        logging.getLogger("azmlinfsrv").warning(
            f"metrics: no writable temporary folder ({error}); each worker's /metrics reports its own requests only"
        )
        return None
    environ[MULTIPROCESS_DIR_ENV] = folder
    return folder


def worker_exited(pid: int) -> None:
    """A worker that exited no longer counts in the live gauges (in flight, queued)."""
    if os.environ.get(MULTIPROCESS_DIR_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
