"""Reading a stack's configuration: the project and stack files, or the engine, merged and
validated into a StackConfig.

Where values come from:
- `Pulumi.yaml` declares what every stack shares (`modelstack:models`, `modelstack:services`)
  under `config: <key>: value:`.
- `stacks/Pulumi.<stack>.yaml` holds what differs per environment, deep-merged over the shared
  values (`components.config.merge`).

Validation runs in two tiers before any resource exists: per-field types and ranges
(pydantic, `components.config.schema`), then the cross-field rules (`components.config.rules`).
Every error names the full key path, the rule and the fix.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from components import pulumi_internals
from components.config import reading, rules
from components.config.merge import merged_values
from components.config.pydantic_errors import check_top_level_keys, dedupe, from_pydantic
from components.config.schema import (
    DEPLOY_MODELS,
    NAMESPACE,
    STACKS,
    TOP_LEVEL_KEYS,
    UNDECRYPTED_SECRET,
    StackConfig,
    config_key,
)
from components.errors import ConfigError, ConfigErrors
from components.targets.registry import DEFAULT_TARGET


def find_project_dir(start: str | os.PathLike | None = None) -> Path:
    """The folder holding Pulumi.yaml: $MODELSTACK_PROJECT_DIR, or the nearest parent of cwd."""
    if os.environ.get("MODELSTACK_PROJECT_DIR"):
        return Path(os.environ["MODELSTACK_PROJECT_DIR"]).resolve()
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").is_file():
            return folder
    raise ConfigError(
        f"no Pulumi.yaml in {here} or any folder above it",
        rule="modelstack runs inside a modelstack project",
        fix="cd into the project folder, or set MODELSTACK_PROJECT_DIR",
    )


# Pulumi's own rule for a stack's name; it also keeps stacks/Pulumi.<stack>.yaml a file of stacks/.
STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
STACK_NAME_RULE = "a stack's name is 1-100 letters, digits, '_', '.' and '-' (Pulumi's rule; no '/' or spaces), so its file stays in stacks/"


def stack_name_error(stack: str, option: str = "--stack") -> ConfigError | None:
    """None for a stack name every command accepts; else the error naming the option, the rule and the fix."""
    if STACK_NAME.fullmatch(stack):
        return None
    shown = stack if len(stack) <= 120 else f"{stack[:100]}... ({len(stack)} characters)"
    return ConfigError(
        f"stack name {shown!r} is not allowed",
        key=option,
        rule=STACK_NAME_RULE,
        fix=f"name a stack of stacks/ by its name alone, e.g. {STACKS[0]} (one of: {', '.join(STACKS)})",
    )


def stack_file(project_dir: Path, stack: str) -> Path:
    """stacks/Pulumi.<stack>.yaml of the project, for a stack name that passes the rule."""
    error = stack_name_error(stack)
    if error is not None:
        raise error
    return Path(project_dir) / "stacks" / f"Pulumi.{stack}.yaml"


YAML_RULE = "stack and project files are YAML mappings"


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from a file, or a ConfigError that points at the line.

    Read within the limits of `components.config.reading` (size, UTF-8, depth, alias
    expansion, duplicate keys): no file makes this hang, blow up or raise anything else.
    """
    try:
        text = reading.read_text(path, rule=YAML_RULE)
    except FileNotFoundError:
        raise ConfigError(
            f"{path} does not exist",
            rule="every stack has its own file stacks/Pulumi.<stack>.yaml",
            fix=f"create {path.name} (copy stacks/Pulumi.local.yaml), or pick one of: {', '.join(STACKS)}",
        ) from None
    loaded = reading.parse_yaml(text, path.name, rule=YAML_RULE)
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(
            f"{path.name} holds a {type(loaded).__name__}, not a mapping",
            rule="the file is a YAML mapping",
            fix="start the file with `config:`",
        )
    return loaded


def _config_section(document: dict[str, Any], where: str) -> dict[str, Any]:
    """A file's `config:` mapping (empty when absent)."""
    config = document.get("config")
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise ConfigError(
            f"`config:` in {where} is a {type(config).__name__}",
            rule="`config:` is a mapping of namespaced keys to values (modelstack:services: ...)",
            fix="write `config:` as a mapping: `modelstack:<key>: <value>` lines indented under it, no `- ` items",
        )
    return config


def _strip_namespace(config: dict[str, Any], where: str) -> dict[str, Any]:
    """`modelstack:services` -> `services`; keys of other namespaces (aws:region) are not ours."""
    ours = {}
    for key, value in config.items():
        namespace, _, name = str(key).partition(":")
        if name and namespace == NAMESPACE:
            ours[name] = value
        elif not name:
            raise ConfigError(
                f"config key '{key}' in {where} has no namespace",
                rule="modelstack's config keys live under the `modelstack:` namespace",
                fix=f"rename it to 'modelstack:{key}'",
            )
    return ours


# Pulumi's rule for a project's name (the engine refuses any other, and names the state by it).
PROJECT_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


def check_project_name(project: dict[str, Any]) -> None:
    """Pulumi.yaml names its project as the engine requires; else the error naming `name:`. The
    state keeps a stack under its project's name, so `.` and `..` are no names either."""
    name = project.get("name")
    if isinstance(name, str) and PROJECT_NAME.fullmatch(name) and name not in (".", ".."):
        return
    shown = "missing" if name is None else f"{name!r}" if isinstance(name, str) else f"{name!r} (not text)"
    raise ConfigError(
        f"the project's name is {shown}",
        key="Pulumi.yaml: name",
        rule="Pulumi.yaml names the project: 1-100 letters, digits, '_', '.' and '-' (Pulumi's rule; the state is kept under it)",
        fix="write `name: modelstack` (the name the project's stacks were created under) at the top of Pulumi.yaml",
    )


def project_name(project_dir: Path) -> str:
    """Pulumi.yaml's `name:` (the project the engine keeps the stacks' state under), read within
    bounds and checked by check_project_name: a ConfigError naming `name:` otherwise."""
    project = read_yaml(Path(project_dir) / "Pulumi.yaml")
    check_project_name(project)
    return str(project["name"])


def shared_config(project_dir: Path) -> dict[str, Any]:
    """What Pulumi.yaml declares for every stack (`config: modelstack:<key>: value: ...`)."""
    project = read_yaml(project_dir / "Pulumi.yaml")
    check_project_name(project)
    declared = _strip_namespace(_config_section(project, "Pulumi.yaml"), "Pulumi.yaml")
    shared = {}
    for key, declaration in declared.items():
        shared[key] = (
            declaration.get("value") if isinstance(declaration, dict) and "value" in declaration else declaration
        )
    return shared


def _replace_secure_leaves(value: Any, path: str, secure_paths: set[str]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            if not isinstance(value["secure"], str) or not value["secure"].strip():
                # the engine cannot decrypt it; `check` would otherwise pass a placeholder on
                raise ConfigError(
                    "`secure:` holds "
                    + ("an empty text" if isinstance(value["secure"], str) else f"a {type(value['secure']).__name__}")
                    + ", not the ciphertext Pulumi writes",
                    key=path,
                    rule="a secret is written by `pulumi config set --secret`: `secure: <ciphertext>`",
                    fix=f"pulumi config set --secret --path '{path}' <value>  (instead of editing the file)",
                )
            secure_paths.add(path)
            return UNDECRYPTED_SECRET
        return {k: _replace_secure_leaves(v, f"{path}.{k}", secure_paths) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_secure_leaves(v, f"{path}[{i}]", secure_paths) for i, v in enumerate(value)]
    return value


def stack_file_config(project_dir: Path, stack: str) -> tuple[dict[str, Any], set[str]]:
    """A stack file's own `modelstack:` values (secrets left encrypted) and its secret paths."""
    path = stack_file(project_dir, stack)
    document = read_yaml(path)
    unknown = set(document) - {"config", "secretsprovider", "encryptionsalt", "encryptedkey", "environment"}
    if unknown:
        raise ConfigError(
            f"{path.name} has top-level key(s) {sorted(map(str, unknown))}",
            rule="a stack file holds `config:` (and the engine's encryption settings)",
            fix="move them under `config:` with the `modelstack:` prefix",
        )
    values = _strip_namespace(_config_section(document, path.name), path.name)
    secure_paths: set[str] = set()
    values = {k: _replace_secure_leaves(v, f"{NAMESPACE}:{k}", secure_paths) for k, v in values.items()}
    return values, secure_paths


def engine_config_values() -> dict[str, Any]:
    """The stack's `modelstack:` values as the engine (or the mock runtime) hands them over."""
    return pulumi_internals.engine_config(NAMESPACE)


def parse(
    values: dict[str, Any],
    *,
    stack: str,
    project_dir: Path,
    secure_paths: AbstractSet[str] = frozenset(),
    deferred: list[ConfigError] | None = None,
) -> StackConfig:
    """Merged raw values -> StackConfig, or ConfigErrors listing every problem at once.

    With `deferred`, errors of the cross-field rules are appended to it instead of raised, so
    that `check` can still evaluate a well-typed stack and report its policy violations too.
    """
    errors = check_top_level_keys(values)
    known = {k: v for k, v in values.items() if k in TOP_LEVEL_KEYS}
    known, deploy_errors = _validate_deploy_sections(known)
    errors += deploy_errors
    try:
        config = StackConfig.model_validate({**known, "stack": stack, "project_dir": str(project_dir)})
    except ValidationError as exc:
        errors += [from_pydantic(e, known) for e in exc.errors()]
        raise ConfigErrors(dedupe(errors)) from None
    if errors:
        raise ConfigErrors(dedupe(errors))
    errors += rules.check_stack(config, secure_paths=secure_paths)
    if errors and deferred is not None:
        deferred.extend(dedupe(errors))
    elif errors:
        raise ConfigErrors(dedupe(errors))
    return config


def _validate_deploy_sections(values: dict[str, Any]) -> tuple[dict[str, Any], list[ConfigError]]:
    """Validate each service's `deploy:` against the parameters of its own target.

    Done ahead of the rest so that an AKS-only parameter under an ACI service is named as
    such, instead of pydantic guessing which union member was meant.
    """
    services = values.get("services")
    if not isinstance(services, dict):
        return values, []
    errors, checked = [], {}
    for name, service in services.items():
        if isinstance(service, dict):
            deploy_model = DEPLOY_MODELS.get(service.get("target", DEFAULT_TARGET))
            deploy = service.get("deploy") if service.get("deploy") is not None else {}
            if deploy_model is not None and isinstance(deploy, dict):
                try:
                    service = {**service, "deploy": deploy_model.model_validate(deploy)}
                except ValidationError as exc:
                    for error in exc.errors():
                        located = {**error, "loc": ("services", name, "deploy", *error["loc"])}
                        errors.append(from_pydantic(located, values))
                    service = {k: v for k, v in service.items() if k != "deploy"}
        checked[name] = service
    return {**values, "services": checked}, errors


def load_from_files(stack: str, project_dir: Path | None = None) -> StackConfig:
    """For the offline `modelstack check`/`package`: read the project and stack files directly."""
    project_dir = project_dir or find_project_dir()
    stack_values, secure_paths = stack_file_config(project_dir, stack)
    return parse(
        merged_values(shared_config(project_dir), stack_values),
        stack=stack,
        project_dir=project_dir,
        secure_paths=secure_paths,
    )


def load_from_engine(
    stack: str, project_dir: Path | None = None, deferred: list[ConfigError] | None = None
) -> StackConfig:
    """Inside a Pulumi program: the engine's (decrypted) values over the shared declarations."""
    project_dir = project_dir or find_project_dir()
    secure_paths = stack_file_config(project_dir, stack)[1] if stack_file(project_dir, stack).exists() else set()
    return parse(
        merged_values(shared_config(project_dir), engine_config_values()),
        stack=stack,
        project_dir=project_dir,
        secure_paths=secure_paths,
        deferred=deferred,
    )


def engine_values_from_files(stack: str, project_dir: Path) -> tuple[dict[str, str], list[str]]:
    """What the engine would hand a program for this stack, from the files: for the mock runtime.

    As the engine does, a stack's value for a key replaces the project's; our own deep merge
    of shared declarations happens afterwards in `load_from_engine`, for both paths alike.
    """
    shared = shared_config(project_dir)
    stack_values, secure_paths = stack_file_config(project_dir, stack)
    values = {**shared, **stack_values}
    secret_keys = sorted({p.split(".")[0].split("[")[0] for p in secure_paths})
    return {f"{NAMESPACE}:{k}": json.dumps(v) for k, v in values.items()}, secret_keys


def load_service(stack: str, project_dir: Path, service: str, *, purpose: str):
    """(the stack's config, one of its services), or an error listing the services it has."""
    config = load_from_files(stack, project_dir)
    if service not in config.services:
        raise ConfigError(
            f"stack {stack} has no service '{service}'",
            key=config_key("services"),
            rule=f"{purpose} a service the stack declares",
            fix=f"use one of: {', '.join(sorted(config.services)) or '(none)'}",
        )
    return config, config.services[service]
