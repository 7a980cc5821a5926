"""LocalRegistry: the `kind: local` registry as a Pulumi resource, over the plain functions
of `components.targets.local.registry_server`, so `pulumi up` starts the registry, `pulumi
refresh` sees it stopped, the next `pulumi up` restarts it, and `pulumi destroy` stops it."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi.dynamic

from components.config.schema import STATE_DIR
from components.targets.local.registry_server import check_port, is_running, start, stop


def local_registry_dirs(port: int) -> tuple[str, str]:
    """(storage, process state) folders of the registry on `port`, relative to the project.

    One registry per port: stacks that share a port share the registry's storage too, which
    is what lets a local stack promote to another without copying.
    """
    base = f"{STATE_DIR}/registry/{port}"
    return f"{base}/storage", f"{base}/run"


class LocalRegistryProvider(pulumi.dynamic.ResourceProvider):
    """Dynamic provider for `LocalRegistry`: CRUD over the plain functions of
    components.targets.local.registry_server.

    Runs in Pulumi's provider process (`python -m pulumi.dynamic`, cwd = the project
    directory), which imports this module by name; inputs are plain `port`, `root_dir`,
    `state_dir` (relative paths are relative to the project directory).
    """

    _REPLACE_ON = ("port", "root_dir", "state_dir")

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        port, root_dir, state_dir = _inputs(props)
        if not is_running(state_dir, port):
            start(port, root_dir, state_dir)
        return pulumi.dynamic.CreateResult(id_=f"localhost:{port}", outs=_outs(port, root_dir, state_dir, True))

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        port, root_dir, state_dir = _inputs(props)
        return pulumi.dynamic.ReadResult(id_=id_, outs=_outs(port, root_dir, state_dir, is_running(state_dir, port)))

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        replaces = [k for k in self._REPLACE_ON if _norm(k, olds.get(k)) != _norm(k, news.get(k))]
        if replaces:
            # delete first: the old and new registry share the state directory (and maybe the port)
            return pulumi.dynamic.DiffResult(changes=True, replaces=replaces, delete_before_replace=True)
        # Stopped (as refresh recorded, or as seen now): an update restarts it.
        port, _, state_dir = _inputs(news)
        stopped = olds.get("running") is False or not is_running(state_dir, port)
        return pulumi.dynamic.DiffResult(changes=stopped, replaces=[], stables=["address"])

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        port, root_dir, state_dir = _inputs(news)
        if not is_running(state_dir, port):
            start(port, root_dir, state_dir)
        return pulumi.dynamic.UpdateResult(outs=_outs(port, root_dir, state_dir, True))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        _, _, state_dir = _inputs(props)
        stop(state_dir)


def _inputs(props: dict[str, Any]) -> tuple[int, str, str]:
    return int(props["port"]), str(props["root_dir"]), str(props["state_dir"])


def _norm(key: str, value: Any) -> Any:
    if value is None:
        return None
    return int(value) if key == "port" else str(value)


def _outs(port: int, root_dir: str, state_dir: str, running: bool) -> dict[str, Any]:
    return {
        "port": port,
        "root_dir": root_dir,
        "state_dir": state_dir,
        "address": f"localhost:{port}",
        "running": running,
    }


class LocalRegistry(pulumi.dynamic.Resource, module="modelstack", name="LocalRegistry"):
    """The `kind: local` registry as a Pulumi resource (type `pulumi-python:dynamic/modelstack:LocalRegistry`).

    Outputs `address` (`localhost:PORT`, what docker push/pull use) and `running`.
    `root_dir` holds the pushed images; `state_dir` holds the pidfile, config and log.
    Changing any input replaces the registry (stop, then start); a registry found stopped
    is started again by the next `pulumi up`; `pulumi destroy` stops it (images stay in
    `root_dir`).
    """

    port: pulumi.Output[int]
    root_dir: pulumi.Output[str]
    state_dir: pulumi.Output[str]
    address: pulumi.Output[str]
    running: pulumi.Output[bool]

    def __init__(
        self,
        name: str,
        port: int,
        root_dir: str,
        state_dir: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        check_port(port)
        super().__init__(
            LocalRegistryProvider(),
            name,
            {
                "port": port,
                "root_dir": str(root_dir),
                "state_dir": str(state_dir),
                "address": None,
                "running": None,
            },
            opts,
        )
