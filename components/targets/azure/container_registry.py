"""ContainerRegistry: an Azure Container Registry for a stack's images.

- The admin user is off unless the stack asks for it (`admin_user_enabled`), and anonymous
  pull is always off: images are pushed with the user's own Azure identity (an Azure AD
  token exchanged for a registry token, see `components.image.registry_auth`) and pulled by identities
  holding AcrPull on the registry.
- AKS pulls with its kubelet identity (the AcrPull assignment belongs to `AksCluster`).
- ACI pulls with a user-assigned identity made here (`pull_identity=True`) that holds
  AcrPull on the registry; with the admin user on, its credentials are outputs too, as
  Pulumi secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi_azure_native import authorization, containerregistry, managedidentity

# Built-in role "AcrPull": pull images from a container registry.
ACR_PULL_ROLE_ID = "7f951dda-4ed3-4680-a7ca-43fe172d538d"


def role_definition_id(subscription_id: str, role_id: str) -> str:
    """A built-in role's definition id as role assignments name it."""
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role_id}"


def acr_pull_assignment(
    name: str,
    *,
    principal_id: pulumi.Input[str],
    registry_id: pulumi.Input[str],
    subscription_id: str,
    opts: pulumi.ResourceOptions,
) -> authorization.RoleAssignment:
    """AcrPull for a managed identity (a service principal) on one registry."""
    return authorization.RoleAssignment(
        name,
        principal_id=principal_id,
        # Set explicitly so Azure does not look the principal up in the directory first, which
        # fails for an identity created seconds earlier (replication delay).
        principal_type="ServicePrincipal",
        role_definition_id=role_definition_id(subscription_id, ACR_PULL_ROLE_ID),
        scope=registry_id,
        opts=opts,
    )


class ContainerRegistry(pulumi.ComponentResource):
    """The registry (`login_server`, `registry_id`, `registry_name`), and for ACI an identity
    that may pull from it (`pull_identity_id`); `admin_username`/`admin_password` (secret)
    only when the admin user is enabled."""

    login_server: pulumi.Output[str]
    registry_id: pulumi.Output[str]
    registry_name: pulumi.Output[str]
    pull_identity_id: pulumi.Output[str] | None
    admin_username: pulumi.Output[str] | None
    admin_password: pulumi.Output[str] | None

    def __init__(
        self,
        name: str,
        *,
        registry_name: str,
        resource_group_name: pulumi.Input[str],
        location: str,
        sku: str,
        subscription_id: str,
        tags: Mapping[str, str],
        admin_user_enabled: bool = False,
        pull_identity_name: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(
            "modelstack:registry:ContainerRegistry",
            name,
            {"sku": sku, "registry_name": registry_name, "admin_user_enabled": admin_user_enabled},
            opts,
        )
        child = pulumi.ResourceOptions(parent=self)
        self.registry = containerregistry.Registry(
            f"{name}-acr",
            registry_name=registry_name,
            resource_group_name=resource_group_name,
            location=location,
            sku={"name": sku},
            admin_user_enabled=admin_user_enabled,
            anonymous_pull_enabled=False,
            public_network_access="Enabled",
            tags=dict(tags),
            opts=child,
        )
        self.login_server = self.registry.login_server
        self.registry_id = self.registry.id
        self.registry_name = self.registry.name

        self.pull_identity_id = self.pull_identity_client_id = None
        self.pull_role_assignment = None
        if pull_identity_name is not None:
            identity = managedidentity.UserAssignedIdentity(
                f"{name}-pull-identity",
                resource_name_=pull_identity_name,
                resource_group_name=resource_group_name,
                location=location,
                tags=dict(tags),
                opts=child,
            )
            self.pull_role_assignment = acr_pull_assignment(
                f"{name}-pull-identity-acr-pull",
                principal_id=identity.principal_id,
                registry_id=self.registry.id,
                subscription_id=subscription_id,
                opts=child,
            )
            self.pull_identity_id = identity.id
            self.pull_identity_client_id = identity.client_id

        self.admin_username = self.admin_password = None
        if admin_user_enabled:
            credentials = containerregistry.list_registry_credentials_output(
                resource_group_name=resource_group_name, registry_name=self.registry.name
            )
            self.admin_username = pulumi.Output.secret(credentials.username)
            self.admin_password = pulumi.Output.secret(
                credentials.passwords.apply(lambda passwords: passwords[0].value)
            )

        self.register_outputs(self.outputs())

    def outputs(self) -> dict[str, Any]:
        outputs: dict[str, Any] = {
            "login_server": self.login_server,
            "registry_id": self.registry_id,
            "registry_name": self.registry_name,
        }
        if self.pull_identity_id is not None:
            outputs["pull_identity_id"] = self.pull_identity_id
        if self.admin_password is not None:
            outputs.update(admin_username=self.admin_username, admin_password=self.admin_password)
        return outputs
