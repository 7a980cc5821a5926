"""The Pulumi engine, as modelstack's commands drive it (through the Automation API).

Which backend, home and passphrase a command gets is components/state/environment.py's rule, the
one scripts/pulumi-env.sh follows, so `modelstack drift`/`promote`/`token`/`logs` and the shell
commands of docs/deploying.md see the same stacks (tests/unit/test_scripts.py runs both on one
table of cases):

- local mode, for the throwaway stacks (`local`, `e2e...`), or when the user has no backend of their
  own (no PULUMI_BACKEND_URL and no `pulumi login` in credentials.json): the engine in .tools/bin
  first, the local file backend in .modelstack/state unless PULUMI_BACKEND_URL names one (the
  shell's script replaces a user's URL for the throwaway stacks when sourced; the CLI keeps what the
  shell it runs in has), PULUMI_HOME in .modelstack unless set, no update checks or plugin
  downloads unless set, the empty passphrase for a throwaway stack when none is set;
- user mode otherwise: the user's backend, home, plugins and passphrase untouched; .tools/bin
  only at the end of PATH;
- refused, before the engine runs, with the key, the rule and the fix: a stack that is not throwaway
  whose secrets a passphrase protects, with no real passphrase; an azblob:// backend with no
  storage account.

A command that reaches state calls `reach_state` (or `select_stack`, which does): it says on stderr
which backend the stack uses and where that choice came from.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from components.config.schema import STATE_DIR
from components.errors import ModelstackError
from components.state import checkpoint, environment

LOCAL_STACKS = environment.THROWAWAY_STACKS  # not a target: the stacks whose state stays in the project


def user_backend(environ: Mapping[str, str]) -> str:
    """The user's own backend: PULUMI_BACKEND_URL, else `current` of `pulumi login`'s credentials."""
    return environment.user_backend(environ)[0]


def engine_env(project_dir: Path, stack: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the engine runs `stack` in; a ModelstackError when the rule refuses it."""
    env = dict(os.environ if environ is None else environ)
    decision = environment.decide(project_dir, stack, env)
    if decision.refusal is not None:
        raise decision.refusal
    tools = str(project_dir / ".tools" / "bin")
    path = env.get("PATH", "")
    env["MODELSTACK_PULUMI_MODE"] = decision.mode
    if decision.mode == environment.USER_MODE:
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
    if decision.empty_passphrase:
        env["PULUMI_CONFIG_PASSPHRASE"] = ""
    Path(env["PULUMI_HOME"]).mkdir(parents=True, exist_ok=True)
    return env


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


_announced: set[tuple[str, str, str]] = set()


def reach_state(
    project_dir: Path,
    stack: str,
    environ: Mapping[str, str] | None = None,
    *,
    say: Callable[[str], None] = _stderr,
) -> dict[str, str]:
    """What every command that reaches a stack's state calls first: the engine's environment
    (`engine_env`: refused with the key, the rule and the fix before the engine runs), and one
    line, once per stack and backend in a process, saying which backend and where it came from."""
    env = engine_env(project_dir, stack, environ)
    backend = environment.backend_for(project_dir, stack, env)
    seen = (str(project_dir), stack, backend.url)
    if seen not in _announced:
        _announced.add(seen)
        say(f"modelstack: {environment.backend_line(stack, backend)}")
    return env


def select_stack(project_dir: Path, stack: str):
    """An Automation API handle on an existing stack of this project."""
    from pulumi import automation as auto

    from components.config.load import stack_name_error

    bad_name = stack_name_error(stack)  # the rule every command checks stack names by
    if bad_name is not None:
        raise bad_name
    env = reach_state(project_dir, stack)
    # The engine's event log (how the Automation API learns what changed) is a debug flag.
    env["PULUMI_DEBUG_COMMANDS"] = "true"
    if shutil.which("pulumi", path=env["PATH"]) is None:
        raise ModelstackError(
            "the Pulumi CLI is not available",
            rule="drift and promote drive the Pulumi engine",
            fix="run scripts/bootstrap-pulumi.sh (or install the CLI: https://www.pulumi.com/docs/install/)",
        )
    # A checkpoint the engine must not be handed (a fifo, /dev/zero, gigabytes, not JSON, of the
    # wrong shape or a future version) is refused before the engine reads it.
    checkpoint.check_checkpoint(project_dir, stack, environment.backend_for(project_dir, stack, env).url, env)
    os.environ["PATH"] = env["PATH"]  # the Automation API looks the CLI up on this process's PATH
    workspace = auto.LocalWorkspace(work_dir=str(project_dir), env_vars=env)
    try:
        return auto.Stack.select(stack, workspace)
    except auto.errors.CommandError as exc:
        raise ModelstackError(
            f"stack '{stack}' does not exist in {environment.shown_url(env.get('PULUMI_BACKEND_URL') or user_backend(env))}",
            rule="a stack is created by its first `pulumi up`",
            fix=f"pulumi stack init {stack} (or run `pulumi up --stack {stack}` first)",
        ) from exc


# What the engine says when a provider plugin a stack's state names is not installed: "no resource
# plugin 'pulumi-resource-azure-native' found in the workspace at version v3.29.0 ..." (automatic
# downloads off) or "Could not automatically download and install resource plugin
# 'pulumi-resource-azure-native' at version v3.29.0 ..." (on, with no way to the download site).
PLUGIN_MISSING = re.compile(
    r"resource plugin 'pulumi-resource-(?P<name>[A-Za-z0-9_.-]+)'(?: found in the workspace)? at version v(?P<version>\d[0-9A-Za-z.+-]*)"
)


def pinned_versions(project_dir: Path) -> dict[str, str]:
    """{plugin name: version} of the Pulumi provider SDKs requirements.txt pins (pulumi-<name>==X)."""
    path = Path(project_dir) / "requirements.txt"
    pins = {}
    for line in path.read_text().splitlines() if path.is_file() else []:
        match = re.match(r"^\s*pulumi-(?P<name>[A-Za-z0-9_.-]+)\s*==\s*(?P<version>[^\s;#]+)", line)
        if match and match["name"] != "policy":
            pins[match["name"]] = match["version"]
    return pins


def stack_outputs(project_dir: Path, stack: str, *, command: str) -> dict:
    """A deployed stack's outputs (secrets decrypted), as `pulumi stack output` gives them; an
    engine that fails reading them is a ModelstackError (engine_failure), never a traceback."""
    from pulumi.automation.errors import CommandError

    handle = select_stack(project_dir, stack)
    try:
        outputs = handle.outputs()
    except CommandError as failed:
        raise command_failure(failed, project_dir=project_dir, stack=stack, command=command) from None
    return {name: output.value for name, output in outputs.items()}


def command_failure(failed: Exception, *, project_dir: Path, stack: str, command: str) -> ModelstackError:
    """engine_failure for an Automation API call that failed, naming the engine's home when it is
    not the one the user's shell has (so the plugin fix is run against the right one)."""
    home = engine_env(project_dir, stack).get("PULUMI_HOME")
    return engine_failure(
        str(failed),
        project_dir=project_dir,
        stack=stack,
        command=command,
        home=home if home != os.environ.get("PULUMI_HOME") else None,
    )


def last_error_line(output: str) -> str:
    """The engine's last `error:` line of its output (from `error:` on), else its last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line[line.lower().index("error:") :] for line in lines if "error:" in line.lower()]
    return errors[-1] if errors else (lines[-1] if lines else "no output")


def engine_failure(
    message: str, *, project_dir: Path, stack: str, command: str, home: str | None = None
) -> ModelstackError:
    """The error a user sees when the engine fails under a command: for a missing provider plugin,
    the plugin, the version the project pins and the command that installs it; otherwise the
    engine's own last error line."""
    missing = PLUGIN_MISSING.search(message)
    if missing:
        name, wanted = missing["name"], missing["version"]
        pinned = pinned_versions(project_dir).get(name)
        pin_text = (
            f"the project pins pulumi-{name}=={pinned} (requirements.txt)"
            if pinned
            else f"requirements.txt pins no pulumi-{name}"
        )
        if pinned and pinned != wanted:
            pin_text += f"; the stack's state was written with v{wanted}"
        prefix = f"PULUMI_HOME={home} " if home else ""
        return ModelstackError(
            f"the Pulumi provider plugin {name} v{wanted} is not installed, so stack {stack}'s live resources cannot be read",
            rule=f"{command} refreshes the stack through the provider plugins its resources were created with; {pin_text}",
            fix=f"{prefix}pulumi plugin install resource {name} {wanted}, then run `modelstack {command} ...` again",
        )
    last = last_error_line(message)
    return ModelstackError(
        f"the engine failed while {command} read stack {stack}: {last}",
        rule=f"{command} runs a refresh preview of the stack (nothing is written)",
        fix=f"run `pulumi refresh --preview-only --stack {stack}` to see the engine's whole output, fix what it names, then run {command} again",
    )
