"""`modelstack lock status|take-over --stack NAME`: a stack's locks in its state backend.

    modelstack lock status --stack NAME                      who holds the stack's lock, since when, stale or not
    modelstack lock take-over --stack NAME [--reason TEXT] [--lease DURATION]
                                                             remove stale locks, with an audit line each

The backend is the one the engine uses for the stack (PULUMI_BACKEND_URL, a `pulumi login`, or the
project's own file backend: components/commands/engine.py's rule).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import typer
from rich.console import Console

from components.config.load import project_name
from components.errors import ModelstackError
from components.state.backend import StateBackend, open_backend
from components.state.locks import (
    engine_locks as read_locks,
    format_age,
    process_alive,
    stack_lock,
    stale_reason,
    take_over,
    this_user,
)

app = typer.Typer(
    no_args_is_help=True, help="A stack's locks in its state backend: who holds them, and taking over stale ones."
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

LOCKABLE = ("file", "azblob")  # the backends whose objects modelstack reads and writes


def stack_state(project_dir: Path, stack: str, say=None) -> tuple[str, dict[str, str]]:
    """The backend URL the engine uses for the stack (components/state/environment.py's rule), said
    on stderr with where that choice came from, and the environment its credentials are read from.
    Reading and removing locks needs no passphrase, so none is asked for."""
    import os

    from components.state import environment

    env = dict(os.environ)
    backend = environment.backend_for(project_dir, stack, env)
    (say or (lambda line: err.print(line, markup=False)))(f"modelstack: {environment.backend_line(stack, backend)}")
    if not backend.url:
        raise ModelstackError(
            "no state backend is set",
            key="PULUMI_BACKEND_URL",
            rule="a stack's locks are read where the engine keeps its state",
            fix="export PULUMI_BACKEND_URL=file:///path or azblob://CONTAINER (docs/team.md#backends)",
        )
    return backend.url, env


def stack_backend(project_dir: Path, stack: str) -> tuple[StateBackend, str]:
    """The stack's state backend, and the project's name."""
    url, env = stack_state(project_dir, stack)
    return open_backend(url, env), project_name(project_dir)


@contextmanager
def destination_lock(project_dir: Path, stack: str, operation: str, log) -> Iterator[None]:
    """Hold `stack`'s lock while a modelstack command changes it. A backend whose objects modelstack
    does not reach (Pulumi Cloud, s3://, gs://) keeps its own locks: the command says so and goes on."""
    url, env = stack_state(project_dir, stack, say=lambda line: None)  # the command has said it already
    scheme = urlsplit(url).scheme
    if scheme not in LOCKABLE:
        log(
            f"{operation}: stack {stack}'s backend ({scheme}://) is not one modelstack locks; going on without its lock"
        )
        yield
        return
    with stack_lock(open_backend(url, env), project_name(project_dir), stack, operation=operation):
        log(f"{operation}: holding stack {stack}'s lock")
        yield


_DURATION = re.compile(r"^(\d+)([smhd])$")


def parse_lease(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if not match or int(match[1]) == 0:
        raise ModelstackError(
            f"'{text}' is not a lease",
            key="--lease",
            rule="a lease is a positive whole number with s, m, h or d (e.g. 90s, 30m, 2h)",
            fix="pass e.g. --lease 30m",
        )
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match[2]]
    return timedelta(**{unit: int(match[1])})


def _fail(error: ModelstackError) -> None:
    err.print("[bold red]1 error[/]", markup=True)
    err.print(f"- {error}", markup=False)
    raise typer.Exit(2 if (error.key or "").startswith("--") else 1)


STACK = typer.Option(..., "--stack", help="The stack whose locks to read.")
LEASE = typer.Option(
    "2h", "--lease", help="A lock older than this is stale wherever its holder runs (e.g. 90s, 30m, 2h)."
)


@app.command()
def status(stack: str = STACK, lease: str = LEASE) -> None:
    """Who holds STACK's lock (user, host, pid), since when, and whether it is stale and why."""
    from components.config.load import find_project_dir

    try:
        lease_time = parse_lease(lease)
        project_dir = find_project_dir()
        backend, project = stack_backend(project_dir, stack)
        locks = read_locks(backend, project, stack)
    except ModelstackError as error:
        _fail(error)
    now, host = datetime.now(UTC), socket.gethostname()
    if not locks:
        out.print(f"stack {stack} is not locked", markup=False)
        return
    for lock in locks:
        why = stale_reason(lock, now=now, lease=lease_time, this_host=host, pid_alive=process_alive)
        out.print(
            f"{lock.key}\n"
            f"  holder: {lock.user}@{lock.host} (pid {lock.pid})"
            + (f", {lock.operation}" if lock.operation else "")
            + "\n"
            f"  since:  {lock.since.astimezone(UTC).isoformat(timespec='seconds')} ({format_age(now - lock.since)} ago)\n"
            f"  stale:  " + (f"yes: {why}" if why else "no: its holder may still be at work"),
            markup=False,
        )


@app.command("take-over")
def take_over_command(
    stack: str = typer.Option(..., "--stack", help="The stack whose stale locks to remove."),
    reason: str | None = typer.Option(None, "--reason", help="Why, for the audit line (e.g. 'CI runner cancelled')."),
    lease: str = LEASE,
) -> None:
    """Remove STACK's stale locks (refused while one is live), with an audit line each in the backend."""
    from components.config.load import find_project_dir

    try:
        lease_time = parse_lease(lease)
        project_dir = find_project_dir()
        backend, project = stack_backend(project_dir, stack)
        removed = take_over(
            backend,
            project,
            stack,
            by=f"{this_user()}@{socket.gethostname()}",
            now=datetime.now(UTC),
            lease=lease_time,
            reason=reason,
        )
    except ModelstackError as error:
        _fail(error)
    if not removed:
        out.print(f"stack {stack} is not locked: nothing to take over", markup=False)
        return
    from components.state.locks import audit_key

    for lock in removed:
        out.print(f"removed {lock.key} (held by {lock.holder})", markup=False)
    out.print(f"audit: {audit_key(project, stack)} in {backend.url}", markup=False)
