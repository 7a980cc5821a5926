"""Where a webservice runs, one folder per place: `local` (Docker on this machine), `azure` (the
Azure platform and ACI), `kubernetes` (the webservice objects on a cluster; AKS is Azure's
cluster running them). `keys` are a service's keys, shared by the remote targets."""
