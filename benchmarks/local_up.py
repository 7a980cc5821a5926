"""Benchmark: `pulumi up` of the local stack from nothing to Healthy, through the real engine.

    venv/bin/python benchmarks/local_up.py [--clean-build]

Runs in a copy of the project as a fresh stack with its own registry and ports (a running local
stack is left alone), then destroys it. "From nothing" means no stack, an empty registry and no
service image; the wheelhouse is already downloaded, and Docker's layer cache is warm unless
--clean-build (MODELSTACK_NO_CACHE=1), which builds every layer again as a first build does.
Needs the engine (scripts/bootstrap-pulumi.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean-build", action="store_true", help="build without Docker's layer cache")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="modelstack-up-"))
    root = home / "project"
    root.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(REPO / name, root / name)
    for name in ("components", "templates", "stacks", "examples"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "venv").symlink_to(REPO / "venv")
    (root / ".modelstack").mkdir()
    (root / ".modelstack" / "wheelhouse").symlink_to(REPO / ".modelstack" / "wheelhouse")
    stack = yaml.safe_load((REPO / "stacks" / "Pulumi.local.yaml").read_text())
    stack.pop("encryptionsalt", None)
    stack["config"]["modelstack:registry"]["port"] = free_port()
    stack["config"]["modelstack:services"]["diabetes"]["deploy"]["port"] = free_port()
    (root / "stacks" / "Pulumi.bench.yaml").write_text(yaml.safe_dump(stack, sort_keys=False))
    env = {
        **os.environ,
        "PATH": f"{REPO / '.tools' / 'bin'}:{os.environ.get('PATH', '')}",
        "PULUMI_HOME": str(home / "pulumi-home"),
        "PULUMI_BACKEND_URL": f"file://{home / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": "",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }
    if args.clean_build:
        env["MODELSTACK_NO_CACHE"] = "1"
    (home / "state").mkdir()

    def pulumi(*words: str) -> subprocess.CompletedProcess:
        return subprocess.run(["pulumi", *words, "--stack", "bench", "--non-interactive"], cwd=root, env=env, capture_output=True, text=True, check=True)

    try:
        pulumi("stack", "init")
        started = time.monotonic()
        pulumi("up", "--yes", "--skip-preview")
        up_seconds = time.monotonic() - started
        services = json.loads(pulumi("stack", "output", "--json").stdout)["services"]
        assert all(s["state"] == "Healthy" for s in services.values()), services
        started = time.monotonic()
        pulumi("preview", "--expect-no-changes")
        noop_seconds = time.monotonic() - started
    finally:
        subprocess.run(["pulumi", "destroy", "--yes", "--stack", "bench", "--non-interactive"], cwd=root, env=env, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
    kind = "clean build" if args.clean_build else "warm layer cache"
    print(f"up from nothing to Healthy ({kind}, 2 services): {up_seconds:.1f}s")
    print(f"second preview, no changes: {noop_seconds:.1f}s")


if __name__ == "__main__":
    main()
