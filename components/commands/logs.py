"""`modelstack logs SERVICE --stack NAME [--version V] [--tail N] [--follow]`: what a service's
scoring server printed, wherever it runs.

The service's target reads them (components.targets.<name>: a local container's log, the pods of
a Kubernetes service, ACI's container log, ...); this command finds the service, checks the
version asked for, and gives the target what it may need of the stack through the engine (its
outputs, a secret of its config).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from components.errors import ModelstackError


def show_logs(
    project_dir: Path,
    stack: str,
    service: str,
    *,
    version: str | None = None,
    tail: int = 100,
    follow: bool = False,
    write: Callable[[str], None] = print,
) -> None:
    from components.config.load import load_service
    from components.targets import registry
    from components.targets.base import LogsRequest

    config, spec = load_service(stack, project_dir, service, purpose="logs are read for")
    if version is not None and version not in {v.version_name for v in spec.versions}:
        raise ModelstackError(
            f"service {service} has no version '{version}'",
            key="--version",
            rule="--version names one of the service's rollout versions (versions: under the service)",
            fix=f"use one of: {', '.join(v.version_name for v in spec.versions) or '(none: leave --version out)'}",
        )

    def stack_outputs() -> dict[str, Any]:
        from components.commands.engine import select_stack

        return {name: output.value for name, output in select_stack(project_dir, stack).outputs().items()}

    def stack_config(key: str) -> str:
        from components.commands.engine import select_stack

        return select_stack(project_dir, stack).get_config(key, path=False).value

    request = LogsRequest(
        project_dir=Path(project_dir),
        project=lambda: project_dir_project(project_dir),
        config=config,
        name=service,
        service=spec,
        version=version,
        tail=tail,
        follow=follow,
        write=write,
        stack_outputs=stack_outputs,
        stack_config=stack_config,
    )
    registry.target(spec.target).show_logs(request)


def project_dir_project(project_dir: Path) -> str:
    from components.config.load import read_yaml

    name = read_yaml(Path(project_dir) / "Pulumi.yaml").get("name")
    if not isinstance(name, str) or not name:
        raise ModelstackError(
            "Pulumi.yaml names no project",
            key="name",
            rule="Pulumi.yaml's `name:` is the project's name, part of every Azure resource's name",
            fix="set `name:` in Pulumi.yaml",
        )
    return name
