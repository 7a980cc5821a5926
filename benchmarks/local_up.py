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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.workspace import copy_project, derive_local_stack  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean-build", action="store_true", help="build without Docker's layer cache")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="modelstack-up-"))
    root = copy_project(home / "project", runnable=True)
    derive_local_stack(root, "bench")
    env = {
        **os.environ,
        "PATH": f"{REPO / '.tools' / 'bin'}:{os.environ.get('PATH', '')}",
        "PULUMI_HOME": str(home / "pulumi-home"),
        "PULUMI_BACKEND_URL": f"file://{home / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": "",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        # The copy's own program, also in the engine's dynamic-provider processes (the venv's
        # editable install would otherwise give them the checkout's components and templates).
        "PYTHONPATH": str(root),
    }
    if args.clean_build:
        env["MODELSTACK_NO_CACHE"] = "1"
    (home / "state").mkdir()

    def pulumi(*words: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            ["pulumi", *words, "--stack", "bench", "--non-interactive"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(
                f"pulumi {' '.join(words)} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}"
            )
        return done

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
        subprocess.run(
            ["pulumi", "destroy", "--yes", "--stack", "bench", "--non-interactive"],
            cwd=root,
            env=env,
            capture_output=True,
        )
        shutil.rmtree(home, ignore_errors=True)
    kind = "clean build" if args.clean_build else "warm layer cache"
    print(f"up from nothing to Healthy ({kind}, 2 services): {up_seconds:.1f}s")
    print(f"second preview, no changes: {noop_seconds:.1f}s")


if __name__ == "__main__":
    main()
