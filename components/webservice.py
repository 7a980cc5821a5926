"""Webservice: one declared service, its image and its deployment on the stack's target.

The same declaration deploys anywhere by changing the stack's `target`. The image is the same
whatever the target (built once, promoted by digest); what differs is the deployment, which the
target declares as this component's child (components.targets.<name>.target: `declare`):
local Docker, an ACI container group, the Kubernetes objects on an AKS or any cluster (with
`versions:`, one image per distinct set of models and one Deployment per version), ...
On a target that authenticates, the service's keys (components.targets.keys) are generated or
taken from the config when auth is on, and are secret outputs of their own (`keys()`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi

from components.config.deploy_rules import KeyAuthParameters
from components.config.schema import ReleasePin, ServiceSpec
from components.image.build_context import BuildContext, build_context
from components.image.service_image import ServiceImage
from components.targets import registry
from components.targets.base import ServiceRequest
from components.targets.keys import ServiceKeys, declare_keys

# What of a service's spec goes into its image: a change anywhere else (target, deploy
# parameters, description) must not touch the image.
IMAGE_FIELDS = {"models", "entry_script", "source_directory", "environment", "scoring_server"}


def image_inputs(service: ServiceSpec, models: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parts of the config the image provider needs to render the same context again."""
    spec = service.model_dump(mode="json", include=IMAGE_FIELDS, exclude_defaults=True)
    model_specs = {name: {"path": models[name].path} for name in service.models}
    return spec, model_specs


class Webservice(pulumi.ComponentResource):
    """A served model: `image` (by digest), `model_versions`, `scoring_uri`, `swagger_uri` and
    `state` (its target's deployment); `keys` when auth is on."""

    image: pulumi.Output[str]
    model_versions: dict[str, str]
    scoring_uri: pulumi.Output[str | None]
    swagger_uri: pulumi.Output[str | None]
    state: pulumi.Output[str]
    service_keys: ServiceKeys | None

    def __init__(
        self,
        name: str,
        *,
        stack: str,
        service: ServiceSpec,
        models: dict[str, Any],
        context: BuildContext | None,
        repository: pulumi.Input[str],
        policy_facts: dict[str, Any] | None = None,
        release: ReleasePin | None = None,
        platform=None,  # components.targets.azure.platform.AzurePlatform, when the registry is an ACR
        shared: dict[str, Any] | None = None,  # by target name: what each target declared for all its services
        project_dir: str | Path | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        # The component's inputs are what guardrails judge a service by (components.policy.facts).
        super().__init__(
            "modelstack:webservice:Webservice", name, {"target": service.target, **(policy_facts or {})}, opts
        )
        self._name, self._service, self._models, self._repository = name, service, models, repository
        self._project_dir = Path(project_dir) if project_dir is not None else None
        if release is not None:
            # A promoted release: run exactly the image that ran in the stage before; build nothing.
            self.model_versions = dict(release.model_versions)
            self.built_image = None
            self.image = pulumi.Output.from_input(release.image)
        else:
            assert context is not None, "a service a release does not pin is built from its context"
            self.model_versions = context.model_versions
            self.built_image = self._image(f"{name}-image", service, context)
            self.image = self.built_image.image
        self.service_keys = None
        target = registry.target(service.target)
        if target.authenticates:
            deploy = service.deploy
            assert isinstance(deploy, KeyAuthParameters), (
                f"target {target.name} authenticates callers, so its deploy parameters have keys"
            )
            self.service_keys = declare_keys(name, deploy, parent=self)
        request = ServiceRequest(
            name=name,
            stack=stack,
            service=service,
            image=self.image,
            model_versions=self.model_versions,
            parent=self,
            project_dir=self._project_dir,
            platform=platform,
            shared=(shared or {}).get(service.target),
            keys=self.service_keys,
            release=release,
            version_image=self._version_image,
        )
        deployment = target.declare(request)
        self.versions: dict[str, dict[str, Any]] = request.versions
        self.scoring_uri, self.swagger_uri, self.state = (
            deployment.scoring_uri,
            deployment.swagger_uri,
            deployment.state,
        )
        self.register_outputs({**self.outputs(), **({"keys": self.keys()} if self.service_keys else {})})

    def _image(self, resource_name: str, service: ServiceSpec, context: BuildContext) -> ServiceImage:
        spec, model_specs = image_inputs(service, self._models)
        registry_credentials = service.environment.base_image_registry
        password = (
            registry_credentials.password.get_secret_value()
            if registry_credentials and registry_credentials.password
            else None
        )
        return ServiceImage(
            resource_name,
            service=self._name,
            repository=self._repository,
            tag=context.tag,
            model_versions=context.model_versions,
            service_spec=spec,
            model_specs=model_specs,
            base_image_password=password,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _version_image(self, version: str, models: tuple[str, ...]) -> tuple[pulumi.Output[str], dict[str, str]]:
        """The image of a rollout version serving other models than the service's, built from the
        same code (and the model versions in it)."""
        assert self._project_dir is not None, "a rollout version's image is built from the project's files"
        variant = self._service.model_copy(update={"models": list(models)})
        context = build_context(self._project_dir, self._name, variant, self._models)
        built = self._image(f"{self._name}-{version}-image", variant, context)
        return built.image, context.model_versions

    def outputs(self) -> dict[str, Any]:
        """The stack outputs of this service (names fixed by the product contract); no secrets."""
        outputs: dict[str, Any] = {
            "image": self.image,
            "model_versions": self.model_versions,
            "scoring_uri": self.scoring_uri,
            "swagger_uri": self.swagger_uri,
            "state": self.state,
        }
        if self.versions:
            outputs["versions"] = self.versions
        return outputs

    def keys(self) -> dict[str, pulumi.Output[str]] | None:
        """The service's keys (Pulumi secrets), when auth is on."""
        return self.service_keys.as_output() if self.service_keys is not None else None
