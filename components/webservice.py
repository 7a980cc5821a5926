"""Webservice: one declared service, its image and its deployment on the stack's target.

The same declaration deploys to local Docker, ACI or AKS by changing the stack's `target`.
The image is the same whatever the target (built once, promoted by digest); what differs
is the deployment child.
"""

from __future__ import annotations

from typing import Any

import pulumi

from .build_context import BuildContext
from .config import ReleasePin, ServiceSpec
from .local_webservice import LocalWebservice
from .service_image import ServiceImage

# What of a service's spec goes into its image: a change anywhere else (target, deploy
# parameters, description) must not touch the image.
IMAGE_FIELDS = {"models", "entry_script", "source_directory", "environment"}


def image_inputs(service: ServiceSpec, models: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parts of the config the image provider needs to render the same context again."""
    spec = service.model_dump(mode="json", include=IMAGE_FIELDS, exclude_defaults=True)
    model_specs = {name: {"path": models[name].path} for name in service.models}
    return spec, model_specs


class Webservice(pulumi.ComponentResource):
    """A served model: `image` (by digest), `model_versions`, and for deployed targets
    `scoring_uri`, `swagger_uri` and `state`."""

    image: pulumi.Output[str]
    model_versions: dict[str, str]
    scoring_uri: pulumi.Output[str] | None
    swagger_uri: pulumi.Output[str] | None
    state: pulumi.Output[str] | None

    def __init__(self, name: str, *, stack: str, service: ServiceSpec, models: dict[str, Any], context: BuildContext, repository: pulumi.Input[str], policy_facts: dict[str, Any] | None = None, release: ReleasePin | None = None, opts: pulumi.ResourceOptions | None = None):
        # The component's inputs are what guardrails judge a service by (components.service_facts).
        super().__init__("modelstack:webservice:Webservice", name, {"target": service.target, **(policy_facts or {})}, opts)
        child = pulumi.ResourceOptions(parent=self)
        if release is not None:
            # A promoted release: run exactly the image that ran in the stage before; build nothing.
            self.model_versions = dict(release.model_versions)
            self.built_image = None
            self.image = pulumi.Output.from_input(release.image)
        else:
            spec, model_specs = image_inputs(service, models)
            registry_credentials = service.environment.base_image_registry
            password = registry_credentials.password.get_secret_value() if registry_credentials and registry_credentials.password else None
            self.model_versions = context.model_versions
            self.built_image = ServiceImage(
                f"{name}-image",
                service=name,
                repository=repository,
                tag=context.tag,
                model_versions=context.model_versions,
                service_spec=spec,
                model_specs=model_specs,
                base_image_password=password,
                opts=child,
            )
            self.image = self.built_image.image
        self.scoring_uri = self.swagger_uri = self.state = None
        if service.target == "local":
            deployment = LocalWebservice(
                f"{name}-local",
                service=name,
                stack=stack,
                image=self.image,
                port=service.deploy.port,
                opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
            )
            self.scoring_uri, self.swagger_uri, self.state = deployment.scoring_uri, deployment.swagger_uri, deployment.state
        self.register_outputs(self.outputs())

    def outputs(self) -> dict[str, Any]:
        """The stack outputs of this service (names fixed by the product contract)."""
        outputs: dict[str, Any] = {"image": self.image, "model_versions": self.model_versions}
        if self.scoring_uri is not None:
            outputs.update(scoring_uri=self.scoring_uri, swagger_uri=self.swagger_uri, state=self.state)
        return outputs
