"""The logs of a service's pods on a Kubernetes cluster: each pod's lines under a header naming
it, or, with follow, every line prefixed with its pod."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.errors import ModelstackError
from modelstack_server import contract

SCORING_CONTAINER = "scoring"  # the container of a webservice's pods (components.targets.kubernetes.webservice)


# --- Kubernetes ----------------------------------------------------------------------------------
# Every call to the cluster's API server is bounded: a connection within `connect` seconds, no
# read waiting longer than `read`, the whole answer within `total` (a server that trickles a byte
# a second is cut off too), and at most MAX_ANSWER_BYTES of it. Each answer is checked for its
# shape before it is used. Errors name the setting the kubeconfig comes from and how to correct
# it, never the kubeconfig's text (it holds credentials).

MAX_ANSWER_BYTES = 64 * 1024 * 1024
CHUNK_BYTES = 64 * 1024


PATIENCE_ENV = "MODELSTACK_KUBE_TIMEOUT_SECONDS"


@dataclass(frozen=True)
class Patience:
    """Seconds a call to the API server may take (see above)."""

    connect: float = 10.0
    read: float = 30.0
    total: float = 60.0

    @classmethod
    def from_environment(cls) -> Patience:
        """The default, or $MODELSTACK_KUBE_TIMEOUT_SECONDS for the whole answer (a slow link)."""
        given = os.environ.get(PATIENCE_ENV, "").strip()
        if not given:
            return cls()
        try:
            total = float(given)
        except ValueError:
            total = float("nan")
        if not (0 < total <= 3600):
            raise ModelstackError(
                f"{PATIENCE_ENV} is {given!r}",
                key=PATIENCE_ENV,
                rule="the seconds a call to the cluster's API server may take: a number above 0, at most 3600",
                fix=f"unset {PATIENCE_ENV}, or set it to e.g. 120",
            )
        return cls(connect=min(cls.connect, total), read=min(cls.read, total), total=total)


@dataclass(frozen=True)
class KubeconfigSource:
    """A kubeconfig and where it comes from: the setting errors name, how to correct it, and the
    kubectl command that reaches the cluster the same way."""

    text: str
    context: str | None
    key: str | None
    fix: str
    kubectl: str = "kubectl"


def cluster_kubeconfig(
    project_dir: Path, stack: str, name: str, spec, stack_config: Callable[[str], str]
) -> KubeconfigSource:
    """A kubernetes target's kubeconfig and context: its file (read within bounds), or its
    secret from the stack's config (`stack_config(key)` reads a key's value through the engine)."""
    from components.config.schema import config_key

    if spec.kubeconfig_file is not None:
        from components.config.kubernetes_rules import kubeconfig_file_text

        key = config_key("kubernetes_clusters", name, "kubeconfig_file")
        text = kubeconfig_file_text(project_dir, spec, key)
        return KubeconfigSource(
            text,
            spec.context,
            key,
            "point kubeconfig_file at a kubeconfig that reaches the cluster",
            f"kubectl --kubeconfig {spec.kubeconfig_file}",
        )
    key = config_key("kubernetes_clusters", name, "kubeconfig")
    fix = f"pulumi config set --secret --path '{key}' \"$(cat KUBECONFIG)\" --stack {stack}"
    value = stack_config("modelstack:kubernetes_clusters")
    try:
        kubeconfig = json.loads(value)[name]["kubeconfig"]
    except (ValueError, KeyError, TypeError):
        kubeconfig = None
    if not isinstance(kubeconfig, str) or not kubeconfig.strip():
        raise ModelstackError(
            "the stack holds no kubeconfig for this cluster",
            key=key,
            rule="a kubernetes cluster is reached with its kubeconfig",
            fix=fix,
        )
    return KubeconfigSource(kubeconfig, spec.context, key, fix)


def _unusable(source: KubeconfigSource, detail: str) -> ModelstackError:
    return ModelstackError(
        detail, key=source.key, rule="pod logs are read with the cluster's kubeconfig (and its context)", fix=source.fix
    )


def _core_api(source: KubeconfigSource):
    from kubernetes import client, config

    from components.config import reading

    try:
        document = reading.parse_yaml(source.text, "the kubeconfig", rule="a kubeconfig is a YAML mapping")
    except ModelstackError:
        raise _unusable(source, "the kubeconfig is not valid YAML") from None
    if not isinstance(document, dict):
        raise _unusable(source, "the kubeconfig is not a YAML mapping")
    try:
        api_client = config.new_client_from_config_dict(document, context=source.context)
    except Exception as failed:  # its text may hold a token: only the kind of failure is told
        if source.context and "context" in str(failed).lower():
            raise _unusable(source, f"the kubeconfig has no context '{source.context}'") from None
        raise _unusable(source, f"the kubeconfig cannot be used ({type(failed).__name__})") from None
    return client.CoreV1Api(api_client)


PODS = "/api/v1/namespaces/{namespace}/pods"
POD_LOG = "/api/v1/namespaces/{namespace}/pods/{name}/log"


# The Accept header of a pod log request: what the client's own read_namespaced_pod_log sends (its
# select_header_accept picks the JSON entry of the log's media types). The API server answers
# `text/plain` alone with 406 Not Acceptable; the log itself comes back as plain text either way.
LOG_ACCEPT = "application/json"


def _get(
    core, path: str, path_params: dict[str, str], query: list[tuple[str, Any]], accept: str, timeouts: tuple
) -> Callable[[], Any]:
    """A GET of the Kubernetes API, built here (on the calling thread) with the client's own
    serialization and authentication, and sent by the callable returned, whose answer is the
    unread HTTP response (an ApiException for a status other than 2xx).

    The client's API methods run inside pydantic-core's validation, native frames a thread must
    not be ended in: a thread blocked in one (an API server that never answers, a followed log)
    when the interpreter exits aborts the process (SIGABRT). The sending part is plain Python,
    so such a thread can be left behind."""
    from kubernetes.client.exceptions import ApiException

    client = core.api_client
    request = client.param_serialize(
        "GET",
        path,
        path_params=path_params,
        query_params=query,
        header_params={"Accept": accept},
        auth_settings=["BearerToken"],
    )

    def send() -> Any:
        answer = client.call_api(*request, _request_timeout=timeouts)
        if not 200 <= answer.status <= 299:
            answer.read()
            raise ApiException.from_response(http_resp=answer, body=None, data=None)
        return answer.response

    return send


def _unreachable(source: KubeconfigSource, namespace: str, detail: str) -> ModelstackError:
    return ModelstackError(
        detail,
        key=source.key,
        rule="logs are read from the cluster's API server, which answers each call with JSON of the Kubernetes API in bounded time",
        fix=f"check that the kubeconfig's server is the cluster's API server and reachable: {source.kubectl} get pods -n {namespace}",
    )


def _bounded_body(response, patience: Patience, started: float) -> bytes:
    """An answer's body, read a chunk at a time: at most MAX_ANSWER_BYTES, within the deadline."""
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() - started > patience.total:
            raise TimeoutError("the answer took too long")
        chunk = response.read1(CHUNK_BYTES)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise OverflowError(f"the answer is over {MAX_ANSWER_BYTES:,} bytes")
        chunks.append(chunk)


def _call(source: KubeconfigSource, namespace: str, what: str, request: Callable[[], Any], patience: Patience) -> bytes:
    """One call to the API server, bounded as said above. The request runs in a worker thread so
    that a server that trickles its headers cannot hold the command past the deadline either."""
    from kubernetes.client.exceptions import ApiException

    outcome: dict[str, Any] = {}
    started = time.monotonic()

    def work() -> None:
        try:
            response = request()
            try:
                outcome["body"] = _bounded_body(response, patience, started)
            finally:
                response.release_conn()
        except BaseException as failed:  # handed to the caller's thread
            outcome["error"] = failed

    worker = threading.Thread(target=work, name=f"modelstack-logs-{what}", daemon=True)
    worker.start()
    worker.join(patience.total)
    if worker.is_alive() or isinstance(outcome.get("error"), TimeoutError):
        raise _unreachable(
            source, namespace, f"the cluster's API server did not answer {what} within {patience.total:g} s"
        )
    failed = outcome.get("error")
    if isinstance(failed, ApiException):
        raise _unreachable(source, namespace, f"the cluster's API server refused {what}: {_reason(failed)}")
    if isinstance(failed, OverflowError):
        raise _unreachable(
            source, namespace, f"the cluster's API server answered {what} with more than {MAX_ANSWER_BYTES:,} bytes"
        )
    if failed is not None:
        raise _unreachable(
            source, namespace, f"the cluster's API server could not be reached for {what} ({type(failed).__name__})"
        )
    return outcome["body"]


def _pod_names(answer: bytes, source: KubeconfigSource, namespace: str) -> list[str]:
    """The pod names of a PodList, its shape checked."""
    from components.config import reading

    problem = "the cluster's API server answered the pod list with something other than a PodList"
    try:
        document = reading.parse_json(answer.decode("utf-8"), "the pod list", rule="r", fix="f")
    except (ModelstackError, UnicodeDecodeError):
        raise _unreachable(source, namespace, f"{problem} (not JSON)") from None
    items = document.get("items") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise _unreachable(source, namespace, f"{problem} (no list of items)")
    names = []
    for item in items:
        name = (
            (item.get("metadata") or {}).get("name")
            if isinstance(item, dict) and isinstance(item.get("metadata"), (dict, type(None)))
            else None
        )
        if not isinstance(name, str) or not name:
            raise _unreachable(source, namespace, f"{problem} (an item without a name)")
        names.append(name)
    return sorted(names)


def pod_logs(
    source: KubeconfigSource,
    namespace: str,
    service: str,
    *,
    version: str | None,
    tail: int,
    follow: bool,
    write: Callable[[str], None],
    patience: Patience | None = None,
) -> None:
    from components.targets.states import K8S_SERVICE_LABEL

    patience = patience or Patience.from_environment()
    core = _core_api(source)
    timeouts = (patience.connect, patience.read)
    selector = f"{K8S_SERVICE_LABEL}={service}" + (f",{contract.K8S_VERSION_LABEL}={version}" if version else "")
    answer = _call(
        source,
        namespace,
        "the pod list",
        _get(core, PODS, {"namespace": namespace}, [("labelSelector", selector)], "application/json", timeouts),
        patience,
    )
    pods = _pod_names(answer, source, namespace)
    if not pods:
        raise ModelstackError(
            f"no pods of {service}{f' version {version}' if version else ''} in namespace {namespace}",
            rule="a service on Kubernetes runs as the pods of its Deployments",
            fix="check `pulumi up` deployed it, and the service's namespace",
        )
    if not follow:
        for pod in pods:
            write(f"==> pod {pod} <==")
            try:
                text = _call(
                    source,
                    namespace,
                    f"the log of pod {pod}",
                    _get(
                        core,
                        POD_LOG,
                        {"namespace": namespace, "name": pod},
                        [("container", SCORING_CONTAINER), ("tailLines", tail)],
                        LOG_ACCEPT,
                        timeouts,
                    ),
                    patience,
                ).decode("utf-8", errors="replace")
            except ModelstackError as failed:
                text = f"(no log: {failed.detail})"
            if text:
                write(text.rstrip("\n"))
        return
    lock = threading.Lock()
    stopped: dict[str, str] = {}

    def follow_pod(name: str) -> None:
        try:
            _follow(core, name, namespace, tail, patience, lock, write)
        except BaseException as failed:  # told on the main thread, never lost in this one
            stopped[name] = _why(failed)

    threads = [threading.Thread(target=follow_pod, args=(pod,), daemon=True) for pod in pods]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if stopped:
        raise _unreachable(
            source,
            namespace,
            "following stopped: " + "; ".join(f"pod {pod}: {why}" for pod, why in sorted(stopped.items())),
        )


# A followed log may be quiet for long: connecting is bounded as every call is, a wait for the
# next line by this (a connection a proxy dropped without a word does not hold the command for
# ever), and a line by MAX_LINE_BYTES (a longer one is written in pieces), so memory stays bounded.
FOLLOW_QUIET_SECONDS = 24 * 3600
MAX_LINE_BYTES = 64 * 1024


def _follow(core, name: str, namespace: str, tail: int, patience: Patience, lock, write) -> None:
    stream = _get(
        core,
        POD_LOG,
        {"namespace": namespace, "name": name},
        [("container", SCORING_CONTAINER), ("tailLines", tail), ("follow", True)],
        LOG_ACCEPT,
        (patience.connect, FOLLOW_QUIET_SECONDS),
    )()
    try:
        pending = ""
        while chunk := stream.read1(CHUNK_BYTES):  # what has come, not a full chunk: lines as they are logged
            pending += chunk.decode(errors="replace")
            *lines, pending = pending.split("\n")
            while len(pending) > MAX_LINE_BYTES:
                lines.append(pending[:MAX_LINE_BYTES])
                pending = pending[MAX_LINE_BYTES:]
            with lock:
                for line in lines:
                    write(f"[{name}] {line}")
        if pending:
            with lock:
                write(f"[{name}] {pending}")
    finally:
        stream.release_conn()


def _why(failed: BaseException) -> str:
    from kubernetes.client.exceptions import ApiException

    if isinstance(failed, ApiException):
        return f"the API server refused it: {_reason(failed)}"
    text = str(failed)
    if "timed out" in text.lower():
        return f"no line within {FOLLOW_QUIET_SECONDS // 3600} h, or the API server stopped answering"
    return f"the API server could not be read ({type(failed).__name__})"


def _reason(failed: Exception) -> str:
    return f"{getattr(failed, 'status', '')} {getattr(failed, 'reason', '') or type(failed).__name__}".strip()
