"""AksCluster: the AKS cluster a stack's webservices run on, created or attached.

Create mode (`AksCompute.provisioning_configuration`): a managed cluster with a system-assigned
identity and one system pool of `agent_count` x `vm_size` (autoscaling between
`autoscale_min_nodes` and `autoscale_max_nodes` when `autoscale_enabled`; the node count is
then left to the autoscaler, so a later `up` does not fight it). `cluster_purpose` picks the
control plane's tier: FastProd -> Standard (the uptime SLA AKS recommends for production),
DevTest -> Free. With vnet settings the nodes join the given subnet (Azure CNI) and the
cluster identity gets Network Contributor on it, as `az aks create` grants; without, Azure
CNI overlay in an AKS-managed network.

Attach mode (`attach_configuration`): the cluster is read with azure-native's lookup
(`getManagedCluster`), nothing about it is managed, and the 12-vCPU rule
(`components.config.capacity`) is checked against its live Linux agent pools (a pool whose
size the catalogue does not know is not guessed: when the other pools do not reach 12 vCPUs
on their own, the rule cannot be decided and the attach is refused).

Either way: the kubelet identity gets AcrPull on the stack's registry, `kubeconfig` is a
Pulumi secret, `provider` is a Kubernetes provider for the webservices, and
`frontend_annotations` tell the load balancer in front of the webservices how to be exposed
(internal load balancer and its subnet, or the leaf_domain_label DNS name). The SSL
certificate and key (`ssl_cname` + PEM files) are read here and handed on as secrets
(`tls_certificate`, `tls_key`) for the front end to terminate TLS with.

The front end's Gateway API implementation (`gateway`, `gateway_prerequisites`): a created
cluster gets Traefik from the stack, and cert-manager with its ClusterIssuer when its
certificate comes from the leaf_domain_label (components.targets.azure.aks_gateway); the load
balancer annotations go on Traefik's Service. An attached cluster brings its own, named by
`gateway_class` (AKS's application routing gateway, `approuting-istio`, by default), and the
annotations go on the Gateway for its implementation's load balancer.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s
from pulumi_azure_native import authorization, containerservice

from components.config import capacity, naming, vm_sizes
from components.config.cluster_rules import parse_cluster_id
from components.config.config_files import read_project_file
from components.config.schema import ClusterSpec, config_key
from components.errors import ConfigError
from components.targets.azure.aks_gateway import STACK_GATEWAY, declare_stack_gateway
from components.targets.azure.container_registry import acr_pull_assignment, role_definition_id
from components.targets.kubernetes.frontend import GatewaySettings, default_namespace, exposure
from components.targets.kubernetes.rollout import DEFAULT_PATIENCE_SECONDS, DEFAULT_TIMEOUT_SECONDS

# Built-in role "Network Contributor": the cluster identity manages load balancers and IPs in
# a subnet it does not own.
NETWORK_CONTRIBUTOR_ROLE_ID = "4d97b98b-1d4f-4787-a291-c67834d212e7"
# Azure ML's default subnet for an internal load balancer; also the subnet of AKS-managed vnets.
DEFAULT_INTERNAL_LB_SUBNET = "aks-subnet"
# The pool's node count, in the engine's (camelCase) property path.
AUTOSCALED_COUNT_PATH = "agentPoolProfiles[0].count"
INTERNAL_LB_ANNOTATION = "service.beta.kubernetes.io/azure-load-balancer-internal"
INTERNAL_LB_SUBNET_ANNOTATION = "service.beta.kubernetes.io/azure-load-balancer-internal-subnet"
DNS_LABEL_ANNOTATION = "service.beta.kubernetes.io/azure-dns-label-name"
# The class of AKS's application routing gateway (`az aks approuting gateway istio enable`), the
# implementation an attached cluster is expected to have unless its gateway_class says otherwise.
AKS_MANAGED_GATEWAY_CLASS = "approuting-istio"


# --- pure decisions ---------------------------------------------------------------------------


def subnet_id(subscription_id: str, spec: ClusterSpec) -> str | None:
    """The node subnet's resource id, when the vnet settings are given."""
    if not (spec.vnet_resourcegroup_name and spec.vnet_name and spec.subnet_name):
        return None
    return (
        f"/subscriptions/{subscription_id}/resourceGroups/{spec.vnet_resourcegroup_name}"
        f"/providers/Microsoft.Network/virtualNetworks/{spec.vnet_name}/subnets/{spec.subnet_name}"
    )


def system_pool_profile(spec: ClusterSpec, node_subnet_id: str | None) -> dict[str, Any]:
    """The managed cluster's one agent pool, from agent_count, vm_size and the autoscale keys."""
    known = vm_sizes.find(spec.vm_size)  # the rules refused unknown sizes; this spells it as Azure does
    profile: dict[str, Any] = {
        "name": capacity.SYSTEM_POOL_NAME,
        "mode": "System",
        "type": "VirtualMachineScaleSets",
        "os_type": "Linux",
        "vm_size": known.name if known else spec.vm_size,
        "count": spec.agent_count,
    }
    if spec.autoscale_enabled:
        profile.update(
            enable_auto_scaling=True,
            min_count=spec.autoscale_min_nodes if spec.autoscale_min_nodes is not None else spec.agent_count,
            max_count=spec.autoscale_max_nodes,
        )
    if spec.kubernetes_version:
        profile["orchestrator_version"] = spec.kubernetes_version
    if node_subnet_id:
        profile["vnet_subnet_id"] = node_subnet_id
    return profile


def network_profile(spec: ClusterSpec) -> dict[str, Any]:
    """Azure CNI in the given vnet, or Azure CNI overlay in an AKS-managed one.

    docker_bridge_cidr is accepted for Azure ML compatibility but not sent: AKS no longer
    runs a Docker bridge and its API (2025-09-01) has no such property.
    """
    profile: dict[str, Any] = {
        "network_plugin": "azure",
        "load_balancer_sku": "standard",
        "outbound_type": "loadBalancer",
    }
    if capacity.in_node_subnet(spec):  # which also decides the nodes' maximum pods (capacity check)
        profile.update(service_cidr=spec.service_cidr, dns_service_ip=spec.dns_service_ip)
    else:
        profile["network_plugin_mode"] = "overlay"
    return profile


def control_plane_sku(spec: ClusterSpec) -> dict[str, str]:
    return {"name": "Base", "tier": capacity.CONTROL_PLANE_TIERS[spec.cluster_purpose]}


def ignored_changes(spec: ClusterSpec) -> list[str]:
    """With autoscaling the autoscaler owns the node count; `up` must not reset it."""
    return [AUTOSCALED_COUNT_PATH] if spec.autoscale_enabled else []


def frontend_annotations(spec: ClusterSpec) -> dict[str, str]:
    """Annotations for the webservice front end's LoadBalancer Service."""
    if spec.load_balancer_type == "InternalLoadBalancer":
        subnet = spec.load_balancer_subnet or spec.subnet_name or DEFAULT_INTERNAL_LB_SUBNET
        return {INTERNAL_LB_ANNOTATION: "true", INTERNAL_LB_SUBNET_ANNOTATION: subnet}
    if spec.leaf_domain_label:
        return {DNS_LABEL_ANNOTATION: spec.leaf_domain_label}
    return {}


def frontend_fqdn(spec: ClusterSpec, location: str) -> str | None:
    """The public name a leaf_domain_label gives the front end (Azure's public-IP DNS zone)."""
    if spec.leaf_domain_label and spec.load_balancer_type == "PublicIp":
        return f"{spec.leaf_domain_label}.{location}.cloudapp.azure.com"
    return None


def certificate_from_acme(spec: ClusterSpec, location: str) -> bool:
    """Whether the front end's certificate is one cert-manager issues for the leaf_domain_label
    name (not the cluster's own ssl_cname certificate, and not plain HTTP)."""
    has_certificate = bool(spec.ssl_cname and spec.ssl_cert_pem_file and spec.ssl_key_pem_file)
    return exposure(spec.ssl_cname, has_certificate, frontend_fqdn(spec, location)).tls == "acme"


def rollout_patience_seconds(spec: ClusterSpec) -> int:
    """How long a rollout waits for a pod that cannot be placed or pulled: with node autoscaling,
    as long as the whole wait (the autoscaler adds a node in minutes)."""
    return DEFAULT_TIMEOUT_SECONDS if spec.attach is None and spec.autoscale_enabled else DEFAULT_PATIENCE_SECONDS


def attached_gateway(spec: ClusterSpec) -> GatewaySettings:
    """An attached cluster's own implementation, given the load balancer settings on the Gateway."""
    return GatewaySettings(
        spec.gateway_class or AKS_MANAGED_GATEWAY_CLASS,
        infrastructure_annotations=tuple(sorted(frontend_annotations(spec).items())),
    )


def attach_target(spec: ClusterSpec) -> tuple[str, str]:
    """(resource group, cluster name) of the cluster `attach:` names."""
    attach = spec.attach
    assert attach is not None, "attach_target is asked of an attached cluster"
    # The rules (components.config.cluster_rules.check_attach) refuse an id that is not a
    # cluster's, and a name without its resource group.
    if attach.resource_id:
        parsed = parse_cluster_id(attach.resource_id)
        assert parsed is not None
        return parsed[1], parsed[2]
    assert attach.resource_group is not None and attach.cluster_name is not None
    return attach.resource_group, attach.cluster_name


def attached_production_error(
    name: str, spec: ClusterSpec, target: tuple[str, str], pools: list[capacity.NodePool]
) -> ConfigError | None:
    """The 12-vCPU rule (components.config.capacity) against an attached cluster's live pools;
    None when it holds or the cluster is DevTest."""
    verdict = capacity.production_vcpus(pools, spec.cluster_purpose)
    if verdict.holds:
        return None
    assert verdict.count is not None  # a verdict that does not hold has counted the pools
    fix = (
        f"add {', '.join(p.split(': ')[1] for p in verdict.count.unknown_sizes)} to {vm_sizes.CATALOGUE_PATH_FOR_PEOPLE} with its vCPUs, or set cluster_purpose: DevTest"
        if verdict.undecided
        else "add nodes or a larger pool to that cluster (az aks nodepool scale / az aks nodepool add), or set cluster_purpose: DevTest"
    )
    return ConfigError(
        f"attached cluster {target[0]}/{target[1]}: {verdict.problem}",
        key=config_key("clusters", name, "attach"),
        rule=capacity.PRODUCTION_RULE,
        fix=fix,
    )


def _decode_kubeconfig(kubeconfigs) -> str:
    return base64.b64decode(kubeconfigs[0].value).decode()


def check_attached_prerequisites(config, kubeconfig_of: Callable[[str, ClusterSpec], str] | None = None) -> None:
    """Before the program declares anything (under the engine): every attached cluster an aks
    service uses has its gateway class, and, when its front end's certificate comes from the
    leaf_domain_label, cert-manager's ClusterIssuer (components.targets.kubernetes.prerequisites).
    `kubeconfig_of(name, spec)` gives a cluster's kubeconfig: by default Azure's."""
    from components.targets.kubernetes.frontend import ACME_CLUSTER_ISSUER
    from components.targets.kubernetes.prerequisites import check_cluster

    kubeconfig_of = kubeconfig_of or attached_kubeconfig
    used = {
        service.compute
        for service in config.services.values()
        if service.target == "aks" and config.clusters[service.compute].attach is not None
    }
    for name in sorted(used):
        spec = config.clusters[name]
        acme = certificate_from_acme(spec, spec.location or "any")  # (the location shapes the name only)
        check_cluster(
            config_key("clusters", name),
            attached_gateway(spec).gateway_class,
            None,
            kubeconfig_of(name, spec),
            ACME_CLUSTER_ISSUER if acme else None,
        )


def attached_kubeconfig(name: str, spec: ClusterSpec) -> str:
    """An attached cluster's user kubeconfig, asked of Azure now (under the engine, before the
    program declares anything, so its prerequisites can be checked)."""
    resource_group, cluster = attach_target(spec)
    return _decode_kubeconfig(
        containerservice.list_managed_cluster_user_credentials(
            resource_group_name=resource_group, resource_name=cluster
        ).kubeconfigs
    )


def _system_identity_principal_id(identity: containerservice.outputs.ManagedClusterIdentityResponse | None) -> str:
    """The principal of a created cluster's system-assigned identity (the stack asks for one)."""
    assert identity is not None, "a created cluster has a system-assigned identity"
    return identity.principal_id


def _kubelet_object_id(identity_profile) -> str | None:
    kubelet = (identity_profile or {}).get("kubeletidentity")
    return getattr(kubelet, "object_id", None) if kubelet is not None else None


# --- the component ------------------------------------------------------------------------------


class AksCluster(pulumi.ComponentResource):
    """An AKS cluster (created, or attached by name or id) and what webservices need of it:
    `kubeconfig` (secret), `provider`, `cluster_name`, `cluster_id`, `api_server_fqdn`,
    `kubelet_object_id`, `frontend_annotations`, `frontend_fqdn`, `gateway`,
    `gateway_prerequisites`."""

    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    managed_cluster: containerservice.ManagedCluster | None  # None when attached
    kubelet_object_id: pulumi.Output[str | None]  # None for an attached service-principal cluster

    def __init__(
        self,
        name: str,
        *,
        spec: ClusterSpec,
        project: str,
        stack: str,
        project_dir: str,
        resource_group_name: pulumi.Input[str],
        location: str,
        subscription_id: str,
        tags: Mapping[str, str],
        registry_id: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        mode = "attach" if spec.attach is not None else "create"
        props: dict[str, Any] = {"mode": mode, "cluster_purpose": spec.cluster_purpose}
        if mode == "create":
            props.update(agent_count=spec.agent_count, vm_size=spec.vm_size)
        super().__init__("modelstack:aks:AksCluster", name, props, opts)
        self._child = pulumi.ResourceOptions(parent=self)
        self.spec = spec
        self.location = spec.location or location
        self.context = None  # the kubeconfig AKS hands out has one context, its current one
        self.rollout_patience_seconds = rollout_patience_seconds(spec)
        self.frontend_annotations = frontend_annotations(spec)
        self.frontend_fqdn = frontend_fqdn(spec, self.location)

        if mode == "create":
            self._create(name, spec, project, stack, resource_group_name, subscription_id, tags)
        else:
            self._attach(name, spec)

        self.provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig, opts=self._child)
        self.acr_pull = None
        if registry_id is not None and self._kubelet_identity_known:
            # _kubelet_identity_known: the id is there (an attached cluster's was read above; a created
            # one always has a kubelet identity), though its type allows the attached cluster without.
            kubelet_object_id = cast("pulumi.Output[str]", self.kubelet_object_id)
            self.acr_pull = acr_pull_assignment(
                f"{name}-acr-pull",
                principal_id=kubelet_object_id,
                registry_id=registry_id,
                subscription_id=subscription_id,
                opts=self._child,
            )

        self.ssl_cname = spec.ssl_cname
        self.tls_certificate = self.tls_key = None
        if spec.ssl_cname and spec.ssl_cert_pem_file and spec.ssl_key_pem_file:
            self.tls_certificate = pulumi.Output.secret(
                read_project_file(
                    project_dir, spec.ssl_cert_pem_file, config_key("clusters", name, "ssl_cert_pem_file"), "PEM file"
                )
            )
            self.tls_key = pulumi.Output.secret(
                read_project_file(
                    project_dir, spec.ssl_key_pem_file, config_key("clusters", name, "ssl_key_pem_file"), "PEM file"
                )
            )

        self.stack_gateway = None
        if mode == "create":
            acme = certificate_from_acme(spec, self.location)
            self.stack_gateway = declare_stack_gateway(
                name,
                provider=self.provider,
                parent=self,
                service_annotations=self.frontend_annotations,
                cluster_purpose=spec.cluster_purpose,
                acme_gateway_namespace=default_namespace(stack) if acme else None,
            )
            self.gateway = STACK_GATEWAY
            self.gateway_prerequisites = self.stack_gateway.prerequisites
        else:
            self.gateway = attached_gateway(spec)
            self.gateway_prerequisites = []
        self.register_outputs(self.outputs())

    def _create(self, name, spec: ClusterSpec, project, stack, resource_group_name, subscription_id, tags) -> None:
        node_subnet = subnet_id(subscription_id, spec)
        arguments: dict[str, Any] = dict(
            resource_name_=naming.cluster_resource_name(project, stack, name),
            resource_group_name=resource_group_name,
            location=self.location,
            dns_prefix=naming.dns_prefix(project, stack, name),
            identity={"type": "SystemAssigned"},
            enable_rbac=True,
            sku=control_plane_sku(spec),
            agent_pool_profiles=[system_pool_profile(spec, node_subnet)],
            network_profile=network_profile(spec),
            tags=dict(tags),
        )
        if spec.kubernetes_version:
            arguments["kubernetes_version"] = spec.kubernetes_version
        self.managed_cluster = containerservice.ManagedCluster(
            f"{name}-cluster",
            **arguments,
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=ignored_changes(spec)),
        )
        cluster = self.managed_cluster
        self.cluster_name = cluster.name
        self.cluster_id = cluster.id
        self.api_server_fqdn = cluster.fqdn
        self.kubelet_object_id = cluster.identity_profile.apply(_kubelet_object_id)
        self._kubelet_identity_known = True  # a cluster with a system-assigned identity always has one
        credentials = containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=resource_group_name, resource_name=cluster.name
        )
        self.kubeconfig = pulumi.Output.secret(credentials.kubeconfigs.apply(_decode_kubeconfig))
        self.subnet_role = None
        if node_subnet:
            self.subnet_role = authorization.RoleAssignment(
                f"{name}-subnet-network-contributor",
                principal_id=cluster.identity.apply(_system_identity_principal_id),
                principal_type="ServicePrincipal",
                role_definition_id=role_definition_id(subscription_id, NETWORK_CONTRIBUTOR_ROLE_ID),
                scope=node_subnet,
                opts=self._child,
            )

    def _attach(self, name, spec: ClusterSpec) -> None:
        self.managed_cluster = None
        self.subnet_role = None
        target = attach_target(spec)
        live = containerservice.get_managed_cluster(
            resource_group_name=target[0], resource_name=target[1], opts=pulumi.InvokeOptions(parent=self)
        )
        error = attached_production_error(name, spec, target, capacity.pools_from_profiles(live.agent_pool_profiles))
        if error is not None:
            raise error
        self.cluster_name = pulumi.Output.from_input(live.name)
        self.cluster_id = pulumi.Output.from_input(live.id)
        self.api_server_fqdn = pulumi.Output.from_input(live.fqdn)
        kubelet = _kubelet_object_id(live.identity_profile)
        self.kubelet_object_id = pulumi.Output.from_input(kubelet)
        self._kubelet_identity_known = kubelet is not None
        if kubelet is None:
            pulumi.log.warn(
                f"{config_key('clusters', name, 'attach')}: the cluster has no kubelet managed identity (a service-principal cluster), so no AcrPull "
                "is granted; give its service principal AcrPull on the registry, or `az aks update --enable-managed-identity`",
                resource=self,
            )
        credentials = containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=target[0], resource_name=target[1], opts=pulumi.InvokeOutputOptions(parent=self)
        )
        self.kubeconfig = pulumi.Output.secret(credentials.kubeconfigs.apply(_decode_kubeconfig))

    def outputs(self) -> dict[str, Any]:
        outputs: dict[str, Any] = {
            "cluster_name": self.cluster_name,
            "cluster_id": self.cluster_id,
            "api_server_fqdn": self.api_server_fqdn,
            "kubelet_object_id": self.kubelet_object_id,
            "kubeconfig": self.kubeconfig,
            "frontend_annotations": self.frontend_annotations,
        }
        if self.frontend_fqdn:
            outputs["frontend_fqdn"] = self.frontend_fqdn
        if self.tls_certificate is not None:
            outputs.update(ssl_cname=self.ssl_cname, tls_certificate=self.tls_certificate, tls_key=self.tls_key)
        return outputs
