"""A stack's configuration: its shape (`schema`), how it is read and merged (`load`, `merge`,
`pydantic_errors`), and the rules it must keep before any resource exists (`rules`, with
`cluster_rules`, `deploy_rules`, `naming`, `rollout`, `capacity` and the `vm_sizes` catalogue).
Nothing here declares a resource: every other concern imports it, it imports none of them."""
