"""What every target provides: the one interface between "a declared service" and "where it runs".

A target (components.targets.<name>.target.TARGET) answers, for the services that name it:
- what it is: its name and how people call it, whether it authenticates callers, whether it is
  fit for production, where its `compute` is declared, whether its images come from the stack's
  Azure Container Registry, whether it takes rollout versions, tokens, Application Insights;
- the rules of its deploy parameters (config time, before any resource exists);
- the facts the policies judge a service by (components.policy);
- what its services ask of an AKS cluster the stack creates (the capacity and GPU rules);
- the stack-wide resources it needs before any of its services (`declare_shared`), and the
  resources of one service (`declare`), returning the service's scoring and swagger URIs and state;
- Azure ML's state of a live resource it owns (`live_state`), for promote and drift;
- the logs of a service (`show_logs`).

The defaults below are those of a target that needs nothing: a subclass overrides what it has.
Methods import their providers inside, so asking a target a question loads no provider.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

if TYPE_CHECKING:
    import pulumi
    from pydantic import BaseModel

    from components.config.schema import ClusterSpec, ReleasePin, ServiceSpec, StackConfig
    from components.errors import ConfigError
    from components.policy.types import Policy
    from components.targets.keys import ServiceKeys


DeployModel = TypeVar("DeployModel", bound="BaseModel")


def deploy_parameters(service: ServiceSpec, model: type[DeployModel]) -> DeployModel:
    """The service's deploy parameters as its target's own model. Reading the config validates
    each service's `deploy:` with its target's model (components.config.load), so another model
    here is a programming error, not a user's."""
    deploy = service.deploy
    if not isinstance(deploy, model):
        raise TypeError(f"deploy parameters {type(deploy).__name__} where {model.__name__} was expected")
    return deploy


@dataclass(frozen=True)
class Deployment:
    """What a declared service answers with, whatever runs it."""

    # None until the service has an address (an ACI group without its FQDN, a Gateway without
    # its address).
    scoring_uri: pulumi.Output[str | None]
    swagger_uri: pulumi.Output[str | None]
    state: pulumi.Output[str]


@dataclass
class ServiceRequest:
    """Everything a target needs to declare one service (built by components.webservice)."""

    name: str
    stack: str
    service: ServiceSpec
    image: pulumi.Input[str]
    model_versions: dict[str, str]
    parent: pulumi.Resource
    project_dir: Path | None
    platform: Any  # components.targets.azure.platform.AzurePlatform, when the registry is an ACR
    shared: Any  # what this target's declare_shared returned
    keys: ServiceKeys | None = None
    release: ReleasePin | None = None  # a promoted release: its images are run, never rebuilt
    # Builds (or takes from a promoted release) the image of a rollout version serving other
    # models: (version name, models) -> (image, model versions). Given by the Webservice.
    version_image: Callable[[str, tuple[str, ...]], tuple[Any, dict[str, str]]] | None = None
    # A rollout version's record for the stack output `versions` (filled by targets with versions).
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class LogsRequest:
    """What a target is given to show a service's logs (built by `modelstack logs`)."""

    project_dir: Path
    project: Callable[[], str]  # the project's name (Pulumi.yaml), part of Azure resource names
    config: StackConfig
    name: str
    service: ServiceSpec
    version: str | None  # one rollout version, or all
    tail: int
    follow: bool
    write: Callable[[str], None]
    stack_outputs: Callable[[], dict[str, Any]]  # the stack's outputs (secrets too), through the engine
    stack_config: Callable[[str], str]  # a config key's value (a secret decrypted), through the engine


class Target:
    name: ClassVar[str]
    # How people and messages call it ("ACI", "AKS", "local Docker").
    title: ClassVar[str]
    # Callers authenticate with keys or tokens; a local service has no authentication (as Azure
    # ML's LocalWebservice) and listens on this machine only, so the key and TLS policies skip it.
    authenticates: ClassVar[bool] = True
    # Fit for production stacks (the no-aci-in-production policy names the ones that are not).
    production_grade: ClassVar[bool] = True
    # The config section `compute` names a cluster of, or None when the target takes no compute.
    compute_section: ClassVar[str | None] = None
    # Its images are pulled from the stack's Azure Container Registry (registry kind: acr).
    pulls_from_acr: ClassVar[bool] = False
    # Its services pull with the platform's user-assigned identity (granted AcrPull).
    uses_pull_identity: ClassVar[bool] = False
    # Takes `versions:` (controlled rollout behind one endpoint).
    rollout_versions: ClassVar[bool] = False
    # Takes token_auth_enabled (`modelstack token` issues the tokens).
    token_auth: ClassVar[bool] = False
    # enable_app_insights sends to an Application Insights component the stack declares.
    app_insights: ClassVar[bool] = False
    # How to turn TLS on, for the policy on public production endpoints.
    tls_fix: ClassVar[str] = "set ssl_enabled with ssl_cert_pem_file, ssl_key_pem_file and ssl_cname"
    # Azure resource types only this target declares that take tags (the required-tags policy).
    tagged_types: ClassVar[tuple[str, ...]] = ()
    # Policies of this target's own resources, judged with every other (components.policy.rules).
    policies: ClassVar[tuple[Policy, ...]] = ()
    # The Azure ML v1 web service class whose deploy_configuration(...) parameters this target's
    # deploy parameters are ("AciWebservice"), or None when Azure ML has none: `modelstack import`
    # writes deploy parameters for the targets that have one.
    azureml_webservice: ClassVar[str | None] = None
    # deploymentconfig.json's computeType of the services Azure ML itself ran where this target
    # runs ("ACI"; Azure ML ignores its case), or None. An imported deployment of that computeType,
    # or of that web service class, becomes this target unless another target taking the same
    # parameters is asked for.
    azureml_compute_type: ClassVar[str | None] = None

    # --- config time -----------------------------------------------------------------------

    def deploy_errors(self, config: StackConfig, name: str, service: ServiceSpec) -> list[ConfigError]:
        """The rules of the service's deploy parameters (beyond their types)."""
        return []

    def stack_errors(self, config: StackConfig) -> list[ConfigError]:
        """Rules over all of this target's services at once (names that must be unique, ...)."""
        return []

    def policy_facts(self, config: StackConfig, name: str, service: ServiceSpec) -> dict[str, Any]:
        """auth, exposure, TLS and sizing, as the policies judge them (components.policy.facts)."""
        return {}

    def aks_cluster(self, config: StackConfig, service: ServiceSpec) -> ClusterSpec | None:
        """The AKS cluster of modelstack:clusters the service runs on, when it runs on one: its
        replicas count against that cluster's capacity and GPUs."""
        return None

    # --- declaring ---------------------------------------------------------------------------

    def declare_shared(self, config: StackConfig, platform: Any) -> Any:
        """Stack-wide resources this target's services need, declared once before any of them
        (only when a service of the stack names this target)."""
        return None

    def declare(self, request: ServiceRequest) -> Deployment:
        raise NotImplementedError(f"target {self.name} declares no service")

    # --- live --------------------------------------------------------------------------------

    def live_state(self, resource_type: str, outputs: dict[str, Any]) -> tuple[str, str] | None:
        """(service, Azure ML state) of a live resource of this target, from the outputs the engine
        records for it; None for a resource this target does not own."""
        return None

    def deployed_images(self, resource_type: str, inputs: dict[str, Any]) -> list[Any]:
        """The images a resource only this target declares runs, as its inputs give them (possibly
        missing or unknown), for the images-pinned-by-digest policy; [] for any other resource."""
        return []

    def show_logs(self, request: LogsRequest) -> None:
        """Write the service's logs with request.write (following them when request.follow)."""
        raise NotImplementedError(f"target {self.name} keeps no logs modelstack can read")

    # --- recovery after a killed engine (components.state.recover) -----------------------------

    def existing_object(
        self, resource_type: str, inputs: dict[str, Any], project_dir: Path
    ) -> tuple[str | None, str] | None:
        """For a pending create of a resource only this target declares: (the id its provider
        gives the object, or None when no object exists; what was looked at). None for a
        resource type this target does not own."""
        return None

    def stray_objects(self, stack: str, known: list[KnownResource], project_dir: Path) -> list[StrayObject]:
        """Objects this target runs for `stack` (of the project in `project_dir`) that no resource
        of the state (`known`) is, each with how to remove it. Never one the state knows."""
        return []


@dataclass(frozen=True)
class KnownResource:
    """A resource a stack's state records, as recovery shows it to the targets."""

    type: str
    id: str | None
    outputs: dict[str, Any]


@dataclass(frozen=True)
class StrayObject:
    """An object of a stack that its state does not know: what it is, and how to remove it."""

    what: str
    remove: Callable[[], None] = field(compare=False, repr=False)
