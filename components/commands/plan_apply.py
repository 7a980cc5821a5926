"""`modelstack plan` and `modelstack apply`: a plan reviewed in a pull request is exactly what is
applied, or it is refused as stale.

`plan` previews the stack with the engine (`pulumi preview --save-plan`), records the steps and
their diffs, the engine's update plan and the bindings of components/state/plans.py, signs it
and writes it with its summary. `apply` checks the plan (signature, stack, expiry, the cost gate),
takes the stack's lock, recomputes the bindings (the state's digest, the program's, the images a
fresh preview would run) and refuses when any moved; then hands the engine's plan to
`pulumi up --plan`, which refuses any operation the plan does not hold.

The lock is released right before `pulumi up` starts, since the engine refuses to start while a
lock other than its own is in the stack's folder. Between the two lies the time it takes to
start a process; an update that ran to its end inside it would go unseen by the bindings, and
`pulumi up --plan` then still refuses any step beyond the plan (docs/team.md#saved-plans).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from components.config.load import project_name
from components.errors import ModelstackError
from components.state import plans

ENGINE_TIMEOUT_S = 3600
IMAGE_TYPE_SUFFIX = ":ServiceImage"


@dataclass(frozen=True)
class Engine:
    """The engine as these commands run it: the project's settings for STACK (engine_env)."""

    project_dir: Path
    stack: str
    env: dict[str, str]

    def run(self, *args: str, capture: bool = True, timeout: float = ENGINE_TIMEOUT_S) -> subprocess.CompletedProcess:
        if shutil.which("pulumi", path=self.env.get("PATH")) is None:
            raise ModelstackError(
                "the Pulumi CLI is not available",
                rule="plan and apply drive the Pulumi engine",
                fix="run scripts/bootstrap-pulumi.sh (or install the CLI: https://www.pulumi.com/docs/install/)",
            )
        return subprocess.run(
            ["pulumi", *args, "--stack", self.stack, "--non-interactive"],
            cwd=self.project_dir,
            env=self.env,
            capture_output=capture,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )


def open_engine(project_dir: Path, stack: str) -> Engine:
    """The engine's settings for STACK, refused before any work when they break the state rules
    (components/state/environment.py); says on stderr which backend the stack's state is in."""
    from components.commands.engine import reach_state

    return Engine(project_dir, stack, reach_state(project_dir, stack))


def _last_error(result: subprocess.CompletedProcess) -> str:
    from components.commands.engine import last_error_line

    return last_error_line(f"{result.stdout or ''}\n{result.stderr or ''}")[:600]


def exported_state(engine: Engine, *, create: bool) -> dict[str, Any]:
    """`pulumi stack export`; with `create`, a stack that does not exist yet is created first."""
    result = engine.run("stack", "export")
    if result.returncode != 0 and create and "no stack named" in (result.stderr + result.stdout).lower():
        created = engine.run("stack", "init")
        if created.returncode != 0:
            raise ModelstackError(
                f"stack {engine.stack} could not be created: {_last_error(created)}",
                rule="a plan is made against the stack's state, created empty for a new stack",
                fix=f"run `pulumi stack init {engine.stack}` and read its output",
            )
        result = engine.run("stack", "export")
    if result.returncode != 0:
        raise ModelstackError(
            f"stack {engine.stack}'s state could not be read: {_last_error(result)}",
            rule="plan and apply bind a plan to the stack's state",
            fix=f"run `pulumi stack export --stack {engine.stack}` and fix what it names",
        )
    try:
        document = json.loads(result.stdout)
    except ValueError:
        raise ModelstackError(
            f"the engine's export of stack {engine.stack} is not JSON",
            rule="plan and apply bind a plan to the stack's state",
            fix=f"run `pulumi stack export --stack {engine.stack}` and fix what it names",
        ) from None
    return document if isinstance(document, dict) else {"document": document}


def preview(engine: Engine, *, save_plan: Path | None = None, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """`pulumi preview --json` (and the engine's update plan into save_plan)."""
    args = ["preview", "--json", *extra]
    if save_plan is not None:
        args += ["--save-plan", str(save_plan)]
    result = engine.run(*args)
    try:
        document = json.loads(result.stdout)
    except ValueError:
        document = None
    if result.returncode != 0 or not isinstance(document, dict):
        diagnostics = []
        if isinstance(document, dict):
            diagnostics = [
                d.get("message", "") for d in document.get("diagnostics") or [] if d.get("severity") == "error"
            ]
        reason = (diagnostics[-1].strip().splitlines() or [""])[0] if diagnostics else _last_error(result)
        raise ModelstackError(
            f"the preview of stack {engine.stack} failed: {reason}",
            rule="a plan is what a successful preview shows",
            fix=f"run `pulumi preview --stack {engine.stack}` to see the whole output, fix what it names, and plan again",
        )
    return document


def step_records(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The steps as the reviewers saw them: resource, operation, and which properties change."""
    found = []
    for step in document.get("steps") or []:
        record = {"urn": step.get("urn", ""), "op": step.get("op", "")}
        for field in ("diffReasons", "replaceReasons", "detailedDiff"):
            if step.get(field):
                record[field] = step[field]
        found.append(record)
    return found


def image_tags(state: dict[str, Any], document: dict[str, Any]) -> dict[str, str]:
    """Each service image the stack would run after the previewed update: resource name -> its
    content tag. The preview lists only what changes, so the images it leaves alone are read from
    the state; a step's new state wins over the recorded one, and a deleted image is gone."""
    found = {}
    for resource in (state.get("deployment") or {}).get("resources") or []:
        if str(resource.get("type", "")).endswith(IMAGE_TYPE_SUFFIX) and not resource.get("delete"):
            tag = (resource.get("inputs") or {}).get("tag")
            found[str(resource.get("urn", "")).rsplit("::", 1)[-1]] = str(tag)
    for step in document.get("steps") or []:
        name = str(step.get("urn", "")).rsplit("::", 1)[-1]
        new_state = step.get("newState") or {}
        if step.get("op") == "delete":
            found.pop(name, None)
        elif str(new_state.get("type", "")).endswith(IMAGE_TYPE_SUFFIX):
            found[name] = str((new_state.get("inputs") or {}).get("tag"))
    return dict(sorted(found.items()))


def current_bindings(engine: Engine, state: dict[str, Any], document: dict[str, Any]) -> plans.Bindings:
    project_dir = engine.project_dir
    stack_file = project_dir / "stacks" / f"Pulumi.{engine.stack}.yaml"
    return plans.Bindings(
        state=plans.state_digest(state),
        program=plans.program_digest(project_dir, plans.program_paths(project_dir, stack_file)),
        images=image_tags(state, document),
    )


@dataclass(frozen=True)
class PlanMade:
    path: Path
    body: dict[str, Any]
    summary: str


def policy_args(policy_pack: Path | None, policy_config: Path | None) -> tuple[str, ...]:
    if policy_pack is None:
        return ()
    return ("--policy-pack", str(policy_pack), *(("--policy-pack-config", str(policy_config)) if policy_config else ()))


def make_plan(
    project_dir: Path,
    stack: str,
    out: Path,
    *,
    policy_pack: Path | None = None,
    policy_config: Path | None = None,
    policy_results: Path | None = None,
    now: datetime | None = None,
) -> PlanMade:
    """Preview STACK (with the policy pack, when given) and write its signed plan to OUT; the
    summary includes the policy results of `modelstack check --json` when given."""
    from components.commands.plan_summary import load_policy_results, plan_costs, render
    from components.config.load import load_from_files

    settings = load_from_files(stack, project_dir).plans
    engine = open_engine(project_dir, stack)
    key = plans.signing_key(engine.env, stack)  # before any work: no key, no plan
    before = exported_state(engine, create=True)
    with tempfile.TemporaryDirectory(prefix="modelstack-plan-") as scratch:
        engine_plan_path = Path(scratch) / "engine-plan.json"
        document = preview(engine, save_plan=engine_plan_path, extra=policy_args(policy_pack, policy_config))
        engine_plan = json.loads(engine_plan_path.read_text())
    after = exported_state(engine, create=False)
    if plans.state_digest(after) != plans.state_digest(before):
        raise ModelstackError(
            f"stack {stack}'s state changed while the plan was being made",
            rule="a plan is bound to one state of the stack",
            fix=f"wait for the other update to end, then run `modelstack plan --stack {stack}` again",
        )
    cost_before, cost_after = plan_costs(document)
    cost = plans.cost_record(
        cost_before.amount, cost_after.amount, cost_before.unknown + cost_after.unknown, settings.approval_above_monthly
    )
    body = plans.new_body(
        project=project_name(project_dir),
        stack=stack,
        backend=engine.env.get("PULUMI_BACKEND_URL", ""),
        created=now or datetime.now(UTC),
        lifetime=timedelta(hours=settings.lifetime_hours),
        bindings=current_bindings(engine, before, document),
        steps=step_records(document),
        cost=cost,
        engine_plan=engine_plan,
    )
    signed = {"body": body, "signature": plans.sign(body, key)}
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(json.dumps(signed, indent=1, sort_keys=True) + "\n")
    os.replace(partial, out)
    policies = load_policy_results(policy_results) if policy_results else None
    summary = render(document, policies=policies) + plan_footer(body)
    return PlanMade(out, body, summary)


def plan_footer(body: dict[str, Any]) -> str:
    """What the summary says of the plan itself: its id, expiry, and the cost gate."""
    cost = body["cost"]
    lines = [
        "",
        "### Saved plan",
        "",
        f"Plan `{plans.plan_id(body)}` for stack `{body['stack']}`, made {body['created']}, expires {body['expires']}.",
        "Merging applies exactly this plan (`modelstack apply`); if the stack, the program or its images move first, it is refused as stale.",
    ]
    if cost["needs_approval"]:
        lines.append(
            f"**Needs approval:** the estimated monthly cost rises by ${cost['increase']:,.2f}, above this stack's "
            f"limit of ${cost['approval_above']:,.2f} (`modelstack:plans.approval_above_monthly`): "
            "apply it with `modelstack apply --approved-by NAME`."
        )
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Applied:
    plan_id: str
    approved_by: str | None


def stale_error(stack: str, moved: list[str]) -> ModelstackError:
    return ModelstackError(
        f"the plan for stack {stack} is stale: " + "; ".join(moved),
        rule="apply runs a plan only while the state, program and images it was made from still hold",
        fix=f"make a new plan (`modelstack plan --stack {stack} --out plan.json`), review it, and apply that one",
    )


def apply_plan(
    project_dir: Path,
    stack: str,
    plan_path: Path,
    *,
    approved_by: str | None = None,
    now: datetime | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> Applied:
    from components.state.backend import open_backend
    from components.state.locks import append_audit, stack_lock, this_user

    document = plans.load_plan_document(plan_path)
    engine = open_engine(project_dir, stack)
    key = plans.signing_key(engine.env, stack)
    project = project_name(project_dir)
    moment = now or datetime.now(UTC)
    refused = plans.refusals(document, stack=stack, project=project, key=key, now=moment)
    if refused:
        raise refused[0]
    body = document["body"]
    identity = plans.plan_id(body)
    refusal = plans.approval_refusal(body, approved_by, plan_path)
    if refusal:
        raise refusal
    backend = open_backend(engine.env["PULUMI_BACKEND_URL"], engine.env)
    with stack_lock(backend, project, stack, operation="apply") as lock:
        log(f"checking plan {identity} against stack {stack} (state, program, images)")
        state = exported_state(engine, create=False)
        fresh = preview(engine)
        moved = plans.stale_bindings(body["bindings"], current_bindings(engine, state, fresh))
        if moved:
            raise stale_error(stack, moved)
        with tempfile.TemporaryDirectory(prefix="modelstack-apply-") as scratch:
            engine_plan = Path(scratch) / "engine-plan.json"
            engine_plan.write_text(json.dumps(body["engine_plan"]))
            log(f"applying plan {identity} to stack {stack}")
            lock.release()  # the engine takes its own lock, and refuses while another is held
            # The engine's progress goes straight to the user: an apply can take minutes.
            result = engine.run("up", "--plan", str(engine_plan), "--yes", "--skip-preview", capture=False)
    approval = f" approved by {approved_by.strip()}" if approved_by and approved_by.strip() else ""
    outcome = "applied" if result.returncode == 0 else "failed"
    append_audit(
        backend,
        project,
        stack,
        [f"{plans.iso(datetime.now(UTC))} {this_user()} apply plan {identity} {outcome}{approval}\n"],
    )
    if result.returncode != 0:
        raise ModelstackError(
            f"applying plan {identity} to stack {stack} failed (the engine exited {result.returncode})",
            rule="apply runs exactly the plan's steps; the engine refuses any step the plan does not hold",
            fix=f"read the engine's errors above; fix what they name, then make a new plan (`modelstack plan --stack {stack}`) and apply it",
        )
    return Applied(identity, approved_by.strip() if approved_by else None)
