"""`target: aca`, Azure Container Apps: each service a container app in the stack's Container
Apps environment, pulling from the stack's registry with the platform's pull identity, with HTTPS
ingress, its keys as the app's secrets, and an HTTP scale rule that scales to zero.

    schema.py         its deploy parameters (AcaDeploy)
    rules.py          their rules at config time (Azure's CPU/memory pairs, replicas, names)
    names.py          the names of its Azure resources
    environment.py    the stack's environment and its Log Analytics workspace (declare_shared)
    container_app.py  one service's container app (declare)
    states.py         Container Apps' states in Azure ML's names
    logs.py           console logs from the workspace
    policies.py       its guardrails
    target.py         TARGET, the AcaTarget the registry hands out
"""
