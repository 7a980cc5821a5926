"""`modelstack drift`: what the live resources say that the stack's state does not.

A refresh preview (`pulumi refresh --preview-only`, through the Automation API): the state is
not written. Every resource whose refreshed outputs differ from the recorded ones is drift,
reported with the fields that changed; a resource gone from the live system is drift too.
Secret values are never shown, only the names of the fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.plan_values import DYNAMIC_PROVIDER_INPUT, SECRET_PLACEHOLDER, is_secret
from components.targets import states

IGNORED_FIELDS = {DYNAMIC_PROVIDER_INPUT}
# What the cluster itself changes on every Kubernetes object, and is no drift: its status (the
# stack's own waits read that), the bookkeeping in its metadata, and the revision counters of
# controllers; and what pulumi-kubernetes keeps for itself beside an object's fields (its copy of
# the inputs, its field manager). Dotted paths below a resource's outputs.
KUBERNETES_BOOKKEEPING = (
    "__inputs",
    "__fieldManager",
    "__initialApiVersion",
    "status",
    "metadata.resourceVersion",
    "metadata.generation",
    "metadata.managedFields",
    "metadata.uid",
    "metadata.creationTimestamp",
    "metadata.annotations.deployment.kubernetes.io/revision",
    "metadata.annotations.kubectl.kubernetes.io/last-applied-configuration",
)


@dataclass
class Drifted:
    urn: str
    type: str
    name: str
    op: str  # update (changed) or delete (gone)
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # name -> (recorded, live)
    service: str | None = None  # the webservice a deployment belongs to, when it says


def _shown(value: Any) -> Any:
    return SECRET_PLACEHOLDER if is_secret(value) else value


def changed_fields(
    old: dict[str, Any], new: dict[str, Any], ignored: tuple[str, ...] = ()
) -> dict[str, tuple[Any, Any]]:
    """The output fields whose values differ, as dotted paths down to the mappings' leaves
    (`spec.replicas`), so a report says what changed rather than "spec"; lists and secrets are
    compared whole, and a secret's values are masked. Paths in `ignored` (and below) are left out."""
    found: dict[str, tuple[Any, Any]] = {}

    def walk(path: str, before: Any, after: Any) -> None:
        if before == after or path in ignored:
            return
        if type(before) is dict and type(after) is dict and not is_secret(before) and not is_secret(after):
            for key in sorted(set(before) | set(after)):
                walk(f"{path}.{key}" if path else key, before.get(key), after.get(key))
            return
        found[path] = (_shown(before), _shown(after))

    for key in sorted((set(old) | set(new)) - IGNORED_FIELDS):
        walk(key, old.get(key), new.get(key))
    return found


def is_kubernetes(resource_type: str) -> bool:
    return resource_type.startswith("kubernetes:") and not resource_type.startswith("kubernetes:helm.sh")


def service_of(outputs: dict[str, Any]) -> str | None:
    """The webservice a resource belongs to: its `service` output (modelstack's own resources), or
    the label every Kubernetes object of a service carries."""
    service = outputs.get("service")
    metadata = outputs.get("metadata")
    if service is None and isinstance(metadata, dict) and isinstance(metadata.get("labels"), dict):
        service = metadata["labels"].get(states.K8S_SERVICE_LABEL)
    return service if isinstance(service, str) else None


def secret_changes(
    meta: Any, old: dict[str, Any], new: dict[str, Any], ignored: tuple[str, ...], found: dict[str, Any]
) -> dict[str, tuple[Any, Any]]:
    """Changes the outputs cannot show: the engine compares secrets, but in the events every secret
    reads "[secret]" before and after, so a secret edited by hand (a key in a Secret's data) is
    known only from the paths the engine says differ (`diffs`, `detailed_diff`). Values stay masked."""
    paths = [*(getattr(meta, "diffs", None) or ()), *(getattr(meta, "detailed_diff", None) or {})]
    changes: dict[str, tuple[Any, Any]] = {}
    for path in paths:
        top = path.split(".", 1)[0].split("[", 1)[0]
        if top in IGNORED_FIELDS or any(path == i or path.startswith(f"{i}.") for i in ignored):
            continue
        if not is_secret(old.get(top)) and not is_secret(new.get(top)):
            continue  # shown by changed_fields, if its value changed
        if not any(path == p or path.startswith(f"{p}.") or p.startswith(f"{path}.") for p in (*found, *changes)):
            changes[path] = (SECRET_PLACEHOLDER, SECRET_PLACEHOLDER)
    return changes


def drift_from_events(events: list[Any]) -> list[Drifted]:
    """Drifted resources from the engine events of a refresh preview."""
    found: dict[str, Drifted] = {}
    for event in events:
        outputs_event = getattr(event, "res_outputs_event", None)
        if outputs_event is None:
            continue
        meta = outputs_event.metadata
        op = getattr(meta.op, "value", str(meta.op))
        if op in ("same", "refresh"):
            continue
        old = (meta.old.outputs if meta.old else None) or {}
        new = (meta.new.outputs if meta.new else None) or {}
        kind = meta.type
        if kind.startswith("pulumi:pulumi:Stack"):
            continue
        ignored = KUBERNETES_BOOKKEEPING if is_kubernetes(kind) else ()
        fields = changed_fields(old, new, ignored)
        fields.update(secret_changes(meta, old, new, ignored, fields))
        if new and not fields:
            continue  # only what the cluster keeps for itself changed
        found[meta.urn] = Drifted(
            meta.urn,
            kind,
            meta.urn.rsplit("::", 1)[-1],
            "delete" if not new else op,
            fields,
            service_of(new) or service_of(old),
        )
    return sorted(found.values(), key=lambda d: d.urn)


def live_parts(events: list[Any]) -> dict[str, list[str]]:
    """What a refresh found of each service's deployments, changed or not: per service the Azure
    ML state of each part (an ACI container group, an AKS Deployment per version, a local
    container), or "gone" for a part the live system no longer has."""
    parts: dict[str, list[str]] = {}
    for event in events:
        outputs_event = getattr(event, "res_outputs_event", None)
        if outputs_event is None:
            continue
        meta = outputs_event.metadata
        old = (meta.old.outputs if meta.old else None) or {}
        new = (meta.new.outputs if meta.new else None) or {}
        read = states.live_state(meta.type, new or old)
        if read is not None:
            service, state = read
        elif isinstance((new or old).get("service"), str) and isinstance((new or old).get("state"), str):
            service, state = (new or old)["service"], (new or old)["state"]
        else:
            continue
        parts.setdefault(service, []).append(state if new else "gone")
    return parts


def refresh_events(project_dir: Path, stack: str, log=None, command: str = "drift") -> list[Any]:
    """The engine events of a refresh preview of a stack; nothing is written."""
    from pulumi.automation.errors import CommandError

    from components.commands.engine import command_failure, select_stack

    handle = select_stack(project_dir, stack)
    events: list[Any] = []
    try:
        handle.preview_refresh(on_event=events.append, on_output=log, show_secrets=False)
    except CommandError as failed:
        raise command_failure(failed, project_dir=project_dir, stack=stack, command=command) from None
    return events


def detect(project_dir: Path, stack: str, log=None) -> list[Drifted]:
    """Refresh preview of a stack; nothing is written."""
    return drift_from_events(refresh_events(project_dir, stack, log))
