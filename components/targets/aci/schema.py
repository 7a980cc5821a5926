"""The deploy parameters of `target: aci` (Azure ML's AciWebservice)."""

from __future__ import annotations

from typing import Annotated

from components.config.fields import ACI_MAX_CPU_CORES, ACI_MAX_MEMORY_GB, Flag, Secret, Strict, positive_up_to


class AciDeploy(Strict):
    """`AciWebservice.deploy_configuration(...)`."""

    cpu_cores: Annotated[float, positive_up_to(ACI_MAX_CPU_CORES)] = 0.1
    memory_gb: Annotated[float, positive_up_to(ACI_MAX_MEMORY_GB)] = 0.5
    auth_enabled: Flag = False
    ssl_enabled: Flag = False
    ssl_cert_pem_file: str | None = None
    ssl_key_pem_file: str | None = None
    ssl_cname: str | None = None
    dns_name_label: str | None = None
    primary_key: Secret | None = None
    secondary_key: Secret | None = None
    enable_app_insights: Flag = False
    collect_model_data: Flag = False
    vnet_name: str | None = None
    subnet_name: str | None = None
    location: str | None = None
    # azmlinfsrv's --access_control_allow_origins: browser origins allowed to call the service.
    access_control_allow_origins: list[str] = []
    # modelstack's scoring server: false serves /metrics without a key or token (a scraper inside the
    # network); scoring stays protected. Rule and variable: components/targets/keys.py.
    metrics_auth: Flag = True
    tags: dict[str, str] = {}
    properties: dict[str, str] = {}
    description: str | None = None


DEPLOY = AciDeploy
