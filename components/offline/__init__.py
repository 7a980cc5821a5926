"""`modelstack check`'s evaluator: the real program under Pulumi's mock runtime, with no engine,
no cloud and no Docker (`evaluate`), and what Azure would compute in its place (`azure_mocks`)."""
