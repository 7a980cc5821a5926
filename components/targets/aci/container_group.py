"""AciGroup: an Azure Container Instances container group, as the ACI webservice runs one.

Each container has its own cpu and memory request, ports and environment; secure
environment variables are sent as ACI `secureValue`s and kept as Pulumi secrets. The group
gets a public IP with a DNS label (Azure ML's `dns_name_label`), published with a reuse
scope so that nobody else can take the name over after the group is deleted, or, in a
virtual network, a private IP only. Images are pulled from the registry with a managed
identity holding AcrPull (preferred), or with registry credentials kept secret.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
from pulumi_azure_native import containerinstance

from modelstack_server import contract

RestartPolicy = Literal["Always", "OnFailure", "Never"]
# Azure adds a hash of the tenant to the DNS label, so the FQDN cannot be reused by another
# tenant after this group is gone (subdomain takeover).
DNS_LABEL_SCOPE = "TenantReuse"


@dataclass(frozen=True)
class AciContainer:
    """One container of the group: image, its resource request, ports and environment."""

    name: str
    image: pulumi.Input[str]
    cpu_cores: float
    memory_gb: float
    ports: Sequence[int] = (contract.PORT,)
    environment: Mapping[str, str] = field(default_factory=dict)
    secure_environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    command: Sequence[str] | None = None


def container_args(container: AciContainer) -> dict[str, Any]:
    variables: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(container.environment.items())]
    variables += [
        {"name": k, "secure_value": pulumi.Output.secret(v)} for k, v in sorted(container.secure_environment.items())
    ]
    args: dict[str, Any] = {
        "name": container.name,
        "image": container.image,
        "resources": {"requests": {"cpu": container.cpu_cores, "memory_in_gb": container.memory_gb}},
        "ports": [{"port": port, "protocol": "TCP"} for port in container.ports],
        "environment_variables": variables,
    }
    if container.command:
        args["command"] = list(container.command)
    return args


def ip_address_args(ports: Sequence[int], dns_name_label: str | None, private: bool) -> dict[str, Any]:
    address: dict[str, Any] = {
        "type": "Private" if private else "Public",
        "ports": [{"port": port, "protocol": "TCP"} for port in ports],
    }
    if dns_name_label and not private:
        address.update(dns_name_label=dns_name_label, auto_generated_domain_name_label_scope=DNS_LABEL_SCOPE)
    return address


class AciGroup(pulumi.ComponentResource):
    """A container group: `fqdn` (public groups with a DNS label), `ip_address`, `group_name`, `group_id`."""

    fqdn: pulumi.Output[str | None]
    ip_address: pulumi.Output[str | None]

    def __init__(
        self,
        name: str,
        *,
        group_name: str,
        resource_group_name: pulumi.Input[str],
        location: str,
        containers: Sequence[AciContainer],
        registry_server: pulumi.Input[str],
        tags: Mapping[str, str],
        registry_identity_id: pulumi.Input[str] | None = None,
        registry_username: pulumi.Input[str] | None = None,
        registry_password: pulumi.Input[str] | None = None,
        dns_name_label: str | None = None,
        restart_policy: RestartPolicy = "Always",
        subnet_id: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        if not containers:
            raise ValueError("a container group has at least one container")
        if (registry_identity_id is None) == (registry_password is None):
            raise ValueError("pull images with a registry identity or with registry credentials: exactly one of them")
        if dns_name_label and subnet_id is not None:
            raise ValueError("a container group in a vnet has a private IP only, without a DNS label")
        super().__init__(
            "modelstack:aci:AciGroup",
            name,
            {"group_name": group_name, "containers": [c.name for c in containers], "restart_policy": restart_policy},
            opts,
        )
        ports = sorted({port for container in containers for port in container.ports})
        arguments: dict[str, Any] = dict(
            container_group_name=group_name,
            resource_group_name=resource_group_name,
            location=location,
            os_type="Linux",
            restart_policy=restart_policy,
            containers=[container_args(c) for c in containers],
            ip_address=ip_address_args(ports, dns_name_label, private=subnet_id is not None),
            tags=dict(tags),
        )
        if registry_identity_id is not None:
            arguments["identity"] = {"type": "UserAssigned", "user_assigned_identities": [registry_identity_id]}
            arguments["image_registry_credentials"] = [{"server": registry_server, "identity": registry_identity_id}]
        else:
            arguments["image_registry_credentials"] = [
                {
                    "server": registry_server,
                    "username": registry_username,
                    "password": pulumi.Output.secret(registry_password),
                }
            ]
        if subnet_id is not None:
            arguments["subnet_ids"] = [{"id": subnet_id}]
        self.group = containerinstance.ContainerGroup(
            f"{name}-group", **arguments, opts=pulumi.ResourceOptions(parent=self)
        )
        self.group_name = self.group.name
        self.group_id = self.group.id
        self.ip_address = self.group.ip_address.apply(lambda address: address.ip if address else None)
        self.fqdn = self.group.ip_address.apply(lambda address: address.fqdn if address else None)
        self.register_outputs(
            {"group_name": self.group_name, "group_id": self.group_id, "ip_address": self.ip_address, "fqdn": self.fqdn}
        )
