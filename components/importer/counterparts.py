"""Azure ML's kinds of deployment and the modelstack targets they become, as the targets declare
them (`azureml_webservice` and `azureml_compute_type` of components.targets.base.Target).

The readers key their tables by Azure ML's names: v1 deploys with one of three web service
classes, each with its deploy_configuration(...) parameters and its computeType in
deploymentconfig.json; v2's online deployments take AksWebservice's parameters (scaling, probes,
request settings). Which target that is, is asked here, never written in the importer.
"""

from __future__ import annotations

from components.targets import registry

# Azure ML v1's web service classes (azureml.core.webservice).
LOCAL_WEBSERVICE = "LocalWebservice"
ACI_WEBSERVICE = "AciWebservice"
AKS_WEBSERVICE = "AksWebservice"


def importable() -> list[str]:
    """The targets an import can write a service for: those whose deploy parameters are an Azure ML
    web service's, in the registry's order."""
    return registry.names_where(lambda t: t.azureml_webservice is not None)


def webservice_of(target: str) -> str:
    """The web service class whose deploy_configuration parameters the target's deploy parameters
    are (every target an import names has one: see importable())."""
    webservice = registry.target(target).azureml_webservice
    if webservice is None:
        raise KeyError(f"target {target} takes no Azure ML web service's parameters")
    return webservice


def of_compute_type(compute_type: str) -> str | None:
    """The target a deploymentconfig.json of this computeType becomes (Azure ML ignores its case),
    or None when modelstack runs no such service."""
    wanted = compute_type.lower()
    found = registry.names_where(
        lambda t: t.azureml_compute_type is not None and t.azureml_compute_type.lower() == wanted
    )
    return found[0] if found else None


def of_webservice(webservice: str) -> str:
    """The target a deployment of this web service class becomes: where Azure ML itself ran it
    (another target taking the same parameters is chosen with --target)."""
    (name,) = registry.names_where(lambda t: t.azureml_webservice == webservice and t.azureml_compute_type is not None)
    return name
