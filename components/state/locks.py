"""A stack's locks, as the engine keeps them in its state backend, and what a team does with them.

The engine (diy backends: file://, azblob://) takes a lock for every `up`, `destroy`, `refresh`
and `import` by writing `.pulumi/locks/<org>/<project>/<stack>/<id>.json` = {"pid", "username",
"hostname", "timestamp"}; before it writes and again after, it refuses to go on when any other
object is in that folder ("the stack is currently locked by N lock(s)", naming each holder).

- `engine_locks` reads those objects; `stale_reason` judges one (pure): its holder's process is
  gone on this host, or it is older than a lease;
- `take_over` removes stale locks only, and appends an audit line per lock to
  `.modelstack/audit/<project>/<stack>.log` in the same backend (`modelstack lock take-over`);
- `stack_lock` is modelstack's own lock for its commands that change a stack (`promote` on its
  destination): an object in the engine's folder, in the engine's format, so a concurrent
  `pulumi up` is refused by the engine itself, and a second modelstack command by the same check.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from components.errors import ModelstackError
from components.state.backend import MissingObject, StateBackend

# The engine's organization for project-scoped stacks in a diy backend.
ORGANIZATION = "organization"
LOCKS = ".pulumi/locks"
AUDIT = ".modelstack/audit"
# A lock older than this is stale even when its holder runs on another host (a CI runner that was
# cancelled, a laptop that was closed): longer than any update of these stacks takes.
DEFAULT_LEASE = timedelta(hours=2)
OWN_PREFIX = "modelstack-"  # modelstack's own lock objects: modelstack-<uuid>.json


@dataclass(frozen=True)
class EngineLock:
    key: str
    user: str
    host: str
    pid: int
    since: datetime
    operation: str | None = None  # what holds it when it is modelstack's own lock (e.g. "promote")

    @property
    def holder(self) -> str:
        return f"{self.user}@{self.host} (pid {self.pid})"


def split_stack(project: str, stack: str) -> tuple[str, str, str]:
    """(org, project, stack) of a stack name, plain or fully qualified (org/project/stack)."""
    parts = stack.split("/")
    if len(parts) == 3 and all(parts):
        return parts[0], parts[1], parts[2]
    if len(parts) == 1 and stack and project:
        return ORGANIZATION, project, stack
    raise ModelstackError(
        f"'{stack}' is not a stack name",
        key="--stack",
        rule="a stack is named NAME, or ORG/PROJECT/NAME",
        fix="pass the stack's name, e.g. --stack dev",
    )


def lock_folder(project: str, stack: str) -> str:
    org, project, name = split_stack(project, stack)
    return f"{LOCKS}/{org}/{project}/{name}/"


def audit_key(project: str, stack: str) -> str:
    _, project, name = split_stack(project, stack)
    return f"{AUDIT}/{project}/{name}.log"


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(text: str) -> datetime:
    """Go's RFC 3339 time (nanoseconds, 'Z' or an offset) as an aware datetime."""
    moment = datetime.fromisoformat(_FRACTION.sub(r"\1", text.strip()).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_lock(key: str, data: bytes) -> EngineLock:
    """A lock object as the engine writes it: {"pid", "username", "hostname", "timestamp"}."""
    try:
        content = json.loads(data)
        lock = EngineLock(
            key=key,
            user=str(content["username"]),
            host=str(content["hostname"]),
            pid=int(content["pid"]),
            since=parse_time(str(content["timestamp"])),
            operation=str(content["operation"]) if content.get("operation") else None,
        )
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise ModelstackError(
            f"lock object {key} is not the engine's lock format ({type(error).__name__})",
            key=key,
            rule='a lock object is JSON {"pid", "username", "hostname", "timestamp"}; the engine refuses every update while it is there',
            fix="look at it, then delete it with `pulumi cancel --stack NAME` (which removes every lock of the stack)",
        ) from None
    return lock


def engine_locks(backend: StateBackend, project: str, stack: str) -> list[EngineLock]:
    """The locks held on a stack now, in key order (the engine's and modelstack's own)."""
    found = []
    for key in backend.list(lock_folder(project, stack)):
        if not key.endswith(".json"):
            continue
        try:
            found.append(parse_lock(key, backend.read(key)))
        except MissingObject:  # released between the listing and the read
            continue
    return found


def format_age(age: timedelta) -> str:
    seconds = max(0, int(age.total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def stale_reason(
    lock: EngineLock, *, now: datetime, lease: timedelta, this_host: str, pid_alive: Callable[[int], bool]
) -> str | None:
    """Why a lock is stale, or None while its holder may still be at work."""
    if lock.host == this_host and not pid_alive(lock.pid):
        return f"process {lock.pid} is gone on this host ({this_host})"
    age = now - lock.since
    if age > lease:
        return f"older than the lease of {format_age(lease)} (held for {format_age(age)})"
    return None


def process_alive(pid: int) -> bool:
    """A running (not zombie) process with this PID on this host."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        if pid <= 0:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return state not in ("Z", "X")


def this_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def audit_line(*, now: datetime, by: str, action: str, lock: EngineLock, why: str, reason: str | None) -> str:
    line = (
        f"{now.astimezone(UTC).isoformat(timespec='seconds')} {action} by {by}: {lock.key} "
        f"held by {lock.holder} since {lock.since.astimezone(UTC).isoformat(timespec='seconds')} ({why})"
    )
    if reason:
        line += f"; reason: {' '.join(reason.split())}"
    return line + "\n"


def append_audit(backend: StateBackend, project: str, stack: str, lines: list[str]) -> str:
    """Append lines to the stack's audit log in the backend (read, then write it whole)."""
    key = audit_key(project, stack)
    try:
        before = backend.read(key)
    except MissingObject:
        before = b""
    backend.write(key, before + "".join(lines).encode())
    return key


def take_over(
    backend: StateBackend,
    project: str,
    stack: str,
    *,
    by: str,
    now: datetime,
    lease: timedelta = DEFAULT_LEASE,
    this_host: str | None = None,
    pid_alive: Callable[[int], bool] = process_alive,
    reason: str | None = None,
) -> list[EngineLock]:
    """Remove a stack's stale locks and record each removal in its audit log; the locks removed.
    Nothing is removed while any lock is live: that one's holder is named in the error."""
    host = this_host if this_host is not None else socket.gethostname()
    locks = engine_locks(backend, project, stack)
    judged = [(lock, stale_reason(lock, now=now, lease=lease, this_host=host, pid_alive=pid_alive)) for lock in locks]
    live = [lock for lock, why in judged if why is None]
    if live:
        held = "; ".join(
            f"{lock.key} held by {lock.holder} for {format_age(now - lock.since)}"
            + (f" ({lock.operation})" if lock.operation else "")
            for lock in live
        )
        raise ModelstackError(
            f"stack {stack} is locked by a live holder: {held}",
            key=stack,
            rule=f"only a stale lock is taken over: its holder's process gone on this host, or older than the lease ({format_age(lease)})",
            fix="wait for that update to end; if its holder is really gone (another machine), take over once the lease has passed, or pass a shorter --lease",
        )
    for lock, _why in judged:
        backend.delete(lock.key)
    if judged:
        append_audit(
            backend,
            project,
            stack,
            [
                audit_line(now=now, by=by, action="take-over", lock=lock, why=why or "", reason=reason)
                for lock, why in judged
            ],
        )
    return [lock for lock, _why in judged]


def locked_error(stack: str, locks: list[EngineLock], now: datetime, operation: str) -> ModelstackError:
    held = "; ".join(
        f"{lock.holder} since {lock.since.astimezone(UTC).isoformat(timespec='seconds')} ({format_age(now - lock.since)} ago)"
        + (f", running {lock.operation}" if lock.operation else "")
        for lock in locks
    )
    return ModelstackError(
        f"stack {stack} is being changed: locked by {held}",
        key=stack,
        rule=f"{operation} holds the stack's lock, and one change at a time holds it",
        fix=f"wait for it to end and run {operation} again; `modelstack lock status --stack {stack}` shows the lock, `modelstack lock take-over --stack {stack}` removes it once it is stale",
    )


@dataclass
class StackLock:
    """modelstack's lock on a stack, held while a `with stack_lock(...)` block runs."""

    backend: StateBackend
    key: str
    stack: str
    held: bool = True

    def release(self) -> None:
        """Release it now (before the block ends), e.g. right before handing the stack to the
        engine, which refuses to start while any lock but its own is in the folder."""
        if self.held:
            self.backend.delete(self.key)
            self.held = False


@contextmanager
def stack_lock(
    backend: StateBackend,
    project: str,
    stack: str,
    *,
    operation: str,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Iterator[StackLock]:
    """Hold the stack's lock while the block runs: refused at once, naming the holder, when the
    stack is locked (by the engine or by another modelstack command). The lock is an object in
    the engine's lock folder and format, so the engine refuses `up`/`destroy`/`refresh` meanwhile."""
    folder = lock_folder(project, stack)
    existing = engine_locks(backend, project, stack)
    if existing:
        raise locked_error(stack, existing, now(), operation)
    key = f"{folder}{OWN_PREFIX}{uuid.uuid4()}.json"
    content = {
        "pid": os.getpid(),
        "username": this_user(),
        "hostname": socket.gethostname(),
        "timestamp": now().isoformat(),
        "operation": operation,
    }
    backend.write(key, json.dumps(content).encode())
    held = StackLock(backend, key, stack)
    try:
        # As the engine does: look again after writing; when two took it at once, both give way.
        others = [lock for lock in engine_locks(backend, project, stack) if lock.key != key]
        if others:
            raise locked_error(stack, others, now(), operation)
        yield held
    finally:
        held.release()
