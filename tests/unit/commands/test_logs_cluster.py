"""`modelstack logs` for a service on a Kubernetes cluster, against an API server on 127.0.0.1
that misbehaves: it never answers, trickles a byte at a time, answers something other than JSON
or JSON of the wrong shape, or refuses. Each ends in an error naming the kubeconfig's setting and
the fix, within the command's deadline; never a hang or a traceback. A kubeconfig that cannot be
used is named by its own setting (a file is not fixed by `pulumi up`)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading

import pytest

from components.errors import ModelstackError
from components.targets.kubernetes.logs import KubeconfigSource, Patience, pod_logs
from tests.workspace import REPO

POD_LIST = {"kind": "PodList", "apiVersion": "v1", "items": [{"metadata": {"name": "diabetes-abc"}}]}
KEY = "modelstack:kubernetes_clusters.testcluster.kubeconfig_file"
# The deadline the tests give a call (the command's default is a minute); what is asserted is the
# error, not how long it took.
PATIENCE = Patience(connect=2, read=1, total=3)
HOLD_SECONDS = 30  # a misbehaving connection is dropped after this, so no test can hang


class ApiServer:
    """A tiny HTTP server on 127.0.0.1 that answers every request as `mode` says."""

    def __init__(self, mode: str):
        self.mode = mode
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)  # here, not in the thread: the test may close it before the thread runs
        self.port = self.listener.getsockname()[1]
        self.threads: list[threading.Thread] = []
        self.paths: list[str] = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                connection, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            thread = threading.Thread(target=self._answer, args=(connection,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            request = b""
            while b"\r\n\r\n" not in request and len(request) < 65536:
                try:
                    piece = connection.recv(4096)
                except OSError:
                    return
                if not piece:
                    return
                request += piece
            path = request.split(b" ")[1].decode() if b" " in request else "/"
            try:
                if path.split("?")[0].endswith("/log") and b"\r\naccept: text/plain\r\n" in request.lower():
                    # As the real API server answers a pod log asked for as text/plain alone.
                    self._send(connection, "406 Not Acceptable", json.dumps({"kind": "Status", "code": 406}).encode())
                    return
                self._respond(connection, path)
            except OSError:
                return

    def _send(self, connection, status: str, body: bytes, content_type: str = "application/json") -> None:
        connection.sendall(
            f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )

    def _respond(self, connection: socket.socket, path: str) -> None:
        mode = self.mode
        if mode == "silent":
            self.stop.wait(HOLD_SECONDS)
        elif mode == "trickle":
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n")
            for _ in range(HOLD_SECONDS * 5):
                if self.stop.wait(0.2):
                    return
                connection.sendall(b" ")
        elif mode == "trickle headers":
            for _ in range(HOLD_SECONDS * 5):
                if self.stop.wait(0.2):
                    return
                connection.sendall(b"X-Slow: a\r\n" if _ else b"HTTP/1.1 200 OK\r\n")
        elif mode == "not json":
            self._send(connection, "200 OK", b"<html>a login page</html>", "text/html")
        elif mode.startswith("json:"):
            self._send(connection, "200 OK", mode[5:].encode())
        elif mode == "forbidden":
            self._send(connection, "403 Forbidden", json.dumps({"kind": "Status", "code": 403}).encode())
        elif mode in ("follow", "log forbidden") and path.split("?")[0].endswith("/log"):
            self.paths.append(path)
            if mode == "log forbidden":
                self._send(connection, "403 Forbidden", json.dumps({"kind": "Status", "code": 403}).encode())
                return
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            )
            for piece in (b"line 1\n", b"line 2\nline ", b"3 unfinished"):  # as a followed log comes
                connection.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                self.stop.wait(0.05)
            connection.sendall(b"0\r\n\r\n")
        elif mode in ("follow", "log forbidden"):
            self._send(connection, "200 OK", json.dumps(POD_LIST).encode())
        elif mode == "good":
            if path.split("?")[0].endswith("/log"):
                self._send(connection, "200 OK", b"line 1\nline 2\n", "text/plain")
            else:
                self._send(connection, "200 OK", json.dumps(POD_LIST).encode())

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        self.acceptor.join(timeout=10)
        for thread in self.threads:
            thread.join(timeout=10)


@pytest.fixture
def api_server():
    servers: list[ApiServer] = []

    def start(mode: str) -> ApiServer:
        servers.append(ApiServer(mode))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def kubeconfig(port: int) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
            "users": [{"name": "test", "user": {"token": "t0ken-for-tests"}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
        }
    )


def source(text: str, context: str | None = None) -> KubeconfigSource:
    return KubeconfigSource(
        text,
        context,
        KEY,
        "point kubeconfig_file at a kubeconfig that reaches the cluster",
        "kubectl --kubeconfig kube.yaml",
    )


def logs_error(text: str, context: str | None = None) -> ModelstackError:
    with pytest.raises(ModelstackError) as caught:
        pod_logs(
            source(text, context),
            "modelstack-kube",
            "diabetes",
            version=None,
            tail=10,
            follow=False,
            write=lambda line: None,
            patience=PATIENCE,
        )
    return caught.value


def test_a_good_server_gives_the_pods_log(api_server):
    server = api_server("good")
    lines: list[str] = []
    pod_logs(
        source(kubeconfig(server.port)),
        "modelstack-kube",
        "diabetes",
        version=None,
        tail=10,
        follow=False,
        write=lines.append,
        patience=PATIENCE,
    )
    assert lines == ["==> pod diabetes-abc <==", "line 1\nline 2"]


def test_following_gives_each_line_as_it_comes_with_its_pod(api_server):
    """The kubernetes client's own types (CoreV1Api with its validated arguments), against a
    server that streams the log in chunks: every line, the unfinished last one included."""
    server = api_server("follow")
    lines: list[str] = []
    pod_logs(
        source(kubeconfig(server.port)),
        "modelstack-kube",
        "diabetes",
        version=None,
        tail=10,
        follow=True,
        write=lines.append,
        patience=PATIENCE,
    )
    assert lines == ["[diabetes-abc] line 1", "[diabetes-abc] line 2", "[diabetes-abc] line 3 unfinished"]
    assert len(server.paths) == 1 and "follow=true" in server.paths[0] and "container=scoring" in server.paths[0]


def test_following_an_aks_service_goes_the_same_way(project, api_server):
    """AKS reads the kubeconfig from the stack's output, then follows its pods as above."""
    from components.targets import registry
    from components.targets.base import LogsRequest

    server = api_server("follow")
    config = project.load("staging")
    service = config.services["diabetes"]
    assert service.target == "aks"  # not a target: the staging stack's
    lines: list[str] = []
    registry.target(service.target).show_logs(
        LogsRequest(
            project_dir=project.root,
            project=lambda: "modelstack",
            config=config,
            name="diabetes",
            service=service,
            version=None,
            tail=10,
            follow=True,
            write=lines.append,
            stack_outputs=lambda: {"kubeconfigs": {service.compute: kubeconfig(server.port)}},
            stack_config=lambda key: "",
        )
    )
    assert lines == ["[diabetes-abc] line 1", "[diabetes-abc] line 2", "[diabetes-abc] line 3 unfinished"]
    assert (
        "follow=true" in server.paths[0] and "/namespaces/modelstack-staging/pods/diabetes-abc/log" in server.paths[0]
    )


def test_a_followed_log_that_cannot_be_read_is_an_error_not_silence(api_server):
    server = api_server("log forbidden")
    with pytest.raises(ModelstackError) as caught:
        pod_logs(
            source(kubeconfig(server.port)),
            "modelstack-kube",
            "diabetes",
            version=None,
            tail=10,
            follow=True,
            write=lambda line: None,
            patience=PATIENCE,
        )
    assert "following stopped: pod diabetes-abc: the API server refused it: 403" in caught.value.detail
    assert caught.value.key == KEY and "t0ken" not in str(caught.value)


@pytest.mark.parametrize(
    "mode, said",
    [
        ("silent", "the cluster's API server"),
        ("trickle", "did not answer the pod list within 3 s"),
        ("trickle headers", "did not answer the pod list within 3 s"),
        ("not json", "something other than a PodList (not JSON)"),
        ("json:[1, 2]", "something other than a PodList (no list of items)"),
        ('json:{"items": "all"}', "something other than a PodList (no list of items)"),
        ('json:{"items": [{"metadata": {"name": 5}}]}', "something other than a PodList (an item without a name)"),
        ('json:{"items": [7]}', "something other than a PodList (an item without a name)"),
        ("json:" + "[" * 100_000, "(not JSON)"),
        ("forbidden", "refused the pod list: 403"),
    ],
)
def test_a_misbehaving_api_server_is_named_not_waited_for(api_server, mode, said):
    server = api_server(mode)
    error = logs_error(kubeconfig(server.port))
    assert said in error.detail
    assert error.key == KEY
    assert error.fix is not None and "kubectl --kubeconfig kube.yaml get pods -n modelstack-kube" in error.fix
    assert "t0ken" not in str(error)


@pytest.mark.parametrize(
    "text, said",
    [
        ("", "is not a YAML mapping"),
        ("- a\n- b\n", "is not a YAML mapping"),
        ("clusters: [\n", "is not valid YAML"),
        ("apiVersion: v1\nkind: Config\n", "cannot be used"),
    ],
)
def test_a_kubeconfig_that_cannot_be_used_is_named_by_its_setting(text, said):
    error = logs_error(text)
    assert said in error.detail and error.key == KEY
    assert "pulumi up" not in str(error), "a file is not fixed by `pulumi up`"


def test_a_missing_context_is_named(api_server):
    error = logs_error(kubeconfig(api_server("good").port), context="elsewhere")
    assert error.detail == "the kubeconfig has no context 'elsewhere'"


# --- the command, as a user runs it -------------------------------------------------------------------


def run_logs(project, server_port: int | None, env: dict | None = None) -> subprocess.CompletedProcess:
    if server_port is not None:
        (project.root / "kube.yaml").write_text(kubeconfig(server_port))
    project.write_stack(
        "kube",
        {
            "registry": {"kind": "local"},
            "kubernetes_clusters": {"testcluster": {"kubeconfig_file": "kube.yaml", "gateway_class": "traefik"}},
            "services": {
                "diabetes": {"target": "kubernetes", "compute": "testcluster", "deploy": {"num_replicas": 1}},
                "diabetes-multi": None,
            },
        },
    )
    return subprocess.run(
        [sys.executable, "-m", "components.commands.cli", "logs", "diabetes", "--stack", "kube"],
        capture_output=True,
        text=True,
        cwd=project.root,
        timeout=120,
        env={
            "MODELSTACK_PROJECT_DIR": str(project.root),
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(REPO),
            "MODELSTACK_KUBE_TIMEOUT_SECONDS": "3",
            **(env or {}),
        },
    )


@pytest.mark.parametrize(
    "mode, said",
    [
        ("trickle", "did not answer the pod list within 3 s"),
        ("not json", "something other than a PodList"),
        ('json:{"items": [{"metadata": {"name": 5}}]}', "something other than a PodList"),
    ],
)
def test_logs_against_a_misbehaving_server_exits_1_with_the_key(project, api_server, mode, said):
    result = run_logs(project, api_server(mode).port)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert f"{KEY}: " in result.stderr and said in result.stderr


def test_an_api_server_that_never_answers_ends_in_exit_1_every_time_never_an_abort(project, api_server):
    """The call left waiting on the silent server is in a thread the interpreter ends at exit: that
    thread must not be inside the client's native validation frames, or the process aborts (it
    did in about two runs of three, exit -6). Three runs, each exit 1 with the error."""
    for _ in range(3):
        result = run_logs(project, api_server("silent").port)
        assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
        assert f"{KEY}: the cluster's API server did not answer the pod list within 3 s" in result.stderr
        assert "Traceback" not in result.stdout + result.stderr and "Fatal Python error" not in result.stderr


@pytest.mark.parametrize(
    "make, said",
    [
        (lambda root: __import__("os").mkfifo(root / "kube.yaml"), "is a fifo"),
        (lambda root: (root / "kube.yaml").symlink_to("/dev/zero"), "is a device"),
        (lambda root: (root / "kube.yaml").write_bytes(b"\xff\xfe\x00binary"), "is not UTF-8 text"),
    ],
)
def test_logs_with_a_kubeconfig_file_that_is_not_one_exits_1_with_the_key(project, make, said):
    make(project.root)
    result = run_logs(project, None)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert f"{KEY}: " in result.stderr and said in result.stderr
