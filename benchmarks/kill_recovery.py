"""Benchmark: the local stack's `pulumi up` killed with SIGKILL at every kill point, recovered.

    venv/bin/python benchmarks/kill_recovery.py [--scenario from-nothing|model-change] [--only N ...]

For each kill point of an `up` from nothing (no resources, an empty registry) and of a model-change
`up` (one service's model retrained: its image and container replaced), in a copy of the project as
a stack of its own: the engine's whole process tree is killed right after that point's engine event
(tests/e2e/killing.py), then `modelstack recover` and `pulumi up` run, and the stack must be Healthy
with every scoring_uri answering, `preview --expect-no-changes` must pass, and nothing may be leaked.
Prints one row per kill point: what was left after the kill (leaked before), what recovery did, what
was left after recover + up (leaked after), and for a model change the services answering when
recovery began and their failed requests while it ran. The kill points are listed by a first,
uninterrupted run of each scenario. Needs the engine and Docker; removes what it started.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.e2e.engine import Engine, tear_down_local_stack  # noqa: E402
from tests.e2e.killing import (  # noqa: E402
    FROM_NOTHING,
    MODEL_CHANGE,
    KillPoint,
    change_model,
    kill_recover_converge,
    reset_to_nothing,
    scoring_uris,
    up_points,
)
from tests.workspace import copy_project, derive_local_stack  # noqa: E402

# A stack per scenario, so the two can run side by side (their containers are named by the stack).
STACKS = {"from-nothing": "e2e-killbench-fn", "model-change": "e2e-killbench-mc"}


def row(point: KillPoint) -> str:
    def cell(items: list[str]) -> str:
        return "; ".join(items) if items else "nothing"

    serving = ""
    if point.scenario == MODEL_CHANGE:
        serving = f" | {', '.join(point.serving) or 'none'}: {point.failed_during_recover} failed"
    return (
        f"| {point.scenario} | {point.at}: {point.step} | {cell(point.leaked_before)} | {cell(point.found)} "
        f"| {cell(point.leaked_after)}{serving} | {point.seconds:.0f} s |"
    )


def main() -> int:
    import docker

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=("from-nothing", "model-change"), action="append")
    parser.add_argument("--only", type=int, nargs="*", help="only these kill points (1-based)")
    args = parser.parse_args()
    scenarios = args.scenario or ["from-nothing", "model-change"]
    client = docker.from_env()
    home = Path(tempfile.mkdtemp(prefix="modelstack-kill-"))
    root = copy_project(home / "project", runnable=True)
    stack = STACKS[scenarios[0]] if len(scenarios) == 1 else "e2e-killbench"
    registry_port = derive_local_stack(root, stack)["config"]["modelstack:registry"]["port"]
    engine = Engine(root, home, stack)
    # The copy's own program in the engine's processes too (as local_up.py does), so a checkout
    # edited while the benchmark runs changes nothing under it.
    engine.env["PYTHONPATH"] = str(root)
    engine.run("stack", "init")
    failures = 0
    started = time.monotonic()
    try:
        if "from-nothing" in scenarios:
            reset_to_nothing(engine, client, registry_port)
            points = up_points(engine)
            print(f"{FROM_NOTHING}: {len(points)} kill points: {', '.join(points)}", flush=True)
            for at in args.only or range(1, len(points) + 1):
                reset_to_nothing(engine, client, registry_port)
                failures += run_point(engine, client, registry_port, FROM_NOTHING, at)
        if "model-change" in scenarios:
            if not scoring_uris(engine):
                engine.run("up", "--yes", "--skip-preview")
            change_model(root, 0.25)
            points = up_points(engine)
            print(f"{MODEL_CHANGE}: {len(points)} kill points: {', '.join(points)}", flush=True)
            for at in args.only or range(1, len(points) + 1):
                change_model(root, 0.25 + at / 100)
                failures += run_point(engine, client, registry_port, MODEL_CHANGE, at)
    finally:
        tear_down_local_stack(engine, client, registry_port)
        from components.targets.local.registry_server import stop

        stop(str(root / ".modelstack" / "registry" / str(registry_port) / "run"))
        engine.run("stack", "rm", "--yes", "--force", check=False)
    print(f"done in {time.monotonic() - started:.0f} s, {failures} kill point(s) failed")
    return 1 if failures else 0


def run_point(engine, client, registry_port: int, scenario: str, at: int) -> int:
    try:
        point = kill_recover_converge(engine, client, registry_port, scenario, at)
    except AssertionError as failure:
        print(f"| {scenario} | {at} | FAILED: {' '.join(str(failure).split())[:1500]} |", flush=True)
        return 1
    print(row(point), flush=True)
    if point.leaked_after or (scenario == MODEL_CHANGE and point.failed_during_recover):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
