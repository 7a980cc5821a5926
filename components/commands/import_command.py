"""`modelstack import`: an Azure ML deployment becomes a model and a service of a stack.

    modelstack import inferenceconfig.json deploymentconfig.json --stack local --service myservice --model mymodel=outputs/model.pkl
    modelstack import deploy.ipynb --stack local --target local
    modelstack import endpoint.yml blue.yml green.yml --stack prod --compute aks-prod

The reading and writing live in `components/importer`; this module is the command line:
options, output, exit codes (0 imported, 1 refused: the error names the source field, the
rule and the fix; 2 bad usage, a --stack name that breaks the stack-name rule among it).
Nothing is written on a refusal or with --dry-run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from components.errors import ConfigErrors, ModelstackError

out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _models(values: list[str]) -> dict[str, str | None]:
    models: dict[str, str | None] = {}
    for value in values:
        name, _, path = value.partition("=")
        if not name:
            raise typer.BadParameter(f"'{value}' is not NAME or NAME=PATH", param_hint="--model")
        models[name] = path or None
    return models


def _one_of(names: list[str]) -> str:
    return f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]


def import_(
    sources: list[Path] = typer.Argument(
        ...,
        help="Azure ML's files: inferenceconfig.json + deploymentconfig.json (v1 CLI), a .py or .ipynb (v1 SDK), or an online endpoint's and its deployments' .yml (v2).",
    ),
    stack: str = typer.Option(
        ...,
        "--stack",
        help="The stack whose file gets the target and deploy settings (stacks/Pulumi.<stack>.yaml; created when new).",
    ),
    service: str | None = typer.Option(
        None, "--service", help="The service's name (az ml model deploy -n); default: the name in the sources."
    ),
    model: list[str] = typer.Option(
        [],
        "--model",
        help="NAME or NAME=PATH: a model the service serves, with its files when the sources only name it (az ml model deploy -m NAME:VERSION). Repeat for several.",
    ),
    target: str | None = typer.Option(
        None,
        "--target",
        help="local, aci, aks or kubernetes: which deploy configuration of a file holding several, or where a v2 endpoint runs.",
    ),
    compute: str | None = typer.Option(
        None,
        "--compute",
        help="The cluster of the stack an aks or kubernetes service runs on (az ml model deploy --ct).",
    ),
    pip_requirements: Path | None = typer.Option(
        None,
        "--pip-requirements",
        help="A requirements file to build the image from instead of the sources' conda environment (on modelstack's Debian base).",
    ),
    cpu_cores: float | None = typer.Option(
        None, "--cpu-cores", help="The service's cpu_cores, when the sources' size cannot be mapped."
    ),
    memory_gb: float | None = typer.Option(
        None, "--memory-gb", help="The service's memory_gb, when the sources' size cannot be mapped."
    ),
    copy_outside: bool = typer.Option(
        False,
        "--copy-outside",
        help="Copy files the sources name outside the project into azureml-import/<service>/ (otherwise they are refused).",
    ),
    force: bool = typer.Option(False, "--force", help="Replace a model or service of the same name."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the change as a unified diff and the report; write nothing."
    ),
) -> None:
    """Import an Azure ML deployment (v1 JSON, v1 Python or notebook, v2 YAML) as a model and a service of a stack."""
    from components.config.load import find_project_dir, stack_name_error
    from components.importer import plan as importing
    from components.importer.counterparts import importable

    if target is not None and target not in (allowed := importable()):
        raise typer.BadParameter(f"'{target}' is not {_one_of(allowed)}", param_hint="--target")
    bad_stack = stack_name_error(stack)  # before anything is read or written: the stack file stays in stacks/
    if bad_stack is not None:
        err.print("[bold red]1 error[/]: nothing was imported", markup=True)
        err.print(f"- {bad_stack}", markup=False)
        raise typer.Exit(2)
    try:
        project_dir = find_project_dir()
        request = importing.Request(
            project_dir=project_dir,
            stack=stack,
            sources=[s.absolute() for s in sources],
            service=service,
            models=_models(model),
            target=target,
            compute=compute,
            pip_requirements=pip_requirements.absolute() if pip_requirements else None,
            cpu_cores=cpu_cores,
            memory_gb=memory_gb,
            copy_outside=copy_outside,
            force=force,
        )
        planned = importing.plan(request)
        importing.apply(request, planned, dry_run=dry_run)
    except ModelstackError as error:
        errors = error.errors if isinstance(error, ConfigErrors) else [error]
        err.print(
            f"[bold red]{len(errors)} error{'s' if len(errors) != 1 else ''}[/]: nothing was imported", markup=True
        )
        for one in errors:
            err.print(f"- {one}", markup=False)
        raise typer.Exit(1) from None
    if dry_run:
        out.print(planned.diff(project_dir) or "(no change)", markup=False, end="")
        out.print(importing.report(planned.findings), markup=False)
        out.print("dry run: nothing was written", markup=False)
        return
    out.print(importing.report(planned.findings), markup=False)
    written = ", ".join(p.relative_to(project_dir).as_posix() for p, (old, new) in planned.files.items() if old != new)
    copied = f"; copied {len(planned.copies)} path(s) into azureml-import/{planned.service}/" if planned.copies else ""
    out.print(f"imported service {planned.service} into {written}{copied}", markup=False)
    out.print(f"next: modelstack check --stack {stack}", markup=False)
