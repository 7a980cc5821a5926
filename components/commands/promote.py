"""`modelstack promote --from SRC --to DST`: move a release stack to stack without rebuilding.

The release is what SRC runs: each service's image by digest and the model versions in it, and
the same for each of its rollout versions.
Promotion refuses when a SRC service is not Healthy in a refresh preview (live, not just
recorded). When DST uses another registry the images are copied (pull by digest, push; an ACR
signs in with the user's Azure identity), so DST runs the same digest from its own registry. The pins are written under
`modelstack:release` in DST's stack file (comments and order kept); DST's next `pulumi up`
then deploys them and builds nothing.
While it reads DST's registry, copies images and writes the pins it holds DST's lock
(components/state/locks.py: an object in the engine's lock folder), so a concurrent `pulumi up`
or promote of DST is refused, naming this one; a locked DST refuses the promotion the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.errors import ModelstackError

RELEASE_KEY = "modelstack:release"


@dataclass(frozen=True)
class Promotion:
    service: str
    source_image: str
    image: str
    model_versions: dict[str, str]
    copied: bool


def split_reference(reference: str) -> tuple[str, str]:
    """'localhost:5050/diabetes@sha256:ab..' -> ('localhost:5050/diabetes', 'sha256:ab..')."""
    repository, sep, digest = reference.partition("@")
    if not sep or not digest.startswith("sha256:"):
        raise ModelstackError(
            f"image '{reference}' is not pinned by digest",
            rule="a release is promoted by digest",
            fix="redeploy the source stack with this version of modelstack, then promote again",
        )
    return repository, digest


def live_states(services: dict[str, Any], parts: dict[str, list[str]]) -> dict[str, str]:
    """Each service's state: what a refresh found of its parts (`drift.live_parts`), the worst of
    them, or "gone" when one is; a service the refresh did not see keeps its recorded state."""
    from components.targets.states import service_state

    result = {name: (outputs or {}).get("state") or "not deployed" for name, outputs in services.items()}
    for service, found in parts.items():
        if service in result:
            result[service] = "gone" if "gone" in found else service_state(found)
    return result


def release_images(service_outputs: dict[str, Any]) -> list[tuple[str | None, str, dict[str, str]]]:
    """What a service runs, from its stack output: (None, image, model versions) for the service,
    then (version, image, model versions) for each rollout version, in name order. Every one of
    them is copied and pinned, so the destination runs each version's image without building it."""
    found: list[tuple[str | None, str, dict[str, str]]] = [
        (None, service_outputs["image"], dict(service_outputs.get("model_versions") or {}))
    ]
    for version, described in sorted((service_outputs.get("versions") or {}).items()):
        found.append((version, described["image"], dict(described.get("model_versions") or {})))
    return found


def refuse_unhealthy(src: str, states: dict[str, str]) -> None:
    unhealthy = {name: state for name, state in sorted(states.items()) if state != "Healthy"}
    if unhealthy:
        listed = ", ".join(f"{name} ({state})" for name, state in unhealthy.items())
        raise ModelstackError(
            f"stack {src} has services that are not Healthy: {listed}",
            rule="only a release that runs Healthy is promoted",
            fix=f"repair {src} (`pulumi up --stack {src}`), check it, then promote again",
        )


def destination_registry(project_dir: Path, dst: str, dst_outputs: Callable[[], dict[str, Any]]) -> str:
    """Where DST pulls images from: its local registry, or its ACR's login server."""
    from components.config.load import load_from_files
    from components.config.schema import LocalRegistrySpec

    config = load_from_files(dst, project_dir)
    if isinstance(config.registry, LocalRegistrySpec):
        return f"localhost:{config.registry.port}"
    registry = dst_outputs().get("registry") or {}
    if not registry.get("login_server"):
        raise ModelstackError(
            f"stack {dst} has no registry yet",
            key=f"{RELEASE_KEY} ({dst})",
            rule="images are copied into the destination stack's own registry",
            fix=f"create {dst}'s platform first: pulumi up --stack {dst} (its services can wait for the release)",
        )
    return registry["login_server"]


def ensure_local_registry(project_dir: Path, address: str) -> None:
    """Start DST's local registry if it is not running (DST's `up` adopts it)."""
    from components.targets.local import registry_server as local_registry
    from components.targets.local.registry import local_registry_dirs

    port = int(address.rsplit(":", 1)[1])
    root_dir, state_dir = (str(project_dir / d) for d in local_registry_dirs(port))
    if not local_registry.is_running(state_dir, port):
        local_registry.start(port, root_dir, state_dir)


def copy_image(source: str, repository: str, log: Callable[[str], None]) -> str:
    """Pull `source` by digest and push it to `repository`; returns the pushed digest."""
    from components.image.builder import push
    from components.image.docker_client import docker_client

    client = docker_client()
    source_repository, digest = split_reference(source)
    log(f"pulling {source}")
    image = client.images.pull(source, auth_config=registry_auth(source_repository))
    tag = f"release-{digest.removeprefix('sha256:')[:12]}"
    image.tag(repository, tag=tag)
    return push(client, repository, tag, auth_config=registry_auth(repository), log=log)


def registry_auth(repository: str) -> dict[str, str] | None:
    """Credentials for an ACR from the user's Azure identity (as image pushes get them); none
    for a local registry."""
    from components.image.builder import is_local_registry, split_repository

    if is_local_registry(repository):
        return None
    from components.image.registry_auth import acr_login

    return acr_login(split_repository(repository)[0]).docker_auth_config()


def write_pins(stack_file: Path, pins: dict[str, dict[str, Any]]) -> None:
    """Set `modelstack:release` in a stack file, keeping its comments and key order."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # image references stay on one line
    document = yaml.load(stack_file.read_text()) if stack_file.exists() else None
    if document is None:
        document = {"config": {}}
    if document.get("config") is None:
        document["config"] = {}
    document["config"][RELEASE_KEY] = pins
    with stack_file.open("w") as handle:
        yaml.dump(document, handle)


def promote(project_dir: Path, src: str, dst: str, log: Callable[[str], None] = print) -> list[Promotion]:
    from components.commands import drift
    from components.commands.engine import stack_outputs
    from components.commands.lock import destination_lock
    from components.config.load import stack_name_error

    for name, option in ((src, "--from"), (dst, "--to")):
        bad_name = stack_name_error(name, option)
        if bad_name is not None:
            raise bad_name
    if src == dst:
        raise ModelstackError(
            f"--from and --to are both '{src}'",
            rule="a release moves from one stack to another",
            fix="name two different stacks",
        )
    outputs = stack_outputs(project_dir, src, command="promote")
    services = outputs.get("services") or {}
    if not isinstance(services, dict) or not all(isinstance(v, dict) for v in services.values()):
        raise ModelstackError(
            f"stack {src}'s services output is not what modelstack wrote",
            key=f"output services of stack {src}",
            rule="a deployed stack's services output maps each service to its image, model versions and state",
            fix=f"pulumi up --stack {src} to write its outputs again (or restore its state), then promote",
        )
    if not services:
        raise ModelstackError(
            f"stack {src} has no services output",
            rule="a release is what a deployed stack runs",
            fix=f"deploy it first: pulumi up --stack {src}",
        )
    log(f"checking that {src} runs Healthy (refresh preview)")
    refuse_unhealthy(
        src, live_states(services, drift.live_parts(drift.refresh_events(project_dir, src, command="promote")))
    )

    def dst_outputs() -> dict[str, Any]:
        return stack_outputs(project_dir, dst, command="promote")

    # DST's lock, held from reading its registry to writing its pins: a concurrent `pulumi up` or
    # another promote to DST is refused, naming this one (components/state/locks.py).
    with destination_lock(project_dir, dst, "promote", log):
        registry = destination_registry(project_dir, dst, dst_outputs)
        if registry.startswith("localhost:"):
            ensure_local_registry(project_dir, registry)
        pins: dict[str, dict[str, Any]] = {}
        promotions = []
        copied: set[tuple[str, str]] = set()  # (repository, digest) already in DST: one copy per image
        for name, service_outputs in sorted(services.items()):
            pin: dict[str, Any] = {}
            for version, source_image, model_versions in release_images(service_outputs):
                source_repository, digest = split_reference(source_image)
                repository = f"{registry}/{name}"
                moved = repository != source_repository
                if moved and (repository, digest) not in copied:
                    pushed = copy_image(source_image, repository, log)
                    if pushed != digest:
                        raise ModelstackError(
                            f"copying {name} to {repository} gave digest {pushed}, not {digest}",
                            rule="a promoted image is byte for byte the one that ran before",
                            fix="check that both registries keep manifests unchanged (no conversion), then promote again",
                        )
                    copied.add((repository, digest))
                image = f"{repository}@{digest}"
                if version is None:
                    pin.update(image=image, model_versions=model_versions)
                    promotions.append(Promotion(name, source_image, image, model_versions, moved))
                else:
                    pin.setdefault("versions", {})[version] = {"image": image, "model_versions": model_versions}
                    promotions.append(Promotion(f"{name}/{version}", source_image, image, model_versions, moved))
            pins[name] = {**pin, "source_stack": src}
        write_pins(project_dir / "stacks" / f"Pulumi.{dst}.yaml", pins)
        return promotions
