"""`modelstack profile`: Azure ML's Model.profile on this machine. `command` parses and prints,
`run` drives it: `inputs`, `container`, `wrk` (load), `usage` (docker stats), `recommend` (pure),
`report` (files and chart)."""
