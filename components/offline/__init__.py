"""`modelstack check`'s evaluator: the real program under Pulumi's mock runtime, with no engine,
no cloud and no Docker (`evaluate`); what the clouds and clusters would compute comes from
components.targets.azure.mocks and each target's `mocks` module."""
