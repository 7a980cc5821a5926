"""What guardrails need to know about a service, derived from its config (pure).

The Webservice component carries these facts as its inputs, so the CrossGuard pack (which
sees resources, not config) and the offline `check` judge a service by the same values.
Defaults are Azure ML's (REFERENCE: AksWebservice/AciWebservice.deploy_configuration).
"""

from __future__ import annotations

from typing import Any

from .config import AciDeploy, AksDeploy, ServiceSpec, StackConfig

AKS_AUTOSCALE_DEFAULTS = {"min_replicas": 1, "max_replicas": 10, "target_utilization": 70}


def autoscale_facts(deploy: AksDeploy) -> dict[str, Any]:
    """Effective autoscaling: on unless num_replicas is given (Azure ML's rule)."""
    enabled = deploy.autoscale_enabled if deploy.autoscale_enabled is not None else deploy.num_replicas is None
    if not enabled:
        return {"autoscale_enabled": False, "replicas": deploy.num_replicas or 1}
    return {
        "autoscale_enabled": True,
        "autoscale_min_replicas": deploy.autoscale_min_replicas or AKS_AUTOSCALE_DEFAULTS["min_replicas"],
        "autoscale_max_replicas": deploy.autoscale_max_replicas or AKS_AUTOSCALE_DEFAULTS["max_replicas"],
        "autoscale_target_utilization": deploy.autoscale_target_utilization or AKS_AUTOSCALE_DEFAULTS["target_utilization"],
    }


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
