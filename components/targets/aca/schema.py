"""The deploy parameters of `target: aca` (Azure Container Apps).

Azure ML has no Container Apps webservice; where it has a parameter for the same thing
(AciWebservice / AksWebservice.deploy_configuration) the name is Azure ML's: cpu_cores,
memory_gb, auth_enabled, primary_key, secondary_key, tags, properties, description. The rest
are Container Apps' own, in the same snake_case: min_replicas, max_replicas, concurrent_requests
(the HTTP scale rule), external and allow_insecure (the ingress), app_name.

Ranges that hold whatever else is set are here; the rules between fields (Azure's CPU and memory
pairs, min <= max, the app's name) are in components.targets.aca.rules.
"""

from __future__ import annotations

from typing import Annotated

from components.config.fields import Flag, Secret, Strict, int_range, positive_up_to

# The consumption workload profile gives a replica at most 4 vCPUs and 8 GiB ("Containers in
# Azure Container Apps", vCPU and memory allocation requirements).
ACA_MAX_CPU_CORES = 4
ACA_MAX_MEMORY_GB = 8
# "Set scaling rules in Azure Container Apps", scale definition: minimum replicas per revision
# 0-1,000 (default 0), maximum 1-1,000 (default 10).
ACA_MAX_REPLICAS = 1000
ACA_DEFAULT_MAX_REPLICAS = 10
# The HTTP scale rule's default threshold: concurrent requests per replica before another starts.
ACA_DEFAULT_CONCURRENT_REQUESTS = 10


class AcaDeploy(Strict):
    """A service on Azure Container Apps, in the stack's Container Apps environment."""

    # One replica's size: a pair Azure allows (0.25 vCPU with 0.5 GB, then up in steps of 0.25
    # with twice as many GB). 0.5 / 1 is the smallest pair that loads a typical model.
    cpu_cores: Annotated[float, positive_up_to(ACA_MAX_CPU_CORES)] = 0.5
    memory_gb: Annotated[float, positive_up_to(ACA_MAX_MEMORY_GB)] = 1.0
    # On by default, as on AKS: the endpoint is on the internet unless external is false.
    auth_enabled: Flag = True
    primary_key: Secret | None = None
    secondary_key: Secret | None = None
    # modelstack's scoring server: false serves /metrics without a key or token (a scraper inside the
    # network); scoring stays protected. Rule and variable: components/targets/keys.py.
    metrics_auth: Flag = True
    # 0 scales to zero: no replica (and no charge) while no request comes; the first request
    # after that waits for a replica to start and load the model (a cold start).
    min_replicas: Annotated[int, int_range(0, ACA_MAX_REPLICAS)] = 0
    max_replicas: Annotated[int, int_range(1, ACA_MAX_REPLICAS)] = ACA_DEFAULT_MAX_REPLICAS
    # The HTTP scale rule: another replica starts when each has more requests than this in flight.
    concurrent_requests: Annotated[int, int_range(1)] = ACA_DEFAULT_CONCURRENT_REQUESTS
    # Ingress from the internet (true) or only from inside the Container Apps environment.
    external: Flag = True
    # Ingress is HTTPS; this also answers plain HTTP on port 80 instead of redirecting it.
    allow_insecure: Flag = False
    # The container app's name (2-32 lowercase letters, digits and '-'); default
    # <project>-<stack>-<service>, shortened with a hash when longer.
    app_name: str | None = None
    tags: dict[str, str] = {}
    properties: dict[str, str] = {}
    description: str | None = None


DEPLOY = AcaDeploy
