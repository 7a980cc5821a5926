"""Docker on this machine: the `kind: local` registry (`registry` over `registry_server` and
`processes`) and LocalWebservice (`webservice`)."""
