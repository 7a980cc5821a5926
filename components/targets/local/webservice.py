"""LocalWebservice: Azure ML's `LocalWebservice`, as a Pulumi resource on this machine's Docker.

`create` pulls the service's image from the registry by digest, runs it with the port
published on localhost (the container listens on 5001, as Azure ML's do) and waits until
the scoring server answers, showing progress. When `init()` fails the container exits: the
error carries the tail of its log and the container is removed, so a failed `up` leaves
nothing behind and a re-run converges.

`read` inspects the live container, so `pulumi refresh` shows drift: a stopped container
(state Failed), a removed one (gone from the stack) or one running another image. `diff`
looks at the live container too, so a plain `pulumi up` plans the repair: a restart in
place for a stopped container, a replacement for a removed one, a new image or a new port.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from components.dynamic_imports import imports_first
from modelstack_server import contract

HEALTH_TIMEOUT_SECONDS = 180
LOG_TAIL_LINES = 30
# Inputs whose change needs a new container.
CONTAINER_IDENTITY = ("image", "port", "environment", "container_name")


def azureml_state(status: str | None, healthy: bool | None) -> str:
    """Docker's view of a container, in Azure ML's service states."""
    if status is None:
        return "Failed"
    if status in ("created", "restarting"):
        return "Transitioning"
    if status == "running":
        if healthy is None:
            return "Transitioning"
        return "Healthy" if healthy else "Unhealthy"
    return "Failed"  # exited, dead, paused, removing


def endpoint_uris(port: int) -> dict[str, str]:
    base = f"http://localhost:{port}"
    return {"scoring_uri": f"{base}{contract.SCORE_ROUTE}", "swagger_uri": f"{base}{contract.SWAGGER_ROUTE}"}


def container_diff(olds: dict[str, Any], news: dict[str, Any], live_state: str | None) -> tuple[list[str], list[str]]:
    """(changed inputs, inputs that force a replacement), given the container's live state.

    A port left unset means "any free port": the one picked before is kept. A container
    that is gone is replaced; one that drifted out of Healthy is restarted in place
    (`update`). The live state is looked up at diff time, so a plain `pulumi up` repairs
    drift without a refresh first.
    """
    replaces = [k for k in CONTAINER_IDENTITY if k != "port" and olds.get(k) != news.get(k)]
    if news.get("port") is not None and news.get("port") != olds.get("port"):
        replaces.append("port")
    if live_state is None and not replaces:
        replaces.append("container_id")
    changes = list(replaces)
    if live_state not in (None, "Healthy") and not replaces:
        changes.append("state")
    return changes, replaces


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def is_healthy(port: int, timeout: float = 2.0) -> bool:
    import requests

    try:
        return requests.get(f"http://127.0.0.1:{port}/", timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


def _log(message: str) -> None:
    from components.image.builder import stderr_log

    stderr_log(message)


def _container(client, container_id: str):
    import docker.errors

    try:
        return client.containers.get(container_id)
    except docker.errors.NotFound:
        return None


def wait_until_healthy(container, port: int, service: str, timeout: float = HEALTH_TIMEOUT_SECONDS) -> str:
    """Poll until the scoring server answers; raise with the log tail if the container dies."""
    from components.errors import DeploymentError

    started = time.monotonic()
    next_report = started
    while True:
        container.reload()
        status = container.status
        if status in ("exited", "dead"):
            tail = container.logs(tail=LOG_TAIL_LINES).decode(errors="replace").rstrip()
            code = container.attrs.get("State", {}).get("ExitCode")
            raise DeploymentError(
                f"service {service} is Failed: its container exited (code {code}) before it became healthy. Last log lines:\n{tail}",
                rule="init() of the entry script must succeed when the container starts",
                fix="fix the error above in the entry script (or the model it loads), then run `pulumi up` again",
            )
        if status == "running" and is_healthy(port):
            _log(f"{service} is Healthy on port {port} ({time.monotonic() - started:.1f}s)")
            return "Healthy"
        now = time.monotonic()
        if now - started > timeout:
            tail = container.logs(tail=LOG_TAIL_LINES).decode(errors="replace").rstrip()
            raise DeploymentError(
                f"service {service} did not become healthy within {timeout:.0f}s (state Unhealthy). Last log lines:\n{tail}",
                rule="GET / on the scoring server answers once init() has returned",
                fix="make init() faster or look at the log above for what it waits on",
            )
        if now >= next_report:
            _log(f"waiting for {service} to become Healthy (Transitioning, {now - started:.0f}s)")
            next_report = now + 5
        time.sleep(0.25)


def published_port(attrs: dict[str, Any]) -> int | None:
    """The localhost port a container publishes the scoring server's port on, from Docker's
    inspect data (HostConfig's bindings: they are there before the container starts)."""
    bindings = (attrs.get("HostConfig") or {}).get("PortBindings") or {}
    for binding in bindings.get(f"{contract.PORT}/tcp") or []:
        if str(binding.get("HostPort") or "").isdigit():
            return int(binding["HostPort"])
    return None


def live_container(container_id: str, props: dict[str, Any]) -> tuple[str, str] | None:
    """(Azure ML state, image) of the running container, or None when it is gone."""
    from components.image.docker_client import docker_client

    container = _container(docker_client(), container_id)
    if container is None:
        return None
    running = container.status == "running"
    port = props.get("port") or published_port(container.attrs)
    state = azureml_state(container.status, is_healthy(int(port)) if running and port else None)
    return state, container.attrs.get("Config", {}).get("Image", props.get("image"))


def adopted_outputs(container_id: str, props: dict[str, Any]) -> dict[str, Any]:
    """Outputs of a container the engine adopts (`pulumi refresh --import-pending-creates` after a
    killed `up` started it): what `create` would have recorded, read from the live container."""
    from components.image.docker_client import docker_client

    if props.get("container_id") and props.get("scoring_uri"):
        return {}
    container = _container(docker_client(), container_id)
    port = published_port(container.attrs) if container is not None else None
    if port is None:
        return {}
    return {"port": port, "container_id": container_id, **endpoint_uris(port)}


def stack_containers(stack: str) -> list[Any]:
    """Every container labelled with the stack, running or not."""
    from components.image.docker_client import docker_client

    return docker_client().containers.list(all=True, filters={"label": f"{contract.CONTAINER_STACK_LABEL}={stack}"})


def existing_container(inputs: dict[str, Any]) -> str | None:
    """The id of the container a pending create of these inputs started, when it exists: the
    container of that name, labelled with the same stack and service (a killed `up` may have
    started it before the engine could record it)."""
    from components.image.docker_client import docker_client

    container = _container(docker_client(), str(inputs.get("container_name") or ""))
    if container is None:
        return None
    labels = container.attrs.get("Config", {}).get("Labels") or {}
    if labels.get(contract.CONTAINER_STACK_LABEL) != inputs.get("stack"):
        return None
    if labels.get(contract.CONTAINER_SERVICE_LABEL) != inputs.get("service"):
        return None
    return container.id


@imports_first(
    "requests", "docker.errors", "components.errors", "components.image.builder", "components.image.docker_client"
)
class LocalWebserviceProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        import docker.errors

        from components.errors import DeploymentError
        from components.image.docker_client import docker_client

        client = docker_client()
        service = props["service"]
        port = int(props["port"]) if props.get("port") is not None else None
        if port is None:
            port = free_port()
        elif not port_is_free(port):
            raise DeploymentError(
                f"port {port} is already in use on this machine",
                key=f"modelstack:services.{service}.deploy.port",
                rule="a local webservice publishes its own port on localhost",
                fix="pick another port, stop whatever listens on it, or remove deploy.port to get a free one",
            )
        _log(f"pulling {props['image']}")
        client.images.pull(props["image"])
        stale = _container(client, props["container_name"])
        if stale is not None:  # left by an interrupted run: nothing in the stack owns it
            stale.remove(force=True)
        container = client.containers.run(
            props["image"],
            name=props["container_name"],
            detach=True,
            ports={f"{contract.PORT}/tcp": ("127.0.0.1", port)},
            environment=props.get("environment") or {},
            labels={contract.CONTAINER_SERVICE_LABEL: service, contract.CONTAINER_STACK_LABEL: props["stack"]},
        )
        _log(f"started container {props['container_name']} for {service} on port {port}")
        try:
            state = wait_until_healthy(container, port, service)
        except BaseException:
            try:
                container.remove(force=True)
            except docker.errors.APIError:
                pass
            raise
        assert container.id is not None  # a container Docker created has its id
        outs = {**props, "port": port, "container_id": container.id, "state": state, **endpoint_uris(port)}
        return CreateResult(id_=container.id, outs=outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        live = live_container(id_, props)
        if live is None:
            return ReadResult(id_="", outs={})  # removed by hand: gone from the stack
        state, image = live
        return ReadResult(id_=id_, outs={**props, **adopted_outputs(id_, props), "state": state, "image": image})

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        live = live_container(id_, olds)
        changes, replaces = container_diff(olds, news, live[0] if live else None)
        return DiffResult(changes=bool(changes), replaces=replaces, delete_before_replace=True)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Nothing that needs a new container changed: restart this one if it drifted."""
        from components.image.docker_client import docker_client

        port = int(olds["port"])
        live = live_container(id_, olds)
        state = live[0] if live else olds.get("state")
        if live is not None and state != "Healthy":
            _log(f"restarting {olds['container_name']} ({state})")
            container = _container(docker_client(), id_)
            container.restart()
            state = wait_until_healthy(container, port, news["service"])
        return UpdateResult(outs={**news, "port": port, "container_id": id_, "state": state, **endpoint_uris(port)})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        from components.image.docker_client import docker_client

        container = _container(docker_client(), id_)
        if container is not None:
            container.remove(force=True)
            _log(f"removed container {props.get('container_name', id_)}")


class LocalWebservice(Resource, module="modelstack", name="LocalWebservice"):
    """A webservice running in local Docker (Azure ML's LocalWebservice)."""

    scoring_uri: pulumi.Output[str]
    swagger_uri: pulumi.Output[str]
    state: pulumi.Output[str]
    port: pulumi.Output[int]
    container_id: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        service: str,
        stack: str,
        image: pulumi.Input[str],
        port: int | None,
        environment: dict[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        props = {
            "service": service,
            "stack": stack,
            "image": image,
            "port": port,
            "environment": environment or {},
            "container_name": f"modelstack-{stack}-{service}",
            "container_id": None,
            "state": None,
            "scoring_uri": None,
            "swagger_uri": None,
        }
        super().__init__(LocalWebserviceProvider(), name, props, opts)
