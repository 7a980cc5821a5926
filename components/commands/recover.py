"""`modelstack recover --stack NAME`: after the engine was killed mid-update (components.state.recover).

Takes over the stack's stale lock, stops the killed engine's orphaned plugins, resolves each pending
operation by what really exists with `pulumi refresh`, and removes what runs for the stack that its
state does not know; prints each thing it found and what it did. The next `pulumi up` converges.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console

from components.errors import ModelstackError

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

ENGINE_TIMEOUT_SECONDS = 900


def engine_runner(project_dir: Path, stack: str):
    """`pulumi ARGS --stack STACK --non-interactive` in the project, as the stack's rule sets the
    engine up (components/commands/engine.py); its stdout, or a ModelstackError with its error."""
    from components.commands.engine import PLUGIN_MISSING, engine_env, engine_failure

    env = engine_env(project_dir, stack)
    if shutil.which("pulumi", path=env["PATH"]) is None:
        raise ModelstackError(
            "the Pulumi CLI is not available",
            rule="recover resolves pending operations with the engine's own refresh",
            fix="run scripts/bootstrap-pulumi.sh (or install the CLI: https://www.pulumi.com/docs/install/)",
        )

    def run(args: list[str]) -> str:
        done = subprocess.run(
            ["pulumi", *args, "--stack", stack, "--non-interactive"],
            cwd=project_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=ENGINE_TIMEOUT_SECONDS,
        )
        if done.returncode != 0:
            message = f"{done.stdout}\n{done.stderr}"
            if PLUGIN_MISSING.search(message):
                raise engine_failure(message, project_dir=project_dir, stack=stack, command="recover")
            errors = [line.strip() for line in message.splitlines() if "error:" in line.lower()]
            raise ModelstackError(
                f"`pulumi {' '.join(args[:2])}` failed while recover resolved stack {stack}: "
                + (errors[-1] if errors else f"exit {done.returncode}"),
                rule="recover resolves pending operations with the engine's own refresh, and stops at its first failure",
                fix=f"run `pulumi {' '.join(args)} --stack {stack}` to see the engine's whole output, fix what it names, "
                "then run `modelstack recover` again",
            )
        return done.stdout

    return run


def recover_command(
    stack: str = typer.Option(..., "--stack", help="The stack whose killed update to recover."),
    lease: str = typer.Option(
        "2h", "--lease", help="A lock older than this is stale wherever its holder runs (e.g. 90s, 30m, 2h)."
    ),
) -> None:
    """After an engine killed mid-update: take over STACK's stale lock, resolve its pending operations by what
    really exists, remove what runs for it that its state does not know. Then run `pulumi up`."""
    from components.commands.lock import parse_lease, stack_backend, this_user
    from components.config.load import find_project_dir
    from components.state.recover import recover

    try:
        lease_time = parse_lease(lease)
        project_dir = find_project_dir()
        backend, project = stack_backend(project_dir, stack)
        report = recover(
            stack,
            project_dir=project_dir,
            project=project,
            backend=backend,
            pulumi=engine_runner(project_dir, stack),
            write=lambda line: out.print(line, markup=False),
            now=datetime.now(UTC),
            by=f"{this_user()}@{socket.gethostname()}",
            lease=lease_time,
        )
    except ModelstackError as error:
        err.print("[bold red]1 error[/]", markup=True)
        err.print(f"- {error}", markup=False)
        raise typer.Exit(2 if (error.key or "").startswith("--") else 1) from None
    out.print(
        f"stack {stack} recovered: {report.pending} pending operation(s), {report.strays} object(s) the state did not know; "
        f"run `pulumi up --stack {stack}` next",
        markup=False,
    )
