"""The Pulumi program: a stack's config in, its resources and outputs out.

`main()` is what `pulumi up/preview` runs (through __main__.py); `declare_stack()` is the same
program for a config that is already loaded, which is how `modelstack check` evaluates a
stack offline under the mock runtime. All validation happens while loading the config, so
a bad stack fails before the first resource is declared.
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from components.config.load import load_from_engine
from components.config.rules import stack_warnings
from components.config.schema import LocalRegistrySpec, StackConfig
from components.errors import ModelstackError
from components.image.build_context import build_context
from components.policy.facts import service_facts
from components.targets.local.registry import LocalRegistry, local_registry_dirs
from components.targets.registry import all_targets
from components.webservice import Webservice

# Stack output names, shared with the tests and the `modelstack` command. The keys are an
# output of their own: Pulumi hides a whole output when any part of it is secret.
SERVICES_OUTPUT = "services"
SERVICE_KEYS_OUTPUT = "service_keys"


def local_registry(config: StackConfig, spec: LocalRegistrySpec) -> LocalRegistry:
    """The registry on this machine; its storage and process state stay in .modelstack/."""
    root_dir, state_dir = local_registry_dirs(spec.port)
    return LocalRegistry("registry", port=spec.port, root_dir=root_dir, state_dir=state_dir)


def declare_stack(config: StackConfig) -> dict[str, Webservice]:
    """Declare every resource of the stack; returns the webservices by name."""
    project_dir = Path(config.project_dir)
    platform = None
    if isinstance(config.registry, LocalRegistrySpec):
        registry = local_registry(config, config.registry)
        registry_address: pulumi.Input[str] = registry.address
        registry_opts = pulumi.ResourceOptions(depends_on=[registry])
    else:
        from components.targets.azure.platform import declare_platform

        platform = declare_platform(config)
        registry_address = platform.login_server
        registry_opts = pulumi.ResourceOptions(depends_on=platform.registry_dependencies)
    # What each target in use declares once for all its services (a cluster's provider, a
    # Container Apps environment, ...), before any service.
    in_use = {service.target for service in config.services.values()}
    shared = {target.name: target.declare_shared(config, platform) for target in all_targets() if target.name in in_use}
    services = {}
    for name, service in config.services.items():
        # A pinned release is not rebuilt, so its build context is not even rendered.
        context = None if name in config.release else build_context(project_dir, name, service, config.models)
        repository = pulumi.Output.concat(registry_address, "/", name)
        services[name] = Webservice(
            name,
            stack=config.stack,
            service=service,
            models=config.models,
            context=context,
            repository=repository,
            policy_facts=service_facts(config, name, service),
            release=config.release.get(name),
            platform=platform,
            shared=shared,
            project_dir=project_dir,
            opts=registry_opts,
        )
    pulumi.export(SERVICES_OUTPUT, {name: web.outputs() for name, web in services.items()})
    keys = {name: web.keys() for name, web in services.items() if web.keys() is not None}
    if keys:
        pulumi.export(SERVICE_KEYS_OUTPUT, pulumi.Output.secret(keys))
    return services


def main() -> None:
    """Entry point under the Pulumi engine: config errors end the run with their message only."""
    try:
        config = load_from_engine(pulumi.get_stack())
        for warning in stack_warnings(config):
            pulumi.log.warn(str(warning))
        # The clusters the stack does not create are asked, before anything is declared, whether
        # they can host the services (here only: `check` runs under mocks and reaches no cluster).
        from components.targets.azure.aks_cluster import check_attached_prerequisites
        from components.targets.kubernetes.prerequisites import check_stack as check_kubernetes_prerequisites

        check_kubernetes_prerequisites(config)
        check_attached_prerequisites(config)
        declare_stack(config)
    except ModelstackError as exc:
        raise pulumi.RunError(str(exc)) from None
