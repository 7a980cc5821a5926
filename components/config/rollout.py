"""Controlled rollout (Azure ML's AksEndpoint versions): which versions a service runs and the
share of traffic each gets. Pure functions; the AKS webservice turns them into Deployments
and the weights of one HTTPRoute.

A service without `versions:` runs one implicit version named after the service. With
`versions:`, each version is a Deployment of its own, serving its `models` (the service's
when unset). Traffic a version is not assigned goes to the default version (`is_default`,
or the first one), as in Azure ML. Promoting a treatment is a change of traffic_percentile:
the weights move, the Deployments and images stay.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.config.schema import ServiceSpec

MAX_VERSIONS = 6
# HTTPRoute weights are integers: hundredths of a percent keep traffic_percentile's decimals.
WEIGHT_PER_PERCENT = 100
# The header that sends a request to one version whatever the weights (to try a treatment at 0%).
VERSION_HEADER = "x-modelstack-version"


@dataclass(frozen=True)
class RolloutVersion:
    name: str  # version_name; the service's name for the implicit version
    models: tuple[str, ...]
    percent: float  # effective share of the traffic
    is_default: bool
    is_control: bool
    declared: bool  # False for the implicit version of a service without versions

    @property
    def weight(self) -> int:
        return round(self.percent * WEIGHT_PER_PERCENT)


def default_index(service: ServiceSpec) -> int:
    """The default version: the first marked is_default, else the first version."""
    return next((i for i, v in enumerate(service.versions) if v.is_default), 0)


def rollout_versions(service_name: str, service: ServiceSpec) -> list[RolloutVersion]:
    """The versions a service runs, with the traffic each gets (percent, summing to 100)."""
    if not service.versions:
        return [RolloutVersion(service_name, tuple(service.models), 100.0, True, True, False)]
    default = default_index(service)
    unassigned = max(0.0, 100.0 - sum(v.traffic_percentile for v in service.versions))
    return [
        RolloutVersion(
            name=version.version_name,
            models=tuple(version.models or service.models),
            percent=version.traffic_percentile + (unassigned if index == default else 0.0),
            is_default=index == default,
            is_control=version.is_control_version_type,
            declared=True,
        )
        for index, version in enumerate(service.versions)
    ]


def workload_name(service_name: str, version: RolloutVersion) -> str:
    """The name of a version's Deployment, Service, HPA and PDB."""
    return f"{service_name}-{version.name}" if version.declared else service_name
