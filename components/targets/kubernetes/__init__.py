"""A webservice's Kubernetes objects on a cluster: Deployments, Services, autoscalers, budgets and
the keys Secret (`webservice`), behind the front end's Gateway and weighted routes (`frontend`)."""
