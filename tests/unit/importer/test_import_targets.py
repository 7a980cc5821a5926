"""Which target an import writes, asked of the targets: Azure ML's computeType and web service
classes map to local, aci and aks; kubernetes takes AksWebservice's parameters and is chosen by
--target, or for a v2 endpoint by a compute among the stack's kubernetes_clusters."""

from __future__ import annotations

import json

from tests.unit.importer.test_import_command import REQUIREMENTS, stack_services

MODEL = "sklearn_mnist=outputs/sklearn_mnist_model.pkl"


def kubeconfig_for_the_cluster_stack(workspace) -> None:
    """stacks/Pulumi.cluster.yaml names a kubeconfig the test cluster writes; the import's
    validation needs the file to exist, not the cluster to run."""
    folder = workspace.root / ".modelstack" / "cluster"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "admin.kubeconfig").write_text("apiVersion: v1\nkind: Config\n")


def aks_config_without_data_collection(workspace) -> str:
    document = json.loads((workspace.seed / "deploymentconfig-aks.json").read_text())
    document["dataCollection"]["storageEnabled"] = False
    (workspace.seed / "dc-aks.json").write_text(json.dumps(document))
    return "dc-aks.json"


def test_counterparts_of_azure_mls_kinds():
    from components.importer import counterparts

    assert counterparts.importable() == ["local", "aci", "aks", "kubernetes"]
    assert [counterparts.of_compute_type(kind) for kind in ("local", "ACI", "aks", "AmlCompute")] == [
        "local",
        "aci",
        "aks",
        None,
    ]
    assert [counterparts.of_webservice(w) for w in ("LocalWebservice", "AciWebservice", "AksWebservice")] == [
        "local",
        "aci",
        "aks",
    ]
    assert [counterparts.webservice_of(t) for t in ("local", "aci", "aks", "kubernetes")] == [
        "LocalWebservice",
        "AciWebservice",
        "AksWebservice",
        "AksWebservice",
    ]


def test_an_aks_deployment_configuration_goes_to_a_kubernetes_cluster_when_asked(workspace):
    kubeconfig_for_the_cluster_stack(workspace)
    config = aks_config_without_data_collection(workspace)
    result = workspace.run(
        "inferenceconfig.json",
        config,
        "--stack",
        "cluster",
        "--target",
        "kubernetes",
        "--compute",
        "testcluster",
        "--service",
        "svc",
        "--model",
        MODEL,
        "--pip-requirements",
        REQUIREMENTS,
    )
    assert result.exit_code == 0, result.output
    service = stack_services(workspace, "cluster")["svc"]
    assert (service["target"], service["compute"]) == ("kubernetes", "testcluster")
    assert service["deploy"]["autoscale_max_replicas"] == 3 and service["deploy"]["cpu_cores"] == 0.5


def test_a_kubernetes_target_is_refused_for_an_aci_deployment_configuration(workspace):
    before = workspace.fingerprint()
    result = workspace.run(
        "inferenceconfig.json",
        "deploymentconfig-aci.json",
        "--stack",
        "cluster",
        "--target",
        "kubernetes",
        "--compute",
        "testcluster",
        "--service",
        "svc",
        "--model",
        MODEL,
    )
    assert result.exit_code == 1
    assert "--target kubernetes but deploymentconfig-aci.json deploys to aci" in result.output
    assert workspace.fingerprint() == before


def test_a_kubernetes_service_names_a_cluster_of_kubernetes_clusters(workspace):
    config = aks_config_without_data_collection(workspace)
    result = workspace.run(
        "inferenceconfig.json",
        config,
        "--stack",
        "prod",
        "--target",
        "kubernetes",
        "--compute",
        "aks-prod",
        "--service",
        "svc",
        "--model",
        MODEL,
    )
    assert result.exit_code == 1
    assert (
        "cluster 'aks-prod' is not declared in stack prod" in result.output
        and "under modelstack:kubernetes_clusters of its stack" in result.output
    )


def test_the_sdk_scripts_aks_call_runs_on_a_kubernetes_cluster_when_asked(workspace):
    kubeconfig_for_the_cluster_stack(workspace)
    result = workspace.run(
        "deploy.py",
        "--stack",
        "cluster",
        "--target",
        "kubernetes",
        "--compute",
        "testcluster",
        "--pip-requirements",
        REQUIREMENTS,
    )
    assert result.exit_code == 0, result.output
    assert stack_services(workspace, "cluster")["aksservice"] == {
        "target": "kubernetes",
        "compute": "testcluster",
        "deploy": {"cpu_cores": 1, "memory_gb": 1},
    }


def test_a_v2_endpoint_on_a_kubernetes_cluster_of_the_stack_is_a_kubernetes_service(workspace):
    kubeconfig_for_the_cluster_stack(workspace)
    result = workspace.run(
        "endpoint.yml",
        "blue-deployment.yml",
        "green-deployment.yml",
        "--stack",
        "cluster",
        "--compute",
        "testcluster",
        "--pip-requirements",
        "../../examples/diabetes/requirements.txt",
        cwd=workspace.v2,
    )
    assert result.exit_code == 0, result.output
    service = stack_services(workspace, "cluster")["my-endpoint"]
    assert (service["target"], service["compute"]) == ("kubernetes", "testcluster")
    assert [v["version_name"] for v in service["versions"]] == ["blue", "green"]


def test_target_takes_the_targets_with_an_azure_ml_counterpart(workspace):
    result = workspace.run(
        "inferenceconfig.json", "--stack", "aca", "--target", "aca", "--service", "svc", "--model", MODEL
    )
    assert result.exit_code == 2
    assert "'aca' is not local, aci, aks or kubernetes" in result.output


def test_the_target_option_help_names_the_importable_targets():
    """The help is written out (building it would load every target when the CLI starts), so this
    keeps it equal to what --target accepts."""
    import inspect
    import re

    from components.commands.import_command import import_
    from components.importer.counterparts import importable

    help_text = inspect.signature(import_).parameters["target"].default.help
    named = re.split(r", | or ", help_text.split(":", 1)[0])
    assert named == importable()
