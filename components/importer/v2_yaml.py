"""Azure ML v2 online endpoints and deployments (CLI v2 / SDK v2 YAML), managed or Kubernetes.

An endpoint and its deployments become one service: one deployment is the service itself,
several are its rollout `versions` with the endpoint's `traffic` as their traffic_percentile
(the one with the most traffic is the default and the control). A modelstack service's
versions differ only in their models, so deployments that differ in anything else (code,
environment, sizing, probes) are refused, naming the field.

Azure ML v2's defaults differ from v1's (a 5 s request timeout instead of 60 s; probes after
10 s, every 10 s, 2 s timeout, 30 failures), so they are written explicitly: the service
behaves as it did on Azure ML.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from components.config.deploy_rules import VERSION_NAME
from components.errors import ConfigError
from components.importer import sizing
from components.importer.result import IMPORT_RULE, Imported, ImportedModel, SourcePath, refused

# Azure ML v2's documented defaults for online deployments (managed and Kubernetes).
REQUEST_DEFAULTS = {"request_timeout_ms": 5000, "max_concurrent_requests_per_instance": 1, "max_queue_wait_ms": 500}
PROBE_DEFAULTS = {"initial_delay": 10, "period": 10, "timeout": 2, "success_threshold": 1, "failure_threshold": 30}
REQUEST_KEYS = {
    "request_timeout_ms": "scoring_timeout_ms",
    "max_concurrent_requests_per_instance": "replica_max_concurrent_requests",
    "max_queue_wait_ms": "max_request_wait_time",
}
PROBE_KEYS = {
    "initial_delay": "initial_delay_seconds",
    "period": "period_seconds",
    "timeout": "timeout_seconds",
    "success_threshold": "success_threshold",
    "failure_threshold": "failure_threshold",
}
SCALE_KEYS = {
    "min_instances": "autoscale_min_replicas",
    "max_instances": "autoscale_max_replicas",
    "target_utilization_percentage": "autoscale_target_utilization",
    "polling_interval": "autoscale_refresh_seconds",
}
ENDPOINT_FIELDS = {
    "$schema",
    "name",
    "description",
    "tags",
    "properties",
    "auth_mode",
    "compute",
    "identity",
    "traffic",
    "mirror_traffic",
    "public_network_access",
    "kind",
}
DEPLOYMENT_FIELDS = {
    "$schema",
    "name",
    "endpoint_name",
    "type",
    "description",
    "tags",
    "properties",
    "model",
    "code_configuration",
    "environment",
    "instance_type",
    "instance_count",
    "app_insights_enabled",
    "scale_settings",
    "request_settings",
    "liveness_probe",
    "readiness_probe",
    "environment_variables",
    "egress_public_network_access",
    "data_collector",
    "resources",
    "model_mount_path",
}
# The type of an online deployment on an attached cluster (the other is "managed"); its schema's
# address says so too (kubernetesOnlineDeployment.schema.json).
KUBERNETES = "kubernetes"  # not a target: Azure ML v2's deployment type
REFERENCE = re.compile(r"^azureml:(?://registries/[^/]+/models/)?(?P<name>[A-Za-z0-9._-]+)(?:[:@/].*)?$")


def classify(document: dict, name: str = "") -> str:
    if "endpoint_name" in document or "model" in document or "code_configuration" in document:
        return "deployment"
    if (
        "auth_mode" in document
        or "traffic" in document
        or "$schema" in document
        and "Endpoint" in str(document.get("$schema"))
    ):
        return "endpoint"
    if set(document) <= ENDPOINT_FIELDS and "name" in document:
        return "endpoint"
    raise ConfigError(
        f"{name or 'the file'} is neither an online endpoint (auth_mode, traffic) nor an online deployment (endpoint_name, model)",
        key=name or None,
        rule="v2 YAML sources are online endpoint and deployment files",
        fix="check the file",
    )


def _is_kubernetes(document: dict) -> bool:
    return (
        KUBERNETES in str(document.get("$schema", "")).lower()
        or str(document.get("type", "")).lower() == KUBERNETES
        or "resources" in document
    )


def _mapping(value: Any, source: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise refused(
            source,
            f"{source.rsplit(': ', 1)[-1]} is not a mapping",
            rule="Azure ML's online deployment YAML schema",
            fix="write it as a mapping of its fields",
        )
    return value


def read_endpoint(document: dict, path: Path, imported: Imported) -> dict[str, float]:
    """The endpoint's settings; returns its traffic split."""
    name = path.name
    for field in document:
        if field not in ENDPOINT_FIELDS:
            raise refused(
                f"{name}: {field}",
                f"'{field}' is not a field of an online endpoint",
                rule=IMPORT_RULE,
                fix="remove it, or check its spelling against Azure ML's online endpoint YAML schema",
            )
    if document.get("name") is not None:
        imported.service = str(document["name"])
        imported.service_field = f"{name}: name"
        imported.went(f"{name}: name", "services.<name>", "the service's name")
    for field in ("description", "tags"):
        if document.get(field) is not None:
            imported.shared[field] = document[field]
            imported.went(f"{name}: {field}", field)
    mode = str(document.get("auth_mode", "key")).lower()
    if mode == "key":
        imported.deploy["auth_enabled"] = True
        imported.went(f"{name}: auth_mode", "deploy.auth_enabled", "key (Azure ML's default when unset)")
    elif mode == "aml_token":
        imported.deploy.update(auth_enabled=False, token_auth_enabled=True)
        imported.went(f"{name}: auth_mode", "deploy.token_auth_enabled", "aml_token: tokens from `modelstack token`")
    else:
        raise refused(
            f"{name}: auth_mode",
            f"auth_mode {mode!r} is not one modelstack serves",
            rule="modelstack's endpoints take keys (auth_mode key) or tokens it issues (aml_token); Microsoft Entra ID tokens (aad_token) have no counterpart",
            fix="use auth_mode key or aml_token",
        )
    if document.get("compute") is not None:
        imported.compute = str(document["compute"]).removeprefix("azureml:")
        imported.compute_field = f"{name}: compute"
        imported.platform = KUBERNETES
        imported.went(f"{name}: compute", "compute")
    for field, why in (
        ("identity", "Azure's managed identity of the endpoint; the cluster's identity pulls images"),
        ("properties", "Azure ML metadata"),
        (
            "public_network_access",
            "the endpoint is reached as the cluster's front end is exposed (clusters.<name>.load_balancer_type)",
        ),
        ("kind", "Azure ML metadata"),
        ("$schema", "names the YAML schema"),
    ):
        if document.get(field) is not None:
            imported.dropped(f"{name}: {field}", why)
    if document.get("mirror_traffic"):
        imported.dropped(
            f"{name}: mirror_traffic",
            "not supported: modelstack does not copy traffic to a shadow version; clients see no difference",
        )
    traffic = _mapping(document.get("traffic"), f"{name}: traffic")
    for deployment, share in traffic.items():
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 100:
            raise refused(
                f"{name}: traffic.{deployment}",
                f"traffic {share!r} is not a percentage",
                rule="a deployment's traffic is a percentage from 0 to 100",
                fix="write a number from 0 to 100",
            )
    total = sum(float(v) for v in traffic.values())
    if traffic and total not in (0, 100):
        raise refused(
            f"{name}: traffic",
            f"the traffic adds up to {_percent(total)}% ({', '.join(f'{k} {_percent(float(v))}' for k, v in traffic.items())})",
            rule="an online endpoint's traffic adds up to 100 (or 0: no traffic), as Azure ML requires; traffic left over is not given to any deployment",
            fix=f"make the shares add up to 100 in {name}",
        )
    return {str(k): float(v) for k, v in traffic.items()}


class Deployment:
    """One deployment file, read: its model, and the service and deploy settings it asks for."""

    def __init__(
        self,
        name: str,
        model: ImportedModel | None,
        model_name: str,
        service: dict,
        deploy: dict,
        findings: list,
        settings_from: dict,
    ):
        self.name, self.model, self.model_name = name, model, model_name
        self.service, self.deploy, self.findings, self.settings_from = service, deploy, findings, settings_from


def read_deployment(document: dict, path: Path, *, service: str | None, sizes: dict[str, float]) -> Deployment:
    name = path.name
    scratch = Imported()
    for field in document:
        if field not in DEPLOYMENT_FIELDS:
            raise refused(
                f"{name}: {field}",
                f"'{field}' is not a field of an online deployment",
                rule=IMPORT_RULE,
                fix="remove it, or check its spelling against Azure ML's online deployment YAML schema",
            )
    deployment = str(document.get("name") or path.stem)
    kubernetes = _is_kubernetes(document)
    settings: dict[str, Any] = {}  # modelstack key -> value, for the service (entry script, environment)
    from_field: dict[str, str] = {}  # modelstack key -> the source field, for "deployments differ" errors
    deploy: dict[str, Any] = {}

    def put(target: dict, key: str, value: Any, source: str, note: str = "") -> None:
        target[key] = value
        from_field[key] = source
        scratch.went(source, key if target is settings else f"deploy.{key}", note)

    model, model_name = _model(document.get("model"), name, path, service, deployment, scratch)
    code = _mapping(document.get("code_configuration"), f"{name}: code_configuration")
    if not code:
        raise refused(
            f"{name}: code_configuration",
            "the deployment has no scoring script (a no-code MLflow or Triton deployment)",
            rule="a modelstack service runs an entry script (init() and run())",
            fix="add code_configuration with code and scoring_script",
        )
    for field in code:
        if field not in ("code", "scoring_script"):
            raise refused(
                f"{name}: code_configuration.{field}",
                f"'{field}' is not a field of code_configuration",
                rule=IMPORT_RULE,
                fix="keep code and scoring_script",
            )
    if code.get("code") is not None:
        put(
            settings,
            "source_directory",
            SourcePath(str(code["code"]), path.parent, f"{name}: code_configuration.code"),
            f"{name}: code_configuration.code",
        )
    if not code.get("scoring_script"):
        raise refused(
            f"{name}: code_configuration.scoring_script",
            "no scoring script is named",
            rule="a service runs an entry script",
            fix="set scoring_script to the script's path inside code",
        )
    base = (path.parent / str(code["code"])).resolve() if code.get("code") is not None else path.parent
    put(
        settings,
        "entry_script",
        SourcePath(str(code["scoring_script"]), base, f"{name}: code_configuration.scoring_script"),
        f"{name}: code_configuration.scoring_script",
    )
    _environment(document.get("environment"), name, path, settings, put)

    if document.get("environment_variables"):
        raise refused(
            f"{name}: environment_variables",
            "the deployment sets environment variables for the scoring script",
            rule="modelstack has no per-service environment variables: the image's environment is Azure ML's contract (AZUREML_MODEL_DIR...)",
            fix="set them in the entry script's init() (os.environ.setdefault), then remove environment_variables",
        )
    if document.get("model_mount_path") is not None:
        raise refused(
            f"{name}: model_mount_path",
            "the model is mounted at a path of the deployment's choosing",
            rule="modelstack puts the models where Azure ML's default puts them (AZUREML_MODEL_DIR)",
            fix="remove model_mount_path and read the model from AZUREML_MODEL_DIR",
        )
    _sizing(document, name, kubernetes, sizes, deploy, settings, put)
    _scaling(document, name, deploy, put)
    request = _mapping(document.get("request_settings"), f"{name}: request_settings")
    for field in request:
        if field not in REQUEST_KEYS:
            raise refused(
                f"{name}: request_settings.{field}",
                f"'{field}' is not a field of request_settings",
                rule=IMPORT_RULE,
                fix="keep request_timeout_ms, max_concurrent_requests_per_instance and max_queue_wait_ms",
            )
    for field, key in REQUEST_KEYS.items():
        given = request.get(field)
        note = "" if given is not None else f"Azure ML's default {REQUEST_DEFAULTS[field]}, written out"
        put(
            deploy,
            key,
            given if given is not None else REQUEST_DEFAULTS[field],
            f"{name}: request_settings.{field}",
            note,
        )
    _probes(document, name, deploy, put, scratch)
    insights = document.get("app_insights_enabled")
    if insights is not None:
        put(deploy, "enable_app_insights", insights, f"{name}: app_insights_enabled")
    if document.get("data_collector"):
        scratch.dropped(
            f"{name}: data_collector", "not supported: modelstack does not collect model inputs and outputs"
        )
    for field, why in (
        ("egress_public_network_access", "network isolation is the cluster's"),
        ("description", "a version has no description of its own"),
        ("tags", "a version has no tags of its own"),
        ("properties", "Azure ML metadata"),
        ("endpoint_name", "the service is the endpoint"),
        ("$schema", "names the YAML schema"),
        ("type", "managed or kubernetes: the stack's cluster decides"),
    ):
        if document.get(field) is not None:
            scratch.dropped(f"{name}: {field}", why)
    return Deployment(deployment, model, model_name, settings, deploy, scratch.findings, from_field)


def _model(
    value: Any, name: str, path: Path, service: str | None, deployment: str, scratch: Imported
) -> tuple[ImportedModel | None, str]:
    source = f"{name}: model"
    if isinstance(value, str):
        match = REFERENCE.match(value)
        if not match:
            raise refused(
                source,
                f"model {value!r} is neither a registered model (azureml:NAME:VERSION) nor a folder",
                rule="a deployment's model is registered or inline",
                fix="write azureml:NAME:VERSION, or an inline model with path",
            )
        scratch.went(
            source,
            f"models.{match.group('name')}",
            "registered in Azure ML: its files are named with --model NAME=PATH",
        )
        return None, match.group("name")
    model = _mapping(value, source)
    if not model:
        raise refused(
            source,
            "the deployment has no model",
            rule="a modelstack service serves at least one model",
            fix="add model: with path (or azureml:NAME:VERSION)",
        )
    for field in model:
        if field not in (
            "name",
            "version",
            "path",
            "type",
            "description",
            "tags",
            "properties",
            "$schema",
            "stage",
            "flavors",
        ):
            raise refused(
                f"{source}.{field}", f"'{field}' is not a field of a model", rule=IMPORT_RULE, fix="remove it"
            )
    if str(model.get("type", "custom_model")) != "custom_model":
        raise refused(
            f"{source}.type",
            f"model type {model['type']!r} is served without a scoring script by Azure ML",
            rule="modelstack serves custom models with an entry script",
            fix="use type custom_model with a scoring script",
        )
    model_name = str(model.get("name") or f"{service or 'model'}-{deployment}")
    if not model.get("path"):
        raise refused(
            f"{source}.path", "the inline model has no path", rule="a model is a file or folder", fix="add path:"
        )
    imported = ImportedModel(
        model_name,
        SourcePath(str(model["path"]), path.parent, f"{source}.path"),
        origin=f"{source}.name" if model.get("name") else source,
    )
    scratch.went(f"{source}.path", f"models.{model_name}.path")
    for field in ("description", "tags", "properties"):
        if model.get(field) is not None:
            imported.values[field] = model[field]
            scratch.went(f"{source}.{field}", f"models.{model_name}.{field}")
    if model.get("version") is not None:
        scratch.dropped(f"{source}.version", "modelstack versions a model by a hash of its files")
    return imported, model_name


def _environment(value: Any, name: str, path: Path, settings: dict, put) -> None:
    source = f"{name}: environment"
    if value is None:
        raise refused(
            source,
            "the deployment names no environment",
            rule="the image is built from an environment (conda file or requirements)",
            fix="add environment with conda_file and image, or give --pip-requirements FILE",
        )
    if isinstance(value, str):
        settings["environment_reference"] = value
        return
    environment = _mapping(value, source)
    for field in environment:
        where = f"{source}.{field}"
        if field == "conda_file":
            put(settings, "environment.conda_file", SourcePath(str(environment[field]), path.parent, where), where)
        elif field == "image":
            put(settings, "environment.base_image", environment[field], where)
        elif field == "build":
            raise refused(
                where,
                "the environment is built from a Docker context",
                rule="modelstack builds on a base image by reference",
                fix="build and push that image, name it in image:, and remove build",
            )
        elif field == "inference_config":
            raise refused(
                where,
                "the image brings its own server (liveness, readiness and scoring routes)",
                rule="modelstack runs its scoring server around the entry script",
                fix="use an image without its own server, with conda_file",
            )
        elif field in ("name", "version", "description", "tags", "$schema", "os_type"):
            settings.setdefault("dropped", []).append((where, "an Azure ML environment's metadata"))
        else:
            raise refused(
                where, f"'{field}' is not a field of an environment", rule=IMPORT_RULE, fix="keep image and conda_file"
            )


def _sizing(
    document: dict, name: str, kubernetes: bool, sizes: dict[str, float], deploy: dict, settings: dict, put
) -> None:
    if sizes:
        for key, value in sizes.items():
            put(deploy, key, value, f"--{key.replace('_', '-')}")
        for field in ("instance_type", "resources"):
            if document.get(field) is not None:
                gpus = sizing.instance_type_gpus(str(document[field])) if field == "instance_type" else 0
                lost = f"; its {gpus} GPU(s) are not asked for: set deploy.gpu_cores after the import" if gpus else ""
                deploy.setdefault("_dropped", []).append(
                    (f"{name}: {field}", f"given with --cpu-cores/--memory-gb instead{lost}")
                )
        return
    resources = _mapping(document.get("resources"), f"{name}: resources")
    if resources:
        for part, keys in (
            ("requests", {"cpu": "cpu_cores", "memory": "memory_gb", "nvidia.com/gpu": "gpu_cores"}),
            ("limits", {"cpu": "cpu_cores_limit", "memory": "memory_gb_limit", "nvidia.com/gpu": "gpu_cores"}),
        ):
            section = _mapping(resources.get(part), f"{name}: resources.{part}")
            for field, value in section.items():
                where = f"{name}: resources.{part}.{field}"
                if field not in keys:
                    raise refused(
                        where,
                        f"'{field}' is not a resource modelstack requests",
                        rule="resources are cpu, memory and nvidia.com/gpu",
                        fix="remove it",
                    )
                key = keys[field]
                if key == "gpu_cores" and "gpu_cores" in deploy:
                    continue
                converted = (
                    sizing.cpu_cores(value, where)
                    if field == "cpu"
                    else sizing.memory_gb(value, where)
                    if field == "memory"
                    else value
                )
                put(deploy, key, converted, where)
        for field in resources:
            if field not in ("requests", "limits"):
                raise refused(
                    f"{name}: resources.{field}",
                    f"'{field}' is not a field of resources",
                    rule=IMPORT_RULE,
                    fix="keep requests and limits",
                )
        if document.get("instance_type") is not None:
            deploy.setdefault("_dropped", []).append((f"{name}: instance_type", "resources size the pods"))
        return
    instance_type = document.get("instance_type")
    if instance_type is None or kubernetes:
        what = (
            f"instance_type '{instance_type}' names an instance type of the Kubernetes cluster"
            if instance_type
            else "the deployment gives no instance_type or resources"
        )
        raise refused(
            f"{name}: instance_type",
            what,
            rule="a service's size is cpu_cores and memory_gb; a cluster's instance types are not known to modelstack",
            fix="give resources.requests in the deployment, or --cpu-cores N --memory-gb N",
        )
    cores, memory = sizing.instance_type_size(str(instance_type), f"{name}: instance_type")
    put(
        deploy,
        "cpu_cores",
        cores,
        f"{name}: instance_type",
        f"{instance_type}: what one node of that size offers its pods",
    )
    put(
        deploy,
        "memory_gb",
        memory,
        f"{name}: instance_type",
        f"{instance_type}: what one node of that size offers its pods",
    )
    gpus = sizing.instance_type_gpus(str(instance_type))
    if gpus:
        # A managed GPU instance gives its deployment the VM's GPUs: each replica asks for them,
        # and the image is built on the CUDA base (enable_gpu).
        put(
            deploy,
            "gpu_cores",
            gpus,
            f"{name}: instance_type",
            f"{instance_type} has {gpus} GPU{'s' if gpus != 1 else ''}: each replica asks for {'them' if gpus != 1 else 'it'}",
        )
        put(
            settings,
            "environment.enable_gpu",
            True,
            f"{name}: instance_type",
            f"{instance_type} is a GPU size: the image is built for the GPU",
        )


def _scaling(document: dict, name: str, deploy: dict, put) -> None:
    scale = _mapping(document.get("scale_settings"), f"{name}: scale_settings")
    kind = str(scale.get("type", "default")).lower()
    count = document.get("instance_count", 1)
    if kind == "default":
        for field in scale:
            if field != "type":
                raise refused(
                    f"{name}: scale_settings.{field}",
                    f"'{field}' is given with scale_settings type default",
                    rule="a default scale setting keeps instance_count instances",
                    fix="set type: target_utilization, or remove it",
                )
        put(
            deploy,
            "num_replicas",
            count,
            f"{name}: instance_count",
            "" if "instance_count" in document else "Azure ML's default 1, written out",
        )
        return
    if kind != "target_utilization":
        raise refused(
            f"{name}: scale_settings.type",
            f"scale_settings type {kind!r} is not one Azure ML documented",
            rule="scale_settings type is default or target_utilization",
            fix="use default or target_utilization",
        )
    put(deploy, "autoscale_enabled", True, f"{name}: scale_settings.type")
    for field, value in scale.items():
        if field == "type":
            continue
        if field not in SCALE_KEYS:
            raise refused(
                f"{name}: scale_settings.{field}",
                f"'{field}' is not a field of scale_settings",
                rule=IMPORT_RULE,
                fix=f"keep {', '.join(SCALE_KEYS)}",
            )
        put(deploy, SCALE_KEYS[field], value, f"{name}: scale_settings.{field}")
    if "instance_count" in document:
        deploy.setdefault("_dropped", []).append((f"{name}: instance_count", "the autoscaler starts at min_instances"))


def _probes(document: dict, name: str, deploy: dict, put, scratch: Imported) -> None:
    liveness = _mapping(document.get("liveness_probe"), f"{name}: liveness_probe")
    readiness = _mapping(document.get("readiness_probe"), f"{name}: readiness_probe")
    for probe_name, probe in (("liveness_probe", liveness), ("readiness_probe", readiness)):
        for field in probe:
            if field not in PROBE_KEYS:
                raise refused(
                    f"{name}: {probe_name}.{field}",
                    f"'{field}' is not a field of a probe",
                    rule=IMPORT_RULE,
                    fix=f"keep {', '.join(PROBE_KEYS)}",
                )
    for field, key in PROBE_KEYS.items():
        given = liveness.get(field)
        note = "" if given is not None else f"Azure ML's default {PROBE_DEFAULTS[field]}, written out"
        put(deploy, key, given if given is not None else PROBE_DEFAULTS[field], f"{name}: liveness_probe.{field}", note)
    for field in PROBE_KEYS:
        if field not in readiness:
            continue
        same = readiness[field] == liveness.get(field, PROBE_DEFAULTS[field])
        if field == "success_threshold" and "success_threshold" not in liveness:
            put(deploy, "success_threshold", readiness[field], f"{name}: readiness_probe.success_threshold")
        elif same or field == "initial_delay":
            scratch.dropped(
                f"{name}: readiness_probe.{field}",
                "modelstack's readiness probe uses the liveness probe's settings"
                + (" (without its delay)" if field == "initial_delay" else ""),
            )
        else:
            scratch.dropped(
                f"{name}: readiness_probe.{field}",
                f"modelstack's readiness probe uses the liveness probe's {field} ({liveness.get(field, PROBE_DEFAULTS[field])}), not {readiness[field]}",
            )


def combine(
    deployments: list[Deployment],
    traffic: dict[str, float],
    imported: Imported,
    models: dict[str, str | None],
    pip_requirements: bool,
) -> None:
    """The deployments as one service: the same code, environment and deploy settings, one
    version per deployment with its share of the traffic."""
    by_name = {d.name: d for d in deployments}
    if len(by_name) != len(deployments):
        raise refused(
            "deployments",
            "two deployment files have the same name",
            rule="deployment names are unique within an endpoint",
            fix="give each its own name",
        )
    for name in traffic:
        if name not in by_name:
            raise refused(
                f"traffic.{name}",
                f"the endpoint sends traffic to deployment '{name}', whose file was not given",
                rule="every deployment in traffic is imported with the endpoint",
                fix=f"add {name}'s deployment YAML to the command",
            )
    first = deployments[0]
    for other in deployments[1:]:
        for part, label in ((first.service, "service"), (first.deploy, "deploy")):
            theirs = other.service if label == "service" else other.deploy
            for key in sorted(set(part) | set(theirs)):
                if key.startswith("_") or key == "dropped":
                    continue
                mine_value, their_value = _comparable(part.get(key)), _comparable(theirs.get(key))
                if mine_value != their_value:
                    field = other.settings_from.get(key) or first.settings_from.get(key) or key
                    raise refused(
                        field,
                        f"deployments '{first.name}' and '{other.name}' differ in {field.split(': ', 1)[-1]} ({mine_value!r} and {their_value!r})",
                        rule="a modelstack service's rollout versions differ only in their models; code, environment and deploy settings are the service's",
                        fix="make them equal in the YAML files, or import each deployment as a service of its own (--service NAME)",
                    )
    for deployment in deployments:
        imported.findings += deployment.findings
        for where, why in deployment.deploy.get("_dropped", []) + deployment.service.get("dropped", []):
            imported.dropped(where, why)
        if deployment.model is not None and deployment.model.name not in [m.name for m in imported.models]:
            imported.models.append(deployment.model)
    service = first.service
    if "environment_reference" in service and not pip_requirements:
        raise refused(
            f"{first.name}: environment",
            f"the environment {service['environment_reference']!r} is one registered in Azure ML",
            rule="modelstack builds the image from a requirements or conda file it can read",
            fix="give --pip-requirements FILE (or write the environment inline with conda_file and image)",
        )
    imported.source_directory = service.get("source_directory")
    imported.entry_script = service["entry_script"]
    for key, value in service.items():
        if key.startswith("environment."):
            imported.environment[key.split(".", 1)[1]] = value
    imported.deploy.update({k: v for k, v in first.deploy.items() if not k.startswith("_")})
    if len(deployments) == 1:
        imported.served = [first.model_name]
        if traffic and traffic.get(first.name, 100) != 100:
            imported.dropped(
                f"traffic.{first.name}",
                f"{traffic[first.name]}%: with one deployment the service takes all the traffic",
            )
        return
    shares = {d.name: traffic.get(d.name, 0.0) for d in deployments}
    default = max(deployments, key=lambda d: shares[d.name]).name  # max keeps the first of a tie
    for deployment in deployments:
        if not VERSION_NAME.match(deployment.name):
            raise refused(
                f"{deployment.name}: name",
                f"deployment name '{deployment.name}' cannot name a version",
                rule="a version name is 1-30 lowercase letters, digits and '-', starting with a letter and not ending with '-' (it names the version's Kubernetes objects)",
                fix="rename the deployment in its YAML file (and in the endpoint's traffic)",
            )
        imported.versions.append(
            {
                "version_name": deployment.name,
                "traffic_percentile": shares[deployment.name],
                "models": [deployment.model_name],
                "is_default": deployment.name == default,
                "is_control_version_type": deployment.name == default,
            }
        )
        imported.went(
            f"traffic.{deployment.name}",
            f"versions[{len(imported.versions) - 1}].traffic_percentile",
            f"{_percent(shares[deployment.name])}%",
        )
    imported.served = [by_name[default].model_name]


def _percent(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _comparable(value: Any) -> Any:
    return value.resolved() if isinstance(value, SourcePath) else value
