"""The Pulumi engine, as modelstack's commands drive it (through the Automation API).

Settings mirror scripts/pulumi-env.sh, so `modelstack drift`/`promote` and the README's shell
commands see the same stacks: the engine in .tools/bin when the project bootstrapped one, the
local file backend in .modelstack/state unless PULUMI_BACKEND_URL says otherwise, no update
checks or plugin downloads, and the local stack's empty passphrase only when none is set.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from components.config.schema import STATE_DIR
from components.errors import ModelstackError


def engine_env(project_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    tools = project_dir / ".tools" / "bin"
    if tools.is_dir():
        env["PATH"] = f"{tools}:{env.get('PATH', '')}"
    env.setdefault("PULUMI_HOME", str(project_dir / STATE_DIR / "pulumi-home"))
    env.setdefault("PULUMI_BACKEND_URL", f"file://{project_dir / '.modelstack' / 'state'}")
    env.setdefault("PULUMI_SKIP_UPDATE_CHECK", "true")
    env.setdefault("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "true")
    if "PULUMI_CONFIG_PASSPHRASE" not in env and "PULUMI_CONFIG_PASSPHRASE_FILE" not in env:
        env["PULUMI_CONFIG_PASSPHRASE"] = ""
    # The engine's event log (how the Automation API learns what changed) is a debug flag.
    env["PULUMI_DEBUG_COMMANDS"] = "true"
    if env["PULUMI_BACKEND_URL"].startswith("file://"):
        Path(env["PULUMI_BACKEND_URL"].removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    return env


def select_stack(project_dir: Path, stack: str):
    """An Automation API handle on an existing stack of this project."""
    from pulumi import automation as auto

    env = engine_env(project_dir)
    if shutil.which("pulumi", path=env["PATH"]) is None:
        raise ModelstackError(
            "the Pulumi CLI is not available",
            rule="drift and promote drive the Pulumi engine",
            fix="run scripts/bootstrap-pulumi.sh (or install the CLI: https://www.pulumi.com/docs/install/)",
        )
    os.environ["PATH"] = env["PATH"]  # the Automation API looks the CLI up on this process's PATH
    workspace = auto.LocalWorkspace(work_dir=str(project_dir), env_vars=env)
    try:
        return auto.Stack.select(stack, workspace)
    except auto.errors.CommandError as exc:
        raise ModelstackError(
            f"stack '{stack}' does not exist in {env['PULUMI_BACKEND_URL']}",
            rule="a stack is created by its first `pulumi up`",
            fix=f"pulumi stack init {stack} (or run `pulumi up --stack {stack}` first)",
        ) from exc
