"""Every field Azure ML documented for each source: it maps to its modelstack key, or it is
refused with its name. The expected keys are written out here, not read from the importer."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from components.errors import ConfigError
from components.importer import v1_json, v1_python, v2_yaml
from components.importer.result import Imported

HERE = Path("/nonexistent/source")

# deploymentconfig.json, AKS (the CLI reference's table): field -> (value, modelstack deploy key)
AKS = {
    "autoScaler.autoscaleEnabled": (True, "autoscale_enabled"),
    "autoScaler.minReplicas": (2, "autoscale_min_replicas"),
    "autoScaler.maxReplicas": (4, "autoscale_max_replicas"),
    "autoScaler.refreshPeriodInSeconds": (5, "autoscale_refresh_seconds"),
    "autoScaler.targetUtilization": (60, "autoscale_target_utilization"),
    "authEnabled": (False, "auth_enabled"),
    "tokenAuthEnabled": (True, "token_auth_enabled"),
    "containerResourceRequirements.cpu": (0.5, "cpu_cores"),
    "containerResourceRequirements.memoryInGB": (1.5, "memory_gb"),
    "containerResourceRequirements.cpuLimit": (1, "cpu_cores_limit"),
    "containerResourceRequirements.memoryInGBLimit": (2, "memory_gb_limit"),
    "appInsightsEnabled": (True, "enable_app_insights"),
    "scoringTimeoutMs": (30000, "scoring_timeout_ms"),
    "maxConcurrentRequestsPerContainer": (4, "replica_max_concurrent_requests"),
    "maxQueueWaitMs": (800, "max_request_wait_time"),
    "numReplicas": (3, "num_replicas"),
    "gpuCores": (1, "gpu_cores"),
    "livenessProbeRequirements.periodSeconds": (7, "period_seconds"),
    "livenessProbeRequirements.initialDelaySeconds": (30, "initial_delay_seconds"),
    "livenessProbeRequirements.timeoutSeconds": (3, "timeout_seconds"),
    "livenessProbeRequirements.successThreshold": (1, "success_threshold"),
    "livenessProbeRequirements.failureThreshold": (5, "failure_threshold"),
    "namespace": ("team-a", "namespace"),
}
ACI = {
    "containerResourceRequirements.cpu": (1, "cpu_cores"),
    "containerResourceRequirements.memoryInGB": (2, "memory_gb"),
    "location": ("northeurope", "location"),
    "authEnabled": (True, "auth_enabled"),
    "sslEnabled": (True, "ssl_enabled"),
    "appInsightsEnabled": (True, "enable_app_insights"),
    "cname": ("api.example.com", "ssl_cname"),
    "dnsNameLabel": ("my-label", "dns_name_label"),
}
LOCAL = {"port": (8890, "port")}


def _document(kind: str, field: str, value) -> dict:
    document: dict = {"computeType": kind}
    group, _, member = field.rpartition(".")
    (document.setdefault(group, {}) if group else document)[member] = value
    return document


@pytest.mark.parametrize(
    "kind,field", [("AKS", f) for f in AKS] + [("ACI", f) for f in ACI] + [("local", f) for f in LOCAL]
)
def test_deployment_config_field_maps(kind, field):
    tables: dict[str, dict[str, tuple[Any, str]]] = {"AKS": AKS, "ACI": ACI, "local": LOCAL}
    value, key = tables[kind][field]
    imported = Imported()
    v1_json.read_deployment_config(_document(kind, field, value), HERE / "deploymentconfig.json", imported)
    assert imported.deploy == {key: value}
    assert imported.target == kind.lower()


def test_aci_pem_files_map_as_paths():
    imported = Imported()
    v1_json.read_deployment_config(
        {"computeType": "ACI", "sslCertificate": "cert.pem", "sslKey": "key.pem"}, HERE / "dc.json", imported
    )
    assert {k: v.value for k, v in imported.deploy.items()} == {
        "ssl_cert_pem_file": "cert.pem",
        "ssl_key_pem_file": "key.pem",
    }


@pytest.mark.parametrize(
    "kind,field,value,named",
    [
        ("AKS", "keys.primaryKey", "abc", "keys.primaryKey"),
        ("AKS", "keys.secondaryKey", "abc", "keys.secondaryKey"),
        ("AKS", "dataCollection.storageEnabled", True, "dataCollection.storageEnabled"),
        ("AKS", "dnsNameLabel", "x", "dnsNameLabel"),  # an ACI field under AKS
        ("ACI", "numReplicas", 2, "numReplicas"),  # an AKS field under ACI
        ("local", "authEnabled", True, "authEnabled"),
        ("AKS", "computeTypo", 1, "computeTypo"),
    ],
)
def test_deployment_config_field_refused_by_name(kind, field, value, named):
    with pytest.raises(ConfigError) as raised:
        v1_json.read_deployment_config(_document(kind, field, value), HERE / "deploymentconfig.json", Imported())
    assert raised.value.key == f"deploymentconfig.json: {named}" and raised.value.rule and raised.value.fix


@pytest.mark.parametrize(
    "field,value,key",
    [
        ("enableGpu", True, "enable_gpu"),
        ("baseImage", "myregistry.azurecr.io/base:1", "base_image"),
        ("cudaVersion", "11.8", "cuda_version"),
        ("condaFile", "env.yml", "conda_file"),
        ("extraDockerfileSteps", "steps.txt", "extra_docker_file_steps"),
        ("extraDockerFileSteps", "steps.txt", "extra_docker_file_steps"),
    ],
)
def test_inference_config_flat_field_maps(field, value, key):
    imported = Imported()
    v1_json.read_inference_config({"entryScript": "score.py", field: value}, HERE / "ic.json", imported)
    got = imported.environment[key]
    assert (got.value if hasattr(got, "value") else got) == value


def test_inference_config_names_and_registry():
    imported = Imported()
    v1_json.read_inference_config(
        {
            "entryScript": "score.py",
            "sourceDirectory": "src",
            "runtime": "python",
            "description": "d",
            "baseImageRegistry": {"address": "r.io", "username": "u"},
        },
        HERE / "ic.json",
        imported,
    )
    assert imported.entry_script is not None and imported.source_directory is not None
    assert imported.entry_script.value == "score.py" and imported.source_directory.value == "src"
    assert imported.shared == {"description": "d"} and imported.environment == {
        "base_image_registry": {"address": "r.io", "username": "u"}
    }


@pytest.mark.parametrize(
    "document,named",
    [
        ({"entryScript": "score.py", "runtime": "spark-py"}, "runtime"),
        (
            {"entryScript": "score.py", "baseImageRegistry": {"address": "r.io", "password": "p"}},
            "baseImageRegistry.password",
        ),
        ({"entryScript": "score.py", "entrypoint": "x"}, "entrypoint"),
        ({"runtime": "python"}, "entryScript"),
        (
            {"entryScript": "score.py", "environment": {"environmentVariables": {"A": "1"}}},
            "environment.environmentVariables",
        ),
        (
            {"entryScript": "score.py", "environment": {"python": {"condaDependencies": {"dependencies": []}}}},
            "environment.python.condaDependencies",
        ),
        (
            {"entryScript": "score.py", "environment": {"python": {"userManagedDependencies": True}}},
            "environment.python.userManagedDependencies",
        ),
        (
            {"entryScript": "score.py", "environment": {"python": {"baseCondaEnvironment": "base"}}},
            "environment.python.baseCondaEnvironment",
        ),
        (
            {"entryScript": "score.py", "environment": {"docker": {"baseDockerfile": "FROM x"}}},
            "environment.docker.baseDockerfile",
        ),
        ({"entryScript": "score.py", "environment": {"spark": {"packages": ["p"]}}}, "environment.spark.packages"),
        (
            {"entryScript": "score.py", "environment": {"databricks": {"eggLibraries": ["e"]}}},
            "environment.databricks.eggLibraries",
        ),
    ],
)
def test_inference_config_field_refused_by_name(document, named):
    with pytest.raises(ConfigError) as raised:
        v1_json.read_inference_config(document, HERE / "ic.json", Imported())
    assert raised.value.key == f"ic.json: {named}"


def test_environment_object_fields_map():
    imported = Imported()
    v1_json.read_inference_config(
        {
            "entryScript": "score.py",
            "environment": {
                "name": "e",
                "version": "1",
                "inferencingStackVersion": "latest",
                "docker": {
                    "baseImage": "b:1",
                    "enabled": False,
                    "arguments": [],
                    "sharedVolumes": True,
                    "shmSize": "2g",
                    "baseImageRegistry": {"address": "r.io"},
                },
                "python": {
                    "condaDependenciesFile": "env.yml",
                    "interpreterPath": "python",
                    "userManagedDependencies": False,
                },
            },
        },
        HERE / "ic.json",
        imported,
    )
    assert (
        imported.environment["base_image"] == "b:1"
        and imported.environment["conda_file"].value == "env.yml"
        and imported.environment["base_image_registry"] == {"address": "r.io"}
    )
    dropped = {f.source.split(": ", 1)[1] for f in imported.findings if f.went is None}
    assert {
        "environment.name",
        "environment.version",
        "environment.inferencingStackVersion",
        "environment.docker.enabled",
        "environment.docker.shmSize",
        "environment.docker.sharedVolumes",
        "environment.python.interpreterPath",
    } <= dropped


# --- v1 Python: deploy_configuration keywords are modelstack's keys ----------------------------------

AKS_ARGS = {
    "autoscale_enabled": True,
    "autoscale_min_replicas": 1,
    "autoscale_max_replicas": 3,
    "autoscale_refresh_seconds": 2,
    "autoscale_target_utilization": 50,
    "auth_enabled": True,
    "cpu_cores": 1,
    "memory_gb": 1,
    "enable_app_insights": True,
    "scoring_timeout_ms": 1000,
    "replica_max_concurrent_requests": 2,
    "max_request_wait_time": 400,
    "tags": {"a": "b"},
    "properties": {"c": "d"},
    "description": "x",
    "gpu_cores": 1,
    "period_seconds": 5,
    "initial_delay_seconds": 6,
    "timeout_seconds": 2,
    "success_threshold": 1,
    "failure_threshold": 4,
    "namespace": "ns",
    "token_auth_enabled": False,
    "cpu_cores_limit": 2,
    "memory_gb_limit": 2,
}
ACI_ARGS = {
    "cpu_cores": 1,
    "memory_gb": 1,
    "tags": {"a": "b"},
    "properties": {"c": "d"},
    "description": "x",
    "location": "westeurope",
    "auth_enabled": True,
    "ssl_enabled": False,
    "enable_app_insights": True,
    "ssl_cname": "c",
    "dns_name_label": "l",
    "vnet_name": "v",
    "subnet_name": "s",
}


def _python(tmp_path: Path, code: str) -> v1_python.Source:
    path = tmp_path / "deploy.py"
    path.write_text(code)
    return v1_python.Source(path, ast.parse(code), [])


@pytest.mark.parametrize(
    "cls,arg",
    [("AksWebservice", a) for a in AKS_ARGS] + [("AciWebservice", a) for a in ACI_ARGS] + [("LocalWebservice", "port")],
)
def test_deploy_configuration_argument_maps(tmp_path, cls, arg):
    value = {"AksWebservice": AKS_ARGS, "AciWebservice": ACI_ARGS}.get(cls, {"port": 8890})[arg]
    source = _python(tmp_path, f"c = {cls}.deploy_configuration({arg}={value!r})\n")
    imported = Imported()
    v1_python._read_deploy(source, source.calls[0], imported)
    assert imported.deploy == {arg: value}


@pytest.mark.parametrize(
    "cls,arg,value",
    [
        ("AksWebservice", "primary_key", "'k'"),
        ("AciWebservice", "secondary_key", "'k'"),
        ("AciWebservice", "cmk_key_name", "'k'"),
        ("AksWebservice", "collect_model_data", "True"),
        ("AksWebservice", "blobfuse_enabled", "True"),
        ("AksWebservice", "cpu_cores", "cores"),
        ("AksWebservice", "memory_gb", "size()"),
    ],
)
def test_deploy_configuration_argument_refused_by_name(tmp_path, cls, arg, value):
    source = _python(tmp_path, f"c = {cls}.deploy_configuration({arg}={value})\n")
    with pytest.raises(ConfigError) as raised:
        v1_python._read_deploy(source, source.calls[0], Imported())
    assert arg in (raised.value.key or "") and "line 1" in str(raised.value)


def test_a_variable_is_reported_with_its_line_never_evaluated(tmp_path):
    source = _python(tmp_path, "cores = 2\n\nc = AksWebservice.deploy_configuration(\n    cpu_cores=cores)\n")
    with pytest.raises(ConfigError) as raised:
        v1_python._read_deploy(source, source.calls[0], Imported())
    assert "cpu_cores=cores at line 4 is not a literal value" in str(raised.value)


def test_a_notebook_line_is_told_by_its_cell(tmp_path):
    import json

    from components.importer.reading import read_notebook

    path = tmp_path / "deploy.ipynb"
    path.write_text(
        json.dumps(
            {
                "cells": [
                    {"cell_type": "markdown", "source": "# hi"},
                    {"cell_type": "code", "source": ["!pip install x\n", "import os\n"]},
                    {
                        "cell_type": "code",
                        "source": [
                            "%matplotlib inline\n",
                            "c = AksWebservice.deploy_configuration(cpu_cores=os.cpu_count())\n",
                        ],
                    },
                ]
            }
        )
    )
    tree, cells = read_notebook(path)
    source = v1_python.Source(path, tree, cells)
    with pytest.raises(ConfigError) as raised:
        v1_python._read_deploy(source, source.calls[0], Imported())
    assert "at cell 3, line 2" in str(raised.value)


def test_model_register_arguments_map(tmp_path):
    source = _python(
        tmp_path,
        "m = Model.register(workspace=ws, model_path='m.pkl', model_name='m', tags={'a': 'b'}, properties={'p': 'q'}, description='d',\n"
        "    model_framework=Model.Framework.SCIKITLEARN, model_framework_version='1.0', resource_configuration=ResourceConfiguration(cpu=1))\n",
    )
    imported = Imported()
    v1_python._read_models(source, imported, {}, [])
    (model,) = imported.models
    assert model.path is not None
    assert model.path.value == "m.pkl" and model.values == {
        "tags": {"a": "b"},
        "properties": {"p": "q"},
        "description": "d",
        "framework": "ScikitLearn",
        "framework_version": "1.0",
    }


def test_provisioning_and_attach_configurations_map(tmp_path):
    code = (
        "p = AksCompute.provisioning_configuration(agent_count=4, vm_size='Standard_D4s_v5', cluster_purpose='DevTest', load_balancer_type='InternalLoadBalancer', load_balancer_subnet='s', location='westeurope')\n"
        "t = ComputeTarget.create(workspace=ws, name='myaks', provisioning_configuration=p)\n"
        "d = Model.deploy(ws, 'svc', [m], ic, dc, t)\n"
    )
    source = _python(tmp_path, code)
    imported = Imported()
    v1_python._read_compute(source, imported, None, source.of("Model.deploy"))
    assert imported.compute == "myaks"
    assert imported.clusters == {
        "myaks": {
            "agent_count": 4,
            "vm_size": "Standard_D4s_v5",
            "cluster_purpose": "DevTest",
            "load_balancer_type": "InternalLoadBalancer",
            "load_balancer_subnet": "s",
            "location": "westeurope",
        }
    }
    attach = _python(
        tmp_path,
        "a = AksCompute.attach_configuration(resource_group='rg', cluster_name='c')\nt = ComputeTarget.attach(ws, 'mine', a)\nd = Model.deploy(ws, 'svc', [m], ic, dc, t)\n",
    )
    imported = Imported()
    v1_python._read_compute(attach, imported, None, attach.of("Model.deploy"))
    assert imported.clusters == {"mine": {"attach": {"resource_group": "rg", "cluster_name": "c"}}}


# --- v2 YAML ---------------------------------------------------------------------------------------


def _deployment(**fields) -> dict:
    return {
        "name": "blue",
        "endpoint_name": "ep",
        "model": {"name": "m", "path": "m.pkl"},
        "code_configuration": {"code": "src", "scoring_script": "score.py"},
        "environment": {"conda_file": "env.yml", "image": "img:1"},
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
        **fields,
    }


@pytest.mark.parametrize(
    "fields,expected",
    [
        (
            {},
            {
                "cpu_cores": 0.5,
                "memory_gb": 1.0,
                "num_replicas": 1,
                "scoring_timeout_ms": 5000,
                "replica_max_concurrent_requests": 1,
                "max_request_wait_time": 500,
                "initial_delay_seconds": 10,
                "period_seconds": 10,
                "timeout_seconds": 2,
                "success_threshold": 1,
                "failure_threshold": 30,
            },
        ),
        ({"instance_count": 3}, {"num_replicas": 3}),
        (
            {
                "request_settings": {
                    "request_timeout_ms": 9000,
                    "max_concurrent_requests_per_instance": 2,
                    "max_queue_wait_ms": 100,
                }
            },
            {"scoring_timeout_ms": 9000, "replica_max_concurrent_requests": 2, "max_request_wait_time": 100},
        ),
        (
            {
                "liveness_probe": {
                    "initial_delay": 1,
                    "period": 2,
                    "timeout": 3,
                    "success_threshold": 1,
                    "failure_threshold": 5,
                }
            },
            {"initial_delay_seconds": 1, "period_seconds": 2, "timeout_seconds": 3, "failure_threshold": 5},
        ),
        (
            {
                "scale_settings": {
                    "type": "target_utilization",
                    "min_instances": 2,
                    "max_instances": 5,
                    "target_utilization_percentage": 60,
                    "polling_interval": 3,
                }
            },
            {
                "autoscale_enabled": True,
                "autoscale_min_replicas": 2,
                "autoscale_max_replicas": 5,
                "autoscale_target_utilization": 60,
                "autoscale_refresh_seconds": 3,
            },
        ),
        ({"app_insights_enabled": True}, {"enable_app_insights": True}),
        (
            {
                "resources": {
                    "requests": {"cpu": 1, "memory": "512Mi", "nvidia.com/gpu": 1},
                    "limits": {"cpu": "2", "memory": "2Gi"},
                }
            },
            {"cpu_cores": 1.0, "memory_gb": 0.5, "gpu_cores": 1, "cpu_cores_limit": 2.0, "memory_gb_limit": 2.0},
        ),
    ],
)
def test_v2_deployment_fields_map(fields, expected):
    deployment = v2_yaml.read_deployment(_deployment(**fields), HERE / "blue.yml", service="ep", sizes={})
    assert {k: deployment.deploy[k] for k in expected} == expected


def test_v2_managed_instance_type_maps_through_the_catalogue():
    document = _deployment(instance_type="Standard_D4s_v5")
    del document["resources"]
    deployment = v2_yaml.read_deployment(document, HERE / "blue.yml", service="ep", sizes={})
    assert deployment.deploy["cpu_cores"] == 3.86  # 4 vCPUs less AKS's 140 millicores


@pytest.mark.parametrize(
    "fields,named",
    [
        ({"environment_variables": {"A": "1"}}, "environment_variables"),
        ({"model_mount_path": "/m"}, "model_mount_path"),
        ({"instance_type": "Standard_Imaginary_v9", "resources": None}, "instance_type"),
        ({"code_configuration": None}, "code_configuration"),
        ({"environment": {"build": {"path": "docker"}}}, "environment.build"),
        ({"scale_settings": {"type": "surge"}}, "scale_settings.type"),
        ({"request_settings": {"timeout": 1}}, "request_settings.timeout"),
        ({"liveness_probe": {"delay": 1}}, "liveness_probe.delay"),
        ({"resources": {"requests": {"ephemeral-storage": "1Gi"}}}, "resources.requests.ephemeral-storage"),
        ({"model": {"path": "m", "type": "mlflow_model"}}, "model.type"),
        ({"with_package": True}, "with_package"),
    ],
)
def test_v2_deployment_field_refused_by_name(fields, named):
    with pytest.raises(ConfigError) as raised:
        v2_yaml.read_deployment(_deployment(**fields), HERE / "blue.yml", service="ep", sizes={})
    assert raised.value.key == f"blue.yml: {named}"


def test_v2_mirror_traffic_and_data_collector_are_reported_not_supported():
    imported = Imported()
    v2_yaml.read_endpoint(
        {"name": "ep", "auth_mode": "aml_token", "traffic": {"blue": 100}, "mirror_traffic": {"green": 10}},
        HERE / "endpoint.yml",
        imported,
    )
    assert imported.deploy == {"auth_enabled": False, "token_auth_enabled": True}
    deployment = v2_yaml.read_deployment(
        _deployment(data_collector={"collections": {"model_inputs": {"enabled": True}}}),
        HERE / "blue.yml",
        service="ep",
        sizes={},
    )
    notes = {f.source: f.note for f in imported.findings + deployment.findings if f.went is None}
    assert (
        "not supported" in notes["endpoint.yml: mirror_traffic"]
        and "not supported" in notes["blue.yml: data_collector"]
    )


def test_v2_aad_token_is_refused():
    with pytest.raises(ConfigError) as raised:
        v2_yaml.read_endpoint({"name": "ep", "auth_mode": "aad_token"}, HERE / "endpoint.yml", Imported())
    assert raised.value.key == "endpoint.yml: auth_mode"


def test_v2_deployments_that_differ_beyond_their_model_are_refused():
    blue = v2_yaml.read_deployment(_deployment(), HERE / "blue.yml", service="ep", sizes={})
    green = v2_yaml.read_deployment(
        _deployment(name="green", instance_count=2), HERE / "green.yml", service="ep", sizes={}
    )
    with pytest.raises(ConfigError) as raised:
        v2_yaml.combine([blue, green], {"blue": 90, "green": 10}, Imported(), {}, False)
    assert raised.value.key == "green.yml: instance_count" and "differ" in raised.value.detail
