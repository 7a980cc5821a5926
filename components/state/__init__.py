"""A stack's shared state as a team uses it: the backend it lives in (the local file backend or
Azure Blob Storage), the locks on it, saved plans bound to it, and recovery after an engine that
died mid-update. Below commands/ (the `modelstack` command), above everything else."""
