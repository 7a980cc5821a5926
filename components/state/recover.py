"""`modelstack recover`: a stack's state made true again after the engine was killed mid-update.

What a killed `pulumi up` leaves (measured with the engine 3.259 on the file backend, docs/team.md):
- its lock, which makes every later `up` refuse ("the stack is currently locked");
- pending operations in the checkpoint: a create the engine started and never saw finish, whose
  object may or may not exist (the engine cannot tell, so it keeps the operation and warns);
- when only `pulumi` died, its plugins (the language host and the dynamic providers' processes),
  orphaned and still running, which may still be creating what they were asked to;
- objects no resource of the state knows: a container started by a create the checkpoint never
  recorded.

Recovery, in this order:
1. the lock: a stale one (its holder is gone) is taken over; a live one is never touched;
2. the killed engine's orphaned plugins are stopped, so nothing changes under the next steps;
3. each pending operation is resolved by what really exists, with the engine's own `pulumi
   refresh`: a pending create whose object exists is adopted into the state
   (`--import-pending-creates URN ID`): the object is already there, possibly serving, and the
   next `up` creates nothing twice; one whose object does not exist is cleared
   (`--clear-pending-creates`); a pending update or delete is decided by the refresh itself, which
   reads the object;
4. objects of the stack that the state does not know are removed, each target answering for its
   own (components.targets.base.Target.stray_objects), never one the state knows: a service that
   was serving keeps serving.
The decisions are the pure functions below; `recover` applies them.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from components.errors import ModelstackError
from components.state.backend import FileBackend
from components.state.locks import DEFAULT_LEASE, stack_lock, take_over

# The kinds of pending operation the engine records.
CREATING, UPDATING, DELETING = "creating", "updating", "deleting"

ADOPT, CLEAR, REFRESH, UNKNOWN = "adopt", "clear", "refresh", "unknown"
PROVIDER_PREFIX = "pulumi:providers:"


@dataclass(frozen=True)
class Pending:
    """One pending operation of a checkpoint."""

    kind: str
    urn: str
    type: str
    inputs: dict[str, Any]
    id: str | None = None
    custom: bool = True  # False for a component or the stack: nothing outside the state

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


@dataclass(frozen=True)
class Known:
    """A resource the state knows."""

    urn: str
    type: str
    id: str | None
    outputs: dict[str, Any]


@dataclass(frozen=True)
class Existing:
    """What is really there for a pending create: the object's id (as its provider names it) when
    it exists, None when it does not; `what` says what was looked at, for the report."""

    id: str | None
    what: str


@dataclass(frozen=True)
class Decision:
    pending: Pending
    action: str  # ADOPT, CLEAR, REFRESH or UNKNOWN
    id: str | None
    found: str


@dataclass(frozen=True)
class Stray:
    """An object of the stack that no resource of the state knows, and how to remove it."""

    what: str
    remove: Callable[[], None] = field(compare=False, repr=False)


@dataclass
class Report:
    """Each thing recovery found and what it did, in order (`lines`), and the counts the kill
    benchmark tabulates."""

    lines: list[tuple[str, str]] = field(default_factory=list)  # (found, done)
    pending: int = 0
    strays: int = 0

    def add(self, found: str, done: str) -> None:
        self.lines.append((found, done))


# --- what the checkpoint says ----------------------------------------------------------------------


def pending_operations(deployment: Mapping[str, Any]) -> list[Pending]:
    """The pending operations of a `pulumi stack export`'s deployment."""
    found = []
    for operation in deployment.get("pending_operations") or []:
        resource = operation.get("resource") or {}
        found.append(
            Pending(
                kind=str(operation.get("type", "")),
                urn=str(resource.get("urn", "")),
                type=str(resource.get("type", "")),
                inputs=dict(resource.get("inputs") or {}),
                id=resource.get("id") or None,
                custom=bool(resource.get("custom", True)),
            )
        )
    return found


def known_resources(deployment: Mapping[str, Any]) -> list[Known]:
    """The resources the checkpoint records, those marked for deletion included: the state still
    knows them, so their objects are never strays."""
    return [
        Known(str(r.get("urn", "")), str(r.get("type", "")), r.get("id") or None, dict(r.get("outputs") or {}))
        for r in deployment.get("resources") or []
    ]


def recorded_urns(deployment: Mapping[str, Any]) -> set[str]:
    """URNs whose object the state records as there: a resource marked for deletion (the old one of
    a replacement) or one whose object was deleted before its replacement was created
    (`pendingReplacement`) does not make a pending create of its URN a create the state has."""
    return {
        str(r.get("urn", ""))
        for r in deployment.get("resources") or []
        if not r.get("delete") and not r.get("pendingReplacement")
    }


# --- decisions -------------------------------------------------------------------------------------


def decide(
    pending: Pending,
    existing: Existing | None,
    known_urns: frozenset[str] | set[str] = frozenset(),
    *,
    adopt_existing: bool = False,
) -> Decision:
    """What to do with one pending operation, given what really exists (None: no one can tell for
    this resource type) and the URNs the state already records.

    Adopting an object that exists would keep it serving with nothing created twice, but the engine
    3.259 does not import a dynamic provider's pending create (measured), so by default one whose
    object exists is cleared too: its image tag or running registry is reused by the next create,
    a container is removed as unknown to the state and created once by the next `up`
    (`adopt_existing` asks for the engine's import, for providers where it works). A create the
    state already has (a later `up` made it), or of the stack, a component or a provider, is
    cleared. An update or a delete is left to the refresh, which reads the object as it is.
    """
    if pending.kind != CREATING:
        return Decision(pending, REFRESH, pending.id, f"{pending.kind} when the engine died")
    if pending.urn in known_urns:
        return Decision(pending, CLEAR, None, "the state already has this resource")
    if not pending.custom:
        return Decision(pending, CLEAR, None, "a component: nothing of it exists outside the state")
    if pending.type.startswith(PROVIDER_PREFIX):
        return Decision(pending, CLEAR, None, "a provider: the next update configures it again")
    if existing is None:
        return Decision(pending, UNKNOWN, None, "no target can tell whether it exists")
    if existing.id and adopt_existing:
        return Decision(pending, ADOPT, existing.id, existing.what)
    if existing.id:
        # The engine 3.259 does not import a dynamic provider's pending create (measured: `refresh
        # --import-pending-creates URN --import-pending-creates ID` exits 0 and drops the pending
        # create, and the resource is not in the state). So it is cleared, and its object either
        # reused by the next create (an image's tag, a registry already running for its state
        # directory) or removed below as unknown to the state (a container), then created once.
        return Decision(pending, CLEAR, None, f"{existing.what} (the engine cannot adopt it)")
    return Decision(pending, CLEAR, None, existing.what)


def refresh_runs(decisions: list[Decision], replaced_urns: frozenset[str] | set[str] = frozenset()) -> list[list[str]]:
    """The `pulumi refresh` runs that apply the decisions, in order. Adopted creates are imported
    with their ids in a refresh of their own: given with --clear-pending-creates in one run, the
    engine clears them all and imports none (measured, 3.259). When an adopted create replaces a
    resource the state still records under its URN (deleted before its replacement:
    `pendingReplacement`), a plain refresh runs first and drops that record (its object is gone),
    since the engine imports nothing over it. Then one refresh clears the remaining pending
    creates. A pending update or delete alone needs a plain refresh."""
    runs = []
    base = ["refresh", "--yes", "--skip-preview"]
    adopt = [d for d in decisions if d.action == ADOPT and d.id]
    if any(d.pending.urn in replaced_urns for d in adopt):
        runs.append(base)
    if adopt:
        # One value per resource: "URN ID" (a URN has no space). Given as two values, the engine
        # warns that the URN "did not correspond to a pending create" and imports nothing.
        flags = [arg for d in adopt for arg in ("--import-pending-creates", f"{d.pending.urn} {d.id}")]
        runs.append([*base, *flags])
    if any(d.action == CLEAR for d in decisions):
        runs.append([*base, "--clear-pending-creates"])
    if not runs and any(d.action == REFRESH for d in decisions):
        runs.append(base)
    return runs


def unknown_error(stack: str, decisions: Iterable[Decision]) -> ModelstackError | None:
    """Pending creates of a type no target answers for: recovery cannot tell whether their objects
    exist, so it changes nothing rather than leave one unknown or create one twice."""
    unknown = [d.pending for d in decisions if d.action == UNKNOWN]
    if not unknown:
        return None
    names = ", ".join(f"{p.name} ({p.type})" for p in unknown)
    return ModelstackError(
        f"stack {stack} has pending creates whose objects modelstack cannot look up: {names}",
        rule="a pending create is resolved by what really exists; no target answers for these resource types",
        fix=f"look the objects up yourself, then `pulumi refresh --stack {stack} --import-pending-creates URN ID` "
        "for each that exists and `--clear-pending-creates` for the rest",
    )


# --- the file backend's sidecar files ------------------------------------------------------------


def empty_sidecars(state_root: Path, project: str, stack: str) -> list[Path]:
    """The file backend keeps each object's metadata in a `<file>.attrs` beside it (go-cloud's
    fileblob), written before the object itself. A kill between the two leaves the stack's
    checkpoint whole but its `.attrs` empty, and the engine then refuses the stack altogether
    ("failed to load checkpoint: EOF"), `stack import` included (measured, 3.259). Those empty
    sidecars of the stack's checkpoint files, when the checkpoint beside each is whole JSON."""
    folder = state_root / ".pulumi" / "stacks" / project
    found = []
    for sidecar in sorted(folder.glob(f"{stack}.json*.attrs")) if folder.is_dir() else []:
        data = sidecar.with_name(sidecar.name.removesuffix(".attrs"))
        if sidecar.stat().st_size == 0 and data.is_file() and _whole_json(data):
            found.append(sidecar)
    return found


def _whole_json(path: Path) -> bool:
    try:
        json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return True


# --- the killed engine's orphaned plugins ---------------------------------------------------------

PLUGIN_MARKS = ("pulumi-language-", "pulumi-resource-", "pulumi-analyzer-")


def is_engine_plugin(cmdline: list[str]) -> bool:
    """A process the engine starts for a run: a language host, a resource provider (a plugin
    binary, or Python's `-m pulumi.dynamic`), a policy analyzer, or the program itself."""
    if not cmdline:
        return False
    if any(os.path.basename(arg).startswith(PLUGIN_MARKS) for arg in cmdline[:2]):
        return True
    return "pulumi.dynamic" in cmdline or "pulumi.policy" in cmdline or "pulumi_policy" in cmdline


def is_orphaned_plugin(
    cmdline: list[str], cwd: str | None, parent_cmdline: list[str] | None, project_dir: Path
) -> bool:
    """An engine plugin working in this project whose engine is gone: its parent is no `pulumi`
    (the plugin was reparented when the engine died). A plugin of a running engine has that
    engine as its parent, or another plugin (the program under the language host)."""
    if not is_engine_plugin(cmdline) or cwd is None:
        return False
    if os.path.realpath(cwd) != os.path.realpath(project_dir):
        return False
    if parent_cmdline and (os.path.basename(parent_cmdline[0]) == "pulumi" or is_engine_plugin(parent_cmdline)):
        return False
    return True


def _process(pid: int) -> tuple[list[str], str | None, int] | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        if fields[0] in ("Z", "X"):
            return None
        ppid = int(fields[1])
    except (OSError, IndexError, ValueError):
        return None
    try:
        cwd: str | None = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        cwd = None
    return cmdline, cwd, ppid


def orphaned_plugins(project_dir: Path) -> list[tuple[int, list[str]]]:
    """(pid, command line) of the engine plugins of this project whose engine is gone."""
    found = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        seen = _process(int(entry))
        if seen is None:
            continue
        cmdline, cwd, ppid = seen
        parent = _process(ppid)
        if is_orphaned_plugin(cmdline, cwd, parent[0] if parent else None, project_dir):
            found.append((int(entry), cmdline))
    return found


def stop_processes(pids: Iterable[int], timeout: float = 10.0) -> None:
    """SIGKILL each process by its PID (the engine they served is dead; nothing can record what
    they finish) and wait until they are gone."""
    pids = list(pids)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while any(_process(pid) is not None for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)


# --- applying it ------------------------------------------------------------------------------------

# How each kind of resource tells whether a pending create's object exists: (type token) -> answer.
ExistingAnswer = Callable[[str, dict[str, Any]], Existing | None]


def existing_object(resource_type: str, inputs: dict[str, Any], project_dir: Path) -> Existing | None:
    """What exists for a pending create, asked of the image layer and of every target."""
    from components.image.service_image import existing_image
    from components.targets.registry import all_targets

    answer = existing_image(resource_type, inputs)
    if answer is not None:
        return Existing(*answer)
    for target in all_targets():
        answer = target.existing_object(resource_type, inputs, project_dir)
        if answer is not None:
            return Existing(*answer)
    return None


def stray_objects(stack: str, known: list[Known], project_dir: Path) -> list[Stray]:
    """Objects of the stack, on every target, that the state does not know."""
    from components.targets.base import KnownResource
    from components.targets.registry import all_targets

    shown = [KnownResource(k.type, k.id, k.outputs) for k in known]
    return [
        Stray(stray.what, stray.remove)
        for target in all_targets()
        for stray in target.stray_objects(stack, shown, project_dir)
    ]


def recover(
    stack: str,
    *,
    project_dir: Path,
    project: str,
    backend: Any,
    pulumi: Callable[[list[str]], str],
    write: Callable[[str], None],
    now: datetime,
    by: str,
    lease: timedelta = DEFAULT_LEASE,
) -> Report:
    """Recover stack `stack` (see the module's docstring). `backend` is the stack's state backend
    (components.state.backend); `pulumi(args)` runs the engine on the stack and returns its
    stdout, raising a ModelstackError when it fails."""
    report = Report()

    # 0. a checkpoint the kill left unreadable to the engine (file backend: an empty sidecar)
    for sidecar in empty_sidecars(backend.root, project, stack) if isinstance(backend, FileBackend) else []:
        sidecar.unlink()
        refused = sidecar.name == f"{stack}.json.attrs"
        found = (
            f"{sidecar.name}, the metadata of the stack's {'checkpoint' if refused else 'checkpoint backup'}, left empty by the kill"
            + (" (the engine refused the stack: 'failed to load checkpoint: EOF')" if refused else "")
            + "; the file beside it is whole"
        )
        report.add(found, "removed")
        write(f"state: {found}: removed")

    # 1. the lock: stale ones taken over (audited), a live one refused with its holder
    for lock in take_over(
        backend, project, stack, by=by, now=now, lease=lease, reason="modelstack recover after a killed engine"
    ):
        found = f"lock of {lock.holder} since {lock.since.isoformat(timespec='seconds')}"
        report.add(found, "taken over (stale)")
        write(f"lock: {found}: taken over (stale)")

    # 2. the killed engine's plugins
    orphans = orphaned_plugins(project_dir)
    if orphans:
        stop_processes(pid for pid, _ in orphans)
    for pid, cmdline in orphans:
        found = f"process {pid} ({' '.join(cmdline)[:120]}), a plugin of an engine that is gone"
        report.add(found, "stopped")
        write(f"orphaned engine plugin: {found}: stopped")

    # 3. pending operations, resolved by what exists, with the engine's refresh
    deployment = json.loads(pulumi(["stack", "export"])).get("deployment", {})
    pending = pending_operations(deployment)
    report.pending = len(pending)
    known_urns = recorded_urns(deployment)
    decisions = [
        decide(p, existing_object(p.type, p.inputs, project_dir) if p.kind == CREATING else None, known_urns)
        for p in pending
    ]
    error = unknown_error(stack, decisions)
    if error is not None:
        raise error
    replaced = {k.urn for k in known_resources(deployment)} - known_urns
    for args in refresh_runs(decisions, replaced):
        pulumi(args)
    if decisions:
        deployment = json.loads(pulumi(["stack", "export"])).get("deployment", {})
    recorded = {(k.urn, k.id) for k in known_resources(deployment)}
    for decision in decisions:
        done = {
            ADOPT: f"adopted into the state as {decision.id}",
            CLEAR: "cleared",
            REFRESH: "resolved by a refresh, which read it as it is",
        }[decision.action]
        if decision.action == ADOPT and (decision.pending.urn, decision.id) not in recorded:
            done = f"not adopted: the engine's refresh did not import {decision.id} (so it is removed below, and the next `up` creates it)"
        found = f"pending {decision.pending.kind} of {decision.pending.name}: {decision.found}"
        report.add(found, done)
        write(f"{found}: {done}")

    # 4. objects the state does not know (under modelstack's own lock, so no `up` starts meanwhile)
    with stack_lock(backend, project, stack, operation="recover"):
        strays = stray_objects(stack, known_resources(deployment), project_dir)
        report.strays = len(strays)
        for stray in strays:
            stray.remove()
            report.add(stray.what, "removed")
            write(f"not in the state: {stray.what}: removed")
    if not report.lines:
        write(f"stack {stack}: no lock, no pending operation, nothing the state does not know")
    return report
