"""Cross-field rules of a stack's configuration: pure functions, run before any resource exists.

Per-field types and ranges are pydantic's job (components.config.schema); what is here needs two
fields, another section, or the file system. Each rule returns ConfigErrors that name the
key, the rule and the fix, so that one `check` reports every problem at once.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Set as AbstractSet
from pathlib import Path

from components.config import deploy_rules, environment_files, reading, references
from components.config.cluster_rules import capacity_warnings, check_clusters
from components.config.config_files import file_errors
from components.config.kubernetes_rules import check_kubernetes_clusters
from components.config.paths import folder_link_error, has_content, path_error, resolve_path, special_kind
from components.config.schema import NAMESPACE, SECRET_FIELDS, ServiceSpec, StackConfig, config_key
from components.errors import ConfigError, ConfigWarning
from components.targets import registry

# Azure ML webservice names: 3-32 characters, lowercase letters, digits and dashes,
# starting with a letter and not ending with a dash.
SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
# Azure ML model names: letters, digits, dashes, underscores and dots, up to 255 characters.
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")


def entry_script_path(config: StackConfig, service: ServiceSpec) -> Path:
    """Azure ML resolves entry_script inside source_directory when one is given."""
    base = (
        resolve_path(config.project_dir, service.source_directory)
        if service.source_directory
        else Path(config.project_dir)
    )
    return (base / service.entry_script).resolve()


def built_services(config: StackConfig) -> dict[str, ServiceSpec]:
    """Services whose image this stack builds: all but those a promoted release pins."""
    return {name: service for name, service in config.services.items() if name not in config.release}


def check_models(config: StackConfig) -> list[ConfigError]:
    errors = []
    # A pinned release carries its models inside its image: their files need not be here.
    needed = {
        model
        for service in built_services(config).values()
        for model in [*service.models, *(m for v in service.versions for m in v.models or [])]
    }
    for name, model in config.models.items():
        if not MODEL_NAME.match(name):
            errors.append(
                ConfigError(
                    f"model name '{name}' is not allowed",
                    key=config_key("models", name),
                    rule="model names are letters, digits, '.', '_' and '-', starting with a letter or digit, at most 255 characters",
                    fix="rename the model",
                )
            )
        if name not in needed:
            continue
        outside = path_error(config.project_dir, model.path, config_key("models", name, "path"))
        if outside:
            errors.append(outside)
        elif kind := special_kind(resolve_path(config.project_dir, model.path)):
            errors.append(
                reading.UnreadableFileError(
                    f"model path '{model.path}' is {kind}",
                    key=config_key("models", name, "path"),
                    rule="a model is a regular file, or a folder of them",
                    fix="point the path at the model's file or folder",
                )
            )
        elif not resolve_path(config.project_dir, model.path).exists():
            errors.append(
                ConfigError(
                    f"model path '{model.path}' does not exist",
                    key=config_key("models", name, "path"),
                    rule="a model is a file or folder inside the project (paths are relative to Pulumi.yaml's folder)",
                    fix=f"train or copy the model to {model.path}, or correct the path",
                )
            )
        elif not has_content(resolve_path(config.project_dir, model.path)):
            errors.append(
                ConfigError(
                    f"model path '{model.path}' is empty",
                    key=config_key("models", name, "path"),
                    rule="a model is a non-empty file, or a folder holding at least one non-empty file",
                    fix=f"train or copy the model to {model.path} (did training fail?)",
                )
            )
        elif link := folder_link_error(
            config.project_dir, resolve_path(config.project_dir, model.path), config_key("models", name, "path")
        ):
            errors.append(link)
    return errors


def _check_file(
    config: StackConfig, relative: str | None, key: str, what: str, content_errors=None
) -> list[ConfigError]:
    return file_errors(config.project_dir, relative, key, what, content_errors)


def _entry_script_error(config: StackConfig, name: str, service: ServiceSpec) -> ConfigError | None:
    """entry_script resolves inside source_directory (or the project, without one)."""
    key = config_key("services", name, "entry_script")
    if service.source_directory:
        return path_error(
            resolve_path(config.project_dir, service.source_directory),
            service.entry_script,
            key,
            inside=f"source_directory '{service.source_directory}'",
        )
    return path_error(config.project_dir, service.entry_script, key)


def check_build_inputs(config: StackConfig, name: str, service: ServiceSpec) -> list[ConfigError]:
    """The files an image is built from exist (not needed for a service a release pins)."""
    errors: list[ConfigError] = []
    source_key = config_key("services", name, "source_directory")
    outside = path_error(config.project_dir, service.source_directory, source_key) if service.source_directory else None
    script_outside = None if outside else _entry_script_error(config, name, service)
    if (misplaced := outside or script_outside) is not None:
        errors.append(misplaced)
    elif service.source_directory and not resolve_path(config.project_dir, service.source_directory).is_dir():
        missing = (
            "is not a folder"
            if resolve_path(config.project_dir, service.source_directory).exists()
            else "does not exist"
        )
        errors.append(
            ConfigError(
                f"source_directory '{service.source_directory}' {missing}",
                key=config_key("services", name, "source_directory"),
                rule="source_directory is a folder inside the project; it is copied into the image",
                fix="create the folder, or correct the path",
            )
        )
    elif not entry_script_path(config, service).is_file():
        inside = f" inside source_directory '{service.source_directory}'" if service.source_directory else ""
        errors.append(
            ConfigError(
                f"entry script '{service.entry_script}' does not exist{inside}",
                key=config_key("services", name, "entry_script"),
                rule="entry_script is a Python file with init() and run(); it is relative to source_directory when one is given",
                fix="create the script, or correct the path",
            )
        )
    elif service.source_directory and (
        link := folder_link_error(
            config.project_dir, resolve_path(config.project_dir, service.source_directory), source_key
        )
    ):
        errors.append(link)
    env = service.environment
    env_key = ("services", name, "environment")
    errors += _check_file(
        config,
        env.pip_requirements,
        config_key(*env_key, "pip_requirements"),
        "pip requirements file",
        environment_files.requirements_errors,
    )
    errors += _check_file(
        config, env.conda_file, config_key(*env_key, "conda_file"), "conda file", environment_files.conda_errors
    )
    errors += _check_file(
        config,
        env.extra_docker_file_steps,
        config_key(*env_key, "extra_docker_file_steps"),
        "file of extra Dockerfile steps",
    )
    return errors


def _compute_errors(config: StackConfig, name: str, service: ServiceSpec) -> list[ConfigError]:
    # Where the target's `compute` is declared (None: the target takes no compute).
    section = registry.target(service.target).compute_section
    if section is None:
        if service.compute:
            taking = registry.names_where(lambda t: t.compute_section is not None)
            return [
                ConfigError(
                    f"compute is set for target '{service.target}'",
                    key=config_key("services", name, "compute"),
                    rule=f"compute names the cluster of an {' or '.join(taking)} service",
                    fix=f"remove compute, or set target: {' or '.join(taking)}",
                )
            ]
        return []
    declared = list(getattr(config, section))
    if not service.compute:
        fix = (
            f"set compute to one of: {', '.join(declared)}"
            if declared
            else f"declare a cluster under {NAMESPACE}:{section}, then name it in compute"
        )
        return [
            ConfigError(
                f"target is {service.target} but no compute is named",
                key=config_key("services", name, "compute"),
                rule=f"a {service.target} service runs on a cluster declared under {NAMESPACE}:{section}",
                fix=fix,
            )
        ]
    if service.compute not in declared:
        close = difflib.get_close_matches(service.compute, declared, n=1)
        fix = (
            f"did you mean '{close[0]}'?"
            if close
            else f"declare it under {NAMESPACE}:{section}, or use one of: {', '.join(declared) or '(none declared)'}"
        )
        return [
            ConfigError(
                f"compute '{service.compute}' is not a cluster of this stack",
                key=config_key("services", name, "compute"),
                rule=f"compute names a cluster declared under {NAMESPACE}:{section}",
                fix=fix,
            )
        ]
    return []


def check_service(config: StackConfig, name: str, service: ServiceSpec) -> list[ConfigError]:
    errors: list[ConfigError] = []
    if not SERVICE_NAME.match(name):
        errors.append(
            ConfigError(
                f"service name '{name}' is not allowed",
                key=config_key("services", name),
                rule="webservice names are 3-32 characters: lowercase letters, digits and '-', starting with a letter, not ending with '-'",
                fix="rename the service",
            )
        )
    for index, model in enumerate(service.models):
        if model not in config.models:
            close = difflib.get_close_matches(model, list(config.models), n=1)
            fix = (
                f"did you mean '{close[0]}'?"
                if close
                else f"declare it under {NAMESPACE}:models, or use one of: {', '.join(config.models) or '(none declared)'}"
            )
            errors.append(
                ConfigError(
                    f"names model '{model}', which is not declared",
                    key=f"{config_key('services', name, 'models')}[{index}]",
                    rule="a service serves models declared under modelstack:models",
                    fix=fix,
                )
            )
    env = service.environment
    env_key = ("services", name, "environment")
    errors += references.check_environment(name, env)
    script_error = references.script_path_error(service.entry_script, config_key("services", name, "entry_script"))
    errors += [script_error] if script_error else []
    if env.pip_requirements and env.conda_file:
        errors.append(
            ConfigError(
                "pip_requirements and conda_file are both set",
                key=config_key(*env_key),
                rule="an environment is either a pip requirements file or a conda file",
                fix="keep one of them (a conda file can list pip packages under `- pip:`)",
            )
        )
    if env.cuda_version and not env.enable_gpu:
        errors.append(
            ConfigError(
                "cuda_version is set while enable_gpu is false",
                key=config_key(*env_key, "cuda_version"),
                rule="cuda_version selects the CUDA base image of a GPU service",
                fix="set enable_gpu: true, or remove cuda_version",
            )
        )
    if env.base_image_registry and not env.base_image:
        errors.append(
            ConfigError(
                "base_image_registry is set without base_image",
                key=config_key(*env_key, "base_image_registry"),
                rule="the registry's credentials are used to pull base_image",
                fix="set base_image to the image in that registry, or remove base_image_registry",
            )
        )
    errors += _compute_errors(config, name, service)
    errors += deploy_rules.check_deploy(config, name, service)
    return errors


# Mappings whose keys the user names (a tag called `password` is a tag, not a password).
USER_NAMED_MAPPINGS = ("tags", "properties")


def _secret_field_paths(value, path: str):
    """Every dotted path below `path` whose last part names a secret field and holds a value."""
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}"
            if key in USER_NAMED_MAPPINGS:
                continue
            if key in SECRET_FIELDS and item not in (None, ""):
                yield child
            else:
                yield from _secret_field_paths(item, child)


def check_secrets(config: StackConfig, secure_paths: AbstractSet[str]) -> list[ConfigError]:
    """Keys and passwords must be `pulumi config set --secret` values, never plain text."""
    errors = []
    dumped = {
        "services": {
            name: service.model_dump(mode="json", exclude_defaults=True) for name, service in config.services.items()
        },
        "app_insights": config.app_insights.model_dump(mode="json", exclude_defaults=True),
        "kubernetes_clusters": {
            name: spec.model_dump(mode="json", exclude_defaults=True)
            for name, spec in config.kubernetes_clusters.items()
        },
    }
    for path in _secret_field_paths(dumped, NAMESPACE):
        # A value merged in from Pulumi.yaml can never be a secret: project files are plain.
        full = path.replace(f"{NAMESPACE}.", f"{NAMESPACE}:", 1)
        if full not in secure_paths:
            errors.append(
                ConfigError(
                    "holds a plain-text secret",
                    key=full,
                    rule="keys, passwords and connection strings are Pulumi secrets, encrypted in the stack file",
                    fix=f"pulumi config set --secret --path '{full}' <value>  (and delete the plain value)",
                )
            )
    return errors


def check_release(config: StackConfig) -> list[ConfigError]:
    """Release pins (written by `modelstack promote`) name declared services."""
    errors = []
    for name, pin in config.release.items():
        error = references.image_reference_error(pin.image, config_key("release", name, "image"), pinned=True)
        errors += [error] if error else []
        errors += _pinned_model_errors(config, pin.model_versions, ("release", name, "model_versions"))
        for version, version_pin in pin.versions.items():
            error = references.image_reference_error(
                version_pin.image, config_key("release", name, "versions", version, "image"), pinned=True
            )
            errors += [error] if error else []
            errors += _pinned_model_errors(
                config, version_pin.model_versions, ("release", name, "versions", version, "model_versions")
            )
        if name not in config.services:
            errors.append(
                ConfigError(
                    f"pins service '{name}', which is not declared",
                    key=config_key("release", name),
                    rule="a release pin names a service of modelstack:services",
                    fix="remove the pin, or promote again (`modelstack promote`) to rewrite the release",
                )
            )
            continue
        errors += _version_pin_errors(name, config.services[name], pin)
    return errors


def _pinned_model_errors(
    config: StackConfig, model_versions: dict[str, str], where: tuple[str, ...]
) -> list[ConfigError]:
    """A release pins versions of models the project declares (the image holds those models)."""
    return [
        ConfigError(
            f"pins a version of model '{model}', which is not declared",
            key=config_key(*where, model),
            rule="a release pin's model_versions name models of modelstack:models (the models inside the pinned image)",
            fix=f"declare model '{model}' under modelstack:models as the source stack does, or promote again (`modelstack promote`) to rewrite the release",
        )
        for model in model_versions
        if model not in config.models
    ]


def _version_pin_errors(name: str, service: ServiceSpec, pin) -> list[ConfigError]:
    """A pinned service runs only images of the release: every version that serves other models
    than the service's has its image in the pin, and the pin names only declared versions."""
    declared = {v.version_name: v for v in service.versions}
    errors = []
    for version, spec in declared.items():
        if spec.models and list(spec.models) != list(service.models) and version not in pin.versions:
            errors.append(
                ConfigError(
                    f"version '{version}' serves {', '.join(spec.models)}, and the release pins no image for it",
                    key=config_key("release", name, "versions"),
                    rule="a promoted service builds nothing: each version with models of its own runs the image the release pins for it",
                    fix=f"promote again from the stack that ran version '{version}' (`modelstack promote`), or declare the version only after promoting a release that has it",
                )
            )
    for version in pin.versions:
        if version not in declared:
            errors.append(
                ConfigError(
                    f"pins version '{version}', which service '{name}' does not declare",
                    key=config_key("release", name, "versions", version),
                    rule="a release pins images of the versions the service declares under versions:",
                    fix=f"declare version '{version}' under modelstack:services.{name}.versions as the source stack does, or promote again",
                )
            )
    return errors


def check_stack(config: StackConfig, *, secure_paths: AbstractSet[str] = frozenset()) -> list[ConfigError]:
    """Every cross-field rule, in one pass."""
    errors = check_models(config)
    for name, service in config.services.items():
        errors += check_service(config, name, service)
    for name, service in built_services(config).items():
        errors += check_build_inputs(config, name, service)
    errors += check_clusters(config)
    errors += check_kubernetes_clusters(config)
    errors += check_release(config)
    errors += check_secrets(config, secure_paths)
    return errors


def stack_warnings(config: StackConfig) -> list[ConfigWarning]:
    """What `check` and the engine's run tell without failing: a config that is allowed but may
    not work as meant."""
    return capacity_warnings(config)
