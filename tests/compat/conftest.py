"""Fixtures of the compat suite: the serving environment and real server processes on 127.0.0.1.

Both servers run in one Python environment built as an image has it
(tests/compat/requirements-serving.txt: the example's pins, azmlinfsrv and modelstack_server's
requirements), kept under .modelstack/compat-venv and rebuilt when that file changes. It is
not the project's venv: azmlinfsrv pins pydantic and OpenTelemetry versions the Pulumi SDK's
pins exclude.

Every server is a host process in its own process group, on a port the kernel picked, stopped
by its PID (SIGTERM to its group, SIGKILL after 10 s); each wait is bounded.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import pytest
import requests

from tests.workspace import free_port

REPO = Path(__file__).resolve().parents[2]
COMPAT = Path(__file__).resolve().parent
SCRIPTS = COMPAT / "entry_scripts"
# The folder holding the modelstack_server package under test; another revision's copy can be
# given, to show that a new test fails on the code before a fix.
SERVER_PACKAGE_PARENT = Path(os.environ.get("MODELSTACK_COMPAT_SERVER_PARENT") or REPO)
SERVING_REQUIREMENTS = COMPAT / "requirements-serving.txt"
SERVING_VENV = REPO / ".modelstack" / "compat-venv"
START_TIMEOUT_SECONDS = 60


def _requirements_digest() -> str:
    digest = hashlib.sha256()
    for path in (
        SERVING_REQUIREMENTS,
        REPO / "modelstack_server/requirements.txt",
        REPO / "examples/diabetes/requirements.txt",
    ):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def serving_python() -> Path:
    """The serving environment's interpreter, built (once per requirements change) if missing."""
    python = SERVING_VENV / "bin" / "python"
    stamp = SERVING_VENV / ".requirements.sha256"
    wanted = _requirements_digest()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    if not python.exists():
        subprocess.run(["python3", "-m", "venv", str(SERVING_VENV)], check=True, timeout=300)
    subprocess.run(
        [
            str(SERVING_VENV / "bin" / "pip"),
            "install",
            "--disable-pip-version-check",
            "--quiet",
            "-r",
            str(SERVING_REQUIREMENTS),
        ],
        check=True,
        timeout=900,
    )
    stamp.write_text(wanted)
    return python


@pytest.fixture(scope="session")
def python() -> Path:
    return serving_python()


@dataclass
class Server:
    kind: str
    process: subprocess.Popen
    port: int
    log_path: Path
    base: str = field(init=False)

    def __post_init__(self):
        self.base = f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def launch(
    python: Path,
    kind: str,
    script: Path,
    tmp: Path,
    environment: dict[str, str] | None = None,
    app_root: Path = SCRIPTS,
) -> Server:
    """Start azmlinfsrv ("azmlinfsrv") or ours ("modelstack") on the script; not yet waited for."""
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp),
        "AML_APP_ROOT": str(app_root),
        "PYTHONDONTWRITEBYTECODE": "1",
        "GUNICORN_CMD_ARGS": "--no-control-socket",
        **(environment or {}),
    }
    if kind == "azmlinfsrv":
        command = [
            str(python),
            "-m",
            "azureml_inference_server_http.amlserver",
            "--entry_script",
            str(script),
            "--port",
            str(port),
        ]
    else:
        env["PYTHONPATH"] = str(SERVER_PACKAGE_PARENT)
        command = [
            str(python),
            "-m",
            "modelstack_server",
            "--entry_script",
            str(script),
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
        ]
    log_path = tmp / f"{kind}-{script.stem}-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=str(app_root), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Server(kind, process, port, log_path)


def wait_healthy(server: Server, timeout: float = START_TIMEOUT_SECONDS) -> bool:
    """True once GET / answers 200; False if the process exited first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            if requests.get(server.base + "/", timeout=1).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{server.kind} did not become healthy in {timeout} s:\n{server.log()[-3000:]}")


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """A joblib-saved model (plain numpy weights) for numpy_joblib_schema.py."""
    folder = tmp_path_factory.mktemp("model")
    joblib.dump({"weights": np.array([1.0, 2.0, 0.5]), "bias": 0.25}, folder / "weights.joblib")
    return folder


# modelstack's server calls run() on a thread of its own until calls have been fast for a while,
# then on the event loop's thread (modelstack_server/scoring.py): every comparison runs in both.
RUN_MODES = {
    "run-on-thread": {},
    "run-inline": {"MODELSTACK_INLINE_AFTER_CALLS": "1"},
}  # inline from the second fast call


@pytest.fixture(params=list(RUN_MODES))
def servers(request, python, tmp_path):
    """servers(script, env, kinds) -> {kind: Server}, all started together and stopped after the test."""
    started: list[Server] = []

    def start(
        script: str,
        environment: dict[str, str] | None = None,
        kinds=("azmlinfsrv", "modelstack"),
        app_root: Path = SCRIPTS,
        expect_healthy: bool = True,
    ):
        launched = {
            kind: launch(
                python,
                kind,
                SCRIPTS / script,
                tmp_path,
                {**(RUN_MODES[request.param] if kind == "modelstack" else {}), **(environment or {})},
                app_root,
            )
            for kind in kinds
        }
        started.extend(launched.values())
        for server in launched.values():
            healthy = wait_healthy(server)
            if expect_healthy:
                assert healthy, f"{server.kind} exited with {server.process.returncode}:\n{server.log()[-3000:]}"
        return launched

    yield start
    for server in started:
        server.stop()
