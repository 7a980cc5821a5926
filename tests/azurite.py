"""Azurite for the tests: started by scripts/azurite.sh on a free port of 127.0.0.1, with its data,
PID and port files in a folder of the session's own, and stopped by its PID (the script's `stop`)
when the session ends. Missing Azurite skips the tests that need it, or fails them under CI=true.

    from tests.azurite import azurite  # noqa: F401  (the session fixture, in a conftest)

`azurite.container(name)` is a container of the test's own (created empty), and
`azurite.backend(name)` the URL the engine logs in with and the environment it needs for it."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "azurite.sh"
INSTALLED = REPO / ".tools" / "azurite" / "node_modules" / "azurite" / "dist" / "src" / "blob" / "main.js"


@dataclass
class Azurite:
    run_dir: Path
    pid: int
    port: int
    env: dict[str, str]  # AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY (the emulator's public development key)

    def backend(self, container: str) -> str:
        return f"azblob://{container}?localemu=true&domain=127.0.0.1:{self.port}&protocol=http"

    def container(self, name: str) -> tuple[str, dict[str, str]]:
        """A container of the caller's own (created now), its backend URL and the environment for it."""
        from components.state.backend import create_container

        url = self.backend(name)
        create_container(url, self.env)
        return url, {**self.env, "PULUMI_BACKEND_URL": url}


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def parse_exports(text: str) -> dict[str, str]:
    """`export NAME='value'` lines, as `scripts/azurite.sh env` prints them."""
    found = {}
    for line in text.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, value = words[1].split("=", 1)
            found[name] = value
    return found


@pytest.fixture(scope="session")
def azurite(tmp_path_factory) -> Iterator[Azurite]:
    require(
        INSTALLED.is_file(),
        f"Azurite is not installed ({INSTALLED}): run scripts/azurite.sh install (or scripts/setup.sh)",
    )
    run_dir = tmp_path_factory.mktemp("azurite")
    env = {**os.environ, "MODELSTACK_AZURITE_DIR": str(run_dir)}

    def script(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(SCRIPT), *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=180, check=False
        )

    started = script("start")
    assert started.returncode == 0, f"scripts/azurite.sh start failed:\n{started.stderr[-3000:]}"
    pid = int((run_dir / "azurite.pid").read_text())
    assert script("status").returncode == 0 and script("start").returncode == 0  # running: a second start only checks
    assert int((run_dir / "azurite.pid").read_text()) == pid
    try:
        exports = parse_exports(script("env").stdout)
        port = int((run_dir / "azurite.port").read_text())
        assert (
            exports["PULUMI_BACKEND_URL"]
            == f"azblob://modelstack-state?localemu=true&domain=127.0.0.1:{port}&protocol=http"
        )
        yield Azurite(
            run_dir=run_dir,
            pid=pid,
            port=port,
            env={name: exports[name] for name in ("AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY")},
        )
    finally:
        stopped = script("stop")
        assert stopped.returncode == 0 and not alive(pid), f"Azurite (pid {pid}) did not stop:\n{stopped.stderr}"
        assert script("status").returncode == 3
