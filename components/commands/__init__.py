"""The `modelstack` command (`cli`) and what only it needs: `plan_summary`, `drift`, `promote`,
`engine` (the Automation API) and `profile/`. The top of the package: nothing imports it."""
