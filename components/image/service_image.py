"""ServiceImage: a webservice's image in its registry, as a Pulumi resource.

The program computes the tag (the hash of the build context) at plan time, so `preview`
shows an image replacement exactly when something that goes into the image changed, and
builds nothing. `up` runs `create`, which renders the same context, builds and pushes it
(skipping both when the registry already has the tag) and records the image by digest.
`read` asks the registry whether the image is still there, so `refresh` shows a deleted
image as drift and the next `up` pushes it again.

Images are not deleted from the registry when the resource goes: other stacks may run the
same digest (promotion), and a rollback needs the old one.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from components.config.schema import STATE_DIR
from components.dynamic_imports import imports_first

# Inputs whose change means a different image.
IMAGE_IDENTITY = ("repository", "tag")


def image_diff(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    """Which inputs force a new image: its identity changed, or the registry lost it."""
    replaces = [k for k in IMAGE_IDENTITY if olds.get(k) != news.get(k)]
    if not olds.get("digest") and "tag" not in replaces:
        replaces.append("tag")
    return replaces


@imports_first(
    "components.image.build_context",
    "components.config.schema",
    "components.config.load",
    "components.image.docker_client",
    "components.errors",
    "components.image.builder",
    "components.image.registry_auth",
)
class ServiceImageProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        from pathlib import Path

        from components.config.load import find_project_dir
        from components.config.schema import ModelSpec, RegistryCredentials, ServiceSpec
        from components.errors import BuildError
        from components.image.build_context import build_context
        from components.image.builder import ensure_image, is_local_registry, split_repository
        from components.image.docker_client import docker_client

        project_dir = find_project_dir()
        service = ServiceSpec.model_validate(props["service_spec"])
        models = {name: ModelSpec.model_validate(spec) for name, spec in props["model_specs"].items()}
        context = build_context(project_dir, props["service"], service, models)
        if context.tag != props["tag"]:
            raise BuildError(
                f"the files of service {props['service']} changed while the update ran (planned tag {props['tag']}, now {context.tag})",
                rule="an image is built from exactly the files that were planned",
                fix="run `pulumi up` again",
            )
        credentials = None
        registry = service.environment.base_image_registry
        if registry is not None:
            credentials = RegistryCredentials(
                address=registry.address, username=registry.username, password=props.get("base_image_password")
            )
        client = docker_client()
        push_auth = None
        if not is_local_registry(props["repository"]):
            # ACR: sign in with the user's Azure identity, never an admin password.
            from components.image.registry_auth import acr_login

            push_auth = acr_login(split_repository(props["repository"])[0]).docker_auth_config()
        result = ensure_image(
            client,
            context,
            props["repository"],
            Path(project_dir) / STATE_DIR,
            credentials=credentials,
            push_auth=push_auth,
        )
        outs = {**props, "digest": result.digest, "image": result.reference}
        return CreateResult(id_=f"{props['repository']}:{props['tag']}", outs=outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        from components.errors import BuildError
        from components.image.builder import is_local_registry, registry_digest

        if not is_local_registry(props["repository"]):
            return ReadResult(id_=id_, outs=props)  # ACR images are not re-read without a sign-in
        try:
            digest = registry_digest(props["repository"], props["tag"], attempts=1) or ""
        except BuildError:  # a stopped registry: the image cannot be seen, which is drift to repair
            digest = ""
        image = f"{props['repository']}@{digest}" if digest else ""
        return ReadResult(id_=id_, outs={**props, "digest": digest, "image": image})

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = image_diff(olds, news)
        return DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=False)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # Anything that changes the image replaces it; other inputs (the spec's description,
        # tags) are recorded as they are.
        return UpdateResult(outs={**news, "digest": olds.get("digest", ""), "image": olds.get("image", "")})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        return None


def existing_image(resource_type: str, inputs: dict[str, Any]) -> tuple[str | None, str] | None:
    """For a pending create of a ServiceImage (after a killed `up`): (its id when the registry has
    the planned tag, else None; what was looked at). None for any other resource type.

    An image in an ACR is not looked up (that needs a sign-in) and counts as absent: clearing its
    pending create creates nothing twice, because the next `up` finds the tag and neither builds
    nor pushes (`ensure_image`)."""
    from components.errors import BuildError
    from components.image.builder import is_local_registry, registry_digest
    from components.resource_types import SERVICE_IMAGE

    if resource_type != SERVICE_IMAGE:
        return None
    repository, tag = str(inputs.get("repository", "")), str(inputs.get("tag", ""))
    reference = f"{repository}:{tag}"
    if not is_local_registry(repository):
        return None, f"{reference} is in a registry recovery does not sign in to"
    try:
        digest = registry_digest(repository, tag, attempts=1)
    except BuildError:
        return None, f"the registry of {reference} does not answer"
    if digest:
        return reference, f"the registry has {reference}"
    return None, f"the registry has no {reference}"


class ServiceImage(Resource, module="modelstack", name="ServiceImage"):
    """The image of one service, by digest once it exists (`image` output)."""

    image: pulumi.Output[str]
    digest: pulumi.Output[str]
    tag: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        service: str,
        repository: pulumi.Input[str],
        tag: str,
        model_versions: dict[str, str],
        service_spec: dict[str, Any],
        model_specs: dict[str, Any],
        base_image_password: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        props = {
            "service": service,
            "repository": repository,
            "tag": tag,
            "model_versions": model_versions,
            "service_spec": service_spec,
            "model_specs": model_specs,
            "base_image_password": pulumi.Output.secret(base_image_password)
            if base_image_password is not None
            else None,
            "digest": None,
            "image": None,
        }
        super().__init__(ServiceImageProvider(), name, props, opts)
