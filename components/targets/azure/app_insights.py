"""Application Insights for a stack's services with `enable_app_insights`.

One per stack, shared by its services: a workspace-based Application Insights component (kind
web) and the Log Analytics workspace it stores into (Azure retired classic, workspace-less
components), in the stack's resource group. Or, with `modelstack:app_insights.connection_string`,
an existing resource: nothing is created. Either way the services get the connection string as a
Pulumi secret (an ACI secure environment variable, a key of the service's Kubernetes Secret), and
their scoring server sends request telemetry to the ingestion endpoint it names.
"""

from __future__ import annotations

import pulumi
from pulumi_azure_native import applicationinsights, operationalinsights

from components.config import naming
from components.config.schema import AppInsightsSpec

COMPONENT_KIND = "web"
LOG_ANALYTICS_SKU = "PerGB2018"  # pay per GB ingested, the only SKU new workspaces get


class AppInsights(pulumi.ComponentResource):
    """`connection_string` (a secret) of the stack's Application Insights."""

    connection_string: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        spec: AppInsightsSpec,
        project: str,
        stack: str,
        resource_group_name: pulumi.Input[str],
        location: str,
        tags: dict[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("modelstack:azure:AppInsights", name, {"existing": spec.connection_string is not None}, opts)
        if spec.connection_string is not None:
            self.connection_string = pulumi.Output.secret(spec.connection_string.get_secret_value())
            self.register_outputs({})
            return
        child = pulumi.ResourceOptions(parent=self)
        workspace = operationalinsights.Workspace(
            f"{name}-logs",
            workspace_name=naming.log_workspace_name(project, stack),
            resource_group_name=resource_group_name,
            location=location,
            sku={"name": LOG_ANALYTICS_SKU},
            retention_in_days=spec.retention_in_days,
            tags=tags,
            opts=child,
        )
        component = applicationinsights.Component(
            f"{name}-component",
            resource_name_=naming.app_insights_name(project, stack),
            resource_group_name=resource_group_name,
            location=location,
            kind=COMPONENT_KIND,
            application_type="web",
            ingestion_mode="LogAnalytics",
            workspace_resource_id=workspace.id,
            retention_in_days=spec.retention_in_days,
            tags=tags,
            opts=child,
        )
        self.connection_string = pulumi.Output.secret(component.connection_string)
        self.register_outputs({"component_name": component.name})
