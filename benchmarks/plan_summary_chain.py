"""How long `plan-summary` takes to group a preview whose resources form one long chain of
parents (each the parent of the next), at 5,000, 10,000 and 20,000 resources; best of 5 each.

The test (tests/unit/commands/test_hostile_inputs.py) shows the grouping is linear by counting
the lines it runs; the time it takes is measured here.

    venv/bin/python benchmarks/plan_summary_chain.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from components.commands.plan_summary import changes  # noqa: E402


def chain(n: int) -> dict:
    def urn(i):
        return f"urn:pulumi:dev::modelstack::modelstack:x:Thing::r{i}"

    return {
        "steps": [
            {
                "urn": urn(i),
                "op": "create",
                "newState": {"type": "modelstack:x:Thing", "parent": urn(i - 1) if i else None},
            }
            for i in range(n)
        ]
    }


def main() -> None:
    print("| resources in the chain | best of 5, s |")
    print("|---|---|")
    for n in (5_000, 10_000, 20_000):
        document = chain(n)
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            changes(document)
            best = min(best, time.perf_counter() - started)
        print(f"| {n:,} | {best:.3f} |")


if __name__ == "__main__":
    main()
