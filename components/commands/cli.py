"""The `modelstack` command.

    modelstack check --stack NAME [--json]        evaluate a stack offline (exit 0 clean, 1 violation, 2 usage)
    modelstack package SERVICE --stack NAME --out DIR   write a service's Dockerfile and build context
    modelstack profile SERVICE --stack NAME --data FILE  size a service under load, locally
    modelstack plan-summary PREVIEW_JSON                 a pull-request comment from `pulumi preview --json`
    modelstack drift --stack NAME                         what runs differently from the stack (exit 1 on drift)
    modelstack promote --from SRC --to DST                pin SRC's release in DST, no rebuild
    modelstack token SERVICE --stack NAME                 a token for a service with token_auth_enabled
    modelstack logs SERVICE --stack NAME [--version V] [--tail N] [--follow]   the service's container or pod logs
    modelstack plan --stack NAME [--out FILE] [--summary FILE]   a signed plan of the stack's next update
    modelstack apply FILE --stack NAME [--approved-by NAME]      apply exactly that plan, or refuse it as stale
    modelstack lock status|take-over --stack NAME         who holds a stack's lock; remove a stale one, audited
    modelstack recover --stack NAME                       after a killed update: stale lock, pending operations, strays

Errors meant for the user (a ModelstackError) are printed without a traceback.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from components.config.schema import STATE_DIR
from components.errors import ConfigErrors, ModelstackError

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Take a trained model to a served endpoint, with Pulumi stacks."
)
# Plans have long values (image digests): keep lines whole when the output is not a terminal.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK, EXIT_VIOLATION, EXIT_USAGE = 0, 1, 2


def _fail(error: ModelstackError) -> None:
    errors = error.errors if isinstance(error, ConfigErrors) else [error]
    noun = "error" if len(errors) == 1 else "errors"
    err.print(f"[bold red]{len(errors)} {noun}[/]", markup=True)
    for one in errors:
        err.print(f"- {one}", markup=False)
    # an option of the command at fault (its key is the option) is bad usage
    raise typer.Exit(EXIT_USAGE if (error.key or "").startswith("--") else EXIT_VIOLATION)


def _short_type(type_: str) -> str:
    return type_.rsplit(":", 1)[-1]


def _summary(inputs: dict) -> str:
    """The inputs a person reads first, on one line."""
    keys = ("tag", "image", "port", "sku", "location", "agent_count", "vm_size", "address")
    shown = [f"{k}={inputs[k]}" for k in keys if k in inputs and inputs[k] not in (None, "", {})]
    return "  ".join(shown)


def _tree(plan) -> Tree:
    root = Tree(f"[bold]stack {plan.stack}[/]")
    nodes = {}
    children: dict[str | None, list] = {}
    for resource in sorted(plan.resources, key=lambda r: r.urn):
        children.setdefault(resource.parent, []).append(resource)

    def add(parent_node, parent_urn):
        for resource in children.get(parent_urn, []):
            detail = escape(_summary(resource.inputs))
            node = parent_node.add(f"{resource.name} [dim]({_short_type(resource.type)})[/] {detail}".rstrip())
            nodes[resource.urn] = node
            add(node, resource.urn)

    stack_urns = {
        r.parent
        for r in plan.resources
        if r.parent and r.parent.endswith(f"pulumi:pulumi:Stack::modelstack-{plan.stack}")
    }
    for urn in sorted(stack_urns) or [None]:
        add(root, urn)
    return root


@app.command()
def check(
    stack: str = typer.Option(..., "--stack", help="The stack to evaluate (a file stacks/Pulumi.<stack>.yaml)."),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print the planned resources with their inputs, the rule errors, warnings and policy results as JSON.",
    ),
) -> None:
    """Evaluate a stack offline: config, rules (the capacity check among them) and policies; print the resources it would create."""
    from components.config.load import find_project_dir
    from components.config.rules import stack_warnings
    from components.offline.evaluate import evaluate_stack, plan_json
    from components.plan_values import policy_view
    from components.policy.settings import evaluate_policies, load_stack_policy_config
    from components.policy.types import Resource
    from components.state.passphrase import empty_passphrase_error

    started = time.monotonic()
    rule_errors: list = []
    try:
        config, plan = evaluate_stack(stack, rule_errors=rule_errors)
        policy_config = load_stack_policy_config(find_project_dir(), stack)
        # A stack file whose secrets the empty passphrase opens (components/state/passphrase.py).
        secrets_error = empty_passphrase_error(find_project_dir(), stack)
        if secrets_error is not None:
            rule_errors.append(secrets_error)
    except ModelstackError as error:
        _fail(error)
    violations = evaluate_policies(
        [Resource(r.urn, r.type, r.name, policy_view(r.raw_inputs)) for r in plan.resources], policy_config
    )
    mandatory = [v for v in violations if v.enforcement == "mandatory"]
    warnings = stack_warnings(config)
    if as_json:
        document = json.loads(plan_json(plan))
        document["violations"] = [v.as_json() for v in violations]
        document["errors"] = [str(e) for e in rule_errors]
        document["warnings"] = [str(w) for w in warnings]
        out.print(json.dumps(document, indent=2, sort_keys=True), markup=False)
    else:
        out.print(_tree(plan))
        custom = sum(1 for r in plan.resources if r.custom)
        out.print(
            f"{len(plan.resources)} resources ({custom} managed by providers), {len(config.services)} services; evaluated in {time.monotonic() - started:.2f}s",
            markup=False,
        )
        for violation in violations:
            colour = "red" if violation.enforcement == "mandatory" else "yellow"
            out.print(
                f"[{colour}]{violation.enforcement}[/] [bold]{violation.policy}[/] {escape(violation.resource)}\n  {escape(violation.message)}"
            )
        for warning in warnings:
            out.print(f"[yellow]warning[/] {escape(str(warning))}")
        if not violations and not rule_errors:
            out.print(
                "[green]clean:[/] config valid, every rule and policy passed"
                + (f" ({len(warnings)} warning{'s' if len(warnings) != 1 else ''} above)" if warnings else "")
            )
    if rule_errors:
        noun = "error" if len(rule_errors) == 1 else "errors"
        err.print(f"[bold red]{len(rule_errors)} config {noun}[/]")
        for rule_error in rule_errors:
            err.print(f"- {rule_error}", markup=False)
    raise typer.Exit(EXIT_VIOLATION if mandatory or rule_errors else EXIT_OK)


@app.command()
def package(
    service: str = typer.Argument(..., help="The service whose image to package."),
    stack: str = typer.Option(..., "--stack", help="The stack whose config to use."),
    out_dir: Path = typer.Option(
        ..., "--out", help="Folder to write the Dockerfile and build context into (new or empty)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Write into a folder that already holds files (files of the same names are replaced)."
    ),
) -> None:
    """Write a service's Dockerfile and build context (Azure ML's generate_dockerfile=True)."""
    from components.commands.package_out import out_dir_error, out_inside_inputs_error, write_failed
    from components.config.load import find_project_dir, load_from_files
    from components.config.paths import resolve_path
    from components.errors import ConfigError
    from components.image.build_context import build_context, write_context
    from components.image.wheelhouse import ensure_wheelhouse
    from modelstack_server.contract import PORT

    try:
        out_error = out_dir_error(out_dir, find_project_dir(), force=force)
        if out_error:
            raise out_error
        config = load_from_files(stack)
        if service not in config.services:
            raise ConfigError(
                f"stack {stack} has no service '{service}'",
                key="modelstack:services",
                rule="package names a declared service",
                fix=f"use one of: {', '.join(config.services)}",
            )
        project_dir = find_project_dir()
        spec = config.services[service]
        inputs = {
            f"modelstack:models.{name}.path": resolve_path(project_dir, config.models[name].path)
            for name in spec.models
            if name in config.models
        }
        if spec.source_directory:
            inputs[f"modelstack:services.{service}.source_directory"] = resolve_path(project_dir, spec.source_directory)
        inside_error = out_inside_inputs_error(out_dir, inputs)
        if inside_error:
            raise inside_error
        context = build_context(project_dir, service, spec, config.models)
        wheelhouse = None
        if context.requirements_digest:
            wheelhouse = ensure_wheelhouse(
                project_dir / STATE_DIR,
                context.requirements_digest,
                context.environment_files["requirements.txt"],
                log=lambda m: err.print(m, markup=False),
            )
        try:
            written = write_context(context, out_dir, wheelhouse)
        except OSError as exc:
            raise write_failed(out_dir, exc) from None
    except ModelstackError as error:
        _fail(error)
    image = f"{service}:{context.tag}"
    out.print(
        f"wrote {len(written)} files to {out_dir} (tag {context.tag}, models {context.model_versions})", markup=False
    )
    out.print(f"build:  docker build -t {image} {out_dir}", markup=False)
    out.print(f"run:    docker run -p 6789:{PORT} {image}", markup=False)


@app.command("plan-summary")
def plan_summary(
    preview_json: str = typer.Argument(..., help="The file `pulumi preview --json` wrote, or - for stdin."),
    policies: Path | None = typer.Option(
        None, "--policies", help="`modelstack check --json` output, to include policy results."
    ),
) -> None:
    """Markdown summary of a preview for a pull-request comment: changes, replacements, policies, cost."""
    from components.commands.plan_summary import load_policy_results, load_preview, render

    try:
        document = load_preview(preview_json)
        violations = None
        if policies is not None:
            violations = load_policy_results(policies)
        summary = render(document, policies=violations)
    except ModelstackError as error:
        _fail(error)
    sys.stdout.write(summary)


@app.command()
def drift(
    stack: str = typer.Option(..., "--stack", help="The stack to compare with what runs."),
    as_json: bool = typer.Option(False, "--json", help="Print the drifted resources as JSON."),
) -> None:
    """Refresh preview (state is not written): list drifted resources and fields; exit 1 on drift."""
    from rich.table import Table

    from components.commands.drift import detect
    from components.config.load import find_project_dir

    try:
        drifted = detect(find_project_dir(), stack)
    except ModelstackError as error:
        _fail(error)
    if as_json:
        out.print(
            json.dumps(
                [
                    {
                        "urn": d.urn,
                        "type": d.type,
                        "name": d.name,
                        "op": d.op,
                        "service": d.service,
                        "fields": {k: {"recorded": a, "live": b} for k, (a, b) in d.fields.items()},
                    }
                    for d in drifted
                ],
                indent=2,
                sort_keys=True,
            ),
            markup=False,
        )
    elif drifted:
        table = Table(title=f"drift in stack {stack}")
        for column in ("service", "resource", "type", "change", "field", "recorded", "live"):
            table.add_column(column)
        for d in drifted:
            # a resource that is gone is one row: its fields are all of it
            rows = [("", ("", ""))] if d.op == "delete" or not d.fields else d.fields.items()
            for field_name, (recorded, live) in rows:
                table.add_row(
                    d.service or "",
                    d.name,
                    d.type.rsplit(":", 1)[-1],
                    "gone" if d.op == "delete" else "changed",
                    field_name,
                    escape(str(recorded)),
                    escape(str(live)),
                )
        out.print(table)
        # --refresh: `up` alone plans from the recorded state, which does not know of the drift
        out.print(
            f"{len(drifted)} drifted resource(s); `pulumi up --refresh --stack {stack}` repairs them.", markup=False
        )
    else:
        out.print(f"no drift: stack {stack} matches what runs", markup=False)
    raise typer.Exit(EXIT_VIOLATION if drifted else EXIT_OK)


@app.command()
def promote(
    source: str = typer.Option(..., "--from", help="The stack whose running release to promote."),
    target: str = typer.Option(..., "--to", help="The stack to pin that release in."),
) -> None:
    """Pin SRC's images (by digest) and model versions in DST's stack file; DST then builds nothing."""
    from components.commands.promote import promote as run_promotion
    from components.config.load import find_project_dir

    try:
        promotions = run_promotion(find_project_dir(), source, target, log=lambda m: err.print(m, markup=False))
    except ModelstackError as error:
        _fail(error)
    for p in promotions:
        how = "copied to" if p.copied else "same registry:"
        out.print(f"{p.service}: {p.source_image} -> {how} {p.image}", markup=False)
    out.print(
        f"wrote modelstack:release to stacks/Pulumi.{target}.yaml; deploy it with: pulumi up --stack {target}",
        markup=False,
    )


@app.command()
def token(
    service: str = typer.Argument(..., help="A service with token_auth_enabled (AKS)."),
    stack: str = typer.Option(..., "--stack", help="The stack it is deployed by."),
    as_json: bool = typer.Option(False, "--json", help="Print {token, refresh_by, expires_at} as JSON."),
) -> None:
    """Print a token for SERVICE (valid an hour; get a new one by the refresh time on stderr)."""
    from components.commands.token import iso, token_for
    from components.config.load import find_project_dir

    try:
        issued = token_for(find_project_dir(), stack, service)
    except ModelstackError as error:
        _fail(error)
    if as_json:
        out.print(json.dumps(issued.as_json(), indent=2, sort_keys=True), markup=False)
        return
    out.print(issued.token, markup=False, soft_wrap=True)
    err.print(
        f"refresh by {iso(issued.refresh_by)} (expires {iso(issued.expires_at)}); send it as: Authorization: Bearer <token>",
        markup=False,
    )


@app.command()
def logs(
    service: str = typer.Argument(..., help="The service whose scoring server's log to show."),
    stack: str = typer.Option(..., "--stack", help="The stack it is deployed by."),
    version: str | None = typer.Option(None, "--version", help="Only this rollout version's pods (AKS)."),
    tail: int = typer.Option(100, "--tail", min=1, max=100000, help="Lines from the end of each log."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines (local and AKS; Ctrl-C ends)."),
) -> None:
    """Print a service's log: its container (local), its pods (AKS) or its container group (ACI)."""
    from components.commands.logs import show_logs
    from components.config.load import find_project_dir

    try:
        show_logs(
            find_project_dir(),
            stack,
            service,
            version=version,
            tail=tail,
            follow=follow,
            write=lambda line: out.print(line, markup=False, highlight=False, soft_wrap=True),
        )
    except ModelstackError as error:
        _fail(error)
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_OK) from None


@app.command()
def plan(
    stack: str = typer.Option(..., "--stack", help="The stack to plan."),
    out_file: Path = typer.Option(Path("plan.json"), "--out", help="Where to write the signed plan."),
    summary_file: Path | None = typer.Option(
        None, "--summary", help="Also write the plan's Markdown summary (the pull-request comment) here."
    ),
    policy_pack: Path | None = typer.Option(None, "--policy-pack", help="Preview with this CrossGuard pack."),
    policy_config: Path | None = typer.Option(
        None, "--policy-pack-config", help="The pack's settings for this stack (with --policy-pack)."
    ),
    policies: Path | None = typer.Option(
        None, "--policies", help="`modelstack check --json` output: its policy results go into the summary."
    ),
) -> None:
    """Preview STACK and save a signed plan that `modelstack apply` runs exactly, or refuses as stale."""
    from components.commands.plan_apply import make_plan
    from components.config.load import find_project_dir

    try:
        made = make_plan(
            find_project_dir(),
            stack,
            out_file,
            policy_pack=policy_pack,
            policy_config=policy_config,
            policy_results=policies,
        )
    except ModelstackError as error:
        _fail(error)
    if summary_file is not None:
        summary_file.write_text(made.summary)
    from components.state.plans import plan_id

    changed = [step for step in made.body["steps"] if step["op"] not in ("same", "read")]
    out.print(
        f"plan {plan_id(made.body)} for stack {stack}: {len(changed)} change(s) of {len(made.body['steps'])} resource(s), "
        f"expires {made.body['expires']}; written to {made.path}",
        markup=False,
    )
    for step in changed:
        out.print(f"  {step['op']:<8} {step['urn'].rsplit('::', 1)[-1]}", markup=False)
    if made.body["cost"]["needs_approval"]:
        out.print(
            f"needs approval: the estimated monthly cost rises by ${made.body['cost']['increase']:,.2f}", markup=False
        )
    out.print(f"apply it with: modelstack apply {made.path} --stack {stack}", markup=False)


@app.command()
def apply(
    plan_file: Path = typer.Argument(..., help="A plan written by `modelstack plan`."),
    stack: str = typer.Option(..., "--stack", help="The stack to apply it to (must be the plan's)."),
    approved_by: str | None = typer.Option(
        None, "--approved-by", help="Who approved a plan above the stack's cost limit (recorded in the audit log)."
    ),
) -> None:
    """Apply exactly the steps of a saved plan; refused when edited, expired, another stack's, or stale."""
    from components.commands.plan_apply import apply_plan
    from components.config.load import find_project_dir

    try:
        applied = apply_plan(
            find_project_dir(), stack, plan_file, approved_by=approved_by, log=lambda m: err.print(m, markup=False)
        )
    except ModelstackError as error:
        _fail(error)
    approval = f" (approved by {applied.approved_by})" if applied.approved_by else ""
    out.print(f"applied plan {applied.plan_id} to stack {stack}{approval}", markup=False)


# `modelstack profile` lives in its own module (it brings Docker, wrk and matplotlib along).
from components.commands.profile.command import profile as _profile  # noqa: E402

app.command(name="profile")(_profile)
from components.commands.import_command import import_ as _import  # noqa: E402

app.command(name="import")(_import)
from components.commands.lock import app as _lock  # noqa: E402

app.add_typer(_lock, name="lock")

from components.commands.recover import recover_command as _recover  # noqa: E402

app.command(name="recover")(_recover)


def _close_event_loop() -> None:
    """Close the event loop Pulumi's runtime left open (check and plan-summary run the program under
    its mock runtime). Left to the interpreter's exit, the loop may be finalised after its own
    self-pipe socket and print "Exception ignored in BaseEventLoop.__del__ ... Invalid file
    descriptor: -1" after the command's output."""
    import asyncio
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            loop = asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:  # no loop in this thread
            return
    if not loop.is_running() and not loop.is_closed():
        loop.close()


def main() -> None:  # console-script entry point
    try:
        app()
    finally:
        _close_event_loop()


if __name__ == "__main__":
    main()
