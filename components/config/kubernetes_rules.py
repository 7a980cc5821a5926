"""Rules of `modelstack:kubernetes_clusters`: clusters the stack deploys to but does not create
(`target: kubernetes`). Pure functions over the parsed config, each error naming key, rule and fix.
What only the cluster can tell (its Gateway API implementation, the gateway class) is checked
against the cluster itself when the stack is deployed (components.targets.kubernetes.prerequisites).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from components.config import reading
from components.config.schema import UNDECRYPTED_SECRET, KubernetesClusterSpec, StackConfig, config_key
from components.errors import ConfigError

# A GatewayClass is named as any Kubernetes object: a DNS subdomain.
GATEWAY_CLASS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")
K8S_NAME_MAX = 253  # a DNS subdomain, as Kubernetes names most objects
CLUSTER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{2,23}$")


def _key(name: str, *parts: str) -> str:
    return config_key("kubernetes_clusters", name, *parts)


def gateway_class_errors(gateway_class: str, key: str) -> list[ConfigError]:
    """A gateway_class (of any kind of cluster) that cannot name a GatewayClass."""
    if gateway_class == UNDECRYPTED_SECRET:
        return []  # given as a secret: its text is not at hand offline; the engine's run checks it
    if len(gateway_class) > K8S_NAME_MAX:
        return [
            ConfigError(
                f"gateway_class is {len(gateway_class):,} characters long",
                key=key,
                rule=f"a GatewayClass name is a Kubernetes object name: at most {K8S_NAME_MAX} characters",
                fix="copy the name from `kubectl get gatewayclass`",
            )
        ]
    if GATEWAY_CLASS.match(gateway_class):
        return []
    return [
        ConfigError(
            f"gateway_class '{gateway_class}' is not a Kubernetes object name",
            key=key,
            rule="a GatewayClass name is lowercase letters, digits, '-' and '.'",
            fix="copy the name from `kubectl get gatewayclass`",
        )
    ]


def kubeconfig_path(project_dir: str | Path, spec: KubernetesClusterSpec) -> Path | None:
    """Where kubeconfig_file points: ~ expanded, relative paths from Pulumi.yaml's folder."""
    if spec.kubeconfig_file is None:
        return None
    path = Path(os.path.expanduser(spec.kubeconfig_file))
    return path if path.is_absolute() else Path(project_dir) / path


KUBECONFIG_RULE = (
    "kubeconfig_file is a kubeconfig on this machine (relative paths start at Pulumi.yaml's folder): a YAML mapping"
)


def kubeconfig_file_text(project_dir: str | Path, spec: KubernetesClusterSpec, key: str) -> str:
    """The kubeconfig kubeconfig_file names, read within the bounds of
    `components.config.reading` and checked to be a YAML mapping; every problem is an error
    naming the key (never a word of the file: it holds credentials)."""
    problem = reading.path_value_error(spec.kubeconfig_file or "", key)
    if problem is not None:
        raise problem
    path = kubeconfig_path(project_dir, spec)
    assert path is not None  # kubeconfig_file is set: an unset one is refused as an empty path above
    fix = "point it at your kubeconfig, e.g. ~/.kube/config, or set kubeconfig as a secret instead"
    try:
        text = reading.read_text(path, rule=KUBECONFIG_RULE, error=reading.UnreadableFileError, key=key)
    except FileNotFoundError:
        raise reading.UnreadableFileError(
            f"kubeconfig_file '{spec.kubeconfig_file}' does not exist", key=key, rule=KUBECONFIG_RULE, fix=fix
        ) from None
    try:
        document = reading.parse_yaml(text, "the kubeconfig", rule=KUBECONFIG_RULE, error=reading.UnreadableFileError)
    except ConfigError as error:
        raise reading.UnreadableFileError(error.detail, key=key, rule=KUBECONFIG_RULE, fix=fix) from None
    if not isinstance(document, dict):
        raise reading.UnreadableFileError(
            f"the kubeconfig holds {'nothing' if document is None else 'a ' + type(document).__name__}, not a mapping",
            key=key,
            rule=KUBECONFIG_RULE,
            fix=fix,
        )
    return text


def check_kubernetes_cluster(name: str, spec: KubernetesClusterSpec, project_dir: str) -> list[ConfigError]:
    errors: list[ConfigError] = []
    if not CLUSTER_NAME.match(name):
        errors.append(
            ConfigError(
                f"cluster name '{name}' is not allowed",
                key=_key(name),
                rule="compute names are 3-24 characters: letters, digits and '-', starting with a letter",
                fix="rename the cluster",
            )
        )
    given = [field for field in ("kubeconfig", "kubeconfig_file") if getattr(spec, field) is not None]
    if len(given) != 1:
        errors.append(
            ConfigError(
                "names its cluster twice" if given else "does not say how to reach the cluster",
                key=_key(name),
                rule="a cluster is reached with a kubeconfig: `kubeconfig` (the document, a Pulumi secret) or `kubeconfig_file` (a path), one of them",
                fix="keep one of kubeconfig and kubeconfig_file"
                if given
                else "set kubeconfig_file: ~/.kube/config, or `pulumi config set --secret --path 'modelstack:kubernetes_clusters."
                + name
                + '.kubeconfig\' "$(cat FILE)"`',
            )
        )
    if spec.kubeconfig_file is not None:
        try:
            kubeconfig_file_text(project_dir, spec, _key(name, "kubeconfig_file"))
        except ConfigError as error:
            errors.append(error)
    if spec.gateway_class is None:
        errors.append(
            ConfigError(
                "gateway_class is not set",
                key=_key(name, "gateway_class"),
                rule="services are reached through a Gateway of the cluster's own Gateway API implementation, named by its GatewayClass",
                fix="set gateway_class to the class your implementation installs (`kubectl get gatewayclass`), e.g. traefik, istio, eg, nginx",
            )
        )
    else:
        errors += gateway_class_errors(spec.gateway_class, _key(name, "gateway_class"))
    if spec.context is not None and not spec.context.strip():
        errors.append(
            ConfigError(
                "context is empty",
                key=_key(name, "context"),
                rule="context names a context of the kubeconfig; leave it out for the kubeconfig's current context",
                fix="remove context, or name one of `kubectl config get-contexts`",
            )
        )
    if spec.hostname is not None and not HOSTNAME.match(spec.hostname):
        errors.append(
            ConfigError(
                f"hostname '{spec.hostname}' is not a host name",
                key=_key(name, "hostname"),
                rule="hostname is the DNS name (or IP address) clients call, without scheme or port",
                fix="write it as e.g. ml.example.com",
            )
        )
    return errors


def check_kubernetes_clusters(config: StackConfig) -> list[ConfigError]:
    errors: list[ConfigError] = []
    for name, spec in config.kubernetes_clusters.items():
        errors += check_kubernetes_cluster(name, spec, config.project_dir)
        if name in config.clusters:
            errors.append(
                ConfigError(
                    f"cluster name '{name}' is used twice",
                    key=_key(name),
                    rule="a compute name names one cluster: under modelstack:clusters (AKS) or modelstack:kubernetes_clusters",
                    fix="rename one of them",
                )
            )
    return errors
