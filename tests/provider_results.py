"""What tests read from the results of modelstack's dynamic providers (create, read, update)."""

from __future__ import annotations

from typing import Any

from pulumi.dynamic import CreateResult, ReadResult, UpdateResult


def outputs_of(result: CreateResult | ReadResult | UpdateResult) -> dict[str, Any]:
    """The result's outputs. Pulumi's result types allow none; modelstack's providers always return
    them, so a result without any fails the test here rather than as a TypeError further on."""
    assert result.outs is not None, f"the provider returned no outputs: {result!r}"
    return result.outs
