"""What guardrails need to know about a service, derived from its config (pure).

The Webservice component carries these facts as its inputs, so the CrossGuard pack (which
sees resources, not config) and the offline `check` judge a service by the same values.
Defaults are those of Azure ML's `AksWebservice`/`AciWebservice.deploy_configuration`
(docs/configuration.md lists them).
"""

from __future__ import annotations

from typing import Any

from components.config.schema import AciDeploy, AksDeploy, ServiceSpec, StackConfig
from components.config.deploy_rules import autoscale_enabled, replica_bounds, target_utilization

def autoscale_facts(deploy: AksDeploy) -> dict[str, Any]:
    """Effective autoscaling, with Azure ML's defaults (components.config.deploy_rules)."""
    if not autoscale_enabled(deploy):
        return {"autoscale_enabled": False, "replicas": deploy.num_replicas or 1}
    low, high = replica_bounds(deploy)
    return {"autoscale_enabled": True, "autoscale_min_replicas": low, "autoscale_max_replicas": high, "autoscale_target_utilization": target_utilization(deploy)}


def service_facts(config: StackConfig, name: str, service: ServiceSpec) -> dict[str, Any]:
    """stack, target, auth, exposure, TLS, sizing and where the image comes from."""
    facts: dict[str, Any] = {"stack": config.stack, "image_source": "release" if name in config.release else "build"}
    deploy = service.deploy
    if isinstance(deploy, AciDeploy):
        facts.update(
            auth_enabled=deploy.auth_enabled,
            public=not (deploy.vnet_name or deploy.subnet_name),
            tls_enabled=deploy.ssl_enabled,
            cpu_cores=deploy.cpu_cores,
            memory_gb=deploy.memory_gb,
        )
    elif isinstance(deploy, AksDeploy):
        cluster = config.clusters.get(service.compute or "")
        facts.update(
            auth_enabled=deploy.auth_enabled or deploy.token_auth_enabled,
            public=cluster is None or cluster.load_balancer_type == "PublicIp",
            tls_enabled=bool(cluster and (cluster.ssl_cname or cluster.leaf_domain_label)),
            cpu_cores=deploy.cpu_cores,
            memory_gb=deploy.memory_gb,
            **({"cpu_cores_limit": deploy.cpu_cores_limit} if deploy.cpu_cores_limit is not None else {}),
            **({"memory_gb_limit": deploy.memory_gb_limit} if deploy.memory_gb_limit is not None else {}),
            **autoscale_facts(deploy),
        )
    else:  # local: Azure ML's LocalWebservice has no authentication and listens on localhost
        facts.update(auth_enabled=False, public=False, tls_enabled=False)
    return facts
