"""AcaEnvironment: the Container Apps environment a stack's aca services share, and the Log
Analytics workspace their console logs go to.

Declared once per stack, and only when a service targets aca. The environment has workload
profiles (Azure's current environment type) with the built-in Consumption profile only: apps
are billed for what they use and can scale to zero. Its app logs go to the workspace, which is
authenticated with the workspace's shared key (read from Azure, kept a Pulumi secret).
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
from pulumi_azure_native import app, operationalinsights

from components.targets.aca import names

LOGS_DESTINATION = "log-analytics"
LOG_ANALYTICS_SKU = "PerGB2018"  # pay per GB ingested, the only SKU new workspaces get
# The shortest retention PerGB2018 keeps without charge for it; console logs are for debugging.
LOG_RETENTION_DAYS = 30
CONSUMPTION_PROFILE = "Consumption"  # the built-in profile's name and type


class AcaEnvironment(pulumi.ComponentResource):
    """`environment_id`, `default_domain`, and the workspace's `workspace_name` and `customer_id`."""

    environment_id: pulumi.Output[str]
    default_domain: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        project: str,
        stack: str,
        resource_group_name: pulumi.Input[str],
        location: str,
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        environment_name = names.environment_name(project, stack)
        super().__init__("modelstack:aca:AcaEnvironment", name, {"environment_name": environment_name}, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.workspace = operationalinsights.Workspace(
            f"{name}-logs",
            operationalinsights.WorkspaceArgs(
                workspace_name=names.log_workspace_name(project, stack),
                resource_group_name=resource_group_name,
                location=location,
                sku=operationalinsights.WorkspaceSkuArgs(name=LOG_ANALYTICS_SKU),
                retention_in_days=LOG_RETENTION_DAYS,
                tags=dict(tags),
            ),
            opts=child,
        )
        shared_keys = operationalinsights.get_shared_keys_output(
            resource_group_name=resource_group_name,
            workspace_name=self.workspace.name,
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        self.environment = app.ManagedEnvironment(
            f"{name}-environment",
            app.ManagedEnvironmentArgs(
                environment_name=environment_name,
                resource_group_name=resource_group_name,
                location=location,
                app_logs_configuration=app.AppLogsConfigurationArgs(
                    destination=LOGS_DESTINATION,
                    log_analytics_configuration=app.LogAnalyticsConfigurationArgs(
                        customer_id=self.workspace.customer_id,
                        shared_key=pulumi.Output.secret(shared_keys.primary_shared_key),
                    ),
                ),
                workload_profiles=[
                    app.WorkloadProfileArgs(name=CONSUMPTION_PROFILE, workload_profile_type=CONSUMPTION_PROFILE)
                ],
                tags=dict(tags),
            ),
            opts=child,
        )
        self.environment_id = self.environment.id
        self.default_domain = self.environment.default_domain
        self.workspace_name = self.workspace.name
        self.customer_id = self.workspace.customer_id
        self.register_outputs(
            {
                "environment_id": self.environment_id,
                "default_domain": self.default_domain,
                "workspace_name": self.workspace_name,
            }
        )
