"""The Azure platform a stack creates or attaches: resource group and registry (`platform`,
`container_registry`), AKS clusters (`aks_cluster`) and ACI container groups (`aci_group`,
`aci_webservice`)."""
