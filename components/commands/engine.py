"""The Pulumi engine, as modelstack's commands drive it (through the Automation API).

Settings follow scripts/pulumi-env.sh's rule, so `modelstack drift`/`promote` and the README's
shell commands see the same stacks (tests/unit/test_scripts.py runs both on one table of cases):

- local mode, for the `local` and `e2e...` stacks, or when the user has no backend of their own
  (no PULUMI_BACKEND_URL and no `pulumi login` in credentials.json): the engine in .tools/bin
  first, the local file backend in .modelstack/state unless PULUMI_BACKEND_URL names one (the
  shell's script replaces a user's URL for the local stacks when sourced; the CLI keeps what the
  shell it runs in has), PULUMI_HOME in .modelstack unless set, no update checks or plugin
  downloads unless set, the local stack's empty passphrase when none is set;
- user mode otherwise: the user's backend, home, plugins and passphrase untouched; .tools/bin
  only at the end of PATH.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Mapping

from components.config.schema import STATE_DIR
from components.errors import ModelstackError

LOCAL_STACKS = ("local", "e2e")


def user_backend(environ: Mapping[str, str]) -> str:
    """The user's own backend: PULUMI_BACKEND_URL, else `current` of `pulumi login`'s credentials."""
    if environ.get("PULUMI_BACKEND_URL"):
        return environ["PULUMI_BACKEND_URL"]
    home = Path(environ.get("PULUMI_HOME") or Path(environ.get("HOME") or "~").expanduser() / ".pulumi")
    try:
        current = json.loads((home / "credentials.json").read_text()).get("current")
    except (OSError, ValueError, AttributeError):
        return ""
    return current if isinstance(current, str) else ""


def pulumi_mode(project_dir: Path, stack: str, environ: Mapping[str, str]) -> str:
    """`local` or `user` (the rule of scripts/pulumi-env.sh). The project's own file backend, which
    sourcing the script puts in PULUMI_BACKEND_URL, is not a backend of the user's."""
    if stack in LOCAL_STACKS or stack.startswith(("e2e-", "e2e_")):
        return "local"
    backend = user_backend(environ)
    return "user" if backend and backend != f"file://{project_dir / STATE_DIR / 'state'}" else "local"


def engine_env(project_dir: Path, stack: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if environ is None else environ)
    tools = str(project_dir / ".tools" / "bin")
    path = env.get("PATH", "")
    mode = pulumi_mode(project_dir, stack, env)
    env["MODELSTACK_PULUMI_MODE"] = mode
    if mode == "user":
        if tools not in path.split(":"):
            env["PATH"] = f"{path}:{tools}" if path else tools
        return env
    if tools not in path.split(":"):
        env["PATH"] = f"{tools}:{path}" if path else tools
    env.setdefault("PULUMI_HOME", str(project_dir / STATE_DIR / "pulumi-home"))
    # A backend already in the environment is the one `pulumi` uses in this shell (sourcing
    # pulumi-env.sh for a local stack put the local one there), so the CLI keeps it.
    if not env.get("PULUMI_BACKEND_URL"):
        local_state = project_dir / STATE_DIR / "state"
        local_state.mkdir(parents=True, exist_ok=True)
        env["PULUMI_BACKEND_URL"] = f"file://{local_state}"
    env.setdefault("PULUMI_SKIP_UPDATE_CHECK", "true")
    env.setdefault("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "true")
    if "PULUMI_CONFIG_PASSPHRASE" not in env and not env.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
        env["PULUMI_CONFIG_PASSPHRASE"] = ""
    Path(env["PULUMI_HOME"]).mkdir(parents=True, exist_ok=True)
    return env


def select_stack(project_dir: Path, stack: str):
    """An Automation API handle on an existing stack of this project."""
    from pulumi import automation as auto

    env = engine_env(project_dir, stack)
    # The engine's event log (how the Automation API learns what changed) is a debug flag.
    env["PULUMI_DEBUG_COMMANDS"] = "true"
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
            f"stack '{stack}' does not exist in {env.get('PULUMI_BACKEND_URL') or user_backend(env)}",
            rule="a stack is created by its first `pulumi up`",
            fix=f"pulumi stack init {stack} (or run `pulumi up --stack {stack}` first)",
        ) from exc
