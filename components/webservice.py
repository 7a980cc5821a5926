"""Webservice: one declared service, its image and its deployment on the stack's target.

The same declaration deploys to local Docker, ACI or AKS by changing the stack's `target`.
The image is the same whatever the target (built once, promoted by digest); what differs
is the deployment child:
- local: a LocalWebservice (Docker on this machine; no auth, as Azure ML's LocalWebservice);
- aci: an AciWebservice (components.targets.azure.aci_webservice) on the stack's Azure platform;
- aks: an AksWebservice (components.targets.kubernetes.webservice) on the named cluster, behind the
  cluster's front end (components.targets.kubernetes.frontend); with `versions:`, one image per distinct set
  of models and one Deployment per version.
On aci and aks the service's keys (components.targets.keys) are generated or taken from the config
when auth is on, and are secret outputs of their own (`keys()`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi

from components.image.build_context import BuildContext, build_context
from components.config.schema import AciDeploy, AksDeploy, ReleasePin, ServiceSpec
from components.targets.keys import ServiceKeys, declare_keys
from components.targets.local.webservice import LocalWebservice
from components.config.rollout import rollout_versions
from components.image.service_image import ServiceImage

# What of a service's spec goes into its image: a change anywhere else (target, deploy
# parameters, description) must not touch the image.
IMAGE_FIELDS = {"models", "entry_script", "source_directory", "environment", "scoring_server"}


def image_inputs(service: ServiceSpec, models: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parts of the config the image provider needs to render the same context again."""
    spec = service.model_dump(mode="json", include=IMAGE_FIELDS, exclude_defaults=True)
    model_specs = {name: {"path": models[name].path} for name in service.models}
    return spec, model_specs


class Webservice(pulumi.ComponentResource):
    """A served model: `image` (by digest), `model_versions`, and for deployed targets
    `scoring_uri`, `swagger_uri` and `state`; `keys` when auth is on."""

    image: pulumi.Output[str]
    model_versions: dict[str, str]
    scoring_uri: pulumi.Output[str] | None
    swagger_uri: pulumi.Output[str] | None
    state: pulumi.Output[str] | None
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
        platform=None,  # components.targets.azure.platform.AzurePlatform, for aci and aks targets
        kubernetes_clusters=None,  # {name: components.targets.kubernetes.cluster.KubernetesCluster}, for kubernetes targets
        project_dir: str | Path | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        # The component's inputs are what guardrails judge a service by (components.policy.facts).
        super().__init__("modelstack:webservice:Webservice", name, {"target": service.target, **(policy_facts or {})}, opts)
        self._name, self._service, self._models, self._repository = name, service, models, repository
        self._release = release
        self._project_dir = Path(project_dir) if project_dir is not None else None
        if release is not None:
            # A promoted release: run exactly the image that ran in the stage before; build nothing.
            self.model_versions = dict(release.model_versions)
            self.built_image = None
            self.image = pulumi.Output.from_input(release.image)
        else:
            self.model_versions = context.model_versions
            self.built_image = self._image(f"{name}-image", service, context)
            self.image = self.built_image.image
        self.scoring_uri = self.swagger_uri = self.state = None
        self.service_keys = None
        self.versions: dict[str, dict[str, Any]] = {}
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
        elif service.target == "kubernetes" and kubernetes_clusters is not None and isinstance(service.deploy, AksDeploy):
            self.service_keys = declare_keys(name, service.deploy, parent=self)
            deployment = self._deploy_kubernetes(stack, kubernetes_clusters[service.compute], None)
            self.scoring_uri, self.swagger_uri, self.state = deployment.scoring_uri, deployment.swagger_uri, deployment.state
        elif platform is not None and isinstance(service.deploy, (AciDeploy, AksDeploy)):
            self.service_keys = declare_keys(name, service.deploy, parent=self)
            deployment = self._deploy_aci(stack, platform) if service.target == "aci" else self._deploy_aks(stack, platform)
            self.scoring_uri, self.swagger_uri, self.state = deployment.scoring_uri, deployment.swagger_uri, deployment.state
        self.register_outputs({**self.outputs(), **({"keys": self.keys()} if self.service_keys else {})})

    def _image(self, resource_name: str, service: ServiceSpec, context: BuildContext) -> ServiceImage:
        spec, model_specs = image_inputs(service, self._models)
        registry_credentials = service.environment.base_image_registry
        password = registry_credentials.password.get_secret_value() if registry_credentials and registry_credentials.password else None
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

    def _deploy_aci(self, stack: str, platform):
        from components.targets.azure.aci_webservice import AciWebservice

        return AciWebservice(
            f"{self._name}-aci",
            service=self._name,
            stack=stack,
            deploy=self._service.deploy,
            image=self.image,
            keys=self.service_keys,
            platform=platform,
            project_dir=str(self._project_dir),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _deploy_aks(self, stack: str, platform):
        insights = platform.app_insights.connection_string if platform.app_insights is not None else None
        return self._deploy_kubernetes(stack, platform.clusters[self._service.compute], insights)

    def _deploy_kubernetes(self, stack: str, cluster, app_insights_connection_string):
        """The service's Kubernetes objects on `cluster`: an AksCluster, or a KubernetesCluster."""
        from components.targets.kubernetes.frontend import frontend_for
        from components.targets.kubernetes.webservice import AksWebservice

        versions = rollout_versions(self._name, self._service)
        images: dict[str, pulumi.Input[str]] = {}
        model_versions: dict[str, dict[str, str]] = {}
        by_models: dict[tuple[str, ...], tuple[pulumi.Input[str], dict[str, str]]] = {tuple(self._service.models): (self.image, self.model_versions)}
        pinned = self._release.versions if self._release is not None else {}
        for version in versions:
            if version.name in pinned:
                # A promoted release's version: the image that ran in the stage before, not rebuilt.
                images[version.name] = pinned[version.name].image
                model_versions[version.name] = dict(pinned[version.name].model_versions)
            elif version.models not in by_models:
                # A version serving other models has an image of its own, built from the same code.
                variant = self._service.model_copy(update={"models": list(version.models)})
                context = build_context(self._project_dir, self._name, variant, self._models)
                built = self._image(f"{self._name}-{version.name}-image", variant, context)
                by_models[version.models] = (built.image, context.model_versions)
            if version.name not in pinned:
                images[version.name], model_versions[version.name] = by_models[version.models]
            if version.declared:
                self.versions[version.name] = {"traffic_percentile": version.percent, "image": images[version.name], "model_versions": model_versions[version.name]}
        return AksWebservice(
            f"{self._name}-aks",
            service=self._name,
            deploy=self._service.deploy,
            versions=versions,
            images=images,
            model_versions=model_versions,
            keys=self.service_keys,
            frontend=frontend_for(cluster, stack, self._service.compute),
            provider=cluster.provider,
            kubeconfig=cluster.kubeconfig,
            context=cluster.context,
            rollout_patience_seconds=cluster.rollout_patience_seconds,
            scoring_server=self._service.scoring_server,
            app_insights_connection_string=app_insights_connection_string,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def outputs(self) -> dict[str, Any]:
        """The stack outputs of this service (names fixed by the product contract); no secrets."""
        outputs: dict[str, Any] = {"image": self.image, "model_versions": self.model_versions}
        if self.scoring_uri is not None:
            outputs.update(scoring_uri=self.scoring_uri, swagger_uri=self.swagger_uri, state=self.state)
        if self.versions:
            outputs["versions"] = self.versions
        return outputs

    def keys(self) -> dict[str, pulumi.Output[str]] | None:
        """The service's keys (Pulumi secrets), when auth is on."""
        return self.service_keys.as_output() if self.service_keys is not None else None
