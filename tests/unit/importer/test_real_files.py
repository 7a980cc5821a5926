"""Azure ML files as users have them, imported as they are: the v1 deployment and inference
configurations written in YAML (as a pipeline template keeps them, empty fields included), AKS's
sslEnabled, a GPU instance type, a model renamed with --model, a model replaced with --force, and
the files Azure ML itself would refuse (traffic short of 100, a deployment of another endpoint, a
JSON key given twice). Every import into a stack of its own ends with `modelstack check` clean."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from tests.unit.importer.conftest import FIXTURES
from tests.unit.importer.test_import_command import REQUIREMENTS, check, shared, stack_services

V1_YAML = FIXTURES / "v1-yaml"


@pytest.fixture
def template(workspace):
    """The template's scoring folder in the project: its YAML configurations, score.py, its conda
    file and the model beside them."""
    folder = workspace.root / "scoring"
    shutil.copytree(V1_YAML, folder)
    shutil.copy(workspace.seed / "outputs" / "sklearn_mnist_model.pkl", folder / "model.pkl")
    return folder


def stack_config(workspace, stack: str) -> dict:
    return yaml.safe_load((workspace.root / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]


def test_the_templates_yaml_aci_flow_imports_into_a_new_stack_and_checks_clean(workspace, template):
    """az ml model deploy --ic inference_config.yml --dc deployment_config_aci.yml, into a stack
    that does not exist yet: the ACI service, the workspace's registry and the tags the
    required-tags policy asks of its Azure resources."""
    assert not (workspace.root / "stacks" / "Pulumi.qa.yaml").exists()
    result = workspace.run(
        "inference_config.yml",
        "deployment_config_aci.yml",
        "--stack",
        "qa",
        "--service",
        "diabetes-qa",
        "--model",
        "diabetes-model:3=model.pkl",
        "--pip-requirements",
        "../examples/diabetes/requirements.txt",
        cwd=template,
    )
    assert result.exit_code == 0, result.output
    service = shared(workspace)["services"]["diabetes-qa"]
    assert service["entry_script"] == "score.py" and service["source_directory"] == "scoring"
    assert service["environment"] == {"enable_gpu": False, "pip_requirements": "examples/diabetes/requirements.txt"}
    config = stack_config(workspace, "qa")
    assert config["modelstack:services"]["diabetes-qa"] == {
        "target": "aci",
        "deploy": {
            "cpu_cores": 1,
            "memory_gb": 2,
            "auth_enabled": True,
            "ssl_enabled": False,
            "enable_app_insights": True,
        },
    }
    assert config["modelstack:tags"] == {"environment": "qa"}
    # the report: each field with its line, the empty ones said to be unset
    assert (
        "deployment_config_aci.yml: containerResourceRequirements.cpu -> modelstack:services.diabetes-qa.deploy.cpu_cores [line 4]"
        in result.output
    )
    assert "inference_config.yml: baseImage: dropped (empty: not set, as Azure ML reads it) [line 9]" in result.output
    assert "inference_config.yml: extraDockerfileSteps: dropped (empty" in result.output
    assert (
        "environment.conda_file: dropped (replaced by --pip-requirements) [from inference_config.yml: condaFile, line 5]"
        in result.output
    )
    assert "(the required-tags policy) -> modelstack:tags.environment ('qa', the stack's name" in result.output
    checked = check(workspace, "qa")
    assert checked.exit_code == 0 and "clean:" in checked.output, checked.output


def test_the_templates_aks_config_with_ssl_enabled_is_imported_and_the_tls_reported(workspace, template):
    result = workspace.run(
        "inference_config.yml",
        "deployment_config_aks.yml",
        "--stack",
        "prod",
        "--service",
        "diabetes-prod",
        "--compute",
        "aks-prod",
        "--model",
        "diabetes-model=model.pkl",
        "--pip-requirements",
        "../examples/diabetes/requirements.txt",
        cwd=template,
    )
    assert result.exit_code == 0, result.output
    deploy = stack_services(workspace, "prod")["diabetes-prod"]["deploy"]
    assert (
        "ssl_enabled" not in deploy and deploy["autoscale_max_replicas"] == 4 and deploy["scoring_timeout_ms"] == 5000
    )
    assert (
        "deployment_config_aks.yml: sslEnabled: dropped (True: TLS on AKS is the cluster's, not the service's; "
        "set leaf_domain_label, or ssl_cname with ssl_cert_pem_file and ssl_key_pem_file, on the cluster"
    ) in result.output
    checked = check(workspace, "prod")
    assert checked.exit_code == 0, checked.output


def test_a_yaml_file_of_neither_version_is_refused_naming_it(workspace, template):
    (template / "settings.yml").write_text("replicas: 3\n")
    (template / "mixed.yml").write_text("computeType: ACI\nendpoint_name: e\n")
    before = workspace.fingerprint()
    result = workspace.run("settings.yml", "deployment_config_aci.yml", "--stack", "qa", cwd=template)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "settings.yml: settings.yml is neither a v1 configuration" in result.output
    result = workspace.run("mixed.yml", "--stack", "qa", cwd=template)
    assert (
        result.exit_code == 1
        and "mixed.yml has fields of both Azure ML v1 (computeType) and v2 (endpoint_name)" in result.output
    )
    assert workspace.fingerprint() == before


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(
            [
                "inferenceconfig.json",
                "deploymentconfig-local.json",
                "--service",
                "myservice",
                "--model",
                "sklearn_mnist:1=outputs/sklearn_mnist_model.pkl",
            ],
            id="cli-local",
        ),
        pytest.param(
            [
                "inferenceconfig.json",
                "deploymentconfig-aci.json",
                "--service",
                "aciservice",
                "--model",
                "sklearn_mnist=outputs/sklearn_mnist_model.pkl",
            ],
            id="cli-aci",
        ),
        pytest.param(["deploy.py", "--target", "local"], id="sdk-local"),
        pytest.param(["deploy.py", "--target", "aci"], id="sdk-aci"),
    ],
)
def test_the_seeds_flows_import_into_a_new_stack_and_check_clean(workspace, args):
    """The seeds' flows as they are, each into a stack of its own that the import creates."""
    result = workspace.run(*args, "--stack", "trial", "--pip-requirements", REQUIREMENTS)
    assert result.exit_code == 0, result.output
    checked = check(workspace, "trial")
    assert checked.exit_code == 0 and "clean:" in checked.output, checked.output


def test_a_tag_the_policy_requires_that_the_import_cannot_know_refuses_it(workspace, template):
    """A stack's policy config asks for cost-center: only its owner knows the value."""
    (workspace.root / "policies" / "config").mkdir(parents=True, exist_ok=True)
    (workspace.root / "policies" / "config" / "qa.json").write_text(
        json.dumps({"required-tags": {"required_tags": ["environment", "cost-center", "managed-by"]}})
    )
    before = workspace.fingerprint()
    result = workspace.run(
        "inference_config.yml",
        "deployment_config_aci.yml",
        "--stack",
        "qa",
        "--service",
        "diabetes-qa",
        "--model",
        "diabetes-model=model.pkl",
        "--pip-requirements",
        "../examples/diabetes/requirements.txt",
        cwd=template,
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        "modelstack:tags: stack qa would lack the tag(s) cost-center that the required-tags policy requires"
        in result.output
    )
    assert "add them under modelstack:tags in stacks/Pulumi.qa.yaml" in result.output
    assert workspace.fingerprint() == before


def test_a_gpu_instance_type_asks_for_its_gpu(workspace):
    deployment = yaml.safe_load((workspace.v2 / "blue-deployment.yml").read_text())
    deployment["instance_type"] = "Standard_NC6s_v3"
    (workspace.v2 / "gpu.yml").write_text(yaml.safe_dump(deployment))
    result = workspace.run(
        "gpu.yml",
        "--stack",
        "prod",
        "--compute",
        "aks-prod",
        "--pip-requirements",
        "../../examples/diabetes/requirements.txt",
        cwd=workspace.v2,
    )
    # aks-prod's nodes have no GPU: the GPU is asked for, so check's rule refuses it by name
    assert result.exit_code == 1, result.output
    assert "gpu_cores is 1, and the nodes of cluster aks-prod" in result.output
    assert "(imported from gpu.yml: instance_type)" in result.output
    prod = workspace.root / "stacks" / "Pulumi.prod.yaml"
    text = prod.read_text().replace("vm_size: Standard_D4s_v5", "vm_size: Standard_NC6s_v3")
    assert text != prod.read_text()
    prod.write_text(text)
    result = workspace.run(
        "gpu.yml",
        "--stack",
        "prod",
        "--compute",
        "aks-prod",
        "--pip-requirements",
        "../../examples/diabetes/requirements.txt",
        cwd=workspace.v2,
    )
    assert result.exit_code == 0, result.output
    assert stack_services(workspace, "prod")["my-endpoint"]["deploy"]["gpu_cores"] == 1
    assert shared(workspace)["services"]["my-endpoint"]["environment"]["enable_gpu"] is True
    assert (
        "gpu.yml: instance_type -> modelstack:services.my-endpoint.deploy.gpu_cores (Standard_NC6s_v3 has 1 GPU"
        in result.output
    )


def test_a_model_renamed_with_model_keeps_its_tags_and_description(workspace):
    result = workspace.run(
        "deploy.py",
        "--stack",
        "local",
        "--target",
        "local",
        "--model",
        "mnist-ridge=outputs/sklearn_mnist_model.pkl",
        "--pip-requirements",
        REQUIREMENTS,
    )
    assert result.exit_code == 0, result.output
    models = shared(workspace)["models"]
    assert "sklearn_mnist" not in models
    assert models["mnist-ridge"] == {
        "path": "seed/outputs/sklearn_mnist_model.pkl",
        "tags": {"area": "mnist"},
        "description": "Ridge regression registered from a local file",
    }
    assert (
        "-> modelstack:models.mnist-ridge.tags (registered as 'sklearn_mnist', imported as 'mnist-ridge'"
        in result.output
    )
    assert "modelstack:models.sklearn_mnist" not in result.output


def test_forcing_a_model_other_services_serve_says_which(workspace):
    before = shared(workspace)
    servers = sorted(n for n, s in before["services"].items() if "diabetes-ridge" in s.get("models", []))
    assert len(servers) >= 1
    result = workspace.run(
        "inferenceconfig.json",
        "deploymentconfig-local.json",
        "--stack",
        "local",
        "--service",
        "newservice",
        "--model",
        "diabetes-ridge=outputs/sklearn_mnist_model.pkl",
        "--pip-requirements",
        REQUIREMENTS,
        "--force",
    )
    assert result.exit_code == 0, result.output
    assert "replaces the declared model 'diabetes-ridge'" in result.output
    assert f"serve{'s' if len(servers) == 1 else ''} it too and will serve the imported files" in result.output
    for name in servers:
        assert name in result.output.split("replaces the declared model 'diabetes-ridge'")[1].splitlines()[0]


@pytest.mark.parametrize(
    "edit, expected",
    [
        pytest.param(
            ("endpoint.yml", "  green: 10\n", "  green: 0\n"),
            "endpoint.yml: traffic: the traffic adds up to 90% (blue 90, green 0)",
            id="traffic-short-of-100",
        ),
        pytest.param(
            ("green-deployment.yml", "endpoint_name: my-endpoint", "endpoint_name: other-endpoint"),
            "green-deployment.yml: endpoint_name: green-deployment.yml is a deployment of endpoint 'other-endpoint', not of 'my-endpoint' (endpoint.yml)",
            id="another-endpoint",
        ),
    ],
)
def test_what_azure_ml_would_refuse_in_v2_is_refused(workspace, edit, expected):
    name, old, new = edit
    text = (workspace.v2 / name).read_text()
    assert old in text
    (workspace.v2 / name).write_text(text.replace(old, new))
    before = workspace.fingerprint()
    result = workspace.run(
        "endpoint.yml",
        "blue-deployment.yml",
        "green-deployment.yml",
        "--stack",
        "prod",
        "--compute",
        "aks-prod",
        "--pip-requirements",
        "../../examples/diabetes/requirements.txt",
        cwd=workspace.v2,
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert expected in result.output, result.output
    assert workspace.fingerprint() == before


def test_deployments_of_two_endpoints_are_refused_naming_both(workspace):
    text = (workspace.v2 / "green-deployment.yml").read_text()
    (workspace.v2 / "green-deployment.yml").write_text(
        text.replace("endpoint_name: my-endpoint", "endpoint_name: other")
    )
    result = workspace.run(
        "blue-deployment.yml", "green-deployment.yml", "--stack", "prod", "--compute", "aks-prod", cwd=workspace.v2
    )
    assert result.exit_code == 1
    assert (
        "blue-deployment.yml is a deployment of endpoint 'my-endpoint' and green-deployment.yml of 'other'"
        in result.output
    )


def test_a_json_key_given_twice_is_refused_naming_it_and_its_line(workspace):
    (workspace.seed / "twice.json").write_text('{\n  "computeType": "local",\n  "port": 32267,\n  "port": 8890\n}\n')
    before = workspace.fingerprint()
    result = workspace.run(
        "inferenceconfig.json",
        "twice.json",
        "--stack",
        "local",
        "--service",
        "myservice",
        "--model",
        "sklearn_mnist=outputs/sklearn_mnist_model.pkl",
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "twice.json: port (line 4): 'port' is given twice in one object (lines 3 and 4)" in result.output
    assert workspace.fingerprint() == before


def test_ssl_enabled_in_an_aks_json_config_is_reported_not_refused(workspace):
    config = json.loads((workspace.seed / "deploymentconfig-aks.json").read_text())
    config["sslEnabled"] = False
    config.pop("dataCollection")
    (workspace.seed / "deploymentconfig-aks.json").write_text(json.dumps(config, indent=4))
    result = workspace.run(
        "inferenceconfig.json",
        "deploymentconfig-aks.json",
        "--stack",
        "prod",
        "--service",
        "aksservice",
        "--compute",
        "aks-prod",
        "--model",
        "sklearn_mnist=outputs/sklearn_mnist_model.pkl",
        "--pip-requirements",
        REQUIREMENTS,
    )
    assert result.exit_code == 0, result.output
    assert "deploymentconfig-aks.json: sslEnabled: dropped (False: TLS on AKS is the cluster's" in result.output
    assert check(workspace, "prod").exit_code == 0


def test_authentication_turned_off_in_the_source_is_refused_unless_the_policy_is_disabled(workspace, template):
    config = template / "deployment_config_aci.yml"
    config.write_text(config.read_text().replace("authEnabled: True", "authEnabled: False"))
    args = (
        "inference_config.yml",
        "deployment_config_aci.yml",
        "--stack",
        "qa",
        "--service",
        "diabetes-qa",
        "--model",
        "diabetes-model=model.pkl",
        "--pip-requirements",
        "../examples/diabetes/requirements.txt",
    )
    before = workspace.fingerprint()
    result = workspace.run(*args, cwd=template)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        "deployment_config_aci.yml: authEnabled: authentication is off (deployment_config_aci.yml: authEnabled), "
        "which the webservice-auth-enabled policy of stack qa refuses" in result.output
    )
    assert workspace.fingerprint() == before
    (workspace.root / "policies" / "config").mkdir(parents=True, exist_ok=True)
    (workspace.root / "policies" / "config" / "qa.json").write_text('{"webservice-auth-enabled": "disabled"}')
    result = workspace.run(*args, cwd=template)
    assert result.exit_code == 0, result.output
    assert stack_services(workspace, "qa")["diabetes-qa"]["deploy"]["auth_enabled"] is False


def test_a_gpu_size_sized_by_hand_says_its_gpu_is_not_asked_for(workspace):
    deployment = yaml.safe_load((workspace.v2 / "blue-deployment.yml").read_text())
    deployment["instance_type"] = "Standard_NC6s_v3"
    (workspace.v2 / "gpu.yml").write_text(yaml.safe_dump(deployment))
    result = workspace.run(
        "gpu.yml",
        "--stack",
        "prod",
        "--compute",
        "aks-prod",
        "--cpu-cores",
        "1",
        "--memory-gb",
        "2",
        "--pip-requirements",
        "../../examples/diabetes/requirements.txt",
        cwd=workspace.v2,
    )
    assert result.exit_code == 0, result.output
    assert "gpu_cores" not in stack_services(workspace, "prod")["my-endpoint"]["deploy"]
    assert (
        "gpu.yml: instance_type: dropped (given with --cpu-cores/--memory-gb instead; its 1 GPU(s) are not asked for"
        in result.output
    )


def test_traffic_to_a_deployment_not_given_names_the_endpoint_file(workspace):
    result = workspace.run(
        "endpoint.yml", "blue-deployment.yml", "--stack", "prod", "--compute", "aks-prod", cwd=workspace.v2
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        "endpoint.yml: traffic.green: the endpoint sends traffic to deployment 'green', whose file was not given"
        in result.output
    )


def test_the_templates_yaml_flow_checks_clean_with_its_own_conda_file(workspace, template):
    """No --pip-requirements: the template's files exactly as they are."""
    result = workspace.run(
        "inference_config.yml",
        "deployment_config_aci.yml",
        "--stack",
        "qa",
        "--service",
        "diabetes-qa",
        "--model",
        "diabetes-model=model.pkl",
        cwd=template,
    )
    assert result.exit_code == 0, result.output
    assert shared(workspace)["services"]["diabetes-qa"]["environment"]["conda_file"] == "scoring/conda_dependencies.yml"
    checked = check(workspace, "qa")
    assert checked.exit_code == 0 and "clean:" in checked.output, checked.output
