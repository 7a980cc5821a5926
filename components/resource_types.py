"""The type tokens of the resources more than one concern reads: the policies judge them, the
targets read their live state, `plan-summary` prices them and `check`'s mock runtime answers for
them. One home, so a token is spelt once."""

from __future__ import annotations

ACR_REGISTRY = "azure-native:containerregistry:Registry"
MANAGED_CLUSTER = "azure-native:containerservice:ManagedCluster"
CONTAINER_GROUP = "azure-native:containerinstance:ContainerGroup"
CONTAINER_APP = "azure-native:app:ContainerApp"
K8S_DEPLOYMENT = "kubernetes:apps/v1:Deployment"
# modelstack's own dynamic providers (recovery after a killed engine looks their objects up).
SERVICE_IMAGE = "pulumi-python:dynamic/modelstack:ServiceImage"
LOCAL_REGISTRY = "pulumi-python:dynamic/modelstack:LocalRegistry"
LOCAL_WEBSERVICE = "pulumi-python:dynamic/modelstack:LocalWebservice"
