"""Azure ML CLI v1 files: `inferenceconfig.json` and `deploymentconfig.json`, as
`az ml model deploy -m NAME:VERSION --ic inferenceconfig.json --dc deploymentconfig.json` reads them.

Every field Azure ML documented for them (the CLI reference's "Inference configuration schema"
and "Deployment configuration schema", for computeType local, ACI and AKS) is in a table below:
mapped to modelstack's key, dropped with the reason, or refused with the reason. A field in
none of the tables is not one Azure ML documented, and is refused by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from components.errors import ConfigError
from components.importer.counterparts import (
    ACI_WEBSERVICE,
    AKS_WEBSERVICE,
    LOCAL_WEBSERVICE,
    of_compute_type,
    webservice_of,
)
from components.importer.result import IMPORT_RULE, Imported, SourcePath, refused

# --- deploymentconfig.json ------------------------------------------------------------------

SECRET_FIX = "remove it from the file; after the import set it as a secret: pulumi config set --secret --path 'modelstack:services.{service}.deploy.{key}' VALUE"

# source field -> modelstack deploy key (values as they are)
LOCAL_FIELDS = {"port": "port"}
ACI_FIELDS = {
    "containerResourceRequirements.cpu": "cpu_cores",
    "containerResourceRequirements.memoryInGB": "memory_gb",
    "location": "location",
    "authEnabled": "auth_enabled",
    "sslEnabled": "ssl_enabled",
    "appInsightsEnabled": "enable_app_insights",
    "cname": "ssl_cname",
    "dnsNameLabel": "dns_name_label",
}
ACI_PATHS = {"sslCertificate": "ssl_cert_pem_file", "sslKey": "ssl_key_pem_file"}
AKS_FIELDS = {
    "autoScaler.autoscaleEnabled": "autoscale_enabled",
    "autoScaler.minReplicas": "autoscale_min_replicas",
    "autoScaler.maxReplicas": "autoscale_max_replicas",
    "autoScaler.refreshPeriodInSeconds": "autoscale_refresh_seconds",
    "autoScaler.targetUtilization": "autoscale_target_utilization",
    "authEnabled": "auth_enabled",
    "tokenAuthEnabled": "token_auth_enabled",
    "containerResourceRequirements.cpu": "cpu_cores",
    "containerResourceRequirements.memoryInGB": "memory_gb",
    "containerResourceRequirements.cpuLimit": "cpu_cores_limit",
    "containerResourceRequirements.memoryInGBLimit": "memory_gb_limit",
    "appInsightsEnabled": "enable_app_insights",
    "scoringTimeoutMs": "scoring_timeout_ms",
    "maxConcurrentRequestsPerContainer": "replica_max_concurrent_requests",
    "maxQueueWaitMs": "max_request_wait_time",
    "numReplicas": "num_replicas",
    "gpuCores": "gpu_cores",
    "livenessProbeRequirements.periodSeconds": "period_seconds",
    "livenessProbeRequirements.initialDelaySeconds": "initial_delay_seconds",
    "livenessProbeRequirements.timeoutSeconds": "timeout_seconds",
    "livenessProbeRequirements.successThreshold": "success_threshold",
    "livenessProbeRequirements.failureThreshold": "failure_threshold",
    "namespace": "namespace",
}
# TLS of an AKS service is its cluster's front end (clusters.<name>): reported, never refused.
_CLUSTER_TLS = "set leaf_domain_label, or ssl_cname with ssl_cert_pem_file and ssl_key_pem_file, on the cluster the service runs on (modelstack:clusters.<compute>)"
AKS_CLUSTER_TLS = {
    "sslEnabled": _CLUSTER_TLS,
    "cname": "the cluster's ssl_cname (modelstack:clusters.<compute>.ssl_cname)",
    "sslCertificate": "the cluster's ssl_cert_pem_file (modelstack:clusters.<compute>.ssl_cert_pem_file)",
    "sslKey": "the cluster's ssl_key_pem_file (modelstack:clusters.<compute>.ssl_key_pem_file)",
}
AKS_SECRETS = {"keys.primaryKey": "primary_key", "keys.secondaryKey": "secondary_key"}
# Each web service's fields, by the class whose deploy configuration the file is.
FIELDS = {LOCAL_WEBSERVICE: LOCAL_FIELDS, ACI_WEBSERVICE: ACI_FIELDS, AKS_WEBSERVICE: AKS_FIELDS}
# Objects that only group fields: their members are in the tables above.
GROUPS = {"autoScaler", "containerResourceRequirements", "livenessProbeRequirements", "dataCollection", "keys"}


def _leaves(document: dict, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted field, value) of a deployment config: members of the grouping objects by their dotted names."""
    found = []
    for name, value in document.items():
        field = f"{prefix}{name}"
        if not prefix and name in GROUPS and isinstance(value, dict):
            found += _leaves(value, f"{field}.")
        else:
            found.append((field, value))
    return found


def read_deployment_config(document: dict, path: Path, imported: Imported) -> str:
    """The deployment configuration's settings; returns the target its computeType becomes."""
    name = path.name
    kind = document.get("computeType")
    target = of_compute_type(kind) if isinstance(kind, str) else None
    if target is None:
        raise refused(
            f"{name}: computeType",
            f"computeType {kind!r} is not one modelstack deploys to" if kind is not None else "computeType is missing",
            rule="deploymentconfig.json's computeType is local, ACI or AKS (Azure ML's web service targets)",
            fix="set computeType to local, ACI or AKS; other Azure ML targets (AmlCompute batch, IoT Edge, FPGA) have no counterpart",
        )
    imported.target = target
    imported.went(f"{name}: computeType", "target", f"{kind} -> {target}")
    webservice = webservice_of(target)
    fields = FIELDS[webservice]
    for field, value in _leaves(document):
        source = f"{name}: {field}"
        if field == "computeType":
            continue
        if field in fields:
            imported.deploy[fields[field]] = value
            imported.went(source, f"deploy.{fields[field]}")
        elif webservice == ACI_WEBSERVICE and field in ACI_PATHS:
            imported.deploy[ACI_PATHS[field]] = (
                SourcePath(str(value), path.parent, source) if isinstance(value, str) else value
            )
            imported.went(source, f"deploy.{ACI_PATHS[field]}")
        elif webservice == AKS_WEBSERVICE and field in AKS_SECRETS:
            raise refused(
                source,
                "a key is written in the file in plain text",
                rule="keys are Pulumi secrets in modelstack, never plain text in a file",
                fix=SECRET_FIX.format(service=imported.service or "SERVICE", key=AKS_SECRETS[field]),
            )
        elif webservice == AKS_WEBSERVICE and field in AKS_CLUSTER_TLS:
            imported.dropped(
                source,
                f"{value!r}: TLS on AKS is the cluster's, not the service's; {AKS_CLUSTER_TLS[field]}",
            )
        elif webservice == AKS_WEBSERVICE and field == "dataCollection.storageEnabled":
            if value is True:
                raise refused(
                    source,
                    "model data collection is on",
                    rule="collect_model_data is not supported by modelstack yet",
                    fix="set storageEnabled to false (or remove it) to import; collect inputs in the entry script instead",
                )
            imported.dropped(source, "false is modelstack's behaviour: no model data is collected")
        else:
            raise refused(
                source,
                f"'{field}' is not a field Azure ML documented for computeType {kind}",
                rule=IMPORT_RULE,
                fix=f"remove it, or check its spelling against the deployment configuration schema for {kind}",
            )
    return target


# --- inferenceconfig.json -------------------------------------------------------------------

FLAT_VALUES = {"enableGpu": "enable_gpu", "baseImage": "base_image", "cudaVersion": "cuda_version"}
FLAT_PATHS = {
    "condaFile": "conda_file",
    "extraDockerfileSteps": "extra_docker_file_steps",
    "extraDockerFileSteps": "extra_docker_file_steps",
}


def _relative_to_source(value: str, source_directory: SourcePath | None, folder: Path, field: str) -> SourcePath:
    """entryScript, condaFile and extraDockerfileSteps are relative to sourceDirectory when it is
    given (Azure ML's later CLI), else to the folder the command ran in (taken as the file's)."""
    if source_directory is not None and (source_directory.resolved() / value).exists():
        return SourcePath(value, source_directory.resolved(), field)
    return SourcePath(value, folder, field)


def read_inference_config(document: dict, path: Path, imported: Imported) -> None:
    name = path.name
    folder = path.parent
    known = {
        "entryScript",
        "runtime",
        "sourceDirectory",
        "description",
        "baseImageRegistry",
        "environment",
        *FLAT_VALUES,
        *FLAT_PATHS,
    }
    for field in document:
        if field not in known:
            raise refused(
                f"{name}: {field}",
                f"'{field}' is not a field of inferenceconfig.json",
                rule=IMPORT_RULE,
                fix="remove it, or check its spelling against the inference configuration schema",
            )
    source_dir = document.get("sourceDirectory")
    if source_dir is not None:
        if not isinstance(source_dir, str):
            raise refused(
                f"{name}: sourceDirectory",
                "sourceDirectory is not a path",
                rule="sourceDirectory is a folder's path",
                fix="write the folder as a string",
            )
        imported.source_directory = SourcePath(source_dir, folder, f"{name}: sourceDirectory")
        imported.went(f"{name}: sourceDirectory", "source_directory")
    elif "sourceDirectory" in document:
        imported.dropped(f"{name}: sourceDirectory", "null: only the entry script's folder is used")
    entry = document.get("entryScript")
    if not isinstance(entry, str) or not entry:
        raise refused(
            f"{name}: entryScript",
            "entryScript is missing" if entry is None else "entryScript is not a path",
            rule="an inference configuration names its entry script (init() and run())",
            fix="set entryScript to the scoring script's path",
        )
    imported.entry_script = _relative_to_source(entry, imported.source_directory, folder, f"{name}: entryScript")
    imported.went(f"{name}: entryScript", "entry_script")
    runtime = document.get("runtime")
    if runtime is not None:
        if str(runtime).lower() != "python":
            raise refused(
                f"{name}: runtime",
                f"runtime {runtime!r} is not served by modelstack",
                rule="modelstack serves Python entry scripts (runtime python); spark-py has no counterpart",
                fix="use runtime python",
            )
        imported.dropped(f"{name}: runtime", "python is the only runtime modelstack serves")
    if document.get("description") is not None:
        imported.shared["description"] = document["description"]
        imported.went(f"{name}: description", "description")
    if "environment" in document and document["environment"] is not None:
        flat = [f for f in (*FLAT_VALUES, *FLAT_PATHS, "baseImageRegistry") if document.get(f) not in (None, False)]
        for field in flat:
            imported.dropped(f"{name}: {field}", "Azure ML ignores it when `environment` is set")
        _read_environment(document["environment"], name, folder, imported)
        return
    for field, key in FLAT_VALUES.items():
        if document.get(field) is not None:
            imported.environment[key] = document[field]
            imported.went(f"{name}: {field}", f"environment.{key}")
    for field, key in FLAT_PATHS.items():
        value = document.get(field)
        if value is not None:
            imported.environment[key] = _relative_to_source(
                str(value), imported.source_directory, folder, f"{name}: {field}"
            )
            imported.went(f"{name}: {field}", f"environment.{key}")
    if document.get("baseImageRegistry") is not None:
        _read_registry(document["baseImageRegistry"], f"{name}: baseImageRegistry", imported)


def _read_registry(value: Any, source: str, imported: Imported) -> None:
    if not isinstance(value, dict):
        raise refused(
            source,
            "baseImageRegistry is not an object",
            rule="baseImageRegistry holds address, username and password",
            fix='write it as {"address": ..., "username": ...}',
        )
    registry = {}
    for field, item in value.items():
        if item is None:
            continue
        if field == "password":
            raise refused(
                f"{source}.password",
                "the registry's password is written in the file in plain text",
                rule="passwords are Pulumi secrets in modelstack, never plain text in a file",
                fix=f"remove it from the file; after the import: pulumi config set --secret --path 'modelstack:services.{imported.service or 'SERVICE'}.environment.base_image_registry.password' VALUE",
            )
        if field not in ("address", "username"):
            raise refused(
                f"{source}.{field}",
                f"'{field}' is not a field of baseImageRegistry",
                rule=IMPORT_RULE,
                fix="keep address and username",
            )
        registry[field] = item
        imported.went(f"{source}.{field}", f"environment.base_image_registry.{field}")
    if registry:
        imported.environment["base_image_registry"] = registry


ENV_DROPPED = {
    "name": "an Azure ML environment's name; the service's image is named after the service",
    "version": "an Azure ML environment's version; modelstack tags images by their content",
    "inferencingStackVersion": "modelstack's image always carries its scoring server",
    "docker.enabled": "a training setting",
    "docker.arguments": "a training setting (docker run arguments)",
    "docker.sharedVolumes": "a training setting",
    "docker.shmSize": "a training setting",
    "python.interpreterPath": "the image's python runs the server",
}


def _read_environment(environment: Any, name: str, folder: Path, imported: Imported) -> None:
    source = f"{name}: environment"
    if not isinstance(environment, dict):
        raise refused(
            source,
            "environment is not an object",
            rule="environment is an Azure ML Environment's definition",
            fix="write it as Azure ML's Environment JSON, or remove it and use condaFile",
        )
    for field, value in _environment_leaves(environment):
        where = f"{source}.{field}"
        if value in (None, [], {}) or (
            field in ("spark.repositories", "spark.packages", "spark.precachePackages") and not value
        ):
            continue
        if field in ENV_DROPPED:
            imported.dropped(where, ENV_DROPPED[field])
        elif field == "environmentVariables":
            raise refused(
                where,
                "the environment sets variables for the entry script",
                rule="modelstack has no per-service environment variables: the image's environment is Azure ML's contract (AZUREML_MODEL_DIR...)",
                fix="set them in the entry script's init() (os.environ.setdefault), then remove environmentVariables",
            )
        elif field == "python.condaDependenciesFile":
            imported.environment["conda_file"] = SourcePath(str(value), folder, where)
            imported.went(where, "environment.conda_file")
        elif field == "python.condaDependencies":
            raise refused(
                where,
                "the conda environment is written inline",
                rule="modelstack reads a conda environment from a file (environment.conda_file)",
                fix="save it as a YAML file and name it in python.condaDependenciesFile, or give --pip-requirements FILE",
            )
        elif field == "python.userManagedDependencies":
            if value is True:
                raise refused(
                    where,
                    "the base image's own packages are used as they are",
                    rule="modelstack installs the entry script's requirements and its scoring server into the image",
                    fix="set it to false and name the requirements (condaDependenciesFile, or --pip-requirements FILE)",
                )
            imported.dropped(where, "false is modelstack's behaviour")
        elif field == "python.baseCondaEnvironment":
            raise refused(
                where,
                "a base conda environment is named",
                rule="modelstack builds the environment from one conda or requirements file",
                fix="remove it and list the packages in the conda file",
            )
        elif field == "docker.baseImage":
            imported.environment["base_image"] = value
            imported.went(where, "environment.base_image")
        elif field == "docker.baseImageRegistry":
            _read_registry(value, where, imported)
        elif field == "docker.baseDockerfile":
            raise refused(
                where,
                "the base image is built from a Dockerfile",
                rule="modelstack builds on a base image by reference (base_image); extra lines go in extra_docker_file_steps",
                fix="build and push that image, name it in docker.baseImage, and remove baseDockerfile",
            )
        elif field == "docker.gpuSupport":
            imported.environment["enable_gpu"] = value
            imported.went(where, "environment.enable_gpu")
        elif field.startswith(("spark.", "databricks.")):
            raise refused(
                where,
                "the environment has Spark or Databricks settings",
                rule="modelstack serves Python entry scripts; Spark and Databricks libraries have no counterpart",
                fix="remove the spark/databricks section",
            )
        else:
            raise refused(
                where,
                f"'{field}' is not a field of an Azure ML environment",
                rule=IMPORT_RULE,
                fix="remove it, or check its spelling against Azure ML's Environment definition",
            )


def _environment_leaves(environment: dict) -> list[tuple[str, Any]]:
    found = []
    for name, value in environment.items():
        if name in ("docker", "python", "spark", "databricks") and isinstance(value, dict):
            found += [(f"{name}.{k}", v) for k, v in value.items()]
        else:
            found.append((name, value))
    return found


def classify(document: dict, name: str = "") -> str:
    """'deployment' or 'inference': which of the two files a document is."""
    if "computeType" in document:
        return "deployment"
    if "entryScript" in document or "environment" in document:
        return "inference"
    raise ConfigError(
        f"{name or 'the file'} is neither an inference configuration (entryScript) nor a deployment configuration (computeType)",
        key=name or None,
        rule="v1 sources are inferenceconfig and deploymentconfig files (JSON or YAML)",
        fix="check the file",
    )
