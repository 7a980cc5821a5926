"""Smoke test of the bootstrapped Pulumi engine with a throwaway Python project.

The project lives in tmp_path, uses the repo's virtualenv (`venv/`), has one resource served by a
Python dynamic provider, and keeps its state in a file backend under tmp_path. The sequence is the
everyday one: stack init, up, preview --expect-no-changes, destroy. The provider writes a marker
file on create and removes it on delete, so the test also proves the provider really ran.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.conftest import require

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = REPO_ROOT / ".tools" / "bin"
PULUMI = TOOLS_BIN / "pulumi"
VENV = REPO_ROOT / "venv"
VENV_PYTHON = VENV / "bin" / "python"
ENV_SCRIPT = REPO_ROOT / "scripts" / "pulumi-env.sh"

pytestmark = [pytest.mark.engine]  # needs the engine: tests/e2e/conftest.py requires it

PROGRAM = '''
import os

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider


class MarkerProvider(ResourceProvider):
    """Writes `message` into the file at `path`; deleting the resource removes the file."""

    def create(self, props):
        with open(props["path"], "w", encoding="utf-8") as f:
            f.write(props["message"])
        return CreateResult(id_="marker", outs={**props, "length": len(props["message"])})

    def diff(self, _id, olds, news):
        changed = [k for k in ("path", "message") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=True)

    def read(self, id_, props):
        return ReadResult(id_, props)

    def delete(self, _id, props):
        if os.path.exists(props["path"]):
            os.remove(props["path"])


class Marker(Resource):
    length: pulumi.Output[int]

    def __init__(self, name, path, message, opts=None):
        super().__init__(MarkerProvider(), name, {"path": path, "message": message, "length": None}, opts)


marker = Marker("marker", path=os.environ["SMOKE_MARKER_PATH"], message="hello from modelstack")
pulumi.export("length", marker.length)
'''


def _base_env() -> dict[str, str]:
    """The environment scripts/pulumi-env.sh sets up, as seen by a bash that sourced it."""
    out = subprocess.run(
        ["bash", "-c", f'. "{ENV_SCRIPT}" local && env -0'],
        check=True,
        capture_output=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")},
    ).stdout
    return dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)


def test_pulumi_env_script_settings():
    env = _base_env()
    assert env["PATH"].split(":")[0] == str(TOOLS_BIN)
    assert env["PULUMI_SKIP_UPDATE_CHECK"] == "true"
    assert env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"
    assert env["PULUMI_HOME"] == str(REPO_ROOT / ".modelstack" / "pulumi-home")
    assert env["PULUMI_BACKEND_URL"] == f"file://{REPO_ROOT / '.modelstack' / 'state'}"
    assert env["PULUMI_CONFIG_PASSPHRASE"] == ""


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, dict[str, str], Path]:
    require(VENV_PYTHON.exists(), f"no virtualenv at {VENV}; create it with scripts/setup.sh")
    probe = subprocess.run([VENV_PYTHON, "-c", "import pulumi, dill"], capture_output=True)
    require(probe.returncode == 0, f"the virtualenv at {VENV} lacks the pulumi SDK; run scripts/setup.sh")

    workdir = tmp_path / "project"
    workdir.mkdir()
    (workdir / "Pulumi.yaml").write_text(
        textwrap.dedent(
            f"""\
            name: engine-smoke
            description: throwaway project of tests/e2e/test_engine_smoke.py
            runtime:
              name: python
              options:
                toolchain: pip
                virtualenv: {VENV}
            """
        )
    )
    (workdir / "__main__.py").write_text(PROGRAM)

    marker = tmp_path / "marker.txt"
    env = _base_env()
    env.update(
        PULUMI_HOME=str(tmp_path / "pulumi-home"),
        PULUMI_BACKEND_URL=f"file://{tmp_path / 'state'}",
        PULUMI_CONFIG_PASSPHRASE="",
        SMOKE_MARKER_PATH=str(marker),
    )
    (tmp_path / "state").mkdir()
    return workdir, env, marker


def _pulumi(workdir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PULUMI), *args, "--non-interactive", "--color", "never"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (
        f"{' '.join(result.args)} exited {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )
    return result.stdout


def test_up_preview_destroy_with_a_dynamic_provider(project):
    workdir, env, marker = project

    _ok(_pulumi(workdir, env, "stack", "init", "smoke"))

    up = _ok(_pulumi(workdir, env, "up", "--yes"))
    # The stack itself plus our one resource.
    assert "+ 2 created" in up, up
    assert marker.read_text() == "hello from modelstack"
    length = _ok(_pulumi(workdir, env, "stack", "output", "length", "--json"))
    assert json.loads(length) == len("hello from modelstack")
    state = json.loads(_ok(_pulumi(workdir, env, "stack", "export")))
    dynamic = [r for r in state["deployment"]["resources"] if r["type"] == "pulumi-python:dynamic:Resource"]
    assert len(dynamic) == 1, dynamic

    preview = _ok(_pulumi(workdir, env, "preview", "--expect-no-changes"))
    assert "2 unchanged" in preview, preview

    destroy = _ok(_pulumi(workdir, env, "destroy", "--yes"))
    assert "- 2 deleted" in destroy, destroy
    assert not marker.exists()

    _ok(_pulumi(workdir, env, "stack", "rm", "--yes"))
