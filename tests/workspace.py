"""Scratch copies of the project, for tests and benchmarks that must not touch the real one
(its state, its registry, a local stack the developer has up)."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
CONFIG_ONLY = ("stacks", "examples")
PROGRAM = ("components", "modelstack_server", "templates", "policies")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(port: int, *, seconds: float = 60) -> None:
    """Until the scoring server on 127.0.0.1:port answers its health route with "Healthy" (once
    init() has run), or `seconds` have passed: the request that follows then says what is wrong."""
    import requests

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/", timeout=1).text.strip() == "Healthy":
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)


def copy_project(root: Path, *, runnable: bool = False) -> Path:
    """Pulumi.yaml, the stacks and the example in `root`; with `runnable`, also the program
    and a link to the venv, so the Pulumi engine can run it. The wheelhouse cache is shared
    with the real project: downloading it again proves nothing."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "Pulumi.yaml", root / "Pulumi.yaml")
    folders = CONFIG_ONLY + (PROGRAM if runnable else ())
    for name in folders:
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    if runnable:
        shutil.copy(REPO / "__main__.py", root / "__main__.py")
        (root / "venv").symlink_to(REPO / "venv")
    (REPO / ".modelstack" / "wheelhouse").mkdir(parents=True, exist_ok=True)
    (root / ".modelstack").mkdir(exist_ok=True)
    (root / ".modelstack" / "wheelhouse").symlink_to(REPO / ".modelstack" / "wheelhouse")
    return root


def derive_local_stack(root: Path, name: str) -> dict:
    """stacks/Pulumi.<name>.yaml from the local stack's file, with free ports of its own."""
    stack = yaml.safe_load((root / "stacks" / "Pulumi.local.yaml").read_text())
    stack.pop("encryptionsalt", None)
    stack["config"]["modelstack:registry"]["port"] = free_port()
    stack["config"]["modelstack:services"]["diabetes"]["deploy"]["port"] = free_port()
    (root / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(stack, sort_keys=False))
    return stack
