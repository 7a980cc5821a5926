"""`modelstack import` end to end in-process: the seeds' examples imported and checked clean,
the v2 90/10 split, --dry-run, --force, and hostile sources refused with nothing written."""

from __future__ import annotations

import json

import pytest
import yaml

REQUIREMENTS = "../examples/diabetes/requirements.txt"  # the project copy's, from seed/


def check(workspace, stack: str):
    from typer.testing import CliRunner

    from components.commands.cli import app

    return CliRunner().invoke(
        app, ["check", "--stack", stack], env={"MODELSTACK_PROJECT_DIR": str(workspace.root), "COLUMNS": "300"}
    )


def shared(workspace) -> dict:
    config = yaml.safe_load((workspace.root / "Pulumi.yaml").read_text())["config"]
    return {"models": config["modelstack:models"]["value"], "services": config["modelstack:services"]["value"]}


def stack_services(workspace, stack: str) -> dict:
    return yaml.safe_load((workspace.root / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"][
        "modelstack:services"
    ]


def test_the_seeds_cli_flow_imports_and_checks_clean(workspace):
    """az ml model deploy -m sklearn_mnist:1 --ic inferenceconfig.json --dc deploymentconfig.json"""
    result = workspace.run(
        "inferenceconfig.json",
        "deploymentconfig-local.json",
        "--stack",
        "local",
        "--service",
        "myservice",
        "--model",
        "sklearn_mnist:1=outputs/sklearn_mnist_model.pkl",
        "--pip-requirements",
        REQUIREMENTS,
    )
    assert result.exit_code == 0, result.output
    declared = shared(workspace)
    assert declared["models"]["sklearn_mnist"] == {"path": "seed/outputs/sklearn_mnist_model.pkl"}
    assert declared["services"]["myservice"]["entry_script"] == "seed/score.py"
    assert declared["services"]["myservice"]["environment"]["pip_requirements"] == "examples/diabetes/requirements.txt"
    assert stack_services(workspace, "local")["myservice"] == {"target": "local", "deploy": {"port": 32267}}
    assert "deploymentconfig-local.json: port -> modelstack:services.myservice.deploy.port" in result.output
    assert "environment.conda_file: dropped (replaced by --pip-requirements)" in result.output
    checked = check(workspace, "local")
    assert checked.exit_code == 0 and "clean:" in checked.output, checked.output


def test_comments_and_order_of_the_files_are_kept(workspace):
    from components.importer.writer import diff

    before = {name: (workspace.root / name).read_text() for name in ("Pulumi.yaml", "stacks/Pulumi.local.yaml")}
    result = workspace.run(
        "inferenceconfig.json",
        "deploymentconfig-local.json",
        "--stack",
        "local",
        "--service",
        "myservice",
        "--model",
        "sklearn_mnist=outputs/sklearn_mnist_model.pkl",
    )
    assert result.exit_code == 0, result.output
    for name, text in before.items():
        changes = diff(text, (workspace.root / name).read_text(), name).splitlines()[2:]
        removed = [line for line in changes if line.startswith("-")]
        assert removed == [] and any(line.startswith("+") for line in changes), (
            changes
        )  # lines are only added: comments, order, quoting kept


def test_the_seeds_sdk_script_imports_with_its_target_picked(workspace):
    many = workspace.run("deploy.py", "--stack", "local")
    assert many.exit_code == 1 and "pick one with --target local, aci or aks" in many.output
    result = workspace.run("deploy.py", "--stack", "local", "--target", "local", "--pip-requirements", REQUIREMENTS)
    assert result.exit_code == 0, result.output
    declared = shared(workspace)
    assert declared["models"]["sklearn_mnist"] == {
        "path": "seed/outputs/sklearn_mnist_model.pkl",
        "tags": {"area": "mnist"},
        "description": "Ridge regression registered from a local file",
    }
    assert declared["services"]["myservice"]["models"] == [
        "sklearn_mnist"
    ]  # Model.deploy(ws, "myservice", [model], ...) after the local config
    assert stack_services(workspace, "local")["myservice"]["deploy"] == {"port": 8890}
    assert check(workspace, "local").exit_code == 0


def test_the_cli_references_aci_example_goes_to_the_dev_stack(workspace):
    result = workspace.run(
        "inferenceconfig.json",
        "deploymentconfig-aci.json",
        "--stack",
        "dev",
        "--service",
        "aciservice",
        "--model",
        "sklearn_mnist=outputs/sklearn_mnist_model.pkl",
        "--pip-requirements",
        REQUIREMENTS,
    )
    assert result.exit_code == 0, result.output
    assert stack_services(workspace, "dev")["aciservice"] == {
        "target": "aci",
        "deploy": {
            "cpu_cores": 0.5,
            "memory_gb": 1.0,
            "auth_enabled": True,
            "ssl_enabled": False,
            "enable_app_insights": False,
        },
    }
    checked = check(workspace, "dev")
    assert checked.exit_code == 0, checked.output


def test_the_seeds_aci_call_gets_the_key_the_policy_requires_and_the_report_says_so(workspace):
    """AciWebservice.deploy_configuration(cpu_cores = 1, memory_gb = 1): ACI's default is no key;
    the stack's webservice-auth-enabled policy requires one, so the import turns it on, says so,
    and the result passes check as it is."""
    result = workspace.run("deploy.py", "--stack", "dev", "--target", "aci", "--pip-requirements", REQUIREMENTS)
    assert result.exit_code == 0, result.output
    assert stack_services(workspace, "dev")["aciservice"] == {
        "target": "aci",
        "deploy": {"cpu_cores": 1, "memory_gb": 1, "auth_enabled": True},
    }
    assert (
        "(aci's default: authentication off) -> modelstack:services.aciservice.deploy.auth_enabled (changed to true: "
        "the webservice-auth-enabled policy of stack dev requires a key" in result.output
    )
    checked = check(workspace, "dev")
    assert checked.exit_code == 0 and "clean:" in checked.output, checked.output


def test_an_aks_cluster_not_in_the_stack_is_asked_for(workspace):
    result = workspace.run("deploy.py", "--stack", "prod", "--target", "aks", "--pip-requirements", REQUIREMENTS)
    assert result.exit_code == 1
    assert (
        "cluster 'myaks' is not declared in stack prod" in result.output
        and "--compute with one of: aks-prod" in result.output
    )
    # the variable in ComputeTarget.create(name=aks_name) was not guessed; with --compute the import goes on
    result = workspace.run(
        "deploy.py", "--stack", "prod", "--target", "aks", "--compute", "aks-prod", "--pip-requirements", REQUIREMENTS
    )
    assert result.exit_code == 0, result.output
    assert "aks_name at line 34 is not a literal" in result.output
    assert stack_services(workspace, "prod")["aksservice"] == {
        "target": "aks",
        "compute": "aks-prod",
        "deploy": {"cpu_cores": 1, "memory_gb": 1},
    }
    assert check(workspace, "prod").exit_code == 0


def test_a_v2_endpoint_at_90_10_becomes_rollout_versions(workspace):
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
    assert result.exit_code == 0, result.output
    service = stack_services(workspace, "prod")["my-endpoint"]
    assert [
        (v["version_name"], v["traffic_percentile"], v["models"], v["is_default"]) for v in service["versions"]
    ] == [("blue", 90, ["ridge"], True), ("green", 10, ["lasso"], False)]
    # the report names each field's file and line
    assert (
        "endpoint.yml: traffic.green -> modelstack:services.my-endpoint.versions[1].traffic_percentile (10%) [line 6]"
        in result.output
    )
    assert "blue-deployment.yml: instance_type -> modelstack:services.my-endpoint.deploy.cpu_cores" in result.output
    # Azure ML v2's defaults, which differ from modelstack's, are written out
    assert (
        service["deploy"]["scoring_timeout_ms"] == 5000
        and service["deploy"]["failure_threshold"] == 30
        and service["deploy"]["timeout_seconds"] == 2
    )
    # Standard_DS3_v2 (4 vCPUs, 14 GiB) less AKS's reservations
    assert service["deploy"]["cpu_cores"] == 3.86 and 10 < service["deploy"]["memory_gb"] < 14
    assert check(workspace, "prod").exit_code == 0
    from components.config.load import load_from_files
    from components.config.rollout import rollout_versions

    config = load_from_files("prod", workspace.root)
    assert [(v.name, v.percent) for v in rollout_versions("my-endpoint", config.services["my-endpoint"])] == [
        ("blue", 90.0),
        ("green", 10.0),
    ]


def test_dry_run_prints_the_diff_and_writes_nothing(workspace):
    before = workspace.fingerprint()
    result = workspace.run(
        "inferenceconfig.json",
        "deploymentconfig-local.json",
        "--stack",
        "local",
        "--service",
        "myservice",
        "--model",
        "sklearn_mnist=outputs/sklearn_mnist_model.pkl",
        "--dry-run",
    )
    assert result.exit_code == 0, result.output
    assert (
        "+++ b/stacks/Pulumi.local.yaml" in result.output
        and "+    myservice:" in result.output
        and "+        port: 32267" in result.output
    )
    assert workspace.fingerprint() == before


def test_an_existing_service_is_refused_unless_forced(workspace):
    args = (
        "inferenceconfig.json",
        "deploymentconfig-local.json",
        "--stack",
        "local",
        "--model",
        "sklearn_mnist=outputs/sklearn_mnist_model.pkl",
    )
    before = workspace.fingerprint()
    result = workspace.run(*args, "--service", "diabetes")
    assert (
        result.exit_code == 1
        and "service 'diabetes' is already declared" in result.output
        and "--force" in result.output
    )
    assert workspace.fingerprint() == before
    forced = workspace.run(*args, "--service", "diabetes", "--force")
    assert forced.exit_code == 0, forced.output
    assert shared(workspace)["services"]["diabetes"]["models"] == ["sklearn_mnist"]


def test_a_file_outside_the_project_is_copied_only_when_asked(workspace, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "model.pkl").write_bytes((workspace.seed / "outputs" / "sklearn_mnist_model.pkl").read_bytes())
    before = workspace.fingerprint()
    args = (
        "inferenceconfig.json",
        "deploymentconfig-local.json",
        "--stack",
        "local",
        "--service",
        "myservice",
        "--model",
        f"sklearn_mnist={outside / 'model.pkl'}",
    )
    refused = workspace.run(*args)
    assert refused.exit_code == 1 and "outside the project" in refused.output and "--copy-outside" in refused.output
    assert workspace.fingerprint() == before
    copied = workspace.run(*args, "--copy-outside")
    assert copied.exit_code == 0, copied.output
    assert shared(workspace)["models"]["sklearn_mnist"]["path"] == "azureml-import/myservice/model.pkl"
    assert (workspace.root / "azureml-import" / "myservice" / "model.pkl").read_bytes() == (
        outside / "model.pkl"
    ).read_bytes()


# --- hostile sources: exit 1 naming the field, the rule and the fix; nothing written -----------------


def _write(path, text):
    path.write_text(text)
    return path.name


HOSTILE = {
    "malformed JSON": (
        lambda s: [_write(s / "bad.json", '{"computeType": "local",'), "inferenceconfig.json"],
        "bad.json is not JSON",
    ),
    "malformed YAML": (
        lambda s: [
            _write(s / "bad.yml", "name: [blue\nmodel: x"),
        ],
        "bad.yml is not valid YAML",
    ),
    "deeply nested JSON": (
        lambda s: [
            _write(s / "deep.json", '{"computeType": "aks", "autoScaler": ' + "[" * 200 + "]" * 200 + "}"),
            "inferenceconfig.json",
        ],
        "nests deeper than 64 levels",
    ),
    "deeply nested YAML": (
        lambda s: [_write(s / "deep.yml", "name: x\nendpoint_name: e\nmodel: " + "[" * 200 + "]" * 200)],
        "nesting deeper than 64 levels",
    ),
    "deeply nested Python": (lambda s: [_write(s / "deep.py", "x = " + "(" * 400 + "1" + ")" * 400)], "deep"),
    "10,000-cell notebook": (
        lambda s: [
            _write(
                s / "big.ipynb",
                json.dumps({"cells": [{"cell_type": "code", "source": "x = 1"}] * 10000, "nbformat": 4}),
            )
        ],
        "has 10,000 cells",
    ),
    "path leaving the project": (
        lambda s: [
            _write(s / "ic.json", '{"entryScript": "../../../../../../etc/passwd"}'),
            "deploymentconfig-local.json",
        ],
        "outside the project",
    ),
    "unknown computeType": (
        lambda s: [_write(s / "dc.json", '{"computeType": "AMLCOMPUTE"}'), "inferenceconfig.json"],
        "computeType 'AMLCOMPUTE' is not one modelstack deploys to",
    ),
    "name breaking the naming rules": (
        lambda s: [
            "inferenceconfig.json",
            "deploymentconfig-local.json",
            "--service",
            "My_Service",
            "--model",
            "sklearn_mnist=outputs/sklearn_mnist_model.pkl",
        ],
        "service name 'My_Service' is not allowed",
    ),
    "model name breaking the naming rules": (
        lambda s: [
            "inferenceconfig.json",
            "deploymentconfig-local.json",
            "--service",
            "myservice",
            "--model",
            "-bad=outputs/sklearn_mnist_model.pkl",
        ],
        "model name '-bad' is not allowed",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_sources_are_refused_with_nothing_written(workspace, case):
    make, expected = HOSTILE[case]
    args = make(workspace.seed)
    if "--service" not in args:
        args += ["--service", "myservice", "--model", "sklearn_mnist=outputs/sklearn_mnist_model.pkl"]
    before = workspace.fingerprint()
    result = workspace.run(*args, "--stack", "local")
    assert result.exit_code == 1, result.output
    assert expected in result.output
    assert "Rule:" in result.output and "Fix:" in result.output and "Traceback" not in result.output
    assert workspace.fingerprint() == before
