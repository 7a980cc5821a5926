"""The stack's Azure platform, shared by the Azure targets: resource group, container registry
(`container_registry`), AKS clusters (`aks_cluster`, with `aks_gateway`) and Application
Insights (`app_insights`), declared by `platform`."""
