"""Where a webservice runs: one package per target (`local`, `aci`, `aks`, `kubernetes`, ...),
each behind the interface of `base` and named by `registry`. `azure` is the Azure platform the
Azure targets share; `keys` are a service's keys and `states` Azure ML's service states."""
