"""The Pulumi engine of .tools/bin, run as a subprocess on a scratch copy of the project, with a
file state backend (or the one `backend` names, e.g. Azurite's azblob://, with `backend_env` for its
account) and a home of its own (the user's ~/.pulumi and state are left alone)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from components.commands.engine import engine_env
from tests.workspace import REPO

ENGINE = REPO / ".tools" / "bin" / "pulumi"


class Engine:
    def __init__(self, root: Path, home: Path, stack: str, *, backend: str | None = None, backend_env=None):
        self.root = root
        self.stack = stack
        # The CLI's own settings (components.commands.engine: the rule of scripts/pulumi-env.sh),
        # with a home and a file backend of the test's own instead of the project's.
        self.env = {
            **engine_env(REPO, stack),
            "PULUMI_HOME": str(home / "pulumi-home"),
            "PULUMI_BACKEND_URL": backend or f"file://{home / 'state'}",
            **(backend_env or {}),
        }
        self.env.pop("MODELSTACK_PROJECT_DIR", None)
        (home / "state").mkdir(parents=True, exist_ok=True)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            ["pulumi", *args, "--stack", self.stack, "--non-interactive"],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if check and result.returncode != 0:
            raise AssertionError(failure_message(args, result.returncode, result.stdout, result.stderr))
        return result

    def outputs(self) -> dict:
        return json.loads(self.run("stack", "output", "--json").stdout)["services"]

    def steps(self) -> dict[str, str]:
        """Resource name -> planned operation, from `pulumi preview --json`."""
        preview = json.loads(self.run("preview", "--json").stdout)
        return {step["urn"].rsplit("::", 1)[-1]: step["op"] for step in preview["steps"]}


# How much of a failed command's output its message keeps: the Diagnostics section whole up to
# DIAGNOSTICS_LIMIT (past it, each resource's name and error lines), then the ends of the output.
DIAGNOSTICS_LIMIT = 20_000
ERROR_LINE_LIMIT = 2_000
OUTPUT_TAIL = 4_000


def diagnostics(output: str) -> str:
    """The engine's "Diagnostics:" section of a command's output: each resource that reported
    something, with its error lines, however much output came before or after it."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.rstrip() == "Diagnostics:"), None)
    if start is None:
        return ""
    end = next((i for i in range(start + 1, len(lines)) if lines[i][:1] not in ("", " ", "\t")), len(lines))
    section = "\n".join(lines[start:end]).rstrip()
    if len(section) <= DIAGNOSTICS_LIMIT:
        return section
    kept = [
        line[:ERROR_LINE_LIMIT]
        for line in lines[start:end]
        if (line.startswith("  ") and not line.startswith("   ") and line.rstrip().endswith(":"))  # a resource
        or line.lstrip().startswith("error:")
    ]
    return "\n".join(kept)[:DIAGNOSTICS_LIMIT]


def failure_message(args, code: int, stdout: str, stderr: str) -> str:
    """Why a command failed, readable from another machine: the engine's diagnostics for each
    failed resource first (a long update can push them out of any tail), then the output's ends."""
    found = diagnostics(stdout) or diagnostics(stderr)
    parts = [f"pulumi {' '.join(args)} exited {code}"]
    if found:
        parts.append(found)
    parts += [f"--- stdout (last {OUTPUT_TAIL} characters) ---", stdout[-OUTPUT_TAIL:]]
    parts += [f"--- stderr (last {OUTPUT_TAIL} characters) ---", stderr[-OUTPUT_TAIL:]]
    return "\n".join(parts)


def tear_down_local_stack(engine: Engine, docker_client, registry_port: int) -> None:
    """What a local stack of a test leaves: its resources (destroy), any container still labelled
    with it, and the images built, pushed and pulled for its registry."""
    from tests.conftest import remove_image_references

    engine.run("destroy", "--yes", check=False)
    for container in docker_client.containers.list(all=True, filters={"label": f"modelstack.stack={engine.stack}"}):
        container.remove(force=True)
    remove_image_references(docker_client, f"localhost:{registry_port}/")


def aks_token_stack() -> dict:
    """A stack file of two AKS services, one with token auth, on a small DevTest cluster: what the
    token and hostile-state tests record outputs for (AKS cannot be deployed here)."""
    return {
        "config": {
            "modelstack:registry": {"kind": "acr"},
            "modelstack:clusters": {
                "aks-ml": {"cluster_purpose": "DevTest", "agent_count": 1, "vm_size": "Standard_D4s_v5"}
            },
            "modelstack:services": {
                "diabetes": {
                    "target": "aks",
                    "compute": "aks-ml",
                    "deploy": {"token_auth_enabled": True, "num_replicas": 1},
                },
                "diabetes-multi": {"target": "aks", "compute": "aks-ml", "deploy": {"num_replicas": 1}},
            },
        }
    }
