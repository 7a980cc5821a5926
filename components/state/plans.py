"""Saved plans: what `modelstack plan` records for review and `modelstack apply` runs exactly.

A plan holds the steps the engine previewed (with their diffs), the engine's own update plan
(`pulumi preview --save-plan`, which `pulumi up --plan` enforces step by step), and the bindings
that make it safe to apply later:

- the stack's state as it was (a digest of `pulumi stack export`: every update, refresh or import
  rewrites the checkpoint, so any of them changes it);
- the program and configuration it was made from (a digest of the files that make the program);
- the images it will run (each service image's content tag);
- the project, stack and backend it is for, when it was made and when it expires;
- the estimated monthly cost change, and whether it needs a named approval.

The whole body is signed (HMAC-SHA256) with a key the stack's users have: MODELSTACK_PLAN_KEY_FILE
or MODELSTACK_PLAN_KEY, else the stack's own secrets passphrase. An edited plan fails the
signature. Everything here is pure: the engine calls live in commands/plan_apply.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from components.errors import ModelstackError

PLAN_FORMAT = "modelstack-plan/1"
# A plan file is read whole: a real one is some hundreds of KiB (the engine plan carries each
# dynamic resource's provider); anything far past that is not a plan.
MAX_PLAN_BYTES = 64 * 1024 * 1024
MAX_KEY_FILE_BYTES = 64 * 1024
# What the program is made of, relative to the project: change any of these and a plan made
# before is stale. Service sources and models are not listed: they reach the stack only through
# the images, whose content tags the plan binds separately.
PROGRAM_FILES = ("Pulumi.yaml", "__main__.py", "requirements.txt")
PROGRAM_FOLDERS = ("components", "templates", "modelstack_server", "policies")
SKIPPED_PARTS = frozenset({"__pycache__"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")

KEY_ENVS = ("MODELSTACK_PLAN_KEY_FILE", "MODELSTACK_PLAN_KEY")
PASSPHRASE_ENVS = ("PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_CONFIG_PASSPHRASE")


def canonical(value: Any) -> bytes:
    """One byte string per value: sorted keys, no spaces, so a digest or signature of a JSON value
    does not depend on how it was formatted."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --- bindings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bindings:
    """What a plan was made from; apply recomputes them and compares."""

    state: str  # digest of the stack's exported state
    program: str  # digest of the program's files and the stack's config file
    images: dict[str, str]  # image resource name -> content tag

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "program": self.program, "images": dict(sorted(self.images.items()))}


def state_digest(exported: Mapping[str, Any]) -> str:
    """The digest of `pulumi stack export`'s document. The checkpoint records the time of the
    operation that wrote it (manifest.time), so even an update that changed no resource, a
    refresh or an import gives another digest."""
    return sha256(canonical(exported))


def program_paths(project_dir: Path, stack_file: Path) -> list[Path]:
    """The files that make the program and the stack's configuration, in a fixed order."""
    found = [project_dir / name for name in PROGRAM_FILES if (project_dir / name).is_file()]
    for folder in PROGRAM_FOLDERS:
        root = project_dir / folder
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(project_dir)
            if SKIPPED_PARTS.intersection(relative.parts) or path.suffix in SKIPPED_SUFFIXES:
                continue
            if path.is_file() and not path.is_symlink():
                found.append(path)
    if stack_file.is_file():
        found.append(stack_file)
    return found


def program_digest(project_dir: Path, paths: Iterable[Path]) -> str:
    """A digest over each file's path (relative to the project) and content."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.relative_to(project_dir).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return "sha256:" + digest.hexdigest()


def stale_bindings(planned: Mapping[str, Any], now: Bindings) -> list[str]:
    """What moved since the plan was made, as sentences; empty when the plan still holds."""
    moved = []
    if planned.get("state") != now.state:
        moved.append("the stack's state changed (an update, refresh or import ran after the plan was made)")
    if planned.get("program") != now.program:
        moved.append("the program or the stack's configuration changed")
    planned_images = dict(planned.get("images") or {})
    if planned_images != now.images:
        names = sorted(
            name for name in set(planned_images) | set(now.images) if planned_images.get(name) != now.images.get(name)
        )
        moved.append(f"the images it would run changed ({', '.join(names)})")
    return moved


# --- signing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    key: bytes
    source: str  # the variable it came from, for messages; never the key itself


def _read_key_file(path_text: str, variable: str) -> bytes:
    path = Path(path_text).expanduser()
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise ModelstackError(
            f"{variable} names {path}, which cannot be read ({exc.strerror or exc})",
            key=variable,
            rule="plans are signed and checked with a key the stack's users share",
            fix=f"point {variable} at a readable file that holds the key",
        ) from None
    if len(data) > MAX_KEY_FILE_BYTES:
        raise ModelstackError(
            f"{variable} names {path}, which is larger than {MAX_KEY_FILE_BYTES // 1024} KiB",
            key=variable,
            rule="a signing key or passphrase file holds one key",
            fix=f"point {variable} at the file that holds the key",
        )
    return data.rstrip(b"\r\n")


def signing_key(environ: Mapping[str, str], stack: str) -> SigningKey:
    """The key plans of this stack are signed with: MODELSTACK_PLAN_KEY_FILE or MODELSTACK_PLAN_KEY;
    else one derived from the stack's secrets passphrase, which every user of the stack has. The
    stack name is mixed in, so a plan signed for one stack does not verify for another even when
    they share a passphrase."""
    material: bytes | None = None
    source = ""
    for variable in (*KEY_ENVS, *PASSPHRASE_ENVS):
        if variable.endswith("_FILE") and environ.get(variable):
            material, source = _read_key_file(environ[variable], variable), variable
            break
        if not variable.endswith("_FILE") and variable in environ:
            if variable in KEY_ENVS and not environ[variable]:
                continue  # an empty plan key is no key
            material, source = environ[variable].encode(), variable
            break
    if material is None:
        raise ModelstackError(
            f"no key to sign or check stack {stack}'s plans with",
            key="MODELSTACK_PLAN_KEY_FILE",
            rule="a plan is signed with a key the stack's users share: MODELSTACK_PLAN_KEY_FILE or "
            "MODELSTACK_PLAN_KEY, else the stack's passphrase (PULUMI_CONFIG_PASSPHRASE_FILE or PULUMI_CONFIG_PASSPHRASE)",
            fix="export MODELSTACK_PLAN_KEY_FILE=<a file from your team's secret store> (or set the stack's passphrase)",
        )
    derived = hmac.new(material, b"modelstack plan signing key\0" + stack.encode(), hashlib.sha256).digest()
    return SigningKey(derived, source)


def sign(body: Mapping[str, Any], key: SigningKey) -> str:
    return "hmac-sha256:" + hmac.new(key.key, canonical(body), hashlib.sha256).hexdigest()


def signature_holds(body: Mapping[str, Any], signature: Any, key: SigningKey) -> bool:
    return isinstance(signature, str) and hmac.compare_digest(sign(body, key), signature)


# --- the plan document --------------------------------------------------------------------------


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: Any, what: str) -> datetime:
    try:
        return datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise ModelstackError(
            f"the plan's {what} '{str(text)[:40]}' is not a UTC time",
            rule="a plan is written by `modelstack plan`",
            fix="make a new plan with `modelstack plan`",
        ) from None


def new_body(
    *,
    project: str,
    stack: str,
    backend: str,
    created: datetime,
    lifetime: timedelta,
    bindings: Bindings,
    steps: list[dict[str, Any]],
    cost: dict[str, Any],
    engine_plan: Any,
) -> dict[str, Any]:
    return {
        "format": PLAN_FORMAT,
        "project": project,
        "stack": stack,
        "backend": backend,
        "created": iso(created),
        "expires": iso(created + lifetime),
        "bindings": bindings.as_dict(),
        "steps": steps,
        "cost": cost,
        "engine_plan": engine_plan,
    }


def plan_id(body: Mapping[str, Any]) -> str:
    """A short name for a plan in messages and the audit log: the start of its body's digest."""
    return sha256(canonical(body))[len("sha256:") :][:12]


def load_plan_document(path: Path) -> dict[str, Any]:
    """A plan file read within bounds and shaped like one; errors name the file."""
    fix = "make a new plan with `modelstack plan --stack STACK --out FILE`"
    try:
        if not path.is_file():
            raise ModelstackError(
                f"{path} is not a plan file", rule="apply takes a file `modelstack plan` wrote", fix=fix
            )
        with path.open("rb") as handle:
            data = handle.read(MAX_PLAN_BYTES + 1)
    except OSError as exc:
        raise ModelstackError(
            f"{path} cannot be read ({exc.strerror or exc})", rule="apply reads the plan file", fix=fix
        ) from None
    if len(data) > MAX_PLAN_BYTES:
        raise ModelstackError(
            f"{path} is larger than {MAX_PLAN_BYTES // (1024 * 1024)} MiB",
            rule="a plan file is that of one stack",
            fix=fix,
        )
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        raise ModelstackError(
            f"{path} is not JSON", rule="a plan file is the JSON `modelstack plan` wrote", fix=fix
        ) from None
    body = document.get("body") if isinstance(document, dict) else None
    if not isinstance(body, dict) or body.get("format") != PLAN_FORMAT or not isinstance(body.get("bindings"), dict):
        raise ModelstackError(
            f"{path} is not a modelstack plan ({PLAN_FORMAT})",
            rule="apply takes a file `modelstack plan` wrote",
            fix=fix,
        )
    return document


def refusals(
    document: Mapping[str, Any], *, stack: str, project: str, key: SigningKey, now: datetime
) -> list[ModelstackError]:
    """Why this plan may not be applied to STACK now, before the live bindings are looked at:
    edited (signature), another project's or stack's, expired. Empty when none holds."""
    body = document["body"]
    replan = f"make a new plan: modelstack plan --stack {stack} --out plan.json"
    if body.get("project") != project or body.get("stack") != stack:
        # Said before the signature is checked: the key is the stack's, so another stack's plan
        # would otherwise be reported as edited.
        return [
            ModelstackError(
                f"the plan is for stack {body.get('stack')} of project {body.get('project')}, not stack {stack} of project {project}",
                rule="a plan is applied to the stack it was made for",
                fix=f"apply it with --stack {body.get('stack')}, or {replan}",
            )
        ]
    if not signature_holds(body, document.get("signature"), key):
        return [
            ModelstackError(
                "the plan's signature does not match its content (the file was edited, or signed with another key)",
                rule=f"apply runs only a plan exactly as `modelstack plan` signed it, with the key from {key.source}",
                fix=f"{replan}; if it was not edited, check that {key.source} is the key the plan was made with",
            )
        ]
    found = []
    expires = parse_iso(body.get("expires"), "expiry")
    if now >= expires:
        found.append(
            ModelstackError(
                f"the plan expired at {iso(expires)} (made {body.get('created')})",
                rule="a plan is applied before it expires (modelstack:plans.lifetime_hours)",
                fix=replan,
            )
        )
    return found


def approval_needed(increase: float, threshold: float | None) -> bool:
    """The cost gate: a plan whose monthly cost increase is above the stack's threshold needs an
    approval. No threshold: no gate."""
    return threshold is not None and increase > threshold


def cost_record(before: float, after: float, unknown: Iterable[str], threshold: float | None) -> dict[str, Any]:
    """What a plan records of its cost: the estimates, and whether the gate applies."""
    increase = after - before
    return {
        "before": round(before, 2),
        "after": round(after, 2),
        "increase": round(increase, 2),
        "unknown": sorted(set(unknown)),
        "approval_above": threshold,
        "needs_approval": approval_needed(increase, threshold),
    }


def approval_refusal(body: Mapping[str, Any], approved_by: str | None, plan_path: Path) -> ModelstackError | None:
    """A plan over the cost gate without a named approval is refused, naming the limit."""
    cost = body.get("cost") or {}
    if not cost.get("needs_approval") or (approved_by or "").strip():
        return None
    stack = body.get("stack")
    return ModelstackError(
        f"plan {plan_id(body)} raises stack {stack}'s estimated monthly cost by ${cost.get('increase', 0):,.2f}, "
        f"above its limit of ${cost.get('approval_above', 0):,.2f}",
        key="modelstack:plans.approval_above_monthly",
        rule="a plan above the stack's cost limit is applied only with a named approval, which is recorded",
        fix=f"have it approved and run `modelstack apply {plan_path} --stack {stack} --approved-by NAME`",
    )
