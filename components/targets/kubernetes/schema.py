"""The deploy parameters of the targets that run a service as Kubernetes objects: `kubernetes`
(any cluster) and `aks`. They are Azure ML's AksWebservice.deploy_configuration parameters, by
their Azure ML names (the class keeps Azure ML's name too)."""

from __future__ import annotations

from typing import Annotated

from components.config.fields import (
    AKS_MAX_CPU_CORES,
    AKS_MAX_GPU_CORES,
    AKS_MAX_MEMORY_GB,
    Flag,
    Secret,
    Strict,
    int_range,
    positive_up_to,
)


class AksDeploy(Strict):
    """`AksWebservice.deploy_configuration(...)`.

    Autoscale settings default to None so that "given while autoscale is off" can be told
    apart from "left at the default"; `components.config.rules` resolves the effective values.
    """

    autoscale_enabled: Flag | None = None
    autoscale_min_replicas: Annotated[int, int_range(1)] | None = None
    autoscale_max_replicas: Annotated[int, int_range(1)] | None = None
    autoscale_refresh_seconds: Annotated[int, int_range(1)] | None = None
    autoscale_target_utilization: Annotated[int, int_range(1, 100)] | None = None
    num_replicas: Annotated[int, int_range(1)] | None = None
    cpu_cores: Annotated[float, positive_up_to(AKS_MAX_CPU_CORES)] = 0.1
    memory_gb: Annotated[float, positive_up_to(AKS_MAX_MEMORY_GB)] = 0.5
    cpu_cores_limit: Annotated[float, positive_up_to(AKS_MAX_CPU_CORES)] | None = None
    memory_gb_limit: Annotated[float, positive_up_to(AKS_MAX_MEMORY_GB)] | None = None
    gpu_cores: Annotated[int, int_range(0, AKS_MAX_GPU_CORES)] = 0
    scoring_timeout_ms: Annotated[int, int_range(1)] = 60000
    replica_max_concurrent_requests: Annotated[int, int_range(1)] = 1
    max_request_wait_time: Annotated[int, int_range(1)] = 500
    period_seconds: Annotated[int, int_range(1)] = 10
    initial_delay_seconds: Annotated[int, int_range(1)] = 310
    timeout_seconds: Annotated[int, int_range(1)] = 1
    success_threshold: Annotated[int, int_range(1)] = 1
    failure_threshold: Annotated[int, int_range(1)] = 3
    auth_enabled: Flag = True
    token_auth_enabled: Flag = False
    primary_key: Secret | None = None
    secondary_key: Secret | None = None
    enable_app_insights: Flag = False
    collect_model_data: Flag = False
    namespace: str | None = None
    # azmlinfsrv's --access_control_allow_origins: browser origins allowed to call the service.
    access_control_allow_origins: list[str] = []
    # modelstack's scoring server: false serves /metrics without a key or token (a scraper inside the
    # network); scoring stays protected. Rule and variable: components/targets/keys.py.
    metrics_auth: Flag = True
    tags: dict[str, str] = {}
    properties: dict[str, str] = {}
    description: str | None = None


# `kubernetes` (any cluster by kubeconfig) takes AKS's parameters: the same Kubernetes objects.


DEPLOY = AksDeploy
