"""What guardrails need to know about a service, derived from its config (pure).

The Webservice component carries these facts as its inputs, so the CrossGuard pack (which
sees resources, not config) and the offline `check` judge a service by the same values. Each
target says what it knows of a service (components.targets.<name>.target: `policy_facts`);
the defaults are Azure ML's deploy_configuration defaults.
"""

from __future__ import annotations

from typing import Any

from components.config.deploy_rules import autoscale_enabled, replica_bounds, target_utilization
from components.config.schema import AksDeploy, ServiceSpec, StackConfig
from components.targets import registry


def autoscale_facts(deploy: AksDeploy) -> dict[str, Any]:
    """Effective autoscaling, with Azure ML's defaults (components.config.deploy_rules)."""
    if not autoscale_enabled(deploy):
        return {"autoscale_enabled": False, "replicas": deploy.num_replicas or 1}
    low, high = replica_bounds(deploy)
    return {
        "autoscale_enabled": True,
        "autoscale_min_replicas": low,
        "autoscale_max_replicas": high,
        "autoscale_target_utilization": target_utilization(deploy),
    }


def service_facts(config: StackConfig, name: str, service: ServiceSpec) -> dict[str, Any]:
    """stack, where the image comes from, and the target's facts: auth, exposure, TLS, sizing."""
    facts: dict[str, Any] = {"stack": config.stack, "image_source": "release" if name in config.release else "build"}
    facts.update(registry.target(service.target).policy_facts(config, name, service))
    return facts
